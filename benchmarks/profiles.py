"""Per-call overhead of the provider profiles: building one request in the profile's terms.

For every profile (with a reasoning model of it where there is one), time
``OpenAIBackend._kwargs`` — the only per-call work the profiles add: the family's fields,
the token field, the temperature rule — for a non-native and a native request, and compare
it with the time of one call through the loopback fake server (the cheapest real call).
The profile table itself is read once per process; the family is resolved once, when the
backend is built.

    .venv/bin/python benchmarks/profiles.py [--calls 20000]
"""

from __future__ import annotations

import argparse
import time

from parley.grammar import action_schema
from parley.llm.fake_server import FakeOpenAIServer
from parley.llm.interface import Request
from parley.llm.openai_backend import OpenAIBackend

MODELS = {
    "openai": "gpt-5.2",
    "deepseek": "deepseek-v4-flash",
    "gemini": "gemini-2.5-flash",
    "vllm": "Qwen/Qwen3-8B",
    "ollama": "qwen3:8b",
    "llamacpp": "qwen3-4b",
    "generic": "fake-model",
}
SCHEMA = action_schema(["a", "b", "c"], [10.0, 20.0, 30.0])


def request(effort: str | None) -> Request:
    return Request.of(
        [{"role": "system", "content": "x" * 2000}, {"role": "user", "content": "Your move?"}],
        max_tokens=256,
        temperature=1.0,
        seed=7,
        schema=SCHEMA,
        reasoning_effort=effort,
    )


def per_call_us(llm: OpenAIBackend, req: Request, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        llm._kwargs(req)
    return (time.perf_counter() - start) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    args = parser.parse_args()
    start = time.perf_counter()
    OpenAIBackend("gpt-4.1")  # the first backend reads and validates profiles.yaml
    print(f"profile table read and validated once: {(time.perf_counter() - start) * 1e3:.1f} ms")
    print(f"{'profile':10} {'model':20} {'non-native us':>14} {'native us':>10}")
    for profile, model in MODELS.items():
        llm = OpenAIBackend(model, base_url="http://127.0.0.1:9/v1", server=profile, reasoning=True)
        plain = per_call_us(llm, request(None), args.calls)
        native = per_call_us(llm, request("medium"), args.calls)
        print(f"{profile:10} {model:20} {plain:14.2f} {native:10.2f}")
    with FakeOpenAIServer() as server:
        llm = OpenAIBackend("fake-model", base_url=server.base_url, server="generic")
        req = request(None)
        llm.complete(req)  # warm the client
        n = 200
        start = time.perf_counter()
        for _ in range(n):
            llm.complete(req)
        call_ms = (time.perf_counter() - start) / n * 1e3
    print(f"one call through the loopback fake server (no latency): {call_ms:.2f} ms")


if __name__ == "__main__":
    main()
