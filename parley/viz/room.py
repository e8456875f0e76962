"""A classroom room: one negotiation that several people join from their own browsers.

A :class:`Room` holds one :class:`~parley.model.model.NegotiationModel` whose human seats
are fed by :class:`~parley.agents.human.MoveQueue` objects, and plays its rounds in a
background thread (agents decide meanwhile; a round waits for the people still to move).
Each human seat has a secret link (``?room=ID&seat=PARTY&key=KEY``): whoever holds it sees
that seat's private brief and move form, and nothing private of the others; reloading the
page reconnects to the seat, because the room lives in the server process, not the page.
The facilitator's link (``?facilitator=KEY``) shows everything.

A room with a folder survives a server stop: its definition and every move people make are
written there as they happen, its LLM seats' answers go to its own record/replay cache
(:mod:`parley.viz.room_store`), and :meth:`Rooms.restore` reopens it at the next start with
the same id and seat links, replaying the moves through the seeded engine (no LLM seat is
asked again) until it is back where it was. A run that fails (a misconfigured LLM) ends the
room with one line on the pages and is saved as a failed run.

Pages never touch the model: they read the snapshots (:class:`SeatState`,
:class:`~parley.viz.view.RunView`) the room thread publishes after every change, and wait
on :meth:`Room.wait_change`. This module has no Solara import: it is tested directly.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

from parley.agents.human import MoveQueue, MoveRequest, private_brief
from parley.agents.seating import humans
from parley.concurrency import RunCancelled
from parley.config import RunConfig
from parley.experiments.halt import config_fault, failure_reason
from parley.experiments.saving import save_run
from parley.grammar import Action
from parley.llm.factory import make_llm
from parley.model.model import NegotiationModel
from parley.scenarios.loader import load_scenario
from parley.transcript import outcome_text
from parley.viz.errors import describe_error
from parley.viz.room_store import (
    STATE_DIR,
    RecordingSeat,
    ReplayingSource,
    RoomStateError,
    RoomStore,
    SavedRoom,
    Turn,
    claim,
    round_moves,
    saved_rooms,
)
from parley.viz.turn import SeatState, turn_state
from parley.viz.view import RunView, live_view

log = logging.getLogger(__name__)

#: How long a reopened room may take to replay its recorded moves at the server's start.
REPLAY_TIMEOUT_S = 120.0
#: After its replay, how long to wait for a reopened room to ask a person again.
ASKED_GRACE_S = 2.0
#: Why a room closed by the facilitator stopped (its saved run's ``stop_reason`` says it).
CLOSED = "the facilitator closed the room"


class Watched:
    """A version that pages wait on: :meth:`_bump` after every change they should see."""

    def __init__(self) -> None:
        self.version = 0
        self._changed = threading.Condition()

    def _bump(self) -> None:
        with self._changed:
            self.version += 1
            self._changed.notify_all()

    def wait_change(self, seen: int, timeout: float) -> int:
        """Block until the version differs from ``seen`` (or ``timeout``); the version."""
        with self._changed:
            self._changed.wait_for(lambda: self.version != seen, timeout=timeout)
            return self.version


class Room(Watched):
    """One negotiation with human seats, played in a background thread.

    Args:
        params: NegotiationModel keyword arguments; ``seats`` must seat at least one human.
            A room is always seeded (a seed is drawn when ``rng`` is None).
        out_dir: the rooms folder: the room's state is written to ``<out_dir>/.rooms/<id>``
            as it plays, the finished run is saved into ``<out_dir>/<id>``. None: the room
            lives in memory only.
        saved: an unfinished room read back from ``out_dir`` (:meth:`Rooms.restore`): it is
            reopened with its id and seat keys, and replays its recorded moves.
    """

    def __init__(
        self,
        params: dict[str, Any],
        out_dir: str | Path | None = None,
        *,
        saved: SavedRoom | None = None,
    ) -> None:
        super().__init__()
        params = dict(saved.params if saved is not None else params)
        people = humans(params.get("seats"))
        if not people:
            raise ValueError("a room needs at least one human seat")
        if params.get("rng") is None:  # a room is replayed from its seed after a restart
            params["rng"] = secrets.randbelow(2**31)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        if saved is not None:
            self.id, self.keys = saved.id, dict(saved.keys)
            if sorted(self.keys) != people:
                raise RoomStateError(f"room {self.id}: its seat keys do not match its human seats")
        else:
            self.id = _new_id(self.out_dir)
            self.keys = {p: secrets.token_urlsafe(8) for p in people}
        self.store = RoomStore(self.out_dir, self.id) if self.out_dir is not None else None
        if self.store is not None and saved is not None:
            self.store.load()  # takes over the recorded turns: new ones are written after them
        self.queues = {p: MoveQueue(on_request=self._asked, on_taken=self._bump) for p in people}
        turns = saved.turns if saved is not None else ()
        self.sources = {
            p: ReplayingSource(p, self.queues[p], [t for t in turns if t.party == p])
            for p in people
        }
        self.reopened = saved.reopened + 1 if saved is not None else 0
        # What a reopened room plays again before it is back: the people's recorded turns,
        # and the recorded rounds, each checked as it ends.
        self._rounds = list(saved.rounds) if saved is not None else []
        self._to_replay = len(turns) + len(self._rounds)
        self._replayed = threading.Event()
        if not self._to_replay:
            self._replayed.set()
        self.model = self._build(params, new=saved is None)
        for agent in self.model.negotiators:
            if agent.party_id in self.sources:
                source = self.sources[agent.party_id]
                agent.policy = RecordingSeat(agent.policy, source, self._record, self._replayed_one)
        self.params = dict(self.model.params)
        self.saved: Path | None = None
        self.error: str | None = None
        self._suspended = False
        self._requests: dict[str, MoveRequest | None] = dict.fromkeys(people)
        self.view: RunView = live_view(self.model)
        self._thread = threading.Thread(target=self._play, name=f"room-{self.id}", daemon=True)
        self._thread.start()

    def _build(self, params: dict[str, Any], new: bool) -> NegotiationModel:
        """The room's model; a durable room's LLM seats answer through its own cache."""
        if self.store is None:
            return NegotiationModel(**params, human=self.sources)
        try:
            json.dumps(params)
        except (TypeError, ValueError):
            raise ValueError("a room's parameters must be plain values (they are saved)") from None
        rng = params["rng"]
        config = RunConfig.from_kwargs({k: v for k, v in params.items() if k != "rng"})
        load_scenario(config.scenario)  # a missing scenario fails before any file is made
        llm = None
        try:
            if config.uses_llm and config.cache != "replay":
                # Recorded while the room plays, replayed when it is reopened: an LLM seat is
                # never asked twice, and the replayed answers count as this run's own.
                config = config.replace(cache="auto", cache_path=str(self.store.cache_path))
                llm = make_llm({**config.kwargs(), "cache_own_run": True})
            model = NegotiationModel(config, rng=rng, llm=llm, human=self.sources)
            if new:
                self.store.create(params, self.keys)
        except BaseException:
            if new:  # nothing of a room that never opened stays behind
                shutil.rmtree(self.store.dir, ignore_errors=True)
            raise
        return model

    # -- links ---------------------------------------------------------------------------
    def seat_query(self, party: str) -> str:
        """The query string of ``party``'s seat link."""
        return f"room={self.id}&seat={party}&key={self.keys[party]}"

    def admits(self, party: str, key: str) -> bool:
        """Whether ``key`` is ``party``'s seat key (constant-time comparison)."""
        expected = self.keys.get(party)
        return expected is not None and secrets.compare_digest(expected, key)

    # -- playing -------------------------------------------------------------------------
    def submit(self, party: str, move: str | Action) -> None:
        """A person's move for ``party`` (checked by the grammar when the seat takes it)."""
        self.queues[party].put(move)

    def close(self) -> None:
        """End the room: waiting seats stop the run (kept as a stopped run)."""
        for queue in self.queues.values():
            queue.close(CLOSED)

    def suspend(self) -> None:
        """Stop the room's thread without ending its run: nothing more is written, and the
        room reopens from its folder at the next start (what a server stop amounts to)."""
        self._suspended = True
        self.close()
        self.model.loop.cancel()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def replaying(self) -> bool:
        """Whether the recorded moves of a reopened room are still being played again."""
        return not self._replayed.is_set()

    def to_move(self) -> list[str]:
        """The human seats whose turn it is now."""
        return [p for p, q in self.queues.items() if q.waiting is not None and self.running]

    def wait_replayed(self, timeout: float = REPLAY_TIMEOUT_S) -> None:
        """Block until a reopened room is back where it was (its recorded moves replayed).

        Raises:
            RoomStateError: the moves do not replay (the run diverged, failed or ended
                before them), or they took longer than ``timeout``.
        """
        deadline = time.monotonic() + timeout
        while not self._replayed.wait(0.05) and self.running:
            if time.monotonic() > deadline:
                raise RoomStateError(f"room {self.id}: replay did not finish in {timeout:g} s")
        if self.replaying:
            why = self.error or "the run ended before its recorded moves were replayed"
            raise RoomStateError(f"room {self.id}: {why}")
        # Back where it was: a person is asked again (or, in a moment, an agent is playing).
        until = time.monotonic() + ASKED_GRACE_S
        while self.running and not self.to_move() and time.monotonic() < until:
            self.wait_change(self.version, 0.05)

    def _asked(self, request: MoveRequest) -> None:
        self._requests[request.party] = request
        self._bump()

    def _record(self, turn: Turn) -> None:
        if self.store is not None and not self._suspended:
            self.store.record(turn)

    def _check_round(self) -> None:
        """Record the round just played, or check it against its recording (a replay)."""
        moves = round_moves(self.model.history[-1])
        played = len(self.model.history)
        if played > len(self._rounds):
            if self.store is not None and not self._suspended:
                self.store.record_round(moves)
            return
        if moves != self._rounds[played - 1]:
            raise RoomStateError(
                f"round {played} does not replay as it was played (an agent now decides "
                "differently: another parley version?)"
            )
        self._replayed_one()

    def _replayed_one(self) -> None:
        with self._changed:  # seats of a simultaneous round replay in parallel threads
            self._to_replay -= 1
            if self._to_replay <= 0:
                self._replayed.set()

    def _play(self) -> None:
        model = self.model
        try:
            while model.running and not self._suspended:
                model.step()
                self._check_round()
                self.view = live_view(model)
                self._bump()
            if self.replaying and not self._suspended:
                self.error = "the run ended before its recorded moves were replayed"
            elif not self._suspended:
                self._finish()
        except RunCancelled:
            pass  # suspended, or the server is exiting: the room reopens at the next start
        except Exception as err:
            if self._suspended or self.replaying or isinstance(err, RoomStateError):
                # nothing written: the room is reopened (or reported) at the next start
                self.error = str(err).splitlines()[0] if str(err) else type(err).__name__
            else:  # a page shows one line; the server log has the rest
                log.warning("room %s failed", self.id, exc_info=True)
                self.error = f"The room's run failed: {failure_reason(err)}"
                self._finish(failure=err)
        finally:
            self.close()  # a seat still waiting (the run failed) stops waiting
            self._bump()

    def _finish(self, failure: BaseException | None = None) -> None:
        """Save the run as ``<out_dir>/<id>`` (a failed run says so) and end the room's state."""
        if self.store is None:
            return
        try:
            reason = None if failure is None else failure_reason(failure)
            fault = None if failure is None else config_fault(failure)
            self.saved = save_run(
                self.store.results_dir,
                self.model,
                failure=reason,
                fault=fault,
                room=self.id,
                reopened=self.reopened,
            )
            self.store.finish("failed" if failure else "finished", self.saved, error=reason)
        except Exception as err:  # the state folder stays: the room is not lost
            log.warning("room %s could not be saved", self.id, exc_info=True)
            self.error = f"The room's run could not be saved: {describe_error(err)}"

    # -- what pages read -----------------------------------------------------------------
    def seat_state(self, party: str) -> SeatState:
        """The snapshot ``party``'s page draws (the pending request, if it is their turn)."""
        request = self._requests.get(party)
        ended = None
        if not self.running:
            ended = self.error or outcome_text(self.model)
        failed = self.error is not None
        spec = self.model.spec
        if request is not None and request.observation.round > self.view.round:
            waiting = ended is None and self.queues[party].waiting is not None
            return turn_state(spec, request, turn=waiting, ended=ended, failed=failed)
        view = self.view
        positions = "; ".join(f"{p} {v:g}" for p, v in view.trajectory.iloc[-1].items())
        return SeatState(
            party=party,
            brief=private_brief(spec, party),
            round=view.round,
            turn=False,
            table=f"Round {view.round} of {view.max_rounds}. Positions: {positions}",
            history="",
            error=None,
            grid=(),
            others=tuple(p for p in spec.party_ids if p != party),
            ended=ended,
            failed=failed,
        )


