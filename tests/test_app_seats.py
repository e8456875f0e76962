"""Human seats in the app, rendered headless: the main page's seat chooser and a person's
turn in the live run, the move form's full value grid, and the room's time limit and Close.

The live run plays its rounds in threads as on a server; the tests wait on what the page
shows, then check what reached the model.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import ipyvuetify as v
import pytest
import solara

from parley import load_results
from parley.agents.human import MoveRequest
from parley.grammar import Action
from parley.model.model import NegotiationModel
from parley.viz.env import ROOM_ENV
from parley.viz.live import LivePanel
from parley.viz.page import ParleyApp
from parley.viz.params import changed, initial_values, model_params, time_limit_value
from parley.viz.room import ROOMS, Rooms
from parley.viz.seat import MoveForm
from parley.viz.turn import SeatState, turn_state


def text_of(widget) -> str:
    """Every text a rendered widget tree shows (strings, HTML, labels, values)."""
    out = []
    for attr in ("unsafe_innerHTML", "label", "value"):
        got = getattr(widget, attr, None)
        if isinstance(got, str) and got:
            out.append(got)
    for child in getattr(widget, "children", None) or []:
        out.append(child if isinstance(child, str) else text_of(child))
    return "\n".join(out)


def wait_for(check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def params(**overrides) -> solara.Reactive:
    return solara.reactive({**initial_values(model_params()), **overrides})


def button(rc, label: str):
    return rc.find(v.Btn, children=[label]).widget


def send(rc, timeout: float = 10.0) -> None:
    """Click "Send move" once the form's button has its handler.

    The form is re-drawn from the round's thread (a turn opens, an action is chosen), and a
    button found mid-draw has no click handler yet; a person only ever sees it drawn.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            button(rc, "Send move").click()
            return
        except ValueError as err:  # "'click' not found in widget": drawn, not yet wired
            if "not found in widget" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class Models:
    """A factory that keeps the models the page builds (to check what reached them)."""

    def __init__(self) -> None:
        self.built: list[NegotiationModel] = []

    def __call__(self, **kwargs) -> NegotiationModel:
        model = NegotiationModel(**kwargs)
        self.built.append(model)
        return model

    @property
    def last(self) -> NegotiationModel:
        return self.built[-1]


def city_move(model: NegotiationModel, round_no: int):
    return next(m for m in model.history[round_no - 1] if m.party == "city")


# -- the main page: choosing seats ------------------------------------------------------------
def test_the_settings_seat_a_person_and_a_new_scenario_keeps_only_its_parties():
    models = Models()
    box, rc = solara.render(ParleyApp(factory=models), handle_error=False)
    assert "You play" not in text_of(box)
    rc.find(v.Checkbox, label="person plays city").widget.v_model = True
    wait_for(lambda: "You play city" in text_of(box))
    assert models.last.seating["city"] == "human"
    assert models.last.config.seats == "city=human"
    assert {p: s for p, s in models.last.seating.items() if p != "city"} == dict.fromkeys(
        ["operator", "industry", "critical", "retail"], "heuristic"
    )
    text = text_of(box)
    assert "Your private brief (only you see this)" in text and "You are city (" in text
    assert "You are operator (" not in text  # never another seat's brief
    assert "seats city=human" in text  # the run's source line names the seating
    rc.find(v.Select, label="Scenario").widget.v_model = "trading_limits_fragmented"
    wait_for(lambda: "You play city" not in text_of(box) and "Round 0 of 12" in text_of(box))
    assert models.last.config.seats is None  # trading limits has no city: the seat went
    assert rc.find(v.Checkbox, label="person plays desk").widgets
    rc.close()


def test_a_changed_scenario_keeps_the_seats_of_parties_it_has():
    values = {"scenario": "grid_curtailment", "seats": "city=human,operator=human"}
    assert changed(values, "rng", "4")["seats"] == "city=human,operator=human"
    assert changed(values, "scenario", "trading_limits_fragmented")["seats"] == ""
    assert changed(values, "scenario", "grid_curtailment")["seats"] == ("city=human,operator=human")


