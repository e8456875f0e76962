"""Reflection conditions: the call structure each promises, private state, capability errors."""

from __future__ import annotations

import re

import pytest

from parley.agents.factory import CONDITIONS
from parley.agents.llm_policy import LLMPolicy
from parley.agents.reflection import REASONING_BUDGET, wrap
from parley.agents.rules import HeuristicPolicy
from parley.llm.fakes import FakeReasoningLLM, PuppetLLM, ScriptedLLM, negotiator_responder
from parley.llm.interface import CapabilityError, Request
from parley.model.model import NegotiationModel

STATE_KEYS = {"bounded": "ledger", "private_memo": "memo", "private_persona": "diary"}
BUDGETS = {
    "none": 256,
    "none_budget": 1024,
    "bounded": 1024,
    "private_memo": 1024,
    "private_persona": 1024,
    "native": 1024 + REASONING_BUDGET,  # the reasoning budget comes on top of the action's
}
TURN = re.compile(r"Your move for round (\d+), as (\w+)\.")


def fake_for(condition: str, fn=negotiator_responder):
    return FakeReasoningLLM(fn) if condition == "native" else PuppetLLM(fn)


def one_round(condition: str, fn=negotiator_responder, **kw):
    llm = fake_for(condition, fn)
    model = NegotiationModel(policy="llm", condition=condition, llm=llm, rng=7, max_rounds=1, **kw)
    model.step()
    return model, llm


@pytest.mark.parametrize("condition", CONDITIONS)
def test_call_structure_of_each_condition(condition):
    model, llm = one_round(condition)
    decides = [r for r in llm.requests if len(r.messages) == 2]
    assert len(decides) == 5
    for request in llm.requests:
        assert request.max_tokens == BUDGETS[condition]
        assert request.reasoning_effort == ("medium" if condition == "native" else None)
        fields = list(request.schema["properties"])
        key = STATE_KEYS.get(condition)
        if key:  # the private field comes before the action, and is required
            assert fields == [key, "action", "value", "target", "message"]
            assert key in request.schema["required"]
        else:
            assert fields == ["action", "value", "target", "message"]
        system = request.messages[0][1]
        if key:
            assert f'"{key}"' in system and "Only you see it" in system
        else:
            assert system.rstrip().endswith("JSON only.") and "private" not in system.lower()
    calls = model.datacollector.get_table_dataframe("calls")
    assert len(calls) == len(llm.requests) and set(calls["condition"]) == {condition}


def test_none_budget_and_native_use_the_none_prompt():
    prompts = {}
    for condition in ("none", "none_budget", "native"):
        _, llm = one_round(condition)
        prompts[condition] = [r.messages for r in llm.requests[:5]]
    assert prompts["none"] == prompts["none_budget"] == prompts["native"]


def test_ledger_and_memo_and_diary_instructions_differ():
    systems = {c: one_round(c)[1].requests[0].messages[0][1] for c in STATE_KEYS}
    assert "concessions_given" in systems["bounded"]
    assert "any form you like" in systems["private_memo"]
    assert (
        "mood" in systems["private_persona"] and "not about tactics" in systems["private_persona"]
    )
    assert len(set(systems.values())) == 3


def secret_writer(request: Request) -> dict:
    """Writes a traceable secret into the private field; holds (so talks deadlock in round 3)."""
    round_no, me = TURN.search(request.messages[1][1]).groups()
    props = request.schema["properties"]
    key = next(k for k in props if k not in ("action", "value", "target", "message"))
    secret = f"SECRET-{me}-r{round_no}"
    state = {f: f"{secret} {f}" for f in props[key]["properties"]} if key == "ledger" else secret
    return {key: state, "action": "hold", "value": None, "target": None, "message": "Holding."}


@pytest.mark.parametrize("condition", list(STATE_KEYS))
def test_private_state_carries_over_for_its_owner_only(condition):
    llm = PuppetLLM(secret_writer)
    model = NegotiationModel(policy="llm", condition=condition, llm=llm, rng=3)
    model.run()
    assert model.round >= 3
    for request in llm.requests:
        round_no, me = TURN.search(request.messages[1][1]).groups()
        text = "\n".join(content for _, content in request.messages)
        secrets = set(re.findall(r"SECRET-(\w+)-r(\d+)", text))
        expected = {(me, str(int(round_no) - 1))} if int(round_no) > 1 else set()
        assert secrets == expected, f"{me} in round {round_no} saw {secrets}"
        if expected:  # the own state sits in the private part, after the shared table
            assert text.index("SECRET") > text.index("--- PRIVATE")
    moves = model.datacollector.get_table_dataframe("moves")
    for row in moves.itertuples():
        assert f"SECRET-{row.party}-r{row.round}" in row.private_state
    agent = model.negotiators[0]
    assert f"SECRET-{agent.party_id}-r{model.round}" in agent.private_state


def test_private_state_is_bounded_in_words():
    long = " ".join(["blah"] * 500)

    def verbose(request):
        return {"memo": long, "action": "hold", "value": None, "target": None, "message": ""}

    model, _ = one_round("private_memo", verbose)
    for state in model.datacollector.get_table_dataframe("moves")["private_state"]:
        assert len(state.split()) <= 150


def test_missing_private_field_is_repaired_then_counted():
    def forgetful(request):
        return {"action": "hold", "value": None, "target": None, "message": "No ledger."}

    model, llm = one_round("bounded", forgetful)
    moves = model.datacollector.get_table_dataframe("moves")
    assert not moves["valid"].any() and len(llm.requests) == 10
    assert moves["error"].str.contains("missing the private 'ledger' field").all()


def test_native_on_a_model_without_reasoning_fails_at_construction():
    llm = ScriptedLLM()
    with pytest.raises(CapabilityError, match="condition 'native' needs a model with a reasoning"):
        NegotiationModel(policy="llm", condition="native", llm=llm)
    assert llm.requests == []  # refused before any call, never a silent fallback


def test_native_records_reasoning_text_and_tokens():
    model, llm = one_round("native")
    moves = model.datacollector.get_table_dataframe("moves")
    assert moves["reasoning"].str.startswith("[medium] ").all()
    assert moves["private_state"].isna().all()  # native keeps no ledger
    calls = model.datacollector.get_table_dataframe("calls")
    assert (calls["reasoning_tokens"] > 0).all()
    assert (calls["completion_tokens"] > calls["reasoning_tokens"]).all()


def test_wrapping_needs_an_llm_policy_and_a_known_condition():
    with pytest.raises(TypeError, match="wraps an LLM policy"):
        wrap(HeuristicPolicy(), "bounded")
    with pytest.raises(ValueError, match="unknown condition 'deep'"):
        wrap(LLMPolicy(ScriptedLLM()), "deep")


def test_wrappers_compose_innermost_first():
    policy = wrap(LLMPolicy(ScriptedLLM()), "private_persona")
    assert policy.name == "private_persona(budget(llm))"
    assert policy.inner.max_tokens == 1024 and policy.llm is policy.inner.inner.llm
