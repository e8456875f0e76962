"""Rooms survive a server stop: written as they play, reopened and replayed at the next start.

A server stop is :meth:`Room.suspend` here (the room's thread ends, nothing more is written)
or a killed process (``kill -9`` of a child playing a room); the next start is
:meth:`Rooms.restore` on the same folder.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from parley import load_results
from parley.viz.room import Room, Rooms
from parley.viz.room_store import STATE_DIR

PARAMS = {
    "scenario": "grid_curtailment",
    "policy": "heuristic",
    "seats": "city=human,operator=human",
    "rng": 5,
}
ROOT = Path(__file__).resolve().parent.parent


def plan(party: str, round_no: int) -> str:
    """The people's moves: each is valid on any table, so none is refused."""
    if round_no == 1:
        return {"city": "propose 30 Homes first", "operator": "propose 50"}[party]
    if round_no == 2:
        return {"city": "propose 35", "operator": "hold Let us see"}[party]
    return "accept"


def city_thinks_in_round_3(party: str, round_no: int) -> str | None:
    """The plan, but the city does not move in round 3 (yet)."""
    return None if (party, round_no) == ("city", 3) else plan(party, round_no)


def play(
    room: Room,
    moves: Callable[[str, int], str | None] = plan,
    until: Callable[[Room], bool] | None = None,
    timeout: float = 60.0,
) -> None:
    """Play the people's turns like their pages do, until the run ends or ``until(room)``."""
    sent: set[tuple[str, int]] = set()
    deadline = time.monotonic() + timeout
    while room.running and not (until is not None and until(room)):
        assert time.monotonic() < deadline, "the room did not get there in time"
        for party in room.queues:
            waiting = room.queues[party].waiting
            if waiting is not None and (party, waiting.observation.round) not in sent:
                move = moves(party, waiting.observation.round)
                if move is not None:
                    sent.add((party, waiting.observation.round))
                    room.submit(party, move)
        room.wait_change(room.version, 0.05)


def waits_in_round_3(room: Room) -> bool:
    """The operator has played round 3 (recorded), the city is still to move in it."""
    city = room.queues["city"].waiting
    return (
        city is not None
        and city.observation.round == 3
        and _recorded(room, "operator", 3)
        and room.queues["operator"].waiting is None
    )


def _recorded(room: Room, party: str, round_no: int) -> bool:
    assert room.store is not None
    turns = json.loads((room.store.dir / "moves.json").read_text())["turns"]
    return any(t["party"] == party and t["round"] == round_no for t in turns)


def play_through(rooms_dir: Path, params: dict = PARAMS) -> Path:
    """A room played without interruption; its saved results directory."""
    room = Rooms().open(params, rooms_dir)
    play(room)
    assert room.error is None and room.saved is not None
    return room.saved


def assert_same_run(a: Path, b: Path, ignore: tuple[str, ...] = ()) -> None:
    ra, rb = load_results(a), load_results(b)
    assert set(ra) == set(rb)
    for name in ra:
        fa, fb = (r[name].drop(columns=[c for c in ignore if c in r[name]]) for r in (ra, rb))
        pd.testing.assert_frame_equal(fa, fb, check_dtype=False, obj=name)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_room_is_written_as_it_plays(tmp_path: Path) -> None:
    room = Rooms().open({**PARAMS, "rng": None}, tmp_path)
    play(room, until=lambda r: _recorded(r, "city", 1) and _recorded(r, "operator", 1))
    state = tmp_path / STATE_DIR / room.id
    info = json.loads((state / "room.json").read_text())
    assert info["id"] == room.id and info["status"] == "open" and info["keys"] == room.keys
    assert isinstance(info["params"]["rng"], int)  # a seed is drawn: the room replays from it
    assert info["params"]["seats"] == "city=human,operator=human"
    turns = json.loads((state / "moves.json").read_text())["turns"]
    assert [(t["party"], t["round"]) for t in turns[:2]] in (
        [("city", 1), ("operator", 1)],
        [("operator", 1), ("city", 1)],
    )
    city_1 = next(t for t in turns if t["party"] == "city" and t["round"] == 1)
    assert city_1["move"] == {
        "kind": "propose",
        "value": 30.0,
        "target": None,
        "message": "Homes first",
    }
    assert (state / "room.json").stat().st_mode & 0o077 == 0  # the seat keys are private
    assert not list(tmp_path.glob(f"{room.id}/*"))  # no results directory while it plays
    room.suspend()


