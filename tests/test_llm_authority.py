"""The LLM authority: a short ruling in range, or the rule-based ruling with a recorded fallback."""

from __future__ import annotations

import random

import pytest

from parley.agents.authority import rule_based_ruling
from parley.agents.llm_authority import LLMJudge, authority_messages, ruling_seed
from parley.llm.fakes import ScriptedLLM
from parley.llm.interface import BudgetExceeded, LLMError
from parley.model.model import NegotiationModel
from parley.scenarios.loader import load_scenario

SPEC = load_scenario("grid_curtailment")
CONTEXT = {
    "positions": {"operator": 55, "industry": 20, "critical": 80, "retail": 65, "city": 50},
    "standing": 55.0,
    "round": 4,
}


def fallback():
    return rule_based_ruling(SPEC, "escalation", random.Random(0))


def test_valid_ruling_is_imposed_and_recorded():
    llm = ScriptedLLM([{"ruling": "Industry carries half; the grid must hold.", "value": 50}])
    judge = LLMJudge(llm, temperature=0.2)
    ruling = judge.rule(SPEC, "escalation", CONTEXT, fallback=fallback())
    assert (ruling.value, ruling.rule, ruling.body) == (50.0, "llm", "Energy Regulator")
    assert ruling.rationale.startswith("Industry carries half") and ruling.fallback is None
    (request,) = llm.requests
    assert request.temperature == 0.2 and request.seed == ruling_seed(SPEC, "escalation", CONTEXT)
    values = request.schema["properties"]["value"]["enum"]
    assert 0 in values and 100 in values and 55 in values and len(values) <= 45
    assert list(request.schema["properties"]) == ["ruling", "value"]
    (call,) = ruling.calls  # the ruling carries its call, as a decision does
    assert call["purpose"] == "authority" and call["valid"] is True


def test_ruling_text_is_cut_to_sixty_words():
    llm = ScriptedLLM([{"ruling": " ".join(["word"] * 200), "value": 45}])
    ruling = LLMJudge(llm).rule(SPEC, "deadline", CONTEXT, fallback=fallback())
    assert len(ruling.rationale.split()) == 60


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ({"ruling": "Way out.", "value": 400}, "outside [0, 100]"),
        ({"ruling": "", "value": 40}, "missing 'ruling'"),
        ({"ruling": "No number."}, "missing numeric 'value'"),
        ("I decline to rule.", "no JSON object"),
    ],
)
def test_invalid_ruling_falls_back_to_the_rule(reply, reason):
    judge = LLMJudge(ScriptedLLM([reply]))
    rule = fallback()
    ruling = judge.rule(SPEC, "escalation", CONTEXT, fallback=rule)
    assert (ruling.value, ruling.rule, ruling.rationale) == (rule.value, rule.rule, rule.rationale)
    assert ruling.fallback.startswith("invalid LLM ruling") and reason in ruling.fallback
    (call,) = ruling.calls
    assert call["valid"] is False and reason in call["error"]


def test_backend_failure_and_budget_fall_back_too():
    judge = LLMJudge(ScriptedLLM([LLMError("refused", fault="connection")]))
    ruling = judge.rule(SPEC, "deadlock", CONTEXT, fallback=fallback())
    assert ruling.fallback == "LLM failed (connection): refused"
    assert [c["fault"] for c in ruling.calls] == ["connection"]
    judge = LLMJudge(ScriptedLLM([BudgetExceeded("cost cap reached")]))
    ruling = judge.rule(SPEC, "deadlock", CONTEXT, fallback=fallback())
    assert ruling.fallback == "budget: cost cap reached" and ruling.calls == ()


def test_prompt_names_the_authority_trigger_and_table():
    system, user = (m["content"] for m in authority_messages(SPEC, "deadline", CONTEXT))
    assert system.startswith("You are Energy Regulator.") and "at most 60 words" in system
    assert "the deadline passed without agreement" in user
    assert "industry (Large industrial users' association): 20" in user
    assert "Round 4" in user


def solver_with_llm_authority(llm, **kw):
    return NegotiationModel(policy="solver", authority="llm", llm=llm, rng=5, **kw)


def test_model_records_the_authority_call_and_imposes_its_value():
    llm = ScriptedLLM([{"ruling": "A firm emergency order at 62 percent.", "value": 62}])
    model = solver_with_llm_authority(llm)
    outcome = model.run()
    assert outcome.kind == "authority_decision" and outcome.value == 62.0
    assert model.ruling.rule == "llm" and model.ruling.fallback is None
    calls = model.datacollector.get_table_dataframe("calls")
    (row,) = calls.to_dict("records")
    assert (row["party"], row["purpose"], row["round"]) == ("authority", "authority", model.round)
    assert row["valid"] is True and row["condition"] == "none"


def test_model_records_a_fallback_ruling():
    model = solver_with_llm_authority(ScriptedLLM(["no ruling today"]))
    outcome = model.run()
    assert outcome.value == SPEC.authority.preference  # the scenario's own rule
    assert model.ruling.fallback.startswith("invalid LLM ruling")
    (row,) = model.datacollector.get_table_dataframe("calls").to_dict("records")
    assert row["valid"] is False and "no JSON object" in row["error"]
