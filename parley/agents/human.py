"""The human policy: a person decides the seat's move, checked by the same grammar as models.

A person's move arrives from an injected *move source*, so the terminal, the Solara app and
tests drive the same policy. A source is any callable ``source(request) -> reply`` taking a
:class:`MoveRequest` (the seat's observation, the grammar's message when the previous entry
was refused, the seconds left) and returning:

- a line of text such as ``propose 55 We can meet here``, ``concede 50``, ``support retail``,
  ``accept``, ``hold``, ``escalate`` (anything after the move is the public message), or an
  :class:`~parley.grammar.Action`;
- ``None`` when the turn's time ran out (the move is a recorded ``hold``);
- or it raises :class:`EndOfInput` when the person is gone (end of stdin, a closed room):
  the run stops cleanly with that reason and keeps what was played.

An entry the grammar refuses is asked again with the grammar's message and is never counted
as an invalid turn: people mistype, and a typo is not behaviour.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from parley.agents.observation import Decision, Observation
from parley.grammar import (
    ACTION_KINDS,
    VALUE_KINDS,
    Action,
    ActionKind,
    InvalidAction,
    parse_action,
)
from parley.grammar import validate_action as check_move
from parley.scenarios.schema import Scenario

MOVE_HELP = (
    "moves: propose VALUE [message] · concede VALUE [message] · support PARTY [message] · "
    "accept [message] · hold [message] · escalate [message]"
)


def private_brief(scenario: Scenario, party_id: str) -> str:
    """What a person at ``party_id``'s seat is told privately: the facts its LLM gets too."""
    party, issue = scenario.party(party_id), scenario.issue
    beliefs = ", ".join(f"{b.value:g} ({b.probability:.0%})" for b in party.authority_belief)
    cost = round(party.process_cost * issue.span, 3)
    return "\n".join(
        [
            f"You are {party.id} ({party.role}).",
            party.private_brief.strip(),
            f"Ideal {party.ideal:g} {issue.unit}, worst acceptable {party.reservation:g}. An "
            f"imposed outcome costs you as much as {cost:g} {issue.unit} more distance from "
            "your ideal.",
            f"You think {scenario.authority.name} would impose: {beliefs}.",
        ]
    )


class EndOfInput(Exception):
    """The person at a seat is gone (end of input): the run stops, nothing is invented."""


@dataclass(frozen=True)
class MoveRequest:
    """What a move source is asked: whose turn, what they see, and why a retry is needed."""

    party: str
    observation: Observation
    error: str | None = None
    time_left: float | None = None
    first_turn: bool = False


MoveSource = Callable[[MoveRequest], "str | Action | None"]


def parse_move(text: str) -> Action:
    """A typed move (``propose 55 We can meet here``) as an :class:`Action`.

    The first word is the action; ``propose``/``concede`` take a number next, ``support`` a
    party id; the rest is the public message. Errors are the grammar's
    :class:`~parley.grammar.InvalidAction`, with the list of moves when the action is unknown.
    """
    words = text.split()
    if not words:
        raise InvalidAction(f"empty move ({MOVE_HELP})")
    kind, rest = words[0].lower(), words[1:]
    if kind not in ACTION_KINDS:
        raise InvalidAction(f"unknown action '{words[0]}' ({MOVE_HELP})")
    fields: dict[str, object] = {"action": kind}
    if kind in {k.value for k in VALUE_KINDS}:
        if not rest:
            raise InvalidAction(f"'{kind}' needs a value, e.g. '{kind} 50'")
        fields["value"], rest = rest[0], rest[1:]
    elif kind == "support":
        if not rest:
            raise InvalidAction("'support' needs a party id, e.g. 'support retail'")
        fields["target"], rest = rest[0], rest[1:]
    fields["message"] = " ".join(rest)
    return parse_action(fields)


