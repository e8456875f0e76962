"""The table (standing proposal, spread), coalitions, and the terminal rules in their order."""

from __future__ import annotations

import pytest

from parley.agents.negotiator import NegotiatorAgent
from parley.grammar import Action, ActionKind
from parley.model.coalitions import coalition_graph, coalitions, membership
from parley.model.model import NegotiationModel
from parley.model.table import spread, standing_proposal
from parley.model.terminal import authority_trigger, is_compromise
from parley.scenarios import Protocol

ESCALATE = Action(kind=ActionKind.ESCALATE)
HOLD = Action.hold()


def propose(value: float) -> Action:
    return Action(kind=ActionKind.PROPOSE, value=value)


# -- standing proposal -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("positions", "value", "backers"),
    [
        ({}, None, ()),
        ({"a": 30}, 30, ("a",)),
        # All alone: the one closest to the median (20) stands.
        ({"a": 10, "b": 20, "c": 90}, 20, ("b",)),
        # Backing beats closeness to the median.
        ({"a": 10, "b": 10, "c": 50, "d": 55, "e": 60}, 10, ("a", "b")),
        # Equal backing: closeness to the median (40) decides, 60 beats 10.
        ({"a": 10, "b": 10, "c": 60, "d": 60, "e": 40}, 60, ("c", "d")),
        # Equal backing, equally close to the median (40): the lower value.
        ({"a": 30, "b": 50}, 30, ("a",)),
        ({"b": 50, "a": 30}, 30, ("a",)),  # insertion order does not matter
        # Values within 1e-6 count as one proposal.
        ({"a": 50, "b": 50.0000001, "c": 20}, 50, ("a", "b")),
    ],
)
def test_standing_proposal(positions, value, backers) -> None:
    assert standing_proposal(positions) == (value, backers)


def test_spread() -> None:
    assert spread({"a": 10, "b": 70, "c": 30}) == 60
    assert spread({"a": 10}) == 0
    assert spread({}) == 0


# -- coalitions --------------------------------------------------------------------------
def groups(positions, tolerance=5.0, supports=()):
    return coalitions(coalition_graph(positions, supports, tolerance))


def test_tolerance_edge_joins_and_just_beyond_splits() -> None:
    assert groups({"a": 10, "b": 15}) == [("a", "b")]
    assert groups({"a": 10, "b": 15.01}) == [("a",), ("b",)]


def test_coalitions_chain_through_neighbours() -> None:
    # a-b and b-c are close, a-c are not: one connected component.
    assert groups({"a": 10, "b": 14, "c": 18, "d": 60}) == [("a", "b", "c"), ("d",)]


def test_support_edges_join_distant_parties() -> None:
    graph = coalition_graph({"a": 10, "b": 90, "c": 50}, [("a", "b")], 5.0)
    assert coalitions(graph) == [("a", "b"), ("c",)]
    assert graph.edges["a", "b"]["support"] is True


def test_support_of_an_unknown_party_is_ignored() -> None:
    graph = coalition_graph({"a": 10, "b": 90}, [("a", "ghost")], 5.0)
    assert "ghost" not in graph
    assert coalitions(graph) == [("a",), ("b",)]


def test_proximity_edges_are_not_support_edges() -> None:
    graph = coalition_graph({"a": 10, "b": 12}, [], 5.0)
    assert graph.edges["a", "b"]["support"] is False
    assert graph.nodes["a"]["position"] == 10


def test_coalition_ids_are_stable() -> None:
    positions = {"e": 80, "a": 10, "c": 12, "b": 50, "d": 82}
    expected = [("a", "c"), ("b",), ("d", "e")]  # ordered by mean position
    assert groups(positions) == expected
    assert groups(dict(reversed(positions.items()))) == expected
    assert membership(expected) == {"a": 0, "c": 0, "b": 1, "d": 2, "e": 2}


def test_equal_mean_coalitions_are_ordered_by_first_id() -> None:
    # {a, d} (by support) and {c} both have mean position 50: "a" < "c".
    positions = {"c": 50, "d": 60, "a": 40}
    assert groups(positions, tolerance=1, supports=[("d", "a")]) == [("a", "d"), ("c",)]


def test_model_records_coalitions_every_round() -> None:
    model = NegotiationModel(scenario="trading_limits_unified", policy="heuristic", rng=3)
    model.run()
    rounds = model.datacollector.get_model_vars_dataframe()
    assert len(rounds) == model.round + 1  # the opening plus every round
    assert (rounds["n_coalitions"] >= 1).all()
    assert (rounds["largest_coalition"] <= len(model.spec.parties)).all()
    negotiators = model.datacollector.get_agenttype_vars_dataframe(NegotiatorAgent)
    assert negotiators["coalition"].notna().all()
    assert model.coalition_tolerance == model.spec.protocol.coalition_tolerance * 100


# -- terminal rules: the pure functions ---------------------------------------------------
def test_compromise_tolerance_edges() -> None:
    assert is_compromise({"a": 47, "b": 53, "c": 50}, 50, 3)
    assert not is_compromise({"a": 46.9, "b": 50}, 50, 3)
    assert not is_compromise({"a": 50}, None, 3)
    assert not is_compromise({}, 50, 3)


