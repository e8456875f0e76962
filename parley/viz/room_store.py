"""A classroom room on disk, written as it happens, so that it survives a server stop.

An unfinished room lives in ``DIR/.rooms/<room id>/`` (``DIR`` is ``parley app --room DIR``):

- ``room.json`` — the definition: the room id, the model's parameters (the seed and the
  seating included), the seat keys (the secrets of the seat links; never an API key: the
  parameters name the key's environment variable, not the key), its status (``open``,
  then ``finished`` or ``failed`` once the run is saved as ``DIR/<room id>``) and how many
  times it was reopened;
- ``moves.json`` — every turn a person played, in order: the move the grammar accepted, or
  ``null`` when the turn's time ran out (a recorded ``hold``), written before the move is
  played; and the moves of every finished round (each seat's action, value and target),
  which a replay must reproduce;
- ``llm-cache.sqlite`` — the LLM seats' answers (the record/replay cache of
  :mod:`parley.llm.cache`), when the room has LLM seats.

Every file is replaced atomically (a temporary file, fsync, rename; SQLite commits each
answer), so a crash leaves the previous or the next version, never a torn one. Reopening a
room replays it: the same parameters and seed, the people's recorded moves, the LLM seats'
recorded answers; the engine is deterministic, so the room is back where it was, and a
round that does not replay as it was played (an agent that now decides differently, after
an upgrade) stops the reopening instead of quietly making another room of it. The
state folder is hidden, so ``DIR`` stays a folder of results directories for
``parley report --reference DIR``. This module has no Solara import.
"""

from __future__ import annotations

import json
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parley.agents.human import MoveRequest, MoveSource, in_daemon_thread
from parley.agents.observation import Decision, Move, Observation
from parley.agents.policy import Policy
from parley.experiments.storage import MANIFEST, atomic_write_bytes
from parley.grammar import Action

#: The hidden folder of unfinished rooms' state, inside the rooms folder.
STATE_DIR = ".rooms"
FORMAT = 1
OPEN = "open"


class RoomStateError(ValueError):
    """A room whose saved state cannot be read or replayed (one line, naming the file)."""


@dataclass(frozen=True)
class Turn:
    """One turn a person played: the accepted move, or None when the turn's time ran out."""

    party: str
    round: int
    move: Action | None

    @classmethod
    def of(cls, party: str, round_no: int, decision: Decision) -> Turn:
        """The turn a human seat's ``decision`` records (an error means the time ran out)."""
        return cls(party, round_no, None if decision.error else decision.action)

    def to_json(self) -> dict[str, Any]:
        move = None if self.move is None else self.move.model_dump(mode="json")
        return {"party": self.party, "round": self.round, "move": move}

    @classmethod
    def from_json(cls, obj: Any) -> Turn:
        if not isinstance(obj, dict) or not isinstance(obj.get("party"), str):
            raise ValueError(f"not a turn: {obj!r}")
        round_no = obj.get("round")
        if not isinstance(round_no, int) or round_no < 1:
            raise ValueError(f"bad round in {obj!r}")
        move = obj.get("move")
        return cls(obj["party"], round_no, None if move is None else Action.model_validate(move))


@dataclass(frozen=True)
class SavedRoom:
    """An unfinished room as read back from its folder."""

    id: str
    params: dict[str, Any]
    keys: dict[str, str]
    turns: tuple[Turn, ...]
    reopened: int
    rounds: tuple[RoundMoves, ...] = ()


#: One finished round as recorded: each move's ``[party, action, value, target]``.
RoundMoves = list[list[Any]]


def round_moves(moves: Iterable[Move]) -> RoundMoves:
    """What is recorded of a finished round, to check that a replay plays it the same."""
    return [[m.party, m.action.kind.value, m.action.value, m.action.target] for m in moves]