def test_a_stopped_room_reopens_where_it_was_and_ends_like_an_uninterrupted_one(
    tmp_path: Path,
) -> None:
    first = Rooms().open(PARAMS, tmp_path / "class")
    play(first, city_thinks_in_round_3, waits_in_round_3)
    history, positions = list(first.model.history), first.model.positions
    assert first.store is not None
    recorded = json.loads((first.store.dir / "moves.json").read_text())["rounds"]
    assert [[m[0] for m in r] for r in recorded] == [[m.party for m in r] for r in history]
    first.suspend()  # the server stops with the city to move in round 3
    while first.running:
        time.sleep(0.02)
    assert first.saved is None and first.error is None  # nothing ended, nothing saved

    rooms = Rooms()
    lines = rooms.restore(tmp_path / "class")
    assert lines == [f"room {first.id} reopened: round 3, 5 recorded moves replayed, to move: city"]
    room = rooms.get(first.id)
    assert room is not None and room.keys == first.keys  # the same seat links
    assert room.admits("city", first.keys["city"])
    assert room.model.history == history and room.model.positions == positions
    state = room.seat_state("city")  # the person reconnects: their seat, at the current turn
    assert state.turn and state.round == 3 and state.ended is None
    assert not room.seat_state("operator").turn  # the operator's round-3 move was replayed

    play(room)
    assert room.error is None and room.saved == tmp_path / "class" / room.id
    assert load_results(room.saved).manifest["reopened"] == 1
    assert_same_run(room.saved, play_through(tmp_path / "straight"))
    # finished: saved as results and never reopened
    info = json.loads((tmp_path / "class" / STATE_DIR / room.id / "room.json").read_text())
    assert info["status"] == "finished"
    again = Rooms()
    assert again.restore(tmp_path / "class") == [] and again.all() == []


@pytest.mark.parametrize("stop", ["exit", "kill"])
def test_a_room_of_a_stopped_server_process_reopens(tmp_path: Path, stop: str) -> None:
    """The server process ends mid-round, a person to move: it exits (not held up by the
    seat waiting) or is killed (``kill -9``); what was written brings the room back."""
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(ROOT / "tests")!r})
        from test_room_durable import PARAMS, city_thinks_in_round_3, play, waits_in_round_3
        from parley.viz.room import Rooms
        room = Rooms().open(PARAMS, {str(tmp_path)!r})
        play(room, city_thinks_in_round_3, waits_in_round_3)
        print(room.id, flush=True)
        if {stop == "kill"}:
            time.sleep(60)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert child.stdout is not None
        room_id = child.stdout.readline().strip()
        assert room_id, "the child did not play its room"
        if stop == "kill":
            child.send_signal(signal.SIGKILL)
        child.wait(timeout=20)  # a seat waiting for a person does not keep the process alive
    finally:
        child.kill()
    info = json.loads((tmp_path / STATE_DIR / room_id / "room.json").read_text())
    assert info["status"] == "open" and not (tmp_path / room_id).exists()
    rooms = Rooms()
    (line,) = rooms.restore(tmp_path)
    assert line.startswith(f"room {room_id} reopened: round 3")
    room = rooms.get(room_id)
    assert room is not None
    play(room)
    assert_same_run(room.saved, play_through(tmp_path / "straight"))


def test_a_timed_out_turn_replays_as_the_recorded_hold(tmp_path: Path) -> None:
    first = Rooms().open({**PARAMS, "human_time_limit": 0.3}, tmp_path)
    deadline = time.monotonic() + 20
    while not first.model.history:  # only the operator plays: the city's time runs out
        assert time.monotonic() < deadline
        if first.queues["operator"].waiting is not None:
            first.submit("operator", "propose 50")
        first.wait_change(first.version, 0.05)
    first.suspend()
    assert first.store is not None
    turns = json.loads((first.store.dir / "moves.json").read_text())["turns"]
    assert {"party": "city", "round": 1, "move": None} in turns
    rooms = Rooms()
    rooms.restore(tmp_path)
    room = rooms.get(first.id)
    assert room is not None and room.model.history[:1] == first.model.history[:1]
    city = next(m for m in room.model.history[0] if m.party == "city")
    assert city.action.kind == "hold"
    room.suspend()


