"""Rooms whose other seats are LLM negotiators: people and models at one table.

The LLM seats talk to the loopback fake server (:mod:`parley.llm.fake_server`, no key, no
network): its answers are drawn from each request's seed, so a room replays exactly.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from llm_fixtures import (  # noqa: F401 (fixtures)
    KEY_ENV,
    fake_key_fixture,
    fake_server_fixture,
    files_containing,
)
from test_room_durable import (
    assert_same_run,
    city_thinks_in_round_3,
    plan,
    play,
    waits_in_round_3,
)

from parley import load_results
from parley.llm.fake_server import FakeOpenAIServer
from parley.viz.room import Room, Rooms
from parley.viz.room_store import STATE_DIR

LLM_SEATS = ("industry", "retail")
# Varying with the call, not identical in two runs: left out when two runs are compared.
TIMING = ("latency_s",)


def llm_params(server: FakeOpenAIServer, **extra: object) -> dict:
    return {
        "scenario": "grid_curtailment",
        "policy": "heuristic",
        "seats": "city=human,industry=llm,operator=human,retail=llm",
        "backend": "openai",
        "model": "fake-model",
        "base_url": server.base_url,
        "api_key_env": KEY_ENV,
        "timeout": 5.0,
        "max_retries": 0,
        "rng": 5,
        **extra,
    }


def llm_round_done(room: Room, round_no: int) -> bool:
    """Every LLM seat has its decision of ``round_no``."""
    agents = [a for a in room.model.negotiators if a.party_id in LLM_SEATS]
    return all(
        a.decision is not None and a.observation is not None and a.observation.round == round_no
        for a in agents
    )


def test_people_and_llm_seats_play_a_room_and_pages_never_wait_for_the_llm(
    tmp_path: Path, fake_key: str
) -> None:
    with FakeOpenAIServer(latency_s=0.5) as server:
        room = Rooms().open(llm_params(server), tmp_path)
        while not server.requests:  # the LLM seats' round-1 calls are in flight ...
            room.wait_change(room.version, 0.02)
        slowest = 0.0
        while not llm_round_done(room, 1):  # ... and the pages keep answering at once
            started = time.monotonic()
            room.seat_state("city")
            room.seat_state("operator")
            slowest = max(slowest, time.monotonic() - started)
            time.sleep(0.02)
        assert slowest < 0.2, f"a page waited {slowest:.2f} s on the room"
        started = time.monotonic()
        room.submit("city", plan("city", 1))
        assert time.monotonic() - started < 0.2
        play(room)
        answered = len(server.requests)
    assert room.error is None and room.saved is not None
    res = load_results(room.saved)
    moves, calls = res["moves"], res["calls"]
    assert set(moves[moves.party.isin(LLM_SEATS)].policy) == {"llm"}
    assert set(moves[moves.party.isin(["city", "operator"])].policy) == {"human"}
    assert (moves.groupby("round").size() == 5).all()  # every seat moved in every round
    assert set(calls.party) == set(LLM_SEATS) and not calls.cached.any()
    assert len(calls) == answered  # each call asked once, recorded once
    assert res["runs"].status[0] == "ok"
    assert files_containing(tmp_path, fake_key) == []  # the key is never written


def test_in_sequential_order_a_person_sees_the_llm_moves_made_before_theirs(
    tmp_path: Path, fake_server: FakeOpenAIServer
) -> None:
    room = Rooms().open(llm_params(fake_server, turn_order="sequential"), tmp_path)
    seen: dict[int, tuple] = {}  # round -> the moves of that round the city saw

    def city_looks(party: str, round_no: int) -> str:
        if party == "city":
            obs = room.queues["city"].waiting.observation
            last = obs.history[-1] if obs.history else ()
            seen[round_no] = tuple(m for m in last if m.round == round_no)
        return plan(party, round_no)

    play(room, city_looks)
    assert room.error is None and seen
    before_city, after_city = set(), set()
    for round_no, moves in seen.items():
        order = [m.party for m in room.model.history[round_no - 1]]
        at = order.index("city")
        assert moves == room.model.history[round_no - 1][:at]  # exactly the earlier moves
        before_city |= set(order[:at]) & set(LLM_SEATS)
        after_city |= set(order[at + 1 :]) & set(LLM_SEATS)
    assert before_city and after_city  # LLM seats moved both before and after the person


def test_a_failing_llm_ends_the_room_with_one_line_and_keeps_the_run_as_failed(
    tmp_path: Path, fake_server: FakeOpenAIServer
) -> None:
    import ipyvuetify as v
    import solara
    from test_room import _text

    from parley.viz.seat import SeatPage

    fake_server.fail("bad_request")  # a configuration fault: no retry cures it
    room = Rooms().open(llm_params(fake_server), tmp_path)
    deadline = time.monotonic() + 20
    while room.running:
        assert time.monotonic() < deadline, "the room did not stop"
        room.wait_change(room.version, 0.05)
    assert room.error is not None and "\n" not in room.error
    assert room.error.startswith("The room's run failed: configuration fault (bad_request): ")
    state = room.seat_state("city")
    assert state.failed and state.ended == room.error and not state.turn
    box, rc = solara.render(SeatPage(room, "city"), handle_error=False)
    shown = rc.find(v.Alert, children=[room.error]).widget  # the one line, as an error
    assert shown.type == "error" and "The negotiation has ended" not in _text(box)
    rc.close()
    runs = load_results(room.saved)["runs"]
    assert runs.status[0] == "failed" and runs.fault[0] == "bad_request"
    assert runs.error[0] == room.error.removeprefix("The room's run failed: ")
    info = json.loads((tmp_path / STATE_DIR / room.id / "room.json").read_text())
    assert info["status"] == "failed" and info["error"] == runs.error[0]
    assert Rooms().restore(tmp_path) == []  # a failed room is not reopened


def test_a_reopened_room_replays_its_llm_seats_without_asking_them_again(
    tmp_path: Path, fake_key: str
) -> None:
    with FakeOpenAIServer() as server:
        first = Rooms().open(llm_params(server), tmp_path / "class")
        play(
            first,
            city_thinks_in_round_3,
            lambda r: waits_in_round_3(r) and llm_round_done(r, 3),
        )
        first.suspend()  # the server stops: the city is to move in round 3
        asked = len(server.requests)

        rooms = Rooms()
        (line,) = rooms.restore(tmp_path / "class")
        assert (
            line == f"room {first.id} reopened: round 3, 5 recorded moves replayed, to move: city"
        )
        assert len(server.requests) == asked  # every LLM answer came from the room's recording
        room = rooms.get(first.id)
        assert room is not None and room.model.history == first.model.history
        play(room)
        assert room.error is None
        calls = load_results(room.saved)["calls"]
        assert len(calls) == len(server.requests)  # over both lives, each call asked once
        assert not calls.cached.any()  # the replayed answers are the ones this room paid for
        assert (tmp_path / "class" / STATE_DIR / room.id / "llm-cache.sqlite").is_file()

        straight = Rooms().open(llm_params(server), tmp_path / "straight")
        play(straight)
    assert_same_run(room.saved, straight.saved, ignore=TIMING)
    assert files_containing(tmp_path, fake_key) == []


def test_a_reopened_sequential_room_with_llm_seats_is_the_same_run(
    tmp_path: Path, fake_server: FakeOpenAIServer
) -> None:
    """Stopped mid-round after the LLM seats ahead of the person moved, not those after."""
    params = llm_params(fake_server, turn_order="sequential")
    first = Rooms().open(params, tmp_path / "class")

    def city_to_move_in_round_3(room: Room) -> bool:
        waiting = room.queues["city"].waiting
        return waiting is not None and waiting.observation.round == 3

    play(first, city_thinks_in_round_3, city_to_move_in_round_3)
    first.suspend()
    asked = len(fake_server.requests)
    rooms = Rooms()
    (line,) = rooms.restore(tmp_path / "class")
    assert "reopened: round 3" in line and line.endswith("to move: city")
    assert len(fake_server.requests) == asked
    room = rooms.get(first.id)
    assert room is not None
    play(room)
    straight = Rooms().open(params, tmp_path / "straight")
    play(straight)
    assert_same_run(room.saved, straight.saved, ignore=TIMING)
