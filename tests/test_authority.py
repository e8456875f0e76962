"""The authority's rules: status quo, its own preference, and an ambiguous draw by the rng."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from parley.agents.authority import AuthorityAgent, rule_based_ruling
from parley.agents.negotiator import NegotiatorAgent
from parley.grammar import Action, ActionKind
from parley.model.model import NegotiationModel
from parley.scenarios import load_scenario

ESCALATE = Action(kind=ActionKind.ESCALATE)


def test_status_quo_rule(tiny) -> None:
    scenario = load_scenario(tiny({"a": 10, "b": 90}, rule="status_quo"))
    ruling = rule_based_ruling(scenario, "deadline", random.Random(0))
    assert (ruling.value, ruling.body, ruling.rule, ruling.trigger) == (
        40,
        "Judge",
        "status_quo",
        "deadline",
    )
    assert "status quo" in ruling.rationale


def test_preference_rule(tiny) -> None:
    scenario = load_scenario(tiny({"a": 10, "b": 90}, rule="preference"))
    ruling = rule_based_ruling(scenario, "escalation", random.Random(0))
    assert (ruling.value, ruling.rule, ruling.trigger) == (70, "preference", "escalation")


def test_builtin_preference_rule() -> None:
    scenario = load_scenario("grid_curtailment")
    ruling = rule_based_ruling(scenario, "deadlock", random.Random(1))
    assert (ruling.value, ruling.body) == (45, "Energy Regulator")


def test_ambiguous_draw_matches_the_probabilities(tiny) -> None:
    scenario = load_scenario(tiny({"a": 10, "b": 90}, rule="ambiguous"))  # 0.25 low, 0.75 high
    rng = random.Random(12345)
    n = 4000
    counts = Counter(rule_based_ruling(scenario, "deadline", rng).body for _ in range(n))
    assert set(counts) == {"Low court", "High court"}
    assert counts["High court"] / n == pytest.approx(0.75, abs=0.03)
    values = {rule_based_ruling(scenario, "deadline", rng).value for _ in range(50)}
    assert values == {20, 80}


def test_ambiguous_draw_is_deterministic_for_a_seed(tiny) -> None:
    scenario = load_scenario(tiny({"a": 10, "b": 90}, rule="ambiguous"))

    def draws(seed: int) -> list[str]:
        rng = random.Random(seed)
        return [rule_based_ruling(scenario, "deadline", rng).body for _ in range(30)]

    assert draws(7) == draws(7)
    assert draws(7) != draws(8)


def test_status_quo_and_preference_ignore_the_rng(tiny) -> None:
    for rule in ("status_quo", "preference"):
        scenario = load_scenario(tiny({"a": 10, "b": 90}, rule=rule))
        rng = random.Random(3)
        state = rng.getstate()
        rule_based_ruling(scenario, "deadline", rng)
        assert rng.getstate() == state  # no draw, so later randomness is unaffected


def escalated(path: str, scripted, seed: int) -> NegotiationModel:
    model = NegotiationModel(scenario=path, policy=scripted({"*": {1: ESCALATE}}), rng=seed)
    model.run()
    return model


def test_the_model_draws_with_its_own_rng(tiny, scripted) -> None:
    path = tiny({"a": 10, "b": 90}, rule="ambiguous")
    outcomes = [escalated(path, scripted, seed).outcome for seed in range(40)]
    assert {o.body for o in outcomes} == {"Low court", "High court"}
    again = [escalated(path, scripted, seed).outcome for seed in range(40)]
    assert outcomes == again


def test_intervention_is_recorded(tiny, scripted) -> None:
    model = escalated(tiny({"a": 10, "b": 90}, rule="preference"), scripted, 0)
    authority = next(iter(model.agents_by_type[AuthorityAgent]))
    assert authority is model.authority
    assert authority.ruling == model.ruling
    assert (authority.ruling.value, authority.ruling.rule) == (70, "preference")
    out = model.outcome
    assert (out.kind, out.trigger, out.value, out.body, out.round) == (
        "authority_decision",
        "escalation",
        70,
        "Judge",
        1,
    )
    # The authority's own reporters (agenttype_reporters): empty until it rules.
    frame = model.datacollector.get_agenttype_vars_dataframe(AuthorityAgent)
    assert frame["value"].isna().tolist() == [True, False] and frame["value"].iloc[-1] == 70
    assert (frame.iloc[-1]["body"], frame.iloc[-1]["rule"]) == ("Judge", "preference")
    negotiators = model.datacollector.get_agenttype_vars_dataframe(NegotiatorAgent)
    assert set(negotiators["party"]) == {"a", "b"}


def test_imposed_outcome_costs_the_process_cost(tiny, scripted) -> None:
    model = escalated(tiny({"a": 10, "b": 90}, rule="preference"), scripted, 0)
    # u(70) = 1 - |70 - ideal| / 100 - 0.1 (process cost of every tiny party)
    assert model.utilities() == pytest.approx({"a": 1 - 0.6 - 0.1, "b": 1 - 0.2 - 0.1})


def test_agreed_outcome_has_no_process_cost(tiny, scripted) -> None:
    agree = Action(kind=ActionKind.PROPOSE, value=50)
    path = tiny({"a": 10, "b": 90})
    model = NegotiationModel(scenario=path, policy=scripted({"*": {1: agree}}), rng=0)
    model.run()
    assert model.outcome.kind == "compromise"
    assert model.ruling is None
    assert model.utilities() == pytest.approx({"a": 0.6, "b": 0.6})
