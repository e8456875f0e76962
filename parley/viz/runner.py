"""The live run of one page session: rounds off the UI thread, paused, stopped or reset at once.

:class:`LiveRun` is plain Python (no solara), so every promise the page makes is tested
without a browser:

- **Step** plays one round; **Play** plays every round, each shown for ``play_seconds``
  after the page has drawn it (:meth:`LiveRun.shown`), so no round is ever skipped.
- **Pause** lets the turn in progress finish and starts no other: an LLM round waits between
  turns (Step then finishes that round, Play goes on), a rule-based round is instant.
- **Stop** and **Reset** cancel the LLM calls in flight at once (the model's event loop
  cancels their tasks; the embedded model stops generating at its next token) and abandon
  the round: the stopped run keeps its last complete round, Reset builds a new model.
- **close** (the page's session ended: its tab was closed) cancels the run the same way.
- **Human seats** (``seats="city=human"``): a person at this screen plays them. Their turn
  waits on a :class:`~parley.agents.human.MoveQueue` in a worker thread while the agents'
  turns go on; the state lists each seat's turn (:class:`~parley.viz.turn.SeatState`) and
  :meth:`LiveRun.submit` hands the person's move to the grammar (a refused one is asked
  again with the grammar's message). Stop, Reset and close close the queues, so an
  abandoned round never waits on a person.

Every model gets its own :class:`_Runner` thread, so a new model never waits on the thread
of an abandoned round. The page draws :class:`~parley.viz.live_state.LiveState` snapshots
handed to ``publish``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from parley.agents.human import MoveQueue, MoveRequest
from parley.agents.observation import Decision, Observation
from parley.agents.policy import RulePolicy
from parley.agents.seating import humans
from parley.concurrency import RunCancelled
from parley.experiments.saving import save_run
from parley.grammar import Action
from parley.model.model import NegotiationModel
from parley.viz.errors import describe_error
from parley.viz.live_state import LiveState, Progress
from parley.viz.turn import SeatState, turn_state
from parley.viz.view import RunView, live_view

log = logging.getLogger(__name__)
ModelFactory = Callable[..., NegotiationModel]

#: Seconds each round stays on screen while playing: the presenter's choices, and the default.
PLAY_SPEEDS = (0.5, 1.0, 2.0, 4.0)
DEFAULT_PLAY_SECONDS = 1.0
TICK_S = 1.0  # how often the elapsed time of a running LLM round is refreshed
SHOWN_TIMEOUT_S = 10.0  # Play goes on even if a page never confirms that it drew a round


class _Gate:
    """Open: turns may start. Closed (Pause): a turn waits before it starts."""

    def __init__(self) -> None:
        self._open = threading.Event()
        self._open.set()

    def open(self) -> None:
        self._open.set()

    def close(self) -> None:
        self._open.clear()

    @property
    def is_open(self) -> bool:
        return self._open.is_set()

    async def passed(self) -> None:
        while not self._open.is_set():  # cancelled with the run's tasks by Stop/Reset
            await asyncio.sleep(0.05)


class _PausablePolicy:
    """An LLM policy whose turns wait at the gate before they start (what Pause closes)."""

    def __init__(self, inner: Any, gate: _Gate) -> None:
        self._inner, self._gate = inner, gate

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def decide(self, obs: Observation) -> Decision:
        return self._inner.decide(obs)

    async def adecide(self, obs: Observation) -> Decision:
        await self._gate.passed()
        return await self._inner.adecide(obs)


class _Runner:
    """Plays the rounds of one model in its own thread, as the page asks."""

    def __init__(
        self, live: LiveRun, model: NegotiationModel, queues: dict[str, MoveQueue] | None = None
    ) -> None:
        self.live, self.model = live, model
        self.queues = queues or {}
        self.answered: dict[str, MoveRequest] = {}  # the turn each seat's last move answered
        for party, queue in self.queues.items():
            queue.on_request = self._asked
            queue.on_taken = lambda party=party: self.live._publish_sent(self, party)
        self.cv = threading.Condition()
        self.gate = _Gate()
        self.cancelled = False
        self.rounds_wanted = 0  # Step requests not yet served
        self.playing = False
        self.shown_round = -1  # the latest round the page confirmed it drew
        self.progress: Progress | None = None
        self.thread: threading.Thread | None = None
        self.llm = any(not isinstance(a.policy, RulePolicy) for a in model.negotiators)
        for agent in model.negotiators:
            if not isinstance(agent.policy, RulePolicy):
                agent.policy = _PausablePolicy(agent.policy, self.gate)
        model.on_turn = self._turn

    # -- commands (any thread) ------------------------------------------------------------
    def step(self) -> None:
        with self.cv:
            resumed = self._resume_round()  # a paused round: finish it, then stop
            if resumed is None and self.progress is None:
                self.rounds_wanted = 1
            self._start()
            self.cv.notify_all()
        if resumed is not None:
            self.live._publish_progress(self, resumed)

    def play(self) -> None:
        with self.cv:
            self.playing = True
            resumed = self._resume_round()
            self._start()
            self.cv.notify_all()
        if resumed is not None:
            self.live._publish_progress(self, resumed)

    def pause(self) -> None:
        with self.cv:
            self.playing = False
            self.rounds_wanted = 0
            progress = self.progress
            if progress is not None and self.llm:
                self.gate.close()
                progress = self.progress = replace(progress, paused=True)
            self.cv.notify_all()
        if progress is not None and self.llm:  # published outside the lock: a render may call
            self.live._publish_progress(self, progress)  # shown(), which takes it

    def cancel(self) -> None:
        """Abandon the model: cancel its LLM calls in flight, end its thread."""
        with self.cv:
            self.cancelled = True
            self.playing = False
            self.model.running = False
            self.cv.notify_all()
        self.gate.open()
        self.model.loop.cancel()  # first: the round is dropped, whatever a person's turn says
        for queue in self.queues.values():  # ... and the thread waiting for a person ends
            queue.close("the run was stopped")

    def submit(self, party: str, move: Action | str) -> bool:
        """Hand ``party``'s move to its waiting turn; False if no turn of it waits."""
        queue = self.queues.get(party)
        with self.cv:
            request = queue.waiting if queue is not None else None
            if request is None or self.cancelled or self.answered.get(party) is request:
                return False  # e.g. a second click: never kept for a later turn
            self.answered[party] = request  # a refused move is asked again: a new request
        queue.put(move)  # type: ignore[union-attr]
        return True

    def _asked(self, request: MoveRequest) -> None:
        """A human seat's turn waits (again, with the grammar's message, if refused)."""
        self.live._publish_seat(self, turn_state(self.model.spec, request))

    def shown(self, round_no: int) -> None:
        with self.cv:
            self.shown_round = max(self.shown_round, round_no)
            self.cv.notify_all()

    def _resume_round(self) -> Progress | None:
        """Open the gate of a paused round (under ``cv``); its new progress, else None."""
        if self.progress is None:
            # Paused during a round's last turn (e.g. a person's): that round ended with the
            # gate closed, and the next round must not wait at it.
            self.gate.open()
            return None
        if not self.progress.paused:
            return None
        self.progress = replace(self.progress, paused=False)
        self.gate.open()
        return self.progress

    def _start(self) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._loop, name="parley-live-run", daemon=True)
            self.thread.start()

    # -- the thread ----------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self.cv:
                while not (self.cancelled or self.rounds_wanted or self.playing):
                    self.cv.wait()
                if self.cancelled or not self.model.running:
                    self.playing = False
                    return
                self.rounds_wanted = 0
            view = self._round()
            if view is None:  # cancelled or failed: the state says so already
                return
            self.live._publish_view(self, view, playing=self.playing and view.running)
            if not view.running or view.notice:  # the end, or an unreachable backend
                with self.cv:
                    self.playing = False
                self.live._publish_playing(self, False)
                if not view.running:
                    self.live._save(self)
                    return
            self._hold(view.round)

    def _round(self) -> RunView | None:
        model = self.model
        with self.cv:
            self.progress = Progress(model.round + 1, len(model.negotiators), time.monotonic())
        self.live._publish_busy(self, model.round + 1, self.progress if self.llm else None)
        done = threading.Event()
        if self.llm:
            threading.Thread(target=self._tick, args=(done,), daemon=True).start()
        view: RunView | None = None
        try:
            model.step()
            view = live_view(model)
        except RunCancelled:
            pass
        except Exception as err:
            if not self.cancelled:
                log.warning("round failed", exc_info=True)
                self.live._publish_error(self, describe_error(err))
        finally:
            done.set()
            with self.cv:
                self.progress = None
        return None if self.cancelled else view  # an abandoned round's result is dropped

    def _hold(self, round_no: int) -> None:
        """While playing: wait until the page drew ``round_no``, then ``play_seconds`` more."""
        with self.cv:
            if not self.playing:
                return
            self.cv.wait_for(
                lambda: self.cancelled or not self.playing or self.shown_round >= round_no,
                timeout=SHOWN_TIMEOUT_S,
            )
            until = time.monotonic() + self.live.play_seconds
            while not self.cancelled and self.playing and time.monotonic() < until:
                self.cv.wait(until - time.monotonic())

    def _tick(self, done: threading.Event) -> None:
        while not done.wait(TICK_S):
            with self.cv:
                progress = self.progress
                if progress is None or self.cancelled:
                    return
                if not progress.paused:
                    progress = replace(progress, elapsed_s=time.monotonic() - progress.started)
                    self.progress = progress
            self.live._publish_progress(self, progress)

    def _turn(self, model: NegotiationModel, party: str, decision: Decision) -> None:
        """``model.on_turn``: a negotiator's decision arrived."""
        flag = "" if decision.valid else " (invalid → hold)"
        tokens = sum(int(c.get("total_tokens") or 0) for c in decision.calls)
        with self.cv:
            p = self.progress
            if p is None or self.cancelled:
                return
            p = replace(
                p,
                decided=(*p.decided, party),
                last=f"{party} {decision.action.describe()}{flag}",
                elapsed_s=time.monotonic() - p.started,
                calls=p.calls + len(decision.calls),
                tokens=p.tokens + tokens,
            )
            self.progress = p
        if self.llm:
            self.live._publish_progress(self, p)