class ReplayingSource:
    """A human seat's move source in a room: its recorded turns first, then the person.

    Args:
        party: the seat.
        live: the person's move source (the room's :class:`~parley.agents.human.MoveQueue`).
        turns: the seat's recorded turns, in order (a reopened room), or none.
    """

    def __init__(self, party: str, live: MoveSource, turns: Iterable[Turn] = ()) -> None:
        self.party = party
        self.live = live
        self.turns = deque(turns)
        self._last: Turn | None = None  # the recorded turn just replayed

    @property
    def replaying(self) -> bool:
        return bool(self.turns)

    def __call__(self, request: MoveRequest) -> str | Action | None:
        last, self._last = self._last, None
        if request.error is not None and last is not None:
            raise RoomStateError(
                f"{self.party}'s recorded move of round {last.round} is refused on replay "
                f"({request.error}): the room does not replay as it was played"
            )
        if not self.turns:
            return self.live(request)
        turn = self._last = self.turns.popleft()
        if turn.round != request.observation.round:
            raise RoomStateError(
                f"{self.party}'s recorded move of round {turn.round} comes up in round "
                f"{request.observation.round} on replay: the room does not replay as it was played"
            )
        return turn.move  # None: the turn's time ran out, as recorded


class RecordingSeat:
    """A human seat's policy that records each live turn before it is played.

    Args:
        inner: the seat's :class:`~parley.agents.human.HumanPolicy` (fed by ``source``).
        source: the seat's :class:`ReplayingSource`.
        record: called with each live turn (writes it to disk).
        replayed: called after each recorded turn is played again.
    """

    name = "human"

    def __init__(
        self,
        inner: Policy,
        source: ReplayingSource,
        record: Callable[[Turn], None],
        replayed: Callable[[], None],
    ) -> None:
        self.inner, self.source = inner, source
        self.record, self.replayed = record, replayed

    def decide(self, obs: Observation) -> Decision:
        from_record = self.source.replaying
        decision = self.inner.decide(obs)
        if from_record:
            self.replayed()
        elif decision.stop_reason is None:  # the person left: not a move
            self.record(Turn.of(obs.me, obs.round, decision))
        return decision

    async def adecide(self, obs: Observation) -> Decision:
        return await in_daemon_thread(lambda: self.decide(obs))


