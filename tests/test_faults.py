"""Fault injection: a 15-run sweep through the loopback server while ~30% of attempts fail.

The faults (:class:`parley.llm.fake_replies.FaultPlan`) mix every way a server can fail:
429 with and without Retry-After, 500, 503, a connection reset, a hang past the timeout,
an empty body, truncated JSON, JSON of the wrong shape, an action outside the grammar, a
value outside the range, reasoning text without content. They are drawn by request, so
the sweep is reproducible; each request fails at most twice in a row (a transient fault).
The sweep allows three retries: two for the plan's faults and one to spare for a genuine
timeout when the loaded test machine stalls past the 0.5 s timeout. It runs ``parley
sweep`` itself, with the LLM policy and the LLM authority on the ``openai`` backend.
Every fault of the plan is transient; a reply cut by the token limit is not (it is a
configuration fault, see tests/test_providers.py), so the plan never injects one.
"""

from __future__ import annotations

import io
import time
from contextlib import redirect_stderr, redirect_stdout
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml
from conftest import tiny_scenario

from parley.cli import main
from parley.experiments.faults import count_faults
from parley.llm.factory import make_llm
from parley.llm.fake_replies import CONTENT_FAULTS, FaultPlan
from parley.llm.fake_server import FakeOpenAIServer
from parley.llm.interface import LLMError, Request
from parley.validity import MAX_INVALID_SHARE

TIMEOUT = 0.5
BURST = 2  # the plan fails a request at most this many times in a row
MAX_RETRIES = BURST + 1  # one to spare for a genuine timeout of a stalled machine
STALLS = 3  # genuine timeouts tolerated (none on an idle machine)
HANG_S = 60.0  # a hang holds its request this long; no call may wait for it
RUNS = 15


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """Run the faulty sweep once for the module; keep what every test inspects."""
    tmp = tmp_path_factory.mktemp("faults")
    scenario = tmp / "three.yaml"
    ideals = {"low": 20, "mid": 50, "high": 80}
    scenario.write_text(yaml.safe_dump(tiny_scenario(ideals, max_rounds=3)), encoding="utf-8")
    plan = FaultPlan(rate=0.3, seed=0, burst=BURST)
    out, err = io.StringIO(), io.StringIO()
    with FakeOpenAIServer(latency_s=0.002, hang_s=HANG_S, plan=plan) as server:
        argv = ["sweep", "--scenario", str(scenario), "--policy", "llm", "--authority", "llm"]
        argv += ["--backend", "openai", "--model", "fake-model", "--base-url", server.base_url]
        argv += ["--api-key-env", "PARLEY_TEST_UNSET_KEY", "--timeout", str(TIMEOUT)]
        argv += ["--max-retries", str(MAX_RETRIES)]
        argv += ["--max-rounds", "3", "--seeds", str(RUNS), "--out", str(tmp / "sweep"), "--quiet"]
        argv += ["--no-check"]  # every request below is one of the runs' (the probe: test_check)
        start = time.perf_counter()
        with redirect_stdout(out), redirect_stderr(err):
            code = main(argv)
        elapsed = time.perf_counter() - start
        requests = list(server.requests)
    tables = {n: pd.read_parquet(tmp / "sweep" / f"{n}.parquet") for n in ("runs", "calls")}
    return SimpleNamespace(
        code=code,
        out=out.getvalue(),
        err=err.getvalue(),
        elapsed=elapsed,
        plan=plan,
        requests=requests,
        **tables,
    )


