"""A human seat on a page: the seat's private brief, the table, and the move form.

The form offers the grammar's six actions, any value on the issue's own grid (a number
field and a slider, snapped to the issue's step, with the coarse grid LLM negotiators are
offered as quick choices), a target party for ``support``, and a public message. What is
sent is checked by the grammar in the run's thread; a refused move comes back with the
grammar's message and is asked again, never counted invalid.

Two pages seat people: a classroom room's seat page (:func:`SeatPage`) and the main page's
live run (:func:`PlayerSeats`, for the parties a person at that screen plays).
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

import solara

from parley.agents.human import private_brief
from parley.agents.prompting import snap
from parley.grammar import ACTION_KINDS, VALUE_KINDS, Action, ActionKind
from parley.scenarios.schema import Issue, Scenario
from parley.viz.turn import SeatState

if TYPE_CHECKING:
    from parley.viz.room import Room, Watched

VALUE_ACTIONS = {k.value for k in VALUE_KINDS}
SEND, SEAT_LABEL = "Send move", "person plays {party}"
# One line per party (Vuetify's checkboxes reserve room for a message under each).
CHOOSER_CSS = """
.parley-seat-chooser .v-input__details { display: none; }
.parley-seat-chooser .v-input { margin: 0; }
.parley-seat-chooser .v-selection-control { min-height: 34px; }
"""


def use_version(source: Watched) -> int:
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
        MoveForm(state, lambda move: send(room, party, move))
    else:
        solara.Info("Move sent or not your turn yet: waiting for the others…")


def send(room: Room, party: str, move: Action) -> None:
    """Send ``party``'s move if its turn still waits (a second click is not kept for the
    seat's next turn)."""
    if room.queues[party].waiting is not None:
        room.submit(party, move)


def on_grid(issue: Issue, value: float) -> float:
    """``value`` snapped to the issue's step; one outside the range is left for the grammar
    to refuse with its message (a person should learn why, not see it silently moved)."""
    return snap(issue, value) if issue.min <= value <= issue.max else value