class RoomStore:
    """The state folder of one room: create it, record each turn, mark it finished.

    Args:
        rooms_dir: the rooms folder (``parley app --room DIR``).
        room_id: the room's id (its state is ``rooms_dir/.rooms/<room_id>``).
    """

    def __init__(self, rooms_dir: str | Path, room_id: str) -> None:
        self.rooms_dir = Path(rooms_dir)
        self.id = room_id
        self.dir = self.rooms_dir / STATE_DIR / room_id
        self._lock = threading.Lock()  # two seats may record at once
        self._turns: list[Turn] = []
        self._rounds: list[RoundMoves] = []
        self._info: dict[str, Any] = {}

    @property
    def cache_path(self) -> Path:
        """The SQLite file of the room's LLM answers."""
        return self.dir / "llm-cache.sqlite"

    @property
    def results_dir(self) -> Path:
        """Where the finished run is saved."""
        return self.rooms_dir / self.id

    # -- writing -------------------------------------------------------------------------
    def create(self, params: Mapping[str, Any], keys: Mapping[str, str]) -> None:
        """Write a new room's definition (no turn yet)."""
        self._info = {
            "format": FORMAT,
            "id": self.id,
            "status": OPEN,
            "reopened": 0,
            "params": dict(params),
            "keys": dict(keys),
        }
        with self._lock:
            self._turns, self._rounds = [], []
            self._write_moves()
            self._write("room.json", self._info)

    def record(self, turn: Turn) -> None:
        """Add ``turn`` to ``moves.json`` (on disk when this returns)."""
        with self._lock:
            self._turns.append(turn)
            self._write_moves()

    def record_round(self, moves: RoundMoves) -> None:
        """Add a finished round's moves to ``moves.json``."""
        with self._lock:
            self._rounds.append(moves)
            self._write_moves()

    def _write_moves(self) -> None:
        turns = [t.to_json() for t in self._turns]
        self._write("moves.json", {"format": FORMAT, "turns": turns, "rounds": self._rounds})

    def count_reopening(self) -> None:
        """Count one more reopening in ``room.json`` (after a successful replay)."""
        with self._lock:
            self._info["reopened"] = int(self._info.get("reopened") or 0) + 1
            self._write("room.json", self._info)

    def finish(self, status: str, saved: Path | None, error: str | None = None) -> None:
        """Mark the room ended (``finished`` or ``failed``): it is never reopened."""
        with self._lock:
            self._info.update(status=status, saved=str(saved) if saved else None, error=error)
            self._write("room.json", self._info)

    def _write(self, name: str, obj: Any) -> None:
        # mkstemp makes the file private (0600): room.json holds the seat links' secrets.
        atomic_write_bytes(self.dir / name, (json.dumps(obj, indent=1) + "\n").encode())

    # -- reading -------------------------------------------------------------------------
    def load(self) -> SavedRoom | None:
        """The saved room, or None if it has ended (finished, failed, or its run is saved).

        Raises:
            RoomStateError: a missing or corrupt file (one line naming it).
        """
        info = _read(self.dir / "room.json")
        if not isinstance(info, dict) or info.get("format") != FORMAT:
            raise RoomStateError(f"{self.dir / 'room.json'}: not a room definition")
        self._info = info
        if info.get("status") != OPEN or (self.results_dir / MANIFEST).is_file():
            return None
        params, keys = info.get("params"), info.get("keys")
        if info.get("id") != self.id or not isinstance(params, dict) or not isinstance(keys, dict):
            raise RoomStateError(f"{self.dir / 'room.json'}: id, params or keys are missing")
        if not all(isinstance(v, str) for v in keys.values()):
            raise RoomStateError(f"{self.dir / 'room.json'}: a seat key is not text")
        moves = _read(self.dir / "moves.json")
        try:
            turns = tuple(Turn.from_json(t) for t in moves["turns"])
            rounds = moves.get("rounds", [])
            if not isinstance(rounds, list) or not all(isinstance(r, list) for r in rounds):
                raise ValueError("rounds is not a list of rounds")
        except (TypeError, KeyError, ValueError, AttributeError) as err:
            first = str(err).splitlines()[0]
            raise RoomStateError(f"{self.dir / 'moves.json'}: corrupt ({first})") from None
        unknown = sorted({t.party for t in turns} - set(keys))
        if unknown:
            raise RoomStateError(f"{self.dir / 'moves.json'}: a move of '{unknown[0]}', no seat")
        with self._lock:  # later turns and rounds are recorded after these
            self._turns, self._rounds = list(turns), list(rounds)
        reopened = int(info.get("reopened") or 0)
        return SavedRoom(self.id, params, dict(keys), turns, reopened, tuple(rounds))


def saved_rooms(rooms_dir: str | Path) -> list[RoomStore]:
    """The stores of every room saved in ``rooms_dir`` (ended or not), by id."""
    root = Path(rooms_dir) / STATE_DIR
    if not root.is_dir():
        return []
    return [RoomStore(rooms_dir, d.name) for d in sorted(root.iterdir()) if d.is_dir()]


#: Lock files held by this process (see :func:`claim`), kept open for its lifetime.
_CLAIMS: dict[Path, int] = {}


def claim(rooms_dir: str | Path) -> bool:
    """Whether this process may reopen the rooms of ``rooms_dir``: it holds the folder's
    lock (``.rooms/.lock``) from now until it exits; False when another process (another
    ``parley app --room`` on the same folder) holds it, so a room is never played twice."""
    path = (Path(rooms_dir) / STATE_DIR / ".lock").resolve()
    if path in _CLAIMS:
        return True
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock to take
        return True
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    _CLAIMS[path] = fd
    return True


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RoomStateError(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RoomStateError(f"{path}: unreadable ({err})") from None