def test_a_room_that_cannot_be_restored_is_reported_and_left_as_it_was(tmp_path: Path) -> None:
    good = Rooms().open(PARAMS, tmp_path)
    play(good, city_thinks_in_round_3, waits_in_round_3)
    good.suspend()
    state = tmp_path / STATE_DIR
    corrupt = state / "c0ffee"
    corrupt.mkdir()
    (corrupt / "room.json").write_text("{ not json")
    gone = state / "5ca1ed"
    gone.mkdir()
    info = json.loads((state / good.id / "room.json").read_text())
    info.update(id="5ca1ed", params={**info["params"], "scenario": str(tmp_path / "gone.yaml")})
    (gone / "room.json").write_text(json.dumps(info))
    (gone / "moves.json").write_text('{"format": 1, "turns": []}')
    diverged = state / "d1d1d1"
    diverged.mkdir()
    info.update(id="d1d1d1", params=PARAMS)
    (diverged / "room.json").write_text(json.dumps(info))
    turns = [{"party": "city", "round": 2, "move": {"kind": "hold"}}]  # round 1 is missing
    (diverged / "moves.json").write_text(json.dumps({"format": 1, "turns": turns}))
    changed = state / "a9a9a9"  # an agent decided otherwise than it does now
    changed.mkdir()
    info.update(id="a9a9a9")
    (changed / "room.json").write_text(json.dumps(info))
    moves = json.loads((state / good.id / "moves.json").read_text())
    industry = next(m for m in moves["rounds"][0] if m[0] == "industry")
    industry[1:] = ["escalate", None, None]
    (changed / "moves.json").write_text(json.dumps(moves))
    before = snapshot(tmp_path)

    rooms = Rooms()
    lines = rooms.restore(tmp_path)
    assert len(lines) == 5 and all("\n" not in line for line in lines)
    by_id = {line.split()[1]: line for line in lines}
    assert "reopened: round 3" in by_id[good.id]
    assert "room.json: unreadable" in by_id["c0ffee"]
    assert "Invalid scenario" in by_id["5ca1ed"] and "gone.yaml" in by_id["5ca1ed"]
    assert "recorded move of round 2 comes up in round 1" in by_id["d1d1d1"]
    assert "round 1 does not replay as it was played" in by_id["a9a9a9"]
    for bad in ("c0ffee", "5ca1ed", "d1d1d1", "a9a9a9"):
        assert f"its folder {state / bad} is left as it was" in by_id[bad]
        assert rooms.get(bad) is None
    after = snapshot(tmp_path)
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    # only the reopened room's own files changed (its reopening count, its cache's WAL)
    assert all(k.startswith(f"{STATE_DIR}/{good.id}/") for k in changed), changed
    rooms.get(good.id).suspend()


def test_a_room_needs_plain_parameters_to_be_saved(tmp_path: Path) -> None:
    from parley.agents.rules import HeuristicPolicy

    with pytest.raises(ValueError, match="plain values"):
        Rooms().open({**PARAMS, "policy": HeuristicPolicy()}, tmp_path)
    assert not (tmp_path / STATE_DIR).exists() or not any((tmp_path / STATE_DIR).iterdir())


def test_only_one_server_reopens_a_folders_rooms(tmp_path: Path) -> None:
    from parley.viz.room import restore_rooms
    from parley.viz.room_store import claim

    room = Rooms().open(PARAMS, tmp_path)
    room.suspend()
    assert claim(tmp_path)  # this process is "another server" on the folder ...
    script = f"from parley.viz.room import restore_rooms; restore_rooms({str(tmp_path)!r})"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    other = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert other.returncode == 0, other.stderr
    assert "is in use by another parley app server" in other.stderr
    assert f"room {room.id} reopened" not in other.stderr  # ... so the second reopens nothing
    from parley.viz.room import ROOMS

    line = f"room {room.id} reopened: round 1, 0 recorded moves replayed, to move: city, operator"
    assert restore_rooms(tmp_path) == [line]  # the holder of the folder does
    ROOMS.get(room.id).suspend()