class Rooms(Watched):
    """The rooms of one server process (pages of every browser session share it)."""

    def __init__(self) -> None:
        super().__init__()
        self._rooms: dict[str, Room] = {}
        self._lock = threading.Lock()

    def open(self, params: dict[str, Any], out_dir: str | Path | None = None) -> Room:
        room = Room(params, out_dir)
        self._add(room)
        return room

    def restore(self, rooms_dir: str | Path, timeout: float = REPLAY_TIMEOUT_S) -> list[str]:
        """Reopen every unfinished room saved in ``rooms_dir``; one line per room.

        Each is replayed up to where it was; a room that cannot be (a corrupt folder, a
        missing scenario, moves that no longer replay) is skipped, its folder untouched.
        Finished rooms and rooms already open are left alone.
        """
        lines = []
        for store in saved_rooms(rooms_dir):
            if self.get(store.id) is not None:
                continue
            try:
                saved = store.load()
                if saved is None:
                    continue  # finished: its run is saved as a results directory
                room = Room(saved.params, rooms_dir, saved=saved)
            except Exception as err:
                lines.append(
                    f"room {store.id} not reopened: {_one_line(err)} ({_untouched(store)})"
                )
                continue
            try:
                room.wait_replayed(timeout)
            except RoomStateError as err:
                room.suspend()
                lines.append(
                    f"room {store.id} not reopened: {_one_line(err)} ({_untouched(store)})"
                )
                continue
            if room.store is not None:
                room.store.count_reopening()
            self._add(room)
            lines.append(f"room {room.id} reopened: {_where(room, len(saved.turns))}")
        return lines

    def _add(self, room: Room) -> None:
        with self._lock:
            self._rooms[room.id] = room
        self._bump()

    def get(self, room_id: str) -> Room | None:
        with self._lock:
            return self._rooms.get(room_id)

    def all(self) -> list[Room]:
        with self._lock:
            return list(self._rooms.values())


