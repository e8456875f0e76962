"""The human policy: typed moves, the grammar's re-ask, time limits, and end of input."""

from __future__ import annotations

import threading
import time

import pytest

from parley.agents.human import EndOfInput, HumanPolicy, MoveQueue, MoveRequest, parse_move
from parley.experiments.records import run_frames
from parley.grammar import Action, ActionKind, InvalidAction
from parley.model.model import NegotiationModel


class Scripted:
    """A move source that replays lines and remembers every request it got."""

    def __init__(self, lines: list[str | None]) -> None:
        self.lines = list(lines)
        self.requests: list[MoveRequest] = []

    def __call__(self, request: MoveRequest) -> str | None:
        self.requests.append(request)
        if not self.lines:
            raise EndOfInput("end of input")
        return self.lines.pop(0)


@pytest.mark.parametrize(
    ("text", "kind", "value", "target", "message"),
    [
        ("propose 55 We can meet here", ActionKind.PROPOSE, 55.0, None, "We can meet here"),
        ("CONCEDE 50", ActionKind.CONCEDE, 50.0, None, ""),
        ("support retail", ActionKind.SUPPORT, None, "retail", ""),
        ("accept fine by us", ActionKind.ACCEPT, None, None, "fine by us"),
        ("hold", ActionKind.HOLD, None, None, ""),
        (
            "escalate  let the regulator decide",
            ActionKind.ESCALATE,
            None,
            None,
            "let the regulator decide",
        ),
    ],
)
def test_typed_moves_parse_into_actions(text, kind, value, target, message) -> None:
    action = parse_move(text)
    assert (action.kind, action.value, action.target, action.message) == (
        kind,
        value,
        target,
        message,
    )


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "empty move"),
        ("bargain 3", "unknown action 'bargain'"),
        ("propose", "'propose' needs a value"),
        ("propose lots", "'value' must be a number"),
        ("support", "'support' needs a party id"),
    ],
)
def test_malformed_typed_moves_get_the_grammar_message(text: str, error: str) -> None:
    with pytest.raises(InvalidAction, match=error):
        parse_move(text)


def play(lines: list[str | None], **kw) -> tuple[NegotiationModel, Scripted]:
    source = Scripted(lines)
    model = NegotiationModel(policy="heuristic", seats="operator=human", human=source, rng=2, **kw)
    return model, source


def test_a_valid_move_is_played_as_typed() -> None:
    model, source = play(["propose 60 Industry can drop faster"])
    model.step()
    move = model.history[0][[m.party for m in model.history[0]].index("operator")]
    assert move.action.kind == ActionKind.PROPOSE and move.position_after == 60
    assert move.action.message == "Industry can drop faster" and move.valid
    assert source.requests[0].first_turn and source.requests[0].error is None


def test_an_invalid_entry_is_asked_again_with_the_grammar_message_and_never_counted() -> None:
    model, source = play(["propose 140", "support operator", "concede 90", "hold"])
    model.step()
    errors = [r.error for r in source.requests]
    assert errors[0] is None
    assert "outside the issue's range [0, 100]" in errors[1]
    assert "cannot support itself" in errors[2]
    assert "does not move toward the others" in errors[3]
    moves = run_frames(model)["moves"]
    mine = moves[moves.party == "operator"].iloc[0]
    assert mine.action == "hold" and bool(mine.valid) and mine.policy == "human"
    assert int(moves.valid.eq(False).sum()) == 0
    assert [r.first_turn for r in source.requests] == [True] * 4  # the seat's first turn


def test_a_time_limit_makes_the_turn_a_recorded_hold() -> None:
    source = MoveQueue()
    model = NegotiationModel(
        policy="heuristic", seats="operator=human", human=source, human_time_limit=0.05, rng=2
    )
    started = time.monotonic()
    model.step()
    assert time.monotonic() - started < 5
    moves = run_frames(model)["moves"]
    mine = moves[moves.party == "operator"].iloc[0]
    assert mine.action == "hold" and bool(mine.valid)
    assert mine.error == "no move within 0.05 s: hold"
    assert model.running  # a timeout is a move, not the end of the run


def test_the_time_limit_covers_re_asks() -> None:
    calls: list[float | None] = []

    def slow_typist(request: MoveRequest) -> str:
        calls.append(request.time_left)
        time.sleep(0.03)
        return "propose 999"

    decision = HumanPolicy(slow_typist, time_limit=0.1).decide(_observation())
    assert decision.action.kind == ActionKind.HOLD and decision.valid
    assert 2 <= len(calls) <= 5 and calls[0] > calls[-1]


def test_end_of_input_stops_the_run_and_keeps_what_was_played() -> None:
    model, _ = play(["hold", "propose 58"])
    model.run()
    assert model.outcome is not None and model.outcome.kind == "stopped"
    assert model.outcome.reason == "operator: end of input" and model.round == 3
    frames = run_frames(model)
    assert frames["runs"].outcome[0] == "stopped" and len(frames["moves"]) == 15


def test_a_move_queue_feeds_a_waiting_seat_from_another_thread() -> None:
    source = MoveQueue()
    model = NegotiationModel(policy="heuristic", seats="city=human", human=source, rng=4)
    feeder = threading.Thread(target=lambda: (time.sleep(0.05), source.put("accept")))
    feeder.start()
    model.step()
    feeder.join()
    city = next(m for m in model.history[0] if m.party == "city")
    assert city.action.kind == ActionKind.ACCEPT
    source.put(Action(kind=ActionKind.ESCALATE))
    model.step()
    assert next(m for m in model.history[1] if m.party == "city").action.kind == "escalate"
    source.close()
    model.run()
    assert model.outcome is not None


def _observation():
    model = NegotiationModel(policy="heuristic", rng=0)
    return model.negotiators[0].observe()


def test_a_recorded_human_run_replays_exactly() -> None:
    from parley.agents.human import recorded_actions

    model, _ = play(["propose 60 Industry first", "support retail", "concede 57", "hold"] * 4)
    model.run()
    moves = run_frames(model)["moves"]
    mine = moves[moves.party == "operator"]
    queue = MoveQueue()
    for action in recorded_actions(mine.to_dict("records")):
        queue.put(action)
    queue.close()
    again = NegotiationModel(policy="heuristic", seats="operator=human", human=queue, rng=2)
    again.run()
    cols = ["round", "party", "action", "value", "target", "message", "position_after"]
    assert run_frames(again)["moves"][cols].equals(moves[cols])


def test_a_seat_waiting_for_a_person_does_not_keep_the_process_alive() -> None:
    """A run stopped (Ctrl-C, a server stop) while a person is to move: the process exits."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        import threading, time
        from parley.agents.human import MoveQueue
        from parley.model.model import NegotiationModel
        queue = MoveQueue()
        model = NegotiationModel(seats="city=human", human=queue, rng=1)
        threading.Thread(target=model.step, daemon=True).start()
        while queue.waiting is None:
            time.sleep(0.01)
        print("waiting", flush=True)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0 and done.stdout.strip() == "waiting", done.stderr
