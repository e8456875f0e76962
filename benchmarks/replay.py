"""Issue 3 benchmark: a recorded sweep replayed from the cache vs run live.

Live: against the loopback fake server with latency L (default 200 ms) and the record cache.
Replay: the same sweep with ``cache="replay"`` after the server has been stopped, so any
call that missed the cache would fail. Two levels:

(a) LLM layer: batches of 5 concurrent calls through :func:`parley.llm.factory.make_llm`;
(b) runs: a small sweep of ``NegotiationModel(policy="llm")`` runs (scenarios x seeds),
    whose replayed frames (rounds, moves, calls) must equal the live ones.

Target: live / replay >= 50x.

    .venv/bin/python benchmarks/replay.py [--latency 0.2] [--seeds 2] [--rounds 4]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from parley.concurrency import gather_bounded, run_sync
from parley.grammar import action_schema
from parley.llm.factory import make_llm
from parley.llm.fake_server import FakeOpenAIServer
from parley.llm.interface import Request
from parley.model.model import NegotiationModel
from parley.scenarios import builtin_names


def llm_params(url: str, cache_path: Path, mode: str) -> dict[str, object]:
    return {
        "backend": "openai",
        "model": "fake-model",
        "base_url": url,
        "cache": mode,
        "cache_path": str(cache_path),
        "max_retries": 0,
        "timeout": 10,
    }


def call_sweep(url: str, cache_path: Path, mode: str, batches: int) -> float:
    """Seconds for ``batches`` batches of 5 concurrent calls."""
    llm = make_llm(llm_params(url, cache_path, mode))
    schema = action_schema(["a", "b", "c", "d", "e"], [10.0, 20.0, 30.0])
    start = time.perf_counter()
    for b in range(batches):
        requests = [
            Request.of([{"role": "user", "content": f"turn {b}"}], schema=schema, seed=5 * b + i)
            for i in range(5)
        ]
        done = run_sync(gather_bounded([llm.acomplete(r) for r in requests], 5))
        assert all(c.cached == (mode == "replay") for c in done)
    return time.perf_counter() - start


def run_sweep(
    url: str, cache_path: Path, mode: str, seeds: int, rounds: int
) -> tuple[float, list[dict[str, pd.DataFrame]]]:
    """Seconds for every scenario x seed run, and each run's frames."""
    models = []
    start = time.perf_counter()
    for scenario in builtin_names():
        for seed in range(seeds):
            model = NegotiationModel(
                scenario=scenario,
                policy="llm",
                max_rounds=rounds,
                rng=seed,
                **llm_params(url, cache_path, mode),
            )
            model.run()
            models.append(model)
    elapsed = time.perf_counter() - start
    return elapsed, [frames_of(m) for m in models]  # DataFrames built outside the timing


def frames_of(model: NegotiationModel) -> dict[str, pd.DataFrame]:
    dc = model.datacollector
    calls = dc.get_table_dataframe("calls").drop(columns=["cached"])  # the one intended change
    return {
        "rounds": dc.get_model_vars_dataframe(),
        "moves": dc.get_table_dataframe("moves"),
        "calls": calls,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=0.2, help="server latency L (s)")
    parser.add_argument("--batches", type=int, default=8, help="(a) batches of 5 calls")
    parser.add_argument("--seeds", type=int, default=2, help="(b) seeds per scenario")
    parser.add_argument("--rounds", type=int, default=4, help="(b) max rounds per run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache.sqlite"
        with FakeOpenAIServer(latency_s=args.latency) as server:
            url = server.base_url
            live_calls = call_sweep(url, cache, "record", args.batches)
            live_runs, live_frames = run_sweep(url, cache, "record", args.seeds, args.rounds)
            calls_made = len(server.requests)
        # The server is stopped: every replayed call must come from the cache.
        replay_calls = call_sweep(url, cache, "replay", args.batches)
        replay_runs, replay_frames = run_sweep(url, cache, "replay", args.seeds, args.rounds)
    for live, replay in zip(live_frames, replay_frames, strict=True):
        for name in live:
            pd.testing.assert_frame_equal(live[name], replay[name])
    runs = len(live_frames)
    print(f"fake server latency L = {args.latency * 1000:.0f} ms; {calls_made} live calls in all")
    print(f"(a) LLM layer, {args.batches * 5} calls in batches of 5:")
    print(
        f"  live {live_calls:7.3f} s   replay {replay_calls:7.3f} s   "
        f"ratio {live_calls / replay_calls:6.1f}x  (>= 50)"
    )
    print(f"(b) sweep of {runs} runs (3 scenarios x {args.seeds} seeds, <= {args.rounds} rounds):")
    print(
        f"  live {live_runs:7.3f} s   replay {replay_runs:7.3f} s   "
        f"ratio {live_runs / replay_runs:6.1f}x  (>= 50); replayed frames identical"
    )


if __name__ == "__main__":
    main()