# -- the main page: a person's turn -------------------------------------------------------------
def test_a_move_from_the_form_reaches_the_model_and_a_refused_one_is_asked_again():
    models = Models()
    p = params(seats="city=human")
    box, rc = solara.render(LivePanel(p, models), handle_error=False)
    wait_for(lambda: "Step or Play: your move form appears here" in text_of(box))
    button(rc, "Step").click()
    wait_for(lambda: "Your move · round 1" in text_of(box))
    assert "Round 1: your move (city)" in text_of(box)
    assert not rc.find(v.Btn, children=["Send move"]).widget.disabled
    # concede away from the others: the grammar refuses it, the form says why
    rc.find(v.Select, label="Action").widget.v_model = "concede"
    value = rc.find(v.TextField, label="Value % (0–100, step 1)").widget
    value.v_model = "2"
    send(rc)
    wait_for(lambda: "Not accepted: concede to 2 does not move toward the others" in text_of(box))
    assert not models.last.history  # the round still waits for city
    # a value off the coarse grid, typed between two steps: sent snapped to the issue's step
    rc.find(v.Select, label="Action").widget.v_model = "propose"
    rc.find(v.TextField, label="Value % (0–100, step 1)").widget.v_model = "47.4"
    wait_for(lambda: "Sent as 47" in text_of(box))
    rc.find(v.TextField, label="Public message (optional)").widget.v_model = "Meet me here"
    send(rc)
    wait_for(lambda: "Round 1 of 10" in text_of(box))
    move = city_move(models.last, 1)
    assert move.action.kind == "propose" and move.action.value == 47.0
    assert move.action.message == "Meet me here" and move.valid
    assert models.last.datacollector.tables["moves"]["valid"].count(False) == 0  # never invalid
    wait_for(lambda: "Your next move" in text_of(box))  # the form stays, closed until next turn
    assert rc.find(v.Btn, children=["Send move"]).widget.disabled
    rc.close()


RUN_THREADS = ("parley-live-run", "parley-llm-loop", "parley-human-seat")  # round, loop, turn


def run_threads(exclude: set[threading.Thread]) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(RUN_THREADS) and t not in exclude]


def test_stop_while_a_person_is_to_move_ends_the_round_and_its_threads_at_once():
    models = Models()
    box, rc = solara.render(LivePanel(params(seats="city=human"), models), handle_error=False)
    earlier = set(threading.enumerate())
    button(rc, "Step").click()
    wait_for(lambda: "Your move · round 1" in text_of(box))
    assert run_threads(earlier)  # the round waits for city in its threads
    started = time.monotonic()
    button(rc, "■ Stop").click()
    wait_for(lambda: "Stopped during round 1: that round was discarded" in text_of(box), 5)
    assert time.monotonic() - started < 5
    assert "Your move" not in text_of(box)  # no form for a stopped run
    wait_for(lambda: not run_threads(earlier), 5)  # nobody waits for the person any more
    assert not models.last.history  # nothing played, nothing invented
    button(rc, "Reset").click()  # a new run at once, its seat asked again
    wait_for(lambda: "Stopped during" not in text_of(box))
    button(rc, "Step").click()
    wait_for(lambda: "Your move · round 1" in text_of(box))
    assert len(models.built) == 2
    rc.close()  # the page's session ends: the waiting turn ends with it
    wait_for(lambda: not run_threads(earlier), 5)