class HumanPolicy:
    """A seat played by a person, through a move source.

    Args:
        source: the move source (see the module docstring).
        time_limit: seconds a person has for one turn (re-asks included); when they run out
            the move is a ``hold``, recorded as such. None: wait as long as it takes.
    """

    name = "human"

    def __init__(self, source: MoveSource, *, time_limit: float | None = None) -> None:
        if time_limit is not None and not time_limit > 0:
            raise ValueError(f"time limit must be positive, got {time_limit}")
        self.source = source
        self.time_limit = time_limit
        self.turns = 0

    def decide(self, obs: Observation) -> Decision:
        deadline = None if self.time_limit is None else time.monotonic() + self.time_limit
        first, self.turns = self.turns == 0, self.turns + 1
        error: str | None = None
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if left == 0.0:
                return _timed_out(self.time_limit)
            request = MoveRequest(obs.me, obs, error, left, first)
            try:
                reply = self.source(request)
            except EndOfInput as err:
                reason = str(err) or "end of input"
                return Decision(
                    action=Action.hold(), error=reason, stop_reason=f"{obs.me}: {reason}"
                )
            if reply is None:
                return _timed_out(self.time_limit)
            try:
                action = parse_move(reply) if isinstance(reply, str) else reply
                return Decision(action=check_move(action, obs.table_view()))
            except InvalidAction as err:
                error = str(err)  # asked again, never counted as an invalid turn

    async def adecide(self, obs: Observation) -> Decision:
        # A person takes seconds: wait in a thread of its own so agents' calls go on meanwhile.
        return await in_daemon_thread(lambda: self.decide(obs))


async def in_daemon_thread[T](fn: Callable[[], T]) -> T:
    """Await ``fn()`` run in a daemon thread.

    Not ``asyncio.to_thread``: its worker threads are joined when the process exits, so a
    seat still waiting for a person would keep a stopping server (``parley app --room``) or
    an interrupted ``parley run`` alive for ever. A daemon thread ends with the process.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(value: T | None, error: BaseException | None) -> None:
        if future.done():  # cancelled meanwhile (the run was abandoned)
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)  # type: ignore[arg-type]

    def run() -> None:
        value: T | None = None
        error: BaseException | None = None
        try:
            value = fn()
        except BaseException as err:  # re-raised in the awaiting task
            error = err
        # A closed loop (RuntimeError): nobody waits for this turn any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, value, error)

    threading.Thread(target=run, name="parley-human-seat", daemon=True).start()
    return await future


def _timed_out(limit: float | None) -> Decision:
    return Decision(action=Action.hold(), error=f"no move within {limit:g} s: hold")


def recorded_actions(rows: Iterable[Mapping[str, Any]]) -> list[Action]:
    """The actions of recorded ``moves`` rows (one seat's, in order), to replay a human seat.

    Feeding them to a :class:`MoveQueue` replays a person's run exactly: the agents around
    them are seeded, so the same moves meet the same table.
    """
    out = []
    for row in rows:
        value = row.get("value")
        target = row.get("target")
        out.append(
            Action(
                kind=ActionKind(row["action"]),
                value=None if value is None or value != value else float(value),
                target=target if isinstance(target, str) and target else None,
                message=str(row.get("message") or ""),
            )
        )
    return out


class MoveQueue:
    """A thread-safe queue of one seat's moves, usable as a move source.

    Producers (a stdin reader, a web page) call :meth:`put` with each entry and :meth:`close`
    when no more will come; the policy's thread waits in :meth:`__call__`. ``on_request`` is
    called with every request once it is waiting (to show the person their table or an
    error), ``on_taken`` once an entry or the end of the time has ended the wait.
    """

    def __init__(
        self,
        on_request: Callable[[MoveRequest], None] | None = None,
        on_taken: Callable[[], None] | None = None,
    ) -> None:
        self._queue: queue.Queue[str | Action | None] = queue.Queue()
        self._closed = threading.Event()
        self._reason = "end of input"
        self.on_request = on_request
        self.on_taken = on_taken
        self.waiting: MoveRequest | None = None

    def put(self, entry: str | Action) -> None:
        self._queue.put(entry)

    def close(self, reason: str = "end of input") -> None:
        """No more entries: a waiting or later request raises :class:`EndOfInput` with
        ``reason`` (what the stopped run records, e.g. that the facilitator closed the room)."""
        if not self._closed.is_set():
            self._reason = reason
        self._closed.set()
        self._queue.put(None)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def __call__(self, request: MoveRequest) -> str | Action | None:
        self.waiting = request
        if self.on_request is not None:
            self.on_request(request)
        try:
            entry = self._queue.get(timeout=request.time_left)
        except queue.Empty:
            return None  # the turn's time ran out
        finally:
            self.waiting = None
            if self.on_taken is not None:
                self.on_taken()
        if entry is None:
            self._queue.put(None)  # keep the end marker for any later request
            raise EndOfInput(self._reason)
        return entry
