"""A human seat on a page: the seat's private brief, the table, and the move form.

The form offers the grammar's six actions, a value on the issue's grid (the same grid an
LLM negotiator is offered), a target party for ``support``, and a public message. What is
sent is checked by the grammar in the room's thread; a refused move comes back with the
grammar's message and is asked again, never counted invalid.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import Any

import solara

from parley.grammar import ACTION_KINDS, VALUE_KINDS, Action, ActionKind
from parley.viz.room import Room, Rooms, SeatState

VALUE_ACTIONS = {k.value for k in VALUE_KINDS}


def use_version(source: Room | Rooms) -> int:
    """``source``'s version, re-rendering the calling component whenever it changes.

    A worker thread waits on ``source`` (people's moves, rounds ending, rooms opened) for
    as long as the component is mounted.
    """
    version = solara.use_reactive(source.version)

    def watch(cancel: threading.Event) -> None:
        seen = source.version
        while not cancel.is_set():
            now = source.wait_change(seen, timeout=0.5)
            if now != seen:
                seen = now
                version.set(now)

    solara.use_thread(watch, dependencies=[source], intrusive_cancel=False)  # type: ignore[arg-type]
    return version.value


@solara.component
def SeatPage(room: Room, party: str):
    """One person's page: only their own private brief, the table, their move form."""
    use_version(room)
    state = room.seat_state(party)
    solara.HTML(tag="h2", unsafe_innerHTML=f"You are <b>{html.escape(party)}</b> · room {room.id}")
    with solara.Card("Your private brief (only you see this)"):
        solara.HTML(
            tag="div",
            unsafe_innerHTML=html.escape(state.brief).replace("\n", "<br>"),
            classes=["parley-brief"],
        )
    with solara.Card(f"The table · round {state.round}"):
        solara.Preformatted(state.table, classes=["parley-seat-table"])
        if state.history:
            solara.Preformatted(state.history, classes=["parley-seat-history"])
    if state.ended is not None and state.failed:
        solara.Error(state.ended, classes=["parley-ended", "parley-failed"])
    elif state.ended is not None:
        solara.Success(f"The negotiation has ended. {state.ended}", classes=["parley-ended"])
    elif state.turn:
        MoveForm(state, lambda move: room.submit(party, move))
    else:
        solara.Info("Move sent or not your turn yet: waiting for the others…")


@solara.component
def MoveForm(state: SeatState, on_submit: Callable[[Action], Any]):
    """The move form of one turn; ``on_submit`` gets the typed :class:`Action`."""
    kind = solara.use_reactive("propose")
    grid = [f"{v:g}" for v in state.grid]
    value = solara.use_reactive(grid[len(grid) // 2] if grid else "")
    target = solara.use_reactive(state.others[0] if state.others else "")
    message = solara.use_reactive("")

    def send() -> None:
        on_submit(
            Action(
                kind=ActionKind(kind.value),
                value=float(value.value) if kind.value in VALUE_ACTIONS else None,
                target=target.value if kind.value == "support" else None,
                message=message.value,
            )
        )
        message.set("")

    with solara.Card(f"Your move · round {state.round}", classes=["parley-move-form"]):
        if state.error:
            solara.Error(f"Not accepted: {state.error}. Try again.", classes=["parley-refused"])
        solara.Select("Action", values=list(ACTION_KINDS), value=kind)
        if kind.value in VALUE_ACTIONS:
            solara.Select("Value", values=grid, value=value)
        if kind.value == "support":
            solara.Select("Party to support", values=list(state.others), value=target)
        solara.InputText("Public message (optional)", value=message, continuous_update=True)
        solara.Button("Send move", color="primary", on_click=send)