def _new_id(out_dir: Path | None) -> str:
    """A fresh room id, not used by a room saved in ``out_dir`` (finished or not)."""
    while True:
        room_id = secrets.token_hex(3)
        if out_dir is None:
            return room_id
        if not (out_dir / room_id).exists() and not (out_dir / STATE_DIR / room_id).exists():
            return room_id


def _one_line(err: BaseException) -> str:
    text = str(err) if isinstance(err, RoomStateError) else describe_error(err)
    return text.splitlines()[0] if text else type(err).__name__


def _untouched(store: RoomStore) -> str:
    return f"its folder {store.dir} is left as it was"


def _where(room: Room, replayed: int) -> str:
    if room.saved is not None:
        return f"it ended on replay, saved to {room.saved}"
    if room.error is not None:
        return room.error
    waiting = ", ".join(room.to_move()) or "the agents"
    return f"round {room.model.round}, {replayed} recorded moves replayed, to move: {waiting}"


#: The process-wide rooms (a module global: imported once per server process).
ROOMS = Rooms()


def restore_rooms(rooms_dir: str | Path) -> list[str]:
    """Reopen the unfinished rooms of ``rooms_dir`` into :data:`ROOMS` (``parley app
    --room`` at its start), printing one line per room on stderr; the lines.

    Only one process reopens a folder's rooms (:func:`~parley.viz.room_store.claim`).
    """
    if claim(rooms_dir):
        lines = ROOMS.restore(rooms_dir)
    else:
        lines = [
            f"{rooms_dir} is in use by another parley app server: its unfinished rooms are "
            "not reopened here (stop the other server first)"
        ]
    for line in lines:
        print(f"parley app: {line}", file=sys.stderr, flush=True)
    return lines
