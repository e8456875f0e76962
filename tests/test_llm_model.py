"""NegotiationModel with policy="llm", end to end: in-process fakes, then the real openai client
against the loopback fake server, then the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from parley.agents.factory import CONDITIONS
from parley.agents.reflection import REASONING_BUDGET
from parley.cli import main
from parley.llm.factory import make_llm
from parley.llm.fake_server import FakeOpenAIServer, Reply
from parley.llm.fakes import PuppetLLM, as_server_responder, negotiator_responder
from parley.llm.interface import Request
from parley.llm.records import CALL_COLUMNS
from parley.model.model import NegotiationModel
from parley.validity import MAX_INVALID_SHARE

TURN = re.compile(r"Your move for round (\d+), as (\w+)\.")
BUDGETS = {"none": 256, "native": 1024 + REASONING_BUDGET}  # reasoning room on top of the action
STATE_KEYS = {"bounded": "ledger", "private_memo": "memo", "private_persona": "diary"}


def party_of(request: Request) -> str:
    return TURN.search(request.messages[1][1]).group(2)


def frames(model: NegotiationModel) -> dict[str, pd.DataFrame]:
    dc = model.datacollector
    calls = dc.get_table_dataframe("calls").drop(columns=["latency_s"])
    return {
        "rounds": dc.get_model_vars_dataframe(),
        "moves": dc.get_table_dataframe("moves"),
        "calls": calls,
    }


# -- in process ---------------------------------------------------------------------------------
def test_a_whole_run_fills_the_moves_and_calls_tables():
    llm = PuppetLLM(negotiator_responder)
    model = NegotiationModel(scenario="trading_limits_fragmented", policy="llm", llm=llm, rng=11)
    outcome = model.run()
    assert outcome.kind in ("compromise", "authority_decision")
    moves = model.datacollector.get_table_dataframe("moves")
    calls = model.datacollector.get_table_dataframe("calls")
    assert list(calls.columns) == CALL_COLUMNS
    assert len(calls) == len(llm.requests) and len(moves) == 5 * model.round
    per_move = calls.groupby(["round", "party"]).size()
    for move in moves.itertuples():
        n = per_move[(move.round, move.party)]
        assert n == (2 if move.repaired else 1)
        assert move.valid or move.repaired  # an invalid turn always had its repair
    assert calls["valid"].sum() == len(moves) - (~moves["valid"]).sum()
    assert moves["repaired"].any()  # the responder's bad concessions exercised repairs
    assert sum(a.tokens for a in model.negotiators) == calls["total_tokens"].sum()


def test_concurrency_never_changes_the_outcome():
    order = ["operator", "industry", "critical", "retail", "city"]

    # the first in unique_id order answers last; gaps wide enough for a loaded CI machine
    def latency(request: Request) -> float:
        return 0.03 * (len(order) - order.index(party_of(request)))

    runs = {}
    for limit in (1, 5):
        llm = PuppetLLM(negotiator_responder, latency=latency)
        model = NegotiationModel(policy="llm", llm=llm, rng=4, max_concurrency=limit)
        model.run()
        decides = [party_of(r) for r in llm.requests if len(r.messages) == 2]
        runs[limit] = (frames(model), decides[:5])
    assert runs[1][1] == order  # one at a time: completion order is unique_id order
    assert runs[5][1] == order[::-1]  # all at once: the slowest (first) completes last
    for name in ("rounds", "moves", "calls"):
        pd.testing.assert_frame_equal(runs[1][0][name], runs[5][0][name])


def test_sequential_turns_see_the_earlier_moves_of_their_round():
    llm = PuppetLLM(negotiator_responder)
    model = NegotiationModel(policy="llm", llm=llm, rng=6, turn_order="sequential", max_rounds=1)
    model.step()
    decides = [r for r in llm.requests if len(r.messages) == 2]
    assert len(decides) == 5 and len(model.datacollector.get_table_dataframe("calls")) == len(
        llm.requests
    )
    shown = [r.messages[1][1].count("R1: ") for r in decides]
    assert shown == [0, 1, 1, 1, 1]  # the first mover sees no move yet, the others see R1
    last = decides[-1].messages[1][1]
    assert last.split("R1: ")[1].split("\n")[0].count(";") == 3  # four earlier movers


# -- through the real openai client and the loopback fake server --------------------------------
@pytest.fixture
def server():
    with FakeOpenAIServer(responder=as_server_responder(negotiator_responder), reasoning=True) as s:
        yield s


def openai_llm(server: FakeOpenAIServer, **params):
    base = {
        "backend": "openai",
        "model": "fake-model",
        "base_url": server.base_url,
        "max_retries": 0,
        "timeout": 10,
    }
    return make_llm({**base, **params})


@pytest.mark.parametrize("condition", CONDITIONS)
def test_call_structure_over_http(server, condition):
    llm = openai_llm(server, reasoning=condition == "native")
    model = NegotiationModel(policy="llm", condition=condition, llm=llm, rng=2, max_rounds=1)
    model.step()
    decides = [b for b in server.requests if len(b["messages"]) == 2]
    assert len(decides) == 5
    prefixes = {b["messages"][1]["content"].split("--- PRIVATE")[0] for b in decides}
    assert len(prefixes) == 1 and len({b["messages"][0]["content"] for b in decides}) == 1
    for body in server.requests:
        assert body["max_tokens"] == BUDGETS.get(condition, 1024)
        assert body.get("reasoning_effort") == ("medium" if condition == "native" else None)
        schema = body["response_format"]["json_schema"]["schema"]
        key = STATE_KEYS.get(condition)
        assert list(schema["properties"]) == [
            *([key] if key else []),
            "action",
            "value",
            "target",
            "message",
        ]
        assert None not in schema["properties"]["value"]["enum"][:-1]  # numbers, then null
    calls = model.datacollector.get_table_dataframe("calls")
    assert len(calls) == len(server.requests) and (calls["backend"] == "openai").all()
    if condition == "native":
        assert (calls["reasoning_tokens"] > 0).all()
        assert model.datacollector.get_table_dataframe("moves")["reasoning"].notna().all()


def secret_writer(request: Request) -> dict:
    round_no, me = TURN.search(request.messages[1][1]).groups()
    ledger = {
        f: f"SECRET-{me}-r{round_no}" for f in request.schema["properties"]["ledger"]["properties"]
    }
    return {"ledger": ledger, "action": "hold", "value": None, "target": None, "message": "Hold."}


def test_private_ledgers_never_leak_over_http():
    with FakeOpenAIServer(responder=as_server_responder(secret_writer)) as server:
        model = NegotiationModel(policy="llm", condition="bounded", llm=openai_llm(server), rng=1)
        model.run()
        bodies = list(server.requests)
    assert model.round >= 3 and len(bodies) == 5 * model.round
    for body in bodies:
        text = "\n".join(m["content"] for m in body["messages"])
        round_no, me = TURN.search(text).groups()
        seen = set(re.findall(r"SECRET-(\w+)-r(\d+)", text))
        assert seen == ({(me, str(int(round_no) - 1))} if int(round_no) > 1 else set())


def test_repair_then_fallback_to_hold_over_http(server):
    server.fail("bad_action", times=2)  # the first party: decide and repair both bad
    server.script(Reply(fault="out_of_range"))  # the second party: repaired
    model = NegotiationModel(
        policy="llm", llm=openai_llm(server), rng=3, max_concurrency=1, max_rounds=1
    )
    model.step()
    first, second, *rest = model.negotiators
    moves = model.datacollector.get_table_dataframe("moves").set_index("party")
    assert not moves.loc[first.party_id, "valid"] and first.invalid_turns == 1
    assert "unknown action 'surrender'" in moves.loc[first.party_id, "error"]
    assert moves.loc[second.party_id, "valid"] and moves.loc[second.party_id, "repaired"]
    calls = model.datacollector.get_table_dataframe("calls")
    assert calls["purpose"].tolist()[:4] == ["decide", "repair", "decide", "repair"]
    assert calls["valid"].tolist()[:4] == [False, False, False, True]
    assert len(server.requests) == len(calls) >= 4 + len(rest)


def test_a_dead_server_is_an_invalid_hold_with_its_fault(server):
    server.fail("server_error", times=1)
    model = NegotiationModel(
        policy="llm", llm=openai_llm(server), rng=3, max_concurrency=1, max_rounds=1
    )
    model.step()
    calls = model.datacollector.get_table_dataframe("calls")
    failed = calls[calls["fault"].notna()]
    assert len(failed) == 1 and failed.iloc[0]["valid"] == False  # noqa: E712
    first = model.negotiators[0]
    assert first.invalid_turns == 1 and model.decisions[first.party_id].error


# -- the command line ---------------------------------------------------------------------------
def test_cli_native_on_a_model_without_reasoning_exits_2(server, capsys):
    code = main(
        [
            "run",
            "--policy",
            "llm",
            "--backend",
            "openai",
            "--base-url",
            server.base_url,
            "--condition",
            "native",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "condition 'native' needs a model with a reasoning mode" in err
    assert server.requests == []


def test_cli_run_writes_the_calls_table(server, tmp_path: Path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "run",
            "--policy",
            "llm",
            "--backend",
            "openai",
            "--base-url",
            server.base_url,
            "--model",
            "fake-model",
            "--condition",
            "bounded",
            "--authority",
            "llm",
            "--max-rounds",
            "2",
            "--seed",
            "5",
            "--quiet",
            "--out",
            str(out),
        ]
    )
    # This responder also makes moves the table refuses: a run with more than 10% of its
    # turns still invalid after the repair is recorded invalid and exits 3 (parley.validity).
    runs = pd.read_parquet(out / "runs.parquet")
    invalid = runs.invalid_turns[0] / runs.turns[0] > MAX_INVALID_SHARE
    assert runs.status[0] == ("invalid" if invalid else "ok")
    assert code == (3 if invalid else 0), capsys.readouterr().err
    calls = pd.read_parquet(out / "calls.parquet")
    assert list(calls.columns) == CALL_COLUMNS
    assert len(calls) == len(server.requests) >= 10
    assert set(calls["purpose"]) >= {"decide", "authority"}
    assert calls["prompt_tokens"].gt(0).all() and (calls["condition"] == "bounded").all()
    moves = pd.read_parquet(out / "moves.parquet")
    assert moves["private_state"].notna().all()
