"""The classroom page (``parley app --room DIR``): the facilitator's view and the seats' views.

One server, one link per person:

- ``/?facilitator=KEY`` (printed by ``parley app --room``): choose the scenario, the
  table-wide policy, which seats people take, the seed and the seconds a person has per turn
  (when they run out the move is a recorded ``hold``); open the room; hand out the seat
  links; watch everything (every view of the live run, every private brief, who has moved);
  close a room early (the run stops and is saved as a stopped run).
- ``/?room=ID&seat=PARTY&key=KEY``: one person's seat (:func:`parley.viz.seat.SeatPage`).
  Reloading the page reconnects to the seat: the room lives in the server process.
- anything else: how to join.

Finished rooms are saved as results directories ``DIR/<room id>``, so
``parley report RESULTS --reference DIR`` measures models against the class.
"""

from __future__ import annotations

import html
import os
import secrets
from typing import Any, cast
from urllib.parse import parse_qs

import solara

from parley.agents.human import private_brief
from parley.agents.seating import format_seating
from parley.scenarios.loader import builtin_names, load_scenario
from parley.viz.components import RunViews
from parley.viz.env import FACILITATOR_ENV, ROOM_ENV
from parley.viz.errors import describe_error
from parley.viz.params import seed_value, time_limit_value
from parley.viz.room import ROOMS, Room
from parley.viz.seat import SeatChooser, SeatPage, use_version

TABLE_POLICIES = ("heuristic", "solver", "llm")
TIME_LIMIT_LABEL = "Seconds per turn (blank: no limit)"


def query(search: str | None) -> dict[str, str]:
    """The page's query parameters (first value of each)."""
    return {k: v[0] for k, v in parse_qs(search or "").items() if v}


@solara.component
def RoomPage():
    """Route a request to the facilitator's view, a seat, or the joining instructions."""
    args = query(solara.use_router().search)
    key = os.environ.get(FACILITATOR_ENV, "")
    if "facilitator" in args:
        if key and secrets.compare_digest(args["facilitator"], key):
            FacilitatorPage()
        else:
            solara.Error("This facilitator link is not valid for this server.")
        return
    room = ROOMS.get(args.get("room", ""))
    party = args.get("seat", "")
    if room is None or not room.admits(party, args.get("key", "")):
        solara.Markdown(
            "## parley classroom\n\nOpen the seat link your facilitator gave you. "
            + ("(This seat link is not valid: check it with your facilitator.)" if args else "")
        )
        return
    SeatPage(room, party)


@solara.component
def FacilitatorPage():
    """Open a room, hand out the seat links, watch every room."""
    use_version(ROOMS)  # re-render when a room opens (from this page or another)
    rooms = ROOMS.all()
    with solara.Columns([1, 3]):
        OpenRoomForm()
        with solara.Column():
            if not rooms:
                solara.Info("Open a room: choose the seats people take.")
            for room in reversed(rooms):
                RoomView(room).key(f"room-{room.id}")


@solara.component
def OpenRoomForm():
    """Scenario, table policy, seed, which seats are people, seconds per turn; then open."""
    scenario = solara.use_reactive("grid_curtailment")
    policy = solara.use_reactive("heuristic")
    seed = solara.use_reactive("0")
    limit = solara.use_reactive("")
    chosen = solara.use_reactive(cast(tuple[str, ...], ()))
    error = solara.use_reactive(cast(str | None, None))
    parties = load_scenario(scenario.value).party_ids

    def open_room() -> None:
        people = [p for p in chosen.value if p in parties]
        try:
            params: dict[str, Any] = {
                "scenario": scenario.value,
                "policy": policy.value,
                "seats": format_seating(dict.fromkeys(people, "human")),
                "rng": seed_value(seed.value),
                "human_time_limit": time_limit_value(limit.value),
            }
            ROOMS.open(params, os.environ.get(ROOM_ENV) or None)
        except Exception as err:
            error.set(describe_error(err))
            return
        error.set(None)

    with solara.Card("Open a room"):
        solara.Select("Scenario", values=builtin_names(), value=scenario)
        solara.Select("Agents' policy", values=list(TABLE_POLICIES), value=policy)
        solara.InputText("Seed", value=seed)
        solara.InputText(TIME_LIMIT_LABEL, value=limit, continuous_update=True)
        solara.Text("A person out of time holds (recorded as a hold).", classes=["parley-note"])
        solara.Text("Seats taken by people:")
        SeatChooser(parties, chosen.value, chosen.set)
        solara.Button("Open room", color="primary", on_click=open_room)
        if error.value:
            solara.Error(error.value)


@solara.component
def RoomView(room: Room):
    """Everything of one room: seat links and who is to move, every view, every brief."""
    use_version(room)
    status = "running" if room.running else "ended"
    with solara.Row(style={"align-items": "center", "gap": "12px"}):
        solara.Markdown(f"### Room {room.id} · {status}")
        if room.running:  # the run stops; what was played is saved as a stopped run
            solara.Button("Close room", color="error", outlined=True, on_click=room.close)
    with solara.Card("Seat links (one per person; reloading reconnects to the seat)"):
        for party in room.keys:
            waiting = room.queues[party].waiting is not None and room.running
            link = f"?{room.seat_query(party)}"
            solara.HTML(
                tag="div",
                unsafe_innerHTML=(
                    f'<a class="parley-seat-link" data-seat="{html.escape(party)}" '
                    f'href="{html.escape(link)}">{html.escape(party)}</a> · '
                    + (
                        "to move"
                        if waiting
                        else "waiting for the others"
                        if room.running
                        else "the run has ended"
                    )
                ),
            )
    if room.error:
        solara.Error(room.error)
    if room.saved is not None:
        solara.Success(f"Saved to {room.saved}")
    RunViews(room.view)
    with solara.Details("Every private brief (facilitator only)"):
        for party in room.model.spec.party_ids:
            solara.Markdown(f"**{party}** — {private_brief(room.model.spec, party)}")