def first_value(state: SeatState) -> float | None:
    """Where the value inputs start: the seat's own position, else the middle of its grid."""
    if state.position is not None:
        return state.position
    if state.grid:
        return state.grid[len(state.grid) // 2]
    return None


@solara.component
def MoveForm(state: SeatState, on_submit: Callable[[Action], Any], disabled: bool = False):
    """The move form of one turn; ``on_submit`` gets the typed :class:`Action`.

    ``disabled``: the seat has no turn now (its move was sent, or its next turn is to come);
    the form stays on the page with the person's choices.
    """
    kind = solara.use_reactive("propose")
    value = solara.use_reactive(cast(float | None, first_value(state)))
    target = solara.use_reactive(state.others[0] if state.others else "")
    message = solara.use_reactive("")
    local = solara.use_reactive(cast(str | None, None))  # refused before it was sent
    issue = state.issue

    def send() -> None:
        chosen = value.value
        if chosen is not None and issue is not None:
            chosen = on_grid(issue, chosen)
        try:
            move = Action(
                kind=ActionKind(kind.value),
                value=chosen if kind.value in VALUE_ACTIONS else None,
                target=target.value if kind.value == "support" else None,
                message=message.value,
            )
        except ValueError as err:  # e.g. a message past the grammar's length
            local.set(str(err).splitlines()[-1] if str(err) else "not a move")
            return
        local.set(None)
        on_submit(move)
        message.set("")

    title = f"Your move · round {state.round}" if not disabled else "Your next move"
    with solara.Card(title, classes=["parley-move-form"]):
        error = local.value or (None if disabled else state.error)
        if error:
            solara.Error(f"Not accepted: {error}. Try again.", classes=["parley-refused"])
        solara.Select("Action", values=list(ACTION_KINDS), value=kind)
        if kind.value in VALUE_ACTIONS:
            ValueInput(state, value.value, value.set)
        if kind.value == "support":
            solara.Select("Party to support", values=list(state.others), value=target)
        solara.InputText("Public message (optional)", value=message, continuous_update=True)
        solara.Button(SEND, color="primary", on_click=send, disabled=disabled)


@solara.component
def ValueInput(state: SeatState, value: float | None, on_value: Callable[[float | None], None]):
    """Any value on the issue's grid: a number field (what is sent is snapped to the issue's
    step), a slider on that grid, and the agents' coarse grid as quick choices."""
    issue = state.issue
    if issue is None:  # no issue known: the coarse grid only
        solara.Select(
            "Value",
            values=[f"{v:g}" for v in state.grid],
            value=f"{value:g}" if value is not None else None,
            on_value=lambda text: on_value(float(text)),
        )
        return
    unit = f" {issue.unit}" if issue.unit else ""
    with solara.Row(style={"align-items": "center", "flex-wrap": "wrap", "gap": "12px"}):
        solara.InputFloat(
            f"Value{unit} ({issue.min:g}–{issue.max:g}, step {issue.step:g})",
            value=value,
            on_value=on_value,
            optional=True,
            continuous_update=True,  # a click on Send right after typing sends what is typed
            style={"max-width": "260px"},
        )
        if state.grid:
            solara.Select(
                "Quick values",
                values=[f"{v:g}" for v in state.grid],
                value=None,
                on_value=lambda text: on_value(float(text)) if text else None,
                style={"max-width": "160px"},
            )
    if value is not None and issue.min <= value <= issue.max and on_grid(issue, value) != value:
        solara.Text(f"Sent as {on_grid(issue, value):g} (the issue's step is {issue.step:g}).")
    with solara.Div(classes=["parley-value-slider"]):
        solara.SliderFloat(
            "",
            value=value if value is not None else issue.min,
            min=issue.min,
            max=issue.max,
            step=issue.step,
            on_value=on_value,
        )


@solara.component
def SeatChooser(
    parties: Sequence[str], chosen: Sequence[str], on_value: Callable[[tuple[str, ...]], None]
):
    """A checkbox per party: which seats people take (the others play the agents' policy)."""

    def toggle(party: str, on: bool) -> None:
        rest = [p for p in chosen if p != party]
        on_value(tuple(p for p in parties if p in rest or (on and p == party)))

    solara.Style(CHOOSER_CSS)  # here, not in the page CSS: the room's page uses it too
    with solara.Div(classes=["parley-seat-chooser"]):
        for party in parties:

            def check(on: bool, party: str = party) -> None:
                toggle(party, on)

            solara.Checkbox(
                label=SEAT_LABEL.format(party=party), value=party in chosen, on_value=check
            )


@solara.component
def PlayerSeats(
    spec: Scenario,
    humans: Sequence[str],
    seats: Sequence[SeatState],
    running: bool,
    on_submit: Callable[[str, Action], Any],
):
    """The live run's human seats (a person at this screen plays them): each one's private
    brief and, when its turn comes, the move form (kept between turns, disabled)."""
    for party in humans:
        state = next((s for s in seats if s.party == party), None)
        turn = ["parley-your-turn"] if state is not None and state.turn else []
        with solara.Card(f"You play {party}", classes=["parley-human-seat", *turn]):
            with solara.Details("Your private brief (only you see this)", expand=True):
                solara.HTML(
                    tag="div",
                    unsafe_innerHTML=html.escape(private_brief(spec, party)).replace("\n", "<br>"),
                    classes=["parley-brief"],
                )
            if not running:
                continue
            if state is None:
                solara.Info("Step or Play: your move form appears here when your turn comes.")
                continue
            if not state.turn:
                solara.Text(
                    "Move sent or not your turn yet: the form opens at your next turn.",
                    classes=["parley-note"],
                )
            MoveForm(state, lambda move, p=party: on_submit(p, move), disabled=not state.turn).key(
                f"move-{party}"
            )
