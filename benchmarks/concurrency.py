"""Issue 3 benchmark: concurrent LLM calls of a simultaneous round.

N = 5 calls against the loopback fake server with a fixed latency L = 200 ms, through the
whole wrapper stack of :func:`parley.llm.factory.make_llm` (openai backend -> retry ->
cache (record) -> usage -> budget) and :func:`parley.concurrency.gather_bounded`:

(a) at the LLM layer: one batch of N calls, all at once vs one at a time;
(b) in a model: one ``NegotiationModel.step()`` with ``policy="llm"``, ``turn_order=
    "simultaneous"``, ``max_concurrency=N`` vs ``max_concurrency=1``.

Targets: wall / L <= 1.1 all at once, speed-up over one-at-a-time >= 0.9 * N.

    .venv/bin/python benchmarks/concurrency.py [--latency 0.2] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from parley.concurrency import gather_bounded, run_sync
from parley.grammar import action_schema
from parley.llm.factory import make_llm
from parley.llm.fake_server import FakeOpenAIServer
from parley.llm.interface import Request
from parley.model.model import NegotiationModel

N = 5


def stack_params(server: FakeOpenAIServer, cache_path: Path) -> dict[str, object]:
    """The plain parameters of the full stack against ``server``."""
    return {
        "backend": "openai",
        "model": "fake-model",
        "base_url": server.base_url,
        "cache": "record",
        "cache_path": str(cache_path),
        "max_tokens_total": 10_000_000,
        "timeout": 10,
    }


def llm_layer(server: FakeOpenAIServer, cache_path: Path, limit: int, repeats: int) -> float:
    """Median seconds of one batch of N calls with ``limit`` in flight."""
    llm = make_llm(stack_params(server, cache_path))
    schema = action_schema(["a", "b", "c", "d", "e"], [10.0, 20.0, 30.0])
    walls = []
    for rep in range(repeats + 1):
        requests = [
            Request.of([{"role": "user", "content": f"party {i}"}], schema=schema, seed=rep * N + i)
            for i in range(N)
        ]
        start = time.perf_counter()
        run_sync(gather_bounded([llm.acomplete(r) for r in requests], limit))
        walls.append(time.perf_counter() - start)
    return statistics.median(walls[1:])  # the first batch warms imports up


def model_round(server: FakeOpenAIServer, cache_path: Path, limit: int, repeats: int) -> float:
    """Median seconds of one simultaneous round of a 5-party NegotiationModel."""
    walls = []
    for rep in range(repeats + 1):
        model = NegotiationModel(
            scenario="grid_curtailment",
            policy="llm",
            condition="none",
            max_concurrency=limit,
            rng=rep,
            **stack_params(server, cache_path),
        )
        assert len(model.negotiators) == N
        before = len(server.requests)
        start = time.perf_counter()
        model.step()
        walls.append(time.perf_counter() - start)
        calls = len(server.requests) - before
        assert calls == N, f"expected {N} calls in the round, got {calls} (repairs?)"
    return statistics.median(walls[1:])


def report(label: str, latency: float, together: float, one_by_one: float) -> None:
    print(f"{label}")
    print(
        f"  all at once : {together * 1000:7.1f} ms   wall/L = {together / latency:.3f}  (<= 1.1)"
    )
    print(f"  one at a time: {one_by_one * 1000:7.1f} ms")
    print(f"  speed-up    : {one_by_one / together:.2f}x  (>= {0.9 * N:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=0.2, help="server latency L (s)")
    parser.add_argument("--repeats", type=int, default=5, help="measured repeats (median)")
    args = parser.parse_args()
    print(f"N = {N} calls, fake server latency L = {args.latency * 1000:.0f} ms, full stack")
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAIServer(latency_s=args.latency) as server:
        cache = Path(tmp) / "cache.sqlite"
        together = llm_layer(server, cache, N, args.repeats)
        alone = llm_layer(server, cache, 1, args.repeats)
        report("(a) LLM layer, gather_bounded", args.latency, together, alone)
        together = model_round(server, cache, N, args.repeats)
        alone = model_round(server, cache, 1, args.repeats)
        report("(b) NegotiationModel.step(), policy='llm'", args.latency, together, alone)


if __name__ == "__main__":
    main()