class LiveRun:
    """The live model of one page session and its controls.

    Args:
        factory: builds the model from keyword arguments (``NegotiationModel``; tests pass
            one that injects an in-process LLM double).
        publish: called with every new :class:`LiveState` (from any thread).
        play_seconds: how long Play shows each round.
        out_dir: folder every finished run is saved into as a results directory
            (``<out_dir>/<time>-<scenario>-seed<seed>``), or None to keep nothing.
    """

    def __init__(
        self,
        factory: ModelFactory = NegotiationModel,
        publish: Callable[[LiveState], None] | None = None,
        play_seconds: float = DEFAULT_PLAY_SECONDS,
        out_dir: str | Path | None = None,
    ) -> None:
        self.factory = factory
        self.publish = publish or (lambda _state: None)
        self.play_seconds = play_seconds
        self.out_dir = Path(out_dir) if out_dir else None
        self.state = LiveState()
        self._lock = threading.Lock()
        self._runner: _Runner | None = None
        self._closed = False

    @property
    def model(self) -> NegotiationModel | None:
        return self._runner.model if self._runner else None

    # -- commands ------------------------------------------------------------------------
    def reset(self, kwargs: dict[str, Any] | Callable[[], dict[str, Any]]) -> LiveState:
        """Cancel the current run at once and build a new model (cheap: no LLM call).

        Args:
            kwargs: the model's keyword arguments, or a function that makes them (its
                ``ValueError`` becomes the page's one-line error like the model's own).
        """
        self._abandon()
        try:
            params = kwargs() if callable(kwargs) else kwargs
            people = humans(params.get("seats"))
            queues = {p: MoveQueue() for p in people}
            model = self.factory(**params, human=queues) if queues else self.factory(**params)
        except Exception as err:  # the page shows one line; the server log keeps the rest
            log.debug("building the model failed", exc_info=True)
            with self._lock:
                self.state = LiveState(error=describe_error(err))
            self.publish(self.state)
            return self.state
        runner = _Runner(self, model, queues)
        with self._lock:
            if self._closed:
                runner.cancel()
                return self.state
            self._runner = runner
        return self._set(runner, lambda _s: LiveState(view=live_view(model), humans=tuple(people)))

    def step(self) -> None:
        runner = self._runner
        if runner is not None and self.state.can_step:
            runner.step()

    def play(self) -> None:
        runner = self._runner
        state = self.state
        if runner is None or state.view is None or not state.view.running or state.stopped:
            return
        if state.error:
            return
        self._set(runner, lambda s: replace(s, playing=True))
        runner.play()

    def pause(self) -> None:
        runner = self._runner
        if runner is not None:
            self._set(runner, lambda s: replace(s, playing=False))
            runner.pause()

    def stop(self) -> None:
        """Cancel the round in flight; the run ends at its last complete round."""
        runner = self._runner
        if runner is None or self.state.view is None:
            return
        runner.cancel()

        def stopped(s: LiveState) -> LiveState:
            assert s.view is not None
            why = (
                f"Stopped during round {s.busy}: that round was discarded."
                if s.busy
                else f"Stopped after round {s.view.round}."
            )
            return LiveState(
                view=replace(s.view, running=False),
                stopped=why + " Reset to start again.",
                humans=s.humans,
            )

        self._set(runner, stopped)

    def submit(self, party: str, move: Action | str) -> bool:
        """A person's move for human seat ``party`` (checked by the grammar in the run's
        thread; a refused one comes back in the seat's state). False if no turn waits."""
        runner = self._runner
        return runner is not None and runner.submit(party, move)

    def shown(self, view: RunView) -> None:
        """The page drew ``view`` (Play waits for this before the next round)."""
        runner = self._runner
        if runner is not None:
            runner.shown(view.round)

    def close(self) -> None:
        """The page's session ended: cancel the run; nothing is published any more."""
        with self._lock:
            self._closed = True
        self._abandon()

    def _abandon(self) -> None:
        with self._lock:
            runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()

    # -- from the runner thread ----------------------------------------------------------
    def _set(self, runner: _Runner | None, update: Callable[[LiveState], LiveState]) -> LiveState:
        """Apply ``update`` to the state and publish it, unless ``runner`` was abandoned."""
        with self._lock:
            if runner is not self._runner or self._closed:
                return self.state  # an abandoned runner's news: dropped
            state = update(self.state)
            progress = state.progress
            state = self.state = replace(
                state, turns=progress is not None, paused=bool(progress and progress.paused)
            )
        self.publish(state)
        return state

    def _publish_busy(self, runner: _Runner, round_no: int, progress: Progress | None) -> None:
        self._set(runner, lambda s: replace(s, busy=round_no, progress=progress))

    def _publish_progress(self, runner: _Runner, progress: Progress) -> None:
        self._set(runner, lambda s: replace(s, progress=progress) if s.busy is not None else s)

    def _publish_view(self, runner: _Runner, view: RunView, playing: bool) -> None:
        self._set(
            runner, lambda s: replace(s, view=view, busy=None, progress=None, playing=playing)
        )

    def _publish_playing(self, runner: _Runner, playing: bool) -> None:
        self._set(runner, lambda s: replace(s, playing=playing))

    def _publish_seat(self, runner: _Runner, seat: SeatState) -> None:
        def update(s: LiveState) -> LiveState:
            rest = {x.party: x for x in s.seats if x.party != seat.party}
            rest[seat.party] = seat
            return replace(s, seats=tuple(rest[p] for p in s.humans if p in rest))

        self._set(runner, update)

    def _publish_sent(self, runner: _Runner, party: str) -> None:
        """``party``'s move was taken (the grammar checks it now): its form closes."""

        def sent(seat: SeatState) -> SeatState:
            return replace(seat, turn=False, error=None) if seat.party == party else seat

        self._set(runner, lambda s: replace(s, seats=tuple(sent(x) for x in s.seats)))

    def _save(self, runner: _Runner) -> None:
        """Save ``runner``'s finished run into :attr:`out_dir` (a run stopped, reset or
        failed is not a finished run: nothing is saved)."""
        if self.out_dir is None or runner.cancelled:
            return
        model = runner.model
        scenario = Path(str(model.params.get("scenario"))).stem
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{scenario}-seed{model.params.get('rng')}"
        try:
            path = save_run(self.out_dir / f"{name}-{secrets.token_hex(2)}", model, app=True)
        except Exception as err:  # the run stays on the page; the saving failed, say so
            log.warning("saving the run failed", exc_info=True)
            self._publish_error(runner, f"the run could not be saved: {describe_error(err)}")
            return
        self._set(runner, lambda s: replace(s, saved=str(path)))

    def _publish_error(self, runner: _Runner, error: str) -> None:
        self._set(
            runner,
            lambda s: replace(s, busy=None, progress=None, playing=False, error=error),
        )
