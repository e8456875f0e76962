"""A classroom room: one negotiation that several people join from their own browsers.

A :class:`Room` holds one :class:`~parley.model.model.NegotiationModel` whose human seats
are fed by :class:`~parley.agents.human.MoveQueue` objects, and plays its rounds in a
background thread (agents decide meanwhile; a round waits for the people still to move).
Each human seat has a secret link (``?room=ID&seat=PARTY&key=KEY``): whoever holds it sees
that seat's private brief and move form, and nothing private of the others; reloading the
page reconnects to the seat, because the room lives in the server process, not the page.
The facilitator's link (``?facilitator=KEY``) shows everything.

Pages never touch the model: they read the snapshots (:class:`SeatState`,
:class:`~parley.viz.view.RunView`) the room thread publishes after every change, and wait
on :meth:`Room.wait_change`. This module has no Solara import: it is tested directly.
"""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parley.agents.human import MoveQueue, MoveRequest, private_brief
from parley.agents.prompting import history_text, observation_grid, table_text
from parley.agents.seating import humans
from parley.experiments.manifest import build_manifest
from parley.experiments.records import run_frames
from parley.experiments.storage import write_results
from parley.grammar import Action
from parley.model.model import NegotiationModel
from parley.transcript import outcome_text
from parley.viz.view import RunView, live_view

log = logging.getLogger(__name__)

#: Set by ``parley app --room DIR``: the folder finished rooms are saved into.
ROOM_ENV = "PARLEY_APP_ROOM"
#: Set by ``parley app --room``: the facilitator's secret (printed in the facilitator link).
FACILITATOR_ENV = "PARLEY_APP_FACILITATOR_KEY"


@dataclass(frozen=True)
class SeatState:
    """What one seat's page shows: its turn (if it is one), the table, the last rounds."""

    party: str
    brief: str
    round: int
    turn: bool
    table: str
    history: str
    error: str | None
    grid: tuple[float, ...]
    others: tuple[str, ...]
    ended: str | None  # the outcome text once the run has ended


class Room:
    """One negotiation with human seats, played in a background thread.

    Args:
        params: NegotiationModel keyword arguments; ``seats`` must seat at least one human.
        out_dir: folder the finished run is saved into (``<out_dir>/<room id>``), or None.
    """

    def __init__(self, params: dict[str, Any], out_dir: str | Path | None = None) -> None:
        people = humans(params.get("seats"))
        if not people:
            raise ValueError("a room needs at least one human seat")
        self.id = secrets.token_hex(3)
        self.keys = {p: secrets.token_urlsafe(8) for p in people}
        self.queues = {p: MoveQueue(on_request=self._asked, on_taken=self._bump) for p in people}
        self.model = NegotiationModel(**params, human=self.queues)
        self.params = dict(self.model.params)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.saved: Path | None = None
        self.error: str | None = None
        self.version = 0
        self._changed = threading.Condition()
        self._requests: dict[str, MoveRequest | None] = dict.fromkeys(people)
        self.view: RunView = live_view(self.model)
        self._thread = threading.Thread(target=self._play, name=f"room-{self.id}", daemon=True)
        self._thread.start()

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
            queue.close()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _asked(self, request: MoveRequest) -> None:
        self._requests[request.party] = request
        self._bump()

    def _play(self) -> None:
        model = self.model
        try:
            while model.running:
                model.step()
                self.view = live_view(model)
                self._bump()
            self._save()
        except Exception as err:  # a page shows one line; the server log has the rest
            log.warning("room %s failed", self.id, exc_info=True)
            self.error = f"the room's run failed: {err}"
        finally:
            self._bump()

    def _save(self) -> None:
        if self.out_dir is None:
            return
        manifest = build_manifest("run", {**self.params}, room=self.id)
        self.saved = write_results(self.out_dir / self.id, run_frames(self.model), manifest)

    # -- what pages read -----------------------------------------------------------------
    def _bump(self) -> None:
        with self._changed:
            self.version += 1
            self._changed.notify_all()

    def wait_change(self, seen: int, timeout: float) -> int:
        """Block until the room's version differs from ``seen`` (or ``timeout``); the version."""
        with self._changed:
            self._changed.wait_for(lambda: self.version != seen, timeout=timeout)
            return self.version

    def seat_state(self, party: str) -> SeatState:
        """The snapshot ``party``'s page draws (the pending request, if it is their turn)."""
        request = self._requests.get(party)
        ended = None
        if not self.running:
            ended = self.error or outcome_text(self.model)
        spec = self.model.spec
        if request is not None and request.observation.round > self.view.round:
            obs = request.observation  # the round being played
            return SeatState(
                party=party,
                brief=private_brief(spec, party),
                round=obs.round,
                turn=ended is None and self.queues[party].waiting is not None,
                table=table_text(obs),
                history=history_text(obs),
                error=request.error,
                grid=tuple(float(v) for v in observation_grid(obs)),
                others=tuple(p for p in spec.party_ids if p != party),
                ended=ended,
            )
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
        )


class Rooms:
    """The rooms of one server process (pages of every browser session share it)."""

    def __init__(self) -> None:
        self._rooms: dict[str, Room] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition()
        self.version = 0

    def open(self, params: dict[str, Any], out_dir: str | Path | None = None) -> Room:
        room = Room(params, out_dir)
        with self._lock:
            self._rooms[room.id] = room
        with self._changed:
            self.version += 1
            self._changed.notify_all()
        return room

    def wait_change(self, seen: int, timeout: float) -> int:
        """Block until a room is opened (version differs from ``seen``) or ``timeout``."""
        with self._changed:
            self._changed.wait_for(lambda: self.version != seen, timeout=timeout)
            return self.version

    def get(self, room_id: str) -> Room | None:
        with self._lock:
            return self._rooms.get(room_id)

    def all(self) -> list[Room]:
        with self._lock:
            return list(self._rooms.values())


#: The process-wide rooms (a module global: imported once per server process).
ROOMS = Rooms()
