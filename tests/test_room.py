"""Classroom rooms without a browser: seats, links, moves from two people, the saved run."""

from __future__ import annotations

import html
import threading
import time
from pathlib import Path

import pytest

from parley import load_results
from parley.viz.room import Rooms

PARAMS = {
    "scenario": "grid_curtailment",
    "policy": "heuristic",
    "seats": "city=human,operator=human",
    "rng": 3,
}


def person(room, party: str, moves: list[str], done: threading.Event) -> None:
    """Play ``party`` like a page does: wait for the turn, send the next move."""
    i = 0
    while room.running and not done.is_set():
        state = room.seat_state(party)
        if state.turn:
            room.submit(party, moves[min(i, len(moves) - 1)])
            i += 1
        room.wait_change(room.version, timeout=0.2)


def test_two_people_play_a_room_to_an_outcome(tmp_path: Path) -> None:
    rooms = Rooms()
    room = rooms.open(PARAMS, tmp_path / "class")
    assert rooms.get(room.id) is room and rooms.get("nope") is None
    assert room.admits("city", room.keys["city"]) and not room.admits("city", "guess")
    assert not room.admits("industry", room.keys["city"])  # an agent's seat has no link
    assert room.seat_query("city") == f"room={room.id}&seat=city&key={room.keys['city']}"
    done = threading.Event()
    players = [
        threading.Thread(target=person, args=(room, "operator", ["propose 150", "accept"], done)),
        threading.Thread(target=person, args=(room, "city", ["concede 52", "accept"], done)),
    ]
    for t in players:
        t.start()
    deadline = time.monotonic() + 60
    while room.running and time.monotonic() < deadline:
        time.sleep(0.05)
    done.set()
    for t in players:
        t.join()
    assert not room.running and room.error is None
    assert room.model.outcome.kind in ("compromise", "authority_decision")
    assert "Outcome:" in room.seat_state("city").ended
    res = load_results(room.saved)
    assert room.saved == tmp_path / "class" / room.id
    moves = res["moves"]
    assert set(moves[moves.party.isin(["operator", "city"])].policy) == {"human"}
    assert res["runs"].invalid_turns[0] == 0  # the refused 'propose 150' was asked again
    assert res["runs"].seats[0] == "city=human,operator=human"


def test_a_seat_sees_its_own_brief_and_the_grammars_refusal() -> None:
    room = Rooms().open(PARAMS)
    deadline = time.monotonic() + 10
    while not room.seat_state("city").turn and time.monotonic() < deadline:
        room.wait_change(room.version, 0.2)
    state = room.seat_state("city")
    assert state.turn and state.round == 1 and "You are city" in state.brief
    assert "operator" in state.others and "city" not in state.others
    assert 0.0 in state.grid and 100.0 in state.grid
    room.submit("city", "support city")
    while room.seat_state("city").error is None and time.monotonic() < deadline:
        room.wait_change(room.version, 0.2)
    assert "cannot support itself" in room.seat_state("city").error
    room.close()  # the people leave: the run stops, kept as a stopped run
    while room.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert room.model.outcome.kind == "stopped"


def test_a_room_needs_a_person() -> None:
    with pytest.raises(ValueError, match="a room needs at least one human seat"):
        Rooms().open({**PARAMS, "seats": "city=solver"})


# -- the pages, rendered headless ---------------------------------------------------------------
def _text(widget) -> str:
    out = []
    for attr in ("unsafe_innerHTML", "label", "value"):
        v = getattr(widget, attr, None)
        if isinstance(v, str) and v:
            out.append(v)
    for child in getattr(widget, "children", None) or []:
        out.append(child if isinstance(child, str) else _text(child))
    return "\n".join(out)


def _wait(check, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_the_seat_page_shows_only_its_brief_and_sends_a_move_from_the_form() -> None:
    import ipyvuetify as v
    import solara

    from parley.viz.seat import SeatPage

    room = Rooms().open(PARAMS)
    box, rc = solara.render(SeatPage(room, "city"), handle_error=False)
    _wait(lambda: "Your move · round 1" in _text(box))
    text = _text(box)
    assert "Your private brief (only you see this)" in text and "You are city" in text
    assert "You are operator" not in text  # never another seat's private brief
    action = rc.find(v.Select, label="Action").widget
    action.v_model = "support"
    rc.find(v.Select, label="Party to support").widget.v_model = "retail"
    rc.find(v.TextField, label="Public message (optional)").widget.v_model = "Retail is right"
    rc.find(v.Btn, children=["Send move"]).widget.click()
    _wait(lambda: room.view.round >= 1 or "waiting for the others" in _text(box))
    room.submit("operator", "hold")
    _wait(lambda: room.view.round >= 1)
    city = next(m for m in room.model.history[0] if m.party == "city")
    assert city.action.kind == "support" and city.action.target == "retail"
    assert city.action.message == "Retail is right"
    room.close()
    rc.close()


def test_the_facilitator_sees_every_seat_link_every_brief_and_the_run() -> None:
    import solara

    from parley.viz.room_page import RoomView

    room = Rooms().open(PARAMS)
    box, rc = solara.render(RoomView(room), handle_error=False)
    _wait(lambda: "to move" in _text(box))
    text = _text(box)
    for party in ("city", "operator"):
        assert f'href="?{html.escape(room.seat_query(party))}"' in text
    assert "Every private brief (facilitator only)" in text
    assert "Round 0 of 10" in text
    room.close()
    rc.close()
