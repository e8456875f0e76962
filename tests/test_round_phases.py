"""The round as named agent phases: observe, decide (gathered by the model), apply."""

from __future__ import annotations

import asyncio

import pytest

from parley.agents.negotiator import NegotiatorAgent
from parley.checks import assert_same_run
from parley.llm.fakes import PuppetLLM, ScriptedLLM, negotiator_responder
from parley.llm.interface import serializes_calls
from parley.llm.wrappers import RetryingLLM, UsageLLM
from parley.model.model import NegotiationModel


class SerialPuppet(PuppetLLM):
    """A fake backend that declares, like the embedded model, that its calls must not overlap."""

    serialize_calls = True


def test_the_backend_declares_serialization_through_its_wrappers():
    inner = SerialPuppet(negotiator_responder)
    wrapped = UsageLLM(RetryingLLM(inner))
    assert serializes_calls(wrapped) and not serializes_calls(PuppetLLM(negotiator_responder))
    # an injected model that serializes is serialized (it used to be decided by `llm is None`)
    model = NegotiationModel(policy="llm", llm=wrapped, max_concurrency=5, rng=0)
    assert model.max_concurrency == 1
    free = NegotiationModel(policy="llm", llm=PuppetLLM(negotiator_responder), rng=0)
    assert free.max_concurrency == 5


def test_each_phase_leaves_its_result_on_the_agent():
    model = NegotiationModel(policy="solver", rng=1)
    model.begin_round()
    model.parties.do("observe")
    assert all(a.observation is not None and a.decision is None for a in model.parties)
    model.decide_round(model.parties)
    assert all(a.decision is not None and a.move is None for a in model.parties)
    model.parties.do("apply")
    moves = [a.move for a in model.parties]
    assert model.this_round == moves  # applied (and recorded) in unique_id order
    assert len(model.datacollector.get_table_dataframe("moves")) == len(moves)


def test_every_decision_is_reported_to_the_observer():
    seen: list[str] = []
    model = NegotiationModel(policy="heuristic", rng=2, max_rounds=1)
    model.on_turn = lambda _m, party, _d: seen.append(party)
    model.step()
    assert sorted(seen) == sorted(a.party_id for a in model.parties)


def test_decide_before_observe_is_an_error():
    model = NegotiationModel(policy="heuristic", rng=0)
    agent = next(iter(model.agents_by_type[NegotiatorAgent]))
    with pytest.raises(RuntimeError, match="before it observed"):
        agent.decide_now()


def test_the_authority_records_the_calls_its_ruling_carries():
    llm = ScriptedLLM([{"ruling": "The regulator sets fifty.", "value": 50}])
    model = NegotiationModel(policy="solver", authority="llm", llm=llm, max_rounds=1, rng=0)
    model.run()
    assert model.ruling is not None and len(model.ruling.calls) == 1
    calls = model.datacollector.get_table_dataframe("calls")
    assert calls["party"].tolist() == ["authority"] and calls["purpose"].tolist() == ["authority"]


@pytest.mark.parametrize("turn_order", ["simultaneous", "sequential"])
@pytest.mark.parametrize("policy", ["heuristic", "llm"])
def test_astep_on_the_callers_loop_records_the_same_run(turn_order, policy):
    def build() -> NegotiationModel:
        return NegotiationModel(
            scenario="trading_limits_fragmented",
            policy=policy,
            turn_order=turn_order,
            authority="llm" if policy == "llm" else "rule",
            llm=PuppetLLM(negotiator_responder) if policy == "llm" else None,
            rng=5,
        )

    stepped = build()
    stepped.run()

    async def drive(model: NegotiationModel) -> None:
        while model.running:
            await model.astep()

    awaited = build()
    asyncio.run(drive(awaited))
    assert_same_run(stepped, awaited)
    assert (awaited.steps, awaited.time) == (stepped.steps, stepped.time)


def test_the_embedded_backend_serializes_its_calls_without_loading_anything():
    from parley.llm.factory import make_llm

    llm = make_llm({"backend": "embedded", "cache": "off", "max_tokens_total": 10_000})
    assert serializes_calls(llm)  # through the retry, usage and budget wrappers
    model = NegotiationModel(policy="llm", backend="embedded", max_concurrency=5, rng=0)
    assert model.max_concurrency == 1
    injected = NegotiationModel(policy="llm", llm=llm, max_concurrency=5, rng=0)
    assert injected.max_concurrency == 1  # an injected embedded model too


def test_the_authority_asks_on_the_runs_event_loop_like_the_negotiators():
    import threading

    threads: dict[str, set[str]] = {"negotiator": set(), "authority": set()}

    def respond(request):
        props = (request.schema or {}).get("properties", {})
        who = "negotiator" if "action" in props else "authority"
        threads[who].add(threading.current_thread().name)
        return negotiator_responder(request)

    model = NegotiationModel(
        policy="llm", authority="llm", llm=PuppetLLM(respond), max_rounds=1, rng=3
    )
    model.run()
    assert model.outcome.kind == "authority_decision"  # the deadline after one round
    assert threads == {"negotiator": {"parley-llm-loop"}, "authority": {"parley-llm-loop"}}
