"""Issue 3 benchmarks of the embedded model (Qwen2.5-Coder-0.5B through llama-cpp-python).

(a) generation tokens/s through :class:`~parley.llm.embedded.EmbeddedLLM` vs a raw
    ``llama_cpp.Llama`` on the same prompt, seed and schema (target >= 90%);
(b) median seconds per decision in a 5-party round with the real prompt builder's
    shared-prefix-first order vs a naive order with the private part first (target <= 0.5x);
(c) prompt tokens per call at round 5 vs round 30 (target <= 1.5x: history is windowed).

Prompts come from the real builder (:mod:`parley.agents.prompting`) over observations made by
the real ``NegotiationModel.observe`` (so its history window applies). The history is
synthetic: every party moves every round with a full-length message, the longest prompt the
window allows (heuristic runs end in compromise before round 30).

    .venv/bin/python benchmarks/embedded.py [--scenario NAME] [--parts abc] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from dataclasses import replace

from parley.agents import prompting
from parley.agents.observation import Move, Observation
from parley.agents.prompting import Framing
from parley.grammar import Action, ActionKind
from parley.llm.embedded import EmbeddedLLM
from parley.llm.interface import Request
from parley.model.model import NegotiationModel

SCENARIOS = ("trading_limits_fragmented", "trading_limits_unified", "grid_curtailment")
SAYINGS = (
    "We can live with {v} {u} if the others show the same flexibility; stalling only hands "
    "the decision to people who are not at this table.",
    "Our members cannot carry more than their share; {v} {u} is already a real step toward "
    "you and we expect something back in the next round.",
    "The numbers behind {v} {u} are sound and we have shown our working; please tell us "
    "which part of it you actually disagree with.",
    "If we keep circling, the authority will impose something worse for all of us, so let "
    "us settle near {v} {u} while we still can.",
)


def synthetic_model(scenario: str, upto: int, seed: int = 7) -> NegotiationModel:
    """A model at round ``upto`` with ``upto - 1`` synthetic rounds of history behind it."""
    model = NegotiationModel(scenario=scenario, policy="heuristic", max_rounds=40, rng=seed)
    rng, issue = random.Random(seed), model.spec.issue
    agents = model.negotiators
    for r in range(1, upto):
        moves = []
        mid = statistics.median(a.position for a in agents)
        for a in agents:
            before = a.position
            target = before + (mid - before) * rng.uniform(0.05, 0.3)
            value = round(min(issue.max, max(issue.min, target)))
            kind = rng.choice([ActionKind.PROPOSE, ActionKind.CONCEDE, ActionKind.HOLD])
            if kind == ActionKind.HOLD:
                value = before
            text = rng.choice(SAYINGS).format(v=f"{value:g}", u=issue.unit)
            action = Action(kind=kind, value=None if kind == "hold" else value, message=text)
            a.position = float(value)
            moves.append(Move(r, a.party_id, action, True, before, a.position))
        model.history.append(tuple(moves))
    model.round = upto
    model.update_table()
    return model


def observations(scenario: str, round_no: int) -> list[Observation]:
    model = synthetic_model(scenario, round_no)
    return [a.observe() for a in model.negotiators]


def prefix_first(obs: Observation, framing: Framing) -> list[dict[str, str]]:
    """The real builder's order: rules, table, history, then the private part."""
    return prompting.negotiator_messages(obs, framing)


def private_first(obs: Observation, framing: Framing) -> list[dict[str, str]]:
    """The naive order: who you are and your private brief first, then rules and table."""
    system = prompting.system_prompt(obs.scenario, obs.max_rounds, framing)
    private = prompting.private_text(obs, framing)
    return [
        {"role": "system", "content": private + "\n\n" + system},
        {"role": "user", "content": prompting.shared_text(obs)},
    ]


def request(obs: Observation, messages: list[dict[str, str]], framing: Framing) -> Request:
    schema = prompting.turn_schema(obs, framing)
    return Request.of(messages, schema=schema, seed=obs.seed, max_tokens=framing.max_tokens)


def bench_overhead(llm: EmbeddedLLM, scenario: str, seeds: int = 3, tries: int = 2) -> None:
    """(a) tokens/s through EmbeddedLLM vs raw llama-cpp-python, calls alternating.

    Per seed, each side's best of ``tries`` times counts: the minimum is what the code
    costs, the rest is other jobs on a shared machine.
    """
    import llama_cpp

    from parley.llm.weights import prepare

    framing = Framing()
    obs = observations(scenario, 5)[0]
    req = request(obs, prefix_first(obs, framing), framing)
    raw = llama_cpp.Llama(
        model_path=str(prepare(llm.name)), n_ctx=llm.n_ctx, n_threads=llm.n_threads,
        n_threads_batch=llm.n_threads, n_batch=llm.n_batch, verbose=False,
    )  # fmt: skip
    kwargs = {
        "messages": req.chat(),
        "temperature": req.temperature,
        "max_tokens": max(req.max_tokens, 192),
        "response_format": {"type": "json_object", "schema": req.schema},
    }
    llm.complete(req)  # both caches now hold the prompt: the loop measures generation
    raw.create_chat_completion(**kwargs, seed=req.seed)
    totals = {"raw": [0, 0.0], "parley": [0, 0.0]}
    same = True
    for k in range(seeds):
        best = {"raw": float("inf"), "parley": float("inf")}
        for _ in range(tries):
            start = time.perf_counter()
            r = raw.create_chat_completion(**kwargs, seed=req.seed + k)
            best["raw"] = min(best["raw"], time.perf_counter() - start)
            start = time.perf_counter()
            p = llm.complete(replace(req, seed=req.seed + k))
            best["parley"] = min(best["parley"], time.perf_counter() - start)
            same &= r["choices"][0]["message"]["content"] == p.text
        for side, n in (
            ("raw", r["usage"]["completion_tokens"]),
            ("parley", p.usage.completion_tokens),
        ):
            totals[side][0] += n
            totals[side][1] += best[side]
    rates = {k: n / t for k, (n, t) in totals.items()}
    print(f"(a) prompt {p.usage.prompt_tokens} tokens (cached), {seeds} seeds, best of {tries}")
    for k, (n, t) in totals.items():
        print(f"    {k:<6} {n} tokens in {t:.2f} s = {rates[k]:.1f} tok/s")
    print(f"    parley / raw = {rates['parley'] / rates['raw']:.1%} (target >= 90%); "
          f"identical outputs: {same}")  # fmt: skip
    del raw