def test_pause_while_a_person_is_to_move_ends_play_after_that_round_and_reset_is_at_once():
    models = Models()
    box, rc = solara.render(
        LivePanel(params(seats="city=human"), models, play_seconds=0.05), handle_error=False
    )
    button(rc, "▶ Play").click()
    wait_for(lambda: "Your move · round 1" in text_of(box))
    button(rc, "❚❚ Pause").click()
    wait_for(lambda: "paused after this turn" in text_of(box))
    rc.find(v.Select, label="Action").widget.v_model = "hold"
    send(rc)  # the turn in progress still takes the move
    wait_for(lambda: "Round 1 of 10" in text_of(box))
    time.sleep(0.5)
    assert "Your move · round 2" not in text_of(box) and len(models.last.history) == 1
    assert not button(rc, "Step").disabled
    button(rc, "Step").click()  # one more round, waiting for city again
    wait_for(lambda: "Your move · round 2" in text_of(box))
    earlier = len(models.built)
    button(rc, "Reset").click()  # while city is to move: a new run at once
    wait_for(lambda: len(models.built) == earlier + 1 and "Round 0 of 10" in text_of(box), 5)
    assert "Step or Play: your move form appears here" in text_of(box)
    assert len(models.built[-2].history) == 1  # the abandoned round 2 was not played
    rc.close()


def test_play_goes_on_round_after_round_as_the_person_moves():
    models = Models()
    box, rc = solara.render(
        LivePanel(params(seats="city=human", max_rounds=3), models, play_seconds=0.05),
        handle_error=False,
    )
    button(rc, "▶ Play").click()
    for k in (1, 2, 3):
        wait_for(lambda k=k: f"Your move · round {k}" in text_of(box))
        rc.find(v.Select, label="Action").widget.v_model = "hold"
        send(rc)
    wait_for(lambda: "The negotiation has ended" in text_of(box))
    assert [city_move(models.last, k).action.kind for k in (1, 2, 3)] == ["hold"] * 3
    assert models.last.outcome.kind == "authority_decision"  # the deadline
    rc.close()


def test_in_the_sequential_order_a_person_sees_the_earlier_moves_of_the_round():
    from parley.viz.runner import LiveRun

    run = LiveRun(NegotiationModel)
    run.reset({"policy": "heuristic", "seats": "city=human", "turn_order": "sequential", "rng": 2})
    run.step()
    wait_for(lambda: run.state.waiting == ("city",))
    seat = run.state.seats[0]
    earlier = "; ".join(f"{m.party} {m.action.describe()}" for m in run.model.this_round)
    assert earlier and f"R1: {earlier}" in seat.history  # the shuffled order's earlier turns
    assert run.submit("city", Action(kind="hold"))
    assert not run.submit("city", Action(kind="hold"))  # a second click is not kept
    wait_for(lambda: run.state.view.round == 1)
    assert city_move(run.model, 1).action.kind == "hold"
    run.close()


def test_llm_agents_decide_while_the_person_is_still_to_move():
    from parley.llm.fakes import PuppetLLM, negotiator_responder
    from parley.viz.runner import LiveRun

    llm = PuppetLLM(negotiator_responder, latency=0.2)
    run = LiveRun(lambda **kw: NegotiationModel(**kw, llm=llm))
    run.reset({"policy": "llm", "seats": "city=human", "rng": 0})
    run.step()
    wait_for(lambda: run.state.waiting == ("city",))
    others = {"operator", "industry", "critical", "retail"}
    wait_for(lambda: set(run.state.progress.decided) == others)  # the agents did not wait
    assert run.state.view.round == 0 and run.state.busy == 1
    assert run.submit("city", Action(kind="propose", value=44))
    wait_for(lambda: run.state.view.round == 1)
    assert city_move(run.model, 1).action.value == 44.0
    assert run.model.seating == {**dict.fromkeys(others, "llm"), "city": "human"}
    run.close()


# -- the move form: any value on the issue's grid -----------------------------------------------
def seat_turn(party: str = "city") -> SeatState:
    model = NegotiationModel(scenario="grid_curtailment", policy="heuristic", rng=0)
    agent = next(a for a in model.negotiators if a.party_id == party)
    model.begin_round()
    return turn_state(model.spec, MoveRequest(party, agent.observe()))


