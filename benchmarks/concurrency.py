"""Issue 3 benchmark: concurrent LLM calls of a simultaneous round.

N = 5 calls against the loopback fake server with a fixed latency L = 200 ms, through the
whole wrapper stack of :func:`parley.llm.factory.make_llm` (openai backend -> retry ->
cache (record) -> usage -> budget) and :func:`parley.concurrency.gather_bounded`:

(a) at the LLM layer: one batch of N calls, all at once vs one at a time;
(b) in a model: one ``NegotiationModel.step()`` with ``policy="llm"``, ``turn_order=
    "simultaneous"``, ``max_concurrency=N`` vs ``max_concurrency=1``.

Targets: wall / L <= 1.1 all at once, speed-up over one-at-a-time >= 0.9 * N.

The fake server runs in its own process (``python -m parley.llm.fake_server``), as a real
server would; ``--in-process`` runs it in a thread of this process instead, where its
request handling competes with the client for the GIL.

    .venv/bin/python benchmarks/concurrency.py [--latency 0.2] [--repeats 5] [--in-process]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from parley.concurrency import gather_bounded, run_sync
from parley.grammar import action_schema
from parley.llm.factory import make_llm
from parley.llm.fake_server import FakeOpenAIServer
from parley.llm.interface import Request
from parley.model.model import NegotiationModel

N = 5


@contextlib.contextmanager
def serve(latency: float, in_process: bool) -> Iterator[str]:
    """A fake server with ``latency``; yields its base URL."""
    if in_process:
        with FakeOpenAIServer(latency_s=latency) as server:
            yield server.base_url
        return
    command = [sys.executable, "-m", "parley.llm.fake_server", "--latency", str(latency)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        yield proc.stdout.readline().strip()  # type: ignore[union-attr]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def stack_params(url: str, cache_path: Path) -> dict[str, object]:
    """The plain parameters of the full stack against the server at ``url``."""
    return {
        "backend": "openai",
        "model": "fake-model",
        "base_url": url,
        "cache": "record",
        "cache_path": str(cache_path),
        "max_tokens_total": 10_000_000,
        "timeout": 10,
    }


def llm_layer(url: str, cache_path: Path, limit: int, repeats: int) -> tuple[float, float]:
    """Median wall and CPU seconds of one batch of N calls with ``limit`` in flight."""
    llm = make_llm(stack_params(url, cache_path))
    schema = action_schema(["a", "b", "c", "d", "e"], [10.0, 20.0, 30.0])
    walls, cpus = [], []
    for rep in range(repeats + 1):
        requests = [
            Request.of([{"role": "user", "content": f"party {i}"}], schema=schema, seed=rep * N + i)
            for i in range(N)
        ]
        start, cpu = time.perf_counter(), time.process_time()
        run_sync(gather_bounded([llm.acomplete(r) for r in requests], limit))
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls[1:]), statistics.median(cpus[1:])  # 1st batch: warm-up


def model_round(url: str, cache_path: Path, limit: int, repeats: int) -> tuple[float, float]:
    """Median wall and CPU seconds of one simultaneous round of a 5-party NegotiationModel."""
    walls, cpus = [], []
    for rep in range(repeats + 1):
        model = NegotiationModel(
            scenario="grid_curtailment",
            policy="llm",
            condition="none",
            max_concurrency=limit,
            rng=rep,
            **stack_params(url, cache_path),
        )
        assert len(model.negotiators) == N
        start, cpu = time.perf_counter(), time.process_time()
        model.step()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
        calls = len(model.datacollector.get_table_dataframe("calls"))
        assert calls == N, f"expected {N} calls in the round, got {calls} (repairs?)"
    return statistics.median(walls[1:]), statistics.median(cpus[1:])


def report(
    label: str, latency: float, together: tuple[float, float], alone: tuple[float, float]
) -> None:
    (wall, cpu), (wall_1, _) = together, alone
    print(label)
    ratio = wall / latency
    print(f"  all at once   : {wall * 1000:7.1f} ms   wall/L = {ratio:.3f}  (target <= 1.1)")
    print(f"  one at a time : {wall_1 * 1000:7.1f} ms")
    print(f"  speed-up      : {wall_1 / wall:.2f}x  (target >= {0.9 * N:.1f})")
    bound = 1 + cpu / latency  # what wall/L would be with a free core: L plus our own CPU
    print(f"  CPU of this process per round: {cpu * 1000:.1f} ms   1 + CPU/L = {bound:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=0.2, help="server latency L (s)")
    parser.add_argument("--repeats", type=int, default=5, help="measured repeats (median)")
    parser.add_argument("--in-process", action="store_true", help="serve from a thread here")
    args = parser.parse_args()
    where = "in this process" if args.in_process else "in its own process"
    print(f"N = {N} calls, fake server ({where}) latency L = {args.latency * 1000:.0f} ms")
    with tempfile.TemporaryDirectory() as tmp, serve(args.latency, args.in_process) as url:
        cache = Path(tmp) / "cache.sqlite"
        together = llm_layer(url, cache, N, args.repeats)
        alone = llm_layer(url, cache, 1, args.repeats)
        report("(a) LLM layer, gather_bounded", args.latency, together, alone)
        together = model_round(url, cache, N, args.repeats)
        alone = model_round(url, cache, 1, args.repeats)
        report("(b) NegotiationModel.step(), policy='llm'", args.latency, together, alone)


if __name__ == "__main__":
    main()
