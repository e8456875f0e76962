"""Sweeps at the provider's limit: runs in flight on one loop, the endpoint's rate limiter,
the fake server's limits, and the progress figures (issue 12)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pandas as pd
import pytest

import parley
from parley.cli import main
from parley.experiments.grid import build_grid
from parley.experiments.inflight import is_io_bound
from parley.experiments.progress import LiveCalls, Progress, money
from parley.experiments.sweep import run_sweep
from parley.llm.fake_limits import EndpointLimits, Latency
from parley.llm.fake_server import FakeOpenAIServer
from parley.llm.interface import Completion, LLMError, Request, Usage
from parley.llm.ratelimit import (
    EndpointLimiter,
    RateCaps,
    RateLimitedLLM,
    configure,
    limiter_for,
    parse_reset,
)
from parley.llm.wrappers import RetryingLLM

TABLES = ("runs", "rounds", "agents", "moves", "calls")
TIMING = {"duration_s", "latency_s"}


@pytest.fixture(autouse=True)
def fresh_limiters():
    """Every test starts with uncapped, unused limiters (they are process-wide)."""
    configure(RateCaps(max_inflight=1))
    configure(RateCaps())
    yield
    configure(RateCaps(max_inflight=1))
    configure(RateCaps())


def llm_grid(url: str, seeds=(0, 1, 2), **fixed: object):
    return build_grid(
        {
            "scenario": ["grid_curtailment", "trading_limits_unified"],
            "condition": ["none", "bounded"],
        },
        {
            "policy": "llm",
            "backend": "openai",
            "model": "fake-model",
            "base_url": url,
            "api_key_env": "PARLEY_TEST_UNSET_KEY",
            "timeout": 5.0,
            "max_rounds": 3,
            **fixed,
        },
        list(seeds),
    )


def results(out: Path) -> dict[str, pd.DataFrame]:
    res = parley.load_results(out)
    return {name: res[name].drop(columns=[c for c in TIMING if c in res[name]]) for name in TABLES}


def assert_same(a: Path, b: Path) -> None:
    ra, rb = results(a), results(b)
    for name in TABLES:
        pd.testing.assert_frame_equal(ra[name], rb[name], check_dtype=False)


# -- runs in flight ----------------------------------------------------------------------------
def test_runs_in_flight_give_the_one_at_a_time_results(tmp_path: Path) -> None:
    with FakeOpenAIServer(latency_s=0.01) as server:
        grid = llm_grid(server.base_url)
        one = run_sweep(grid, tmp_path / "one", progress=False)
        many = run_sweep(grid, tmp_path / "many", progress=False, concurrency=8)
    assert one.total == many.total == 12 and one.failed == many.failed == 0
    assert_same(tmp_path / "one", tmp_path / "many")
    manifest = parley.load_results(tmp_path / "many").manifest
    assert manifest["concurrency"] == 8


def test_llm_authority_and_rule_based_cells_in_a_concurrent_sweep(tmp_path: Path) -> None:
    with FakeOpenAIServer(latency_s=0.01) as server:
        grid = build_grid(
            {"policy": ["llm", "heuristic"]},
            {
                "scenario": "grid_curtailment",
                "backend": "openai",
                "model": "fake-model",
                "base_url": server.base_url,
                "authority": "llm",
                "max_rounds": 2,
                "timeout": 5.0,
            },
            [0, 1, 2],
        )
        one = run_sweep(grid, tmp_path / "one", progress=False)
        many = run_sweep(grid, tmp_path / "many", progress=False, concurrency=6)
    assert one.failed == many.failed == 0
    assert_same(tmp_path / "one", tmp_path / "many")
    calls = parley.load_results(tmp_path / "many")["calls"]
    assert (calls.purpose == "authority").any()


def test_only_remote_llm_runs_go_in_flight() -> None:
    assert is_io_bound('{"policy": "llm", "backend": "openai"}')
    assert is_io_bound('{"policy": "heuristic", "authority": "llm", "backend": "openai"}')
    assert not is_io_bound('{"policy": "llm", "backend": "embedded"}')
    assert not is_io_bound('{"policy": "llm"}')  # the embedded default stays serialized
    assert not is_io_bound('{"policy": "heuristic", "backend": "openai"}')


def test_jobs_combine_with_concurrency(tmp_path: Path) -> None:
    with FakeOpenAIServer(latency_s=0.01) as server:
        grid = llm_grid(server.base_url, seeds=(0,))
        run_sweep(grid, tmp_path / "one", progress=False)
        run_sweep(grid, tmp_path / "two", progress=False, concurrency=3, jobs=2)
    assert_same(tmp_path / "one", tmp_path / "two")


# -- the endpoint's rate limiter -----------------------------------------------------------------
class Scripted:
    """An inner model: answers after ``latency``; the first ``limited`` calls answer 429."""

    name, backend, supports_reasoning = "scripted", "openai", False

    def __init__(self, limited: int = 0, retry_after: float | None = 0.3, latency=0.0):
        self.limited, self.retry_after, self.latency = limited, retry_after, latency
        self.starts: list[float] = []

    async def acomplete(self, request: Request) -> Completion:
        self.starts.append(time.monotonic())
        await asyncio.sleep(self.latency)
        if len(self.starts) <= self.limited:
            raise LLMError("429", "rate_limit", retry_after=self.retry_after)
        return Completion(text="{}", usage=Usage(10, 5))

    def complete(self, request: Request) -> Completion:
        raise NotImplementedError


def ask() -> Request:
    return Request.of([{"role": "user", "content": "move?"}], max_tokens=20)


def test_the_limiter_honours_retry_after_for_every_call_of_the_endpoint() -> None:
    inner = Scripted(limited=1, retry_after=0.3)
    limiter = EndpointLimiter()
    llm = RetryingLLM(RateLimitedLLM(inner, limiter), max_retries=2, base_delay=0.01)

    async def go() -> list[Completion]:
        first = asyncio.create_task(llm.acomplete(ask()))
        await asyncio.sleep(0.05)  # the 429 has paused the endpoint by now
        rest = [asyncio.create_task(llm.acomplete(ask())) for _ in range(3)]
        return await asyncio.gather(first, *rest)

    done = asyncio.run(go())
    t0 = inner.starts[0]
    assert all(t >= t0 + 0.3 - 0.01 for t in inner.starts[1:]), inner.starts
    assert done[0].rate_limited == 1 and done[0].retries == 1
    assert [d.rate_limited for d in done[1:]] == [0, 0, 0]
    assert limiter.stats.rate_limited == 1 and limiter.stats.paused_s == pytest.approx(0.3)


def test_a_429_halves_the_calls_in_flight_and_successes_restore_them() -> None:
    limiter = EndpointLimiter(RateCaps(max_inflight=8))
    inner = Scripted(latency=0.02)
    llm = RateLimitedLLM(inner, limiter)

    async def go() -> None:
        await asyncio.gather(*(llm.acomplete(ask()) for _ in range(8)))
        limiter.stats.inflight += 6  # as if 6 calls were in flight when the 429 came
        limiter.release(tokens_estimated=1, tokens_used=None, rate_limited=True, retry_after=0)
        limiter.stats.inflight -= 5
        assert limiter.stats.window == 3.0  # half the 6 in flight
        await asyncio.gather(*(llm.acomplete(ask()) for _ in range(20)))

    asyncio.run(go())
    assert limiter.stats.window == 8  # grown back to the cap
    assert limiter.stats.inflight == 0


def test_the_limiter_spaces_requests_by_rpm_and_caps_calls_in_flight() -> None:
    limiter = EndpointLimiter(RateCaps(max_inflight=2, rpm=600))  # one request per 0.1 s
    inner = Scripted(latency=0.15)
    llm = RateLimitedLLM(inner, limiter)
    peak = 0

    async def one() -> None:
        nonlocal peak
        peak = max(peak, limiter.stats.inflight)
        await llm.acomplete(ask())

    async def go() -> None:
        await asyncio.gather(*(one() for _ in range(6)))

    asyncio.run(go())
    since = [t - inner.starts[0] for t in inner.starts]  # never ahead of one per 0.1 s
    assert all(t >= i * 0.1 - 0.01 for i, t in enumerate(since)), since
    assert peak <= 2
    assert limiter.stats.succeeded == 6 and limiter.stats.inflight == 0


def test_rate_limit_headers_pause_new_calls_until_reset() -> None:
    limiter = EndpointLimiter()
    now = time.monotonic()
    limiter.stats.inflight = 1
    limiter.release(
        tokens_estimated=1,
        tokens_used=1,
        headers={"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "250ms"},
    )
    assert limiter._paused_until == pytest.approx(now + 0.25, abs=0.05)
    # before zero: 3 calls still in flight will spend the 3 requests that remain
    limiter = EndpointLimiter()
    limiter.stats.inflight, limiter.stats.succeeded, limiter.stats.tokens = 4, 10, 5_000
    limiter.release(
        tokens_estimated=1,
        tokens_used=500,
        headers={"x-ratelimit-remaining-requests": "3", "x-ratelimit-reset-requests": "1s"},
    )
    assert limiter._paused_until == pytest.approx(time.monotonic() + 1.0, abs=0.05)
    # tokens: 2 calls in flight of ~500 tokens each; 2,000 remaining is enough, 900 is not
    for remaining, pauses in (("2000", False), ("900", True)):
        limiter = EndpointLimiter()
        limiter.stats.inflight, limiter.stats.succeeded, limiter.stats.tokens = 3, 10, 5_000
        headers = {"x-ratelimit-remaining-tokens": remaining, "x-ratelimit-reset-tokens": "2s"}
        limiter.release(tokens_estimated=500, tokens_used=500, headers=headers)
        assert (limiter._paused_until > time.monotonic()) is pauses, remaining
    assert [parse_reset(t) for t in ("1s", "6m0s", "20ms", "0.5", "", "soon")] == [
        1.0, 360.0, 0.02, 0.5, None, None,
    ]  # fmt: skip


def test_caps_are_shared_out_among_processes() -> None:
    assert RateCaps(64, 600.0, 1e6).split(2) == RateCaps(32, 300.0, 5e5)
    assert RateCaps.from_json(RateCaps(3, None, 9.0).to_json()) == RateCaps(3, None, 9.0)
    with pytest.raises(ValueError, match="rpm must be positive"):
        RateCaps(rpm=0)
    configure(RateCaps(rpm=60))
    assert limiter_for("http://x/v1", "m") is limiter_for("http://x/v1", "m")
    assert limiter_for("http://x/v1", "m").caps.rpm == 60


# -- the fake server's limits, end to end --------------------------------------------------------
def test_a_sweep_over_the_servers_rpm_meets_429s_counts_and_recovers_them(tmp_path: Path) -> None:
    limits = EndpointLimits(Latency(0.01), rpm=600, burst_s=0.5)  # 5 requests at once, 10/s
    with FakeOpenAIServer(limits=limits) as server:
        grid = llm_grid(server.base_url, seeds=(0,), max_retries=5)
        blind = run_sweep(grid, tmp_path / "blind", progress=False, concurrency=4)
        blind_429 = limits.rejected
        # the blind sweep emptied the server's bucket: let it refill (as a provider's window
        # does) so that even spacing at the server's own rate starts with its burst in hand
        time.sleep(0.5 + 0.1)
        paced = run_sweep(
            grid, tmp_path / "paced", progress=False, concurrency=4, rate_caps=RateCaps(rpm=600)
        )
    assert blind.failed == paced.failed == 0
    calls = parley.load_results(tmp_path / "blind")["calls"]
    assert blind_429 > 0 and calls["rate_limited"].sum() == blind_429
    assert limits.rejected == blind_429  # pacing at the server's rate met no 429
    assert parley.load_results(tmp_path / "paced")["calls"]["rate_limited"].sum() == 0
    assert_same_outcomes(tmp_path / "blind", tmp_path / "paced")


def assert_same_outcomes(a: Path, b: Path) -> None:
    ra, rb = results(a), results(b)
    for name in ("runs", "moves", "rounds"):
        pd.testing.assert_frame_equal(ra[name], rb[name], check_dtype=False)


def test_the_fake_server_caps_concurrent_requests_and_draws_latency() -> None:
    limits = EndpointLimits(Latency(0.05, "uniform", 0.02), max_concurrent=2)
    llm_params = {"backend": "openai", "model": "fake-model", "timeout": 5.0}
    from parley.concurrency import run_sync
    from parley.llm.factory import make_llm

    with FakeOpenAIServer(limits=limits) as server:
        llm = make_llm({**llm_params, "base_url": server.base_url})

        async def go() -> None:
            await asyncio.gather(*(llm.acomplete(ask()) for _ in range(6)))

        started = time.perf_counter()
        run_sync(go())
        wall = time.perf_counter() - started
    assert limits.peak_active == 2 and limits.served == 6
    assert wall >= 3 * 0.03  # three waves of two, each at least the shortest latency
    assert [Latency(1.0, "lognormal", 0.5).draw(__import__("random").Random(1)) > 0]


# -- progress ---------------------------------------------------------------------------------
def test_progress_says_how_long_and_how_much() -> None:
    bar = Progress(
        4,
        [{"status": "ok", "outcome": "compromise", "calls": 10, "cost_usd": 0.5}],
        enabled=False,
        max_cost_usd=2.0,
        live=lambda: LiveCalls(inflight=7, done=20, tokens=3000, rate_limited=1),
    )
    bar.add({"status": "failed", "calls": 5, "retries": 2, "unpriced_calls": 3, "cost_usd": 0.25})
    line = bar.status()
    assert "compromise=1" in line and "failed=1" in line and "7 in flight" in line
    assert "calls/s" in line and "tok/s" in line and "2 retries" in line and "1 x 429" in line
    assert "$0.7500 of $2.00 + 3 calls unpriced (cost unknown)" in line
    bar.close()
    assert money(0.0, 0, None) == "$0.0000 spent"


def test_cli_cost_cap_refuses_an_unpriced_model(tmp_path: Path, capsys) -> None:
    code = main(
        ["sweep", "--policy", "llm", "--backend", "openai", "--model", "fake-model",
         "--base-url", "http://127.0.0.1:9/v1", "--scenario", "grid_curtailment",
         "--seeds", "1", "--max-cost-usd", "1", "--out", str(tmp_path / "x"), "--quiet"]
    )  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and "'fake-model' has no price" in err and "\n" not in err


def test_the_cost_cap_stops_starting_runs(tmp_path: Path) -> None:
    with FakeOpenAIServer(latency_s=0.01, model="gpt-4o-mini") as server:  # a priced model
        grid = llm_grid(server.base_url, seeds=(0, 1), model="gpt-4o-mini")
        summary = run_sweep(
            grid, tmp_path / "capped", progress=False, concurrency=1, max_cost_usd=1e-9
        )
    runs = parley.load_results(tmp_path / "capped")["runs"]
    assert summary.failed == len(runs) - 1  # the first run spent the budget
    assert runs.error.dropna().str.contains("cost budget is spent").all()


# -- bounded memory ------------------------------------------------------------------------------
def test_the_batched_merge_writes_the_tables_the_whole_merge_would(tmp_path: Path, monkeypatch):
    import io

    import parley.experiments.merging as merging
    from parley.experiments.shards import read_shard, shard_dir, shard_path
    from parley.scenarios import builtin_names

    monkeypatch.setattr(merging, "BATCH_RUNS", 2)  # columns first seen in later batches
    out = tmp_path / "s"
    with FakeOpenAIServer(latency_s=0.0) as server:  # runs with and without LLM calls
        grid = build_grid(
            {"scenario": builtin_names(), "policy": ["heuristic", "llm"]},
            {"backend": "openai", "model": "fake-model", "base_url": server.base_url},
            [0, 1],
        )
        run_sweep(grid, out, progress=False)
    # the whole merge: every run's tables at once, in grid order
    parts: dict[str, list] = {}
    for run in grid.runs():
        for name, cols in read_shard(shard_path(shard_dir(out), run.run_id)).items():
            parts.setdefault(name, []).append(cols)
    whole = {name: merging._frame(t, merging._columns(t)) for name, t in parts.items()}
    for name, frame in whole.items():
        expected = pd.read_parquet(io.BytesIO(frame.to_parquet(index=False)))
        pd.testing.assert_frame_equal(pd.read_parquet(out / f"{name}.parquet"), expected)