PROTOCOL = Protocol(patience=3, progress_epsilon=0.01, escalation_quorum=2)


def trigger(round_no=1, escalations=0, spreads=(50, 40), max_rounds=10):
    return authority_trigger(
        round_no=round_no,
        escalations=escalations,
        spreads=list(spreads),
        protocol=PROTOCOL,
        max_rounds=max_rounds,
        span=100,
    )


def test_escalation_quorum() -> None:
    assert trigger(escalations=1) is None
    assert trigger(escalations=2) == "escalation"
    assert trigger(escalations=5) == "escalation"


@pytest.mark.parametrize(
    ("spreads", "expected"),
    [
        ((50, 50, 50, 50), "deadlock"),  # no progress for `patience` rounds
        ((50, 49.5, 49.2, 49.01), "deadlock"),  # narrowed by less than epsilon (1)
        ((50, 49.5, 49.2, 49), None),  # narrowed by exactly epsilon: progress
        ((50, 50, 50, 45), None),  # late progress counts
        ((60, 50, 50, 50, 50), "deadlock"),  # an old narrowing does not
        ((50, 50, 50), None),  # fewer than `patience` rounds played
    ],
)
def test_deadlock_by_patience_and_epsilon(spreads, expected) -> None:
    assert trigger(round_no=len(spreads) - 1, spreads=spreads) == expected


def test_deadline() -> None:
    assert trigger(round_no=9, max_rounds=10) is None
    assert trigger(round_no=10, max_rounds=10) == "deadline"


def test_order_of_authority_triggers() -> None:
    stalled = (50, 50, 50, 50)
    assert trigger(round_no=3, escalations=2, spreads=stalled, max_rounds=3) == "escalation"
    assert trigger(round_no=3, escalations=1, spreads=stalled, max_rounds=3) == "deadlock"


# -- terminal rules inside the model -----------------------------------------------------
def run_tiny(tiny, scripted, ideals, scripts, **protocol) -> NegotiationModel:
    path = tiny(ideals, **protocol)
    model = NegotiationModel(scenario=path, policy=scripted(scripts), rng=0)
    model.run()
    return model


def test_compromise_is_checked_before_escalation(tiny, scripted) -> None:
    # a and b already sit at 50 and escalate; c moves to 50: everyone agrees.
    scripts = {"a": {1: ESCALATE}, "b": {1: ESCALATE}, "c": {1: propose(50)}}
    model = run_tiny(tiny, scripted, {"a": 50, "b": 50, "c": 70}, scripts)
    assert (model.outcome.kind, model.outcome.value, model.round) == ("compromise", 50, 1)
    assert model.escalations == 2


def test_escalation_quorum_in_the_model(tiny, scripted) -> None:
    one = run_tiny(
        tiny, scripted, {"a": 10, "b": 50, "c": 90}, {"a": {1: ESCALATE}}, patience=5, max_rounds=2
    )
    assert (one.outcome.trigger, one.round) == ("deadline", 2)
    two = run_tiny(tiny, scripted, {"a": 10, "b": 50, "c": 90}, {"*": {1: ESCALATE}})
    assert (two.outcome.kind, two.outcome.trigger, two.round) == (
        "authority_decision",
        "escalation",
        1,
    )
    assert two.outcome.value == 40  # the status quo rule
    assert model_outcome_row(two) == ("authority_decision", "escalation", 40)


def test_deadlock_when_everyone_holds(tiny, scripted) -> None:
    model = run_tiny(tiny, scripted, {"a": 10, "b": 90}, {}, patience=3, max_rounds=10)
    assert (model.outcome.trigger, model.round) == ("deadlock", 3)


def test_slow_progress_is_still_deadlock(tiny, scripted) -> None:
    # b creeps 0.5 per round toward a: less than epsilon (2% of 100) per patience window.
    creep = {r: Action(kind=ActionKind.CONCEDE, value=90 - r * 0.5) for r in range(1, 10)}
    model = run_tiny(
        tiny, scripted, {"a": 10, "b": 90}, {"b": creep}, patience=3, progress_epsilon=0.02
    )
    assert (model.outcome.trigger, model.round) == ("deadlock", 3)


def test_deadline_before_patience_runs_out(tiny, scripted) -> None:
    model = run_tiny(tiny, scripted, {"a": 10, "b": 90}, {}, patience=6, max_rounds=4)
    assert (model.outcome.trigger, model.round) == ("deadline", 4)


def test_max_rounds_parameter_overrides_the_scenario(tiny, scripted) -> None:
    path = tiny({"a": 10, "b": 90}, patience=50, max_rounds=40)
    model = NegotiationModel(scenario=path, policy=scripted({}), max_rounds=2, rng=0)
    model.run()
    assert (model.outcome.trigger, model.round) == ("deadline", 2)
    model.step()  # a finished model does not move
    assert model.round == 2


def test_bloc_must_agree_as_one() -> None:
    # All five positions, bloc members included, must be near the standing proposal.
    positions = {"desk": 80, "markets": 80, "risk": 80, "compliance": 80, "audit": 95}
    assert not is_compromise(positions, 80, 3)


def model_outcome_row(model: NegotiationModel) -> tuple:
    last = model.datacollector.get_model_vars_dataframe().iloc[-1]
    return (last["outcome"], last["trigger"], last["final_value"])