def _perf(llm: EmbeddedLLM) -> tuple[int, float]:
    """Prompt tokens evaluated so far and the time spent on them (llama.cpp's counters)."""
    import llama_cpp

    data = llama_cpp.llama_perf_context(llm._loaded().llama._ctx.ctx)
    return data.n_p_eval, data.t_p_eval_ms / 1000


def bench_order(llm: EmbeddedLLM, scenario: str, rounds: int) -> None:
    """(b) seconds per decision, prefix-first vs private-first, over ``rounds`` rounds.

    Each order gets its own loaded model (a second configuration, ``n_ctx + 256``) so both
    keep their own KV cache and their calls can alternate: a busy machine slows both alike.
    """
    framing = Framing()
    orders = {
        "prefix-first": (llm, prefix_first),
        "private-first": (EmbeddedLLM(llm.name, n_ctx=llm.n_ctx + 256), private_first),
    }
    stats: dict[str, dict[str, list[float]]] = {}
    for name, (model, build) in orders.items():
        last = observations(scenario, 4)[-1]  # the cache as the previous round left it
        model.complete(request(last, build(last, framing), framing))
        stats[name] = {"secs": [], "evaluated": [], "prompt_s": []}
    for r in range(5, 5 + rounds):
        for obs in observations(scenario, r):
            for name, (model, build) in orders.items():
                n0, t0 = _perf(model)
                start = time.perf_counter()
                model.complete(request(obs, build(obs, framing), framing))
                stats[name]["secs"].append(time.perf_counter() - start)
                n1, t1 = _perf(model)
                stats[name]["evaluated"].append(n1 - n0)
                stats[name]["prompt_s"].append(t1 - t0)
    med = {name: {k: statistics.median(v) for k, v in st.items()} for name, st in stats.items()}
    for name, m in med.items():
        print(
            f"(b) {name:<13} median {m['secs']:.2f} s/decision over {len(stats[name]['secs'])} "
            f"decisions; prompt tokens evaluated per call: median {m['evaluated']:.0f}, "
            f"prompt time median {m['prompt_s']:.2f} s"
        )
    ratio = med["prefix-first"]["secs"] / med["private-first"]["secs"]
    print(f"    prefix-first / private-first = {ratio:.2f} (target <= 0.5)")


def bench_growth(llm: EmbeddedLLM, scenarios: list[str]) -> None:
    """(c) prompt tokens per call at round 5 vs round 30, exact (the model's own tokenizer)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    llama = llm._loaded().llama
    fmt = Jinja2ChatFormatter(
        llama.metadata["tokenizer.chat_template"],
        eos_token=llama._model.token_get_text(llama.token_eos()),
        bos_token=llama._model.token_get_text(llama.token_bos()),
    )
    framing = Framing()
    for scenario in scenarios:
        counts = {}
        for r in (5, 30):
            prompts = [fmt(messages=prefix_first(o, framing)) for o in observations(scenario, r)]
            sizes = [
                len(llama.tokenize(f.prompt.encode(), add_bos=not f.added_special, special=True))
                for f in prompts
            ]
            counts[r] = statistics.mean(sizes)
        print(
            f"(c) {scenario:<26} prompt tokens/call: round 5 {counts[5]:.0f}, round 30 "
            f"{counts[30]:.0f}, ratio {counts[30] / counts[5]:.2f} (target <= 1.5)"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", default="trading_limits_fragmented")
    p.add_argument("--parts", default="abc", help="which benchmarks to run (a, b, c)")
    p.add_argument("--rounds", type=int, default=2, help="rounds of 5 decisions timed in (b)")
    p.add_argument("--model", default="qwen2.5-0.5b")
    args = p.parse_args()
    llm = EmbeddedLLM(args.model)
    start = time.perf_counter()
    llm.load()
    print(f"{args.model}: loaded in {time.perf_counter() - start:.1f} s, n_ctx {llm.n_ctx}")
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    if "c" in args.parts:
        bench_growth(
            llm, ["trading_limits_fragmented", "trading_limits_unified", "grid_curtailment"]
        )
    if "a" in args.parts:
        bench_overhead(llm, args.scenario)
    if "b" in args.parts:
        bench_order(llm, args.scenario, args.rounds)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