def test_the_form_offers_the_issues_whole_grid_and_the_coarse_values_as_quick_choices():
    state = seat_turn()
    assert 63.0 not in state.grid and state.issue.step == 1  # the agents' grid is coarser
    sent: list[Action] = []
    box, rc = solara.render(MoveForm(state, sent.append), handle_error=False)
    slider = rc.find(v.Slider).widget
    assert (slider.min, slider.max, slider.step) == (0, 100, 1)
    assert slider.v_model == 50  # the seat's own position
    slider.v_model = 63
    send(rc)
    assert sent[-1].kind == "propose" and sent[-1].value == 63.0
    quick = rc.find(v.Select, label="Quick values").widget
    assert quick.items == [f"{g:g}" for g in state.grid]
    quick.v_model = "35"
    assert rc.find(v.Slider).widget.v_model == 35
    send(rc)
    assert sent[-1].value == 35.0
    # Out of range: not moved into it; the grammar refuses it and says why.
    rc.find(v.TextField, label="Value % (0–100, step 1)").widget.v_model = "150"
    send(rc)
    assert sent[-1].value == 150.0
    rc.close()


# -- the room: a time limit per turn, and Close room ----------------------------------------------
def test_the_time_limit_field_opens_a_room_whose_idle_seat_holds(tmp_path, monkeypatch):
    from parley.viz.room_page import TIME_LIMIT_LABEL, OpenRoomForm

    monkeypatch.setenv(ROOM_ENV, str(tmp_path / "class"))
    before = {r.id for r in ROOMS.all()}
    box, rc = solara.render(OpenRoomForm(), handle_error=False)
    limit = rc.find(v.TextField, label=TIME_LIMIT_LABEL).widget
    rc.find(v.Checkbox, label="person plays city").widget.v_model = True
    limit.v_model = "soon"
    button(rc, "Open room").click()
    assert "the time limit must be a positive number of seconds, got 'soon'" in text_of(box)
    assert {r.id for r in ROOMS.all()} == before
    limit.v_model = "0.3"
    button(rc, "Open room").click()
    (room,) = [r for r in ROOMS.all() if r.id not in before]
    try:
        assert room.model.config.human_time_limit == 0.3
        wait_for(lambda: room.view.round >= 2, 10)  # nobody moves: each turn runs out
        for k in (1, 2):
            assert city_move(room.model, k).action.kind == "hold"
        assert room.model.seating["city"] == "human"
    finally:
        room.close()
        rc.close()


def test_time_limit_values():
    assert time_limit_value("") is None and time_limit_value(" 45 ") == 45.0
    for bad in ("0", "-3", "nan", "inf", "a minute"):
        with pytest.raises(ValueError, match="time limit must be a positive number"):
            time_limit_value(bad)


def test_close_room_stops_the_run_and_saves_it_as_stopped(tmp_path):
    from parley.viz.room_page import RoomView

    room = Rooms().open(
        {"scenario": "grid_curtailment", "policy": "heuristic", "seats": "city=human", "rng": 1},
        tmp_path / "class",
    )
    box, rc = solara.render(RoomView(room), handle_error=False)
    wait_for(lambda: "to move" in text_of(box))
    room.submit("city", "propose 45 A first offer")
    wait_for(lambda: room.view.round >= 1)
    button(rc, "Close room").click()
    wait_for(lambda: not room.running and room.saved is not None, 10)
    wait_for(lambda: "Saved to" in text_of(box) and "the run has ended" in text_of(box))
    assert "Run stopped after 2 rounds: city: the facilitator closed the room" in text_of(box)
    assert not rc.find(v.Btn, children=["Close room"]).widgets
    res = load_results(room.saved)
    runs = res["runs"]
    assert runs.outcome[0] == "stopped"
    assert runs.stop_reason[0] == "city: the facilitator closed the room"
    assert runs.status[0] == "failed"  # as a stopped terminal run: reports leave it out
    moves = res["moves"]
    first = moves[(moves.party == "city") & (moves["round"] == 1)].iloc[0]
    assert first.action == "propose" and first.value == 45.0  # what was played is kept
    rc.close()