def test_the_sweep_finishes_without_a_crash_or_a_lost_run(faulty) -> None:
    assert faulty.code == 0, faulty.err
    runs = faulty.runs
    assert len(runs) == RUNS and runs["run_id"].is_unique
    # Content faults the repair could not cure leave invalid turns; a run with more than the
    # validity screen allows is recorded invalid (it ended, but is no measurement).
    assert runs["status"].isin(["ok", "invalid"]).all(), runs[["run_id", "error"]]
    invalid = runs[runs["status"] == "invalid"]
    # ... or with more than that share of turns that reasoned under 'none' (the injected
    # reasoning-only answers): the screen names which.
    too_invalid = invalid["invalid_turns"] / invalid["turns"] > MAX_INVALID_SHARE
    reasoned = invalid["unexpected_reasoning_calls"] > 0
    assert (too_invalid | reasoned).all()
    assert invalid["error"].str.startswith("invalid turns:").eq(too_invalid).all()
    assert invalid.loc[~too_invalid, "error"].str.startswith("reasoning turns:").all()
    assert runs["outcome"].isin(["compromise", "authority_decision"]).all()
    assert f"{RUNS} runs (0 already done, {RUNS} run now)" in faulty.out
    assert "0 failed" in faulty.out


def test_about_30_percent_of_attempts_failed_in_every_way(faulty) -> None:
    injected = faulty.plan.injected
    kinds = {
        "rate_limit",
        "rate_limit+retry_after",
        "server_error",
        "unavailable+retry_after",
        "reset",
        "hang",
        "empty_body",
        *CONTENT_FAULTS,
    }
    assert set(injected) == kinds, injected  # every kind of fault happened
    share = sum(injected.values()) / len(faulty.requests)
    assert 0.2 <= share <= 0.4, share


def test_every_fault_is_counted_in_the_calls_table_and_the_summary(faulty) -> None:
    calls, injected = faulty.calls, faulty.plan.injected
    counts = count_faults(calls)
    content = sum(injected[k] for k in CONTENT_FAULTS)
    http = sum(injected.values()) - content
    # An answer that breaks the grammar is an invalid call; an HTTP fault is a retry (or,
    # had it lasted, a call failed for good). On an idle machine the counts match exactly;
    # a stall past the timeout adds a genuine timeout (a retry), and if it hit an answer
    # that carried a content fault, that fault shows up as the retry instead.
    stalls = counts.faults - sum(injected.values())
    assert 0 <= stalls <= STALLS
    assert content - stalls <= counts.invalid <= content
    assert counts.retries + sum(counts.failed.values()) >= http
    assert not counts.failed  # every HTTP fault was recovered by a retry
    assert (calls.loc[~calls["valid"], "error"].str.len() > 0).all()  # each says why
    # Each HTTP request is one attempt of exactly one recorded call.
    assert len(faulty.requests) == len(calls) + int(calls["retries"].sum())
    assert counts.text() in faulty.out  # summarized at the end of the sweep
    assert counts.repaired > 0 and counts.retries_recovered == counts.retries


def test_retries_are_bounded(faulty) -> None:
    assert BURST <= faulty.calls["retries"].max() <= MAX_RETRIES  # reached the burst, bounded
    repairs = faulty.calls.groupby(["run_id", "round", "party"])["repair"].sum()
    assert repairs.max() <= 1  # one repair per turn, never more


def test_no_call_waits_longer_than_the_timeout(faulty) -> None:
    assert faulty.plan.injected["hang"] >= 1
    assert faulty.calls["latency_s"].max() <= TIMEOUT  # answered calls
    assert faulty.elapsed < HANG_S / 2  # no call ever waited for a hang to end


def test_a_hang_costs_the_timeout_and_no_more() -> None:
    params = {"backend": "openai", "model": "m", "timeout": TIMEOUT, "max_retries": 0}
    with FakeOpenAIServer(hang_s=HANG_S) as server:
        server.fail("hang")
        llm = make_llm({**params, "base_url": server.base_url, "api_key_env": "PARLEY_NO_KEY"})
        start = time.perf_counter()
        with pytest.raises(LLMError) as caught:
            llm.complete(Request.of([{"role": "user", "content": "move?"}]))
        waited = time.perf_counter() - start
    assert caught.value.fault == "timeout"
    assert TIMEOUT <= waited < TIMEOUT + 0.5  # not the 60 s the server would hold it
