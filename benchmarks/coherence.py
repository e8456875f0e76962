"""Coherence of the embedded models' moves, side by side (issue 11's offline default).

For each model and condition, short negotiations of the three built-in scenarios (seed after
seed, round-robin over the scenarios) until at least ``--decisions`` negotiator decisions
were made; every move goes through the coherence screen (:mod:`parley.coherence`). Prints,
per model and condition: decisions, seconds per decision, invalid turns (still invalid after
the repair), private leakage, recitation, self-harm, action–message mismatch and any
(incoherent), each as a share of the decisions, and the targets for the default model
(leakage <= 10%, recitation <= 5%, self-harm <= 10%, invalid <= 2%); with two or more
conditions, also each model's conditions taken together (``(all)``). Also *echo*: the
message repeats one of the rules' good replies word for word with its own number (coherent,
not incoherent, but not the party's own words either).

    nice -n 10 .venv/bin/python benchmarks/coherence.py \\
        [--models qwen2.5-0.5b qwen2.5-1.5b] [--conditions none bounded ...] \\
        [--decisions 45] [--rounds 3] [--json results.json]

Needs ``make setup-embedded`` (and ``make setup-embedded-1.5b`` for the 1.5B).
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import time
from pathlib import Path
from typing import Any

import pandas as pd

from parley import coherence
from parley.agents.factory import CONDITIONS
from parley.agents.prompting import template
from parley.experiments.records import run_frames
from parley.model.model import NegotiationModel
from parley.scenarios import builtin_names
from parley.scenarios.loader import load_scenario

TARGETS = {"leak": 0.10, "recite": 0.05, "self_harm": 0.10, "invalid": 0.02}
COLUMNS = ("invalid", *coherence.MEASURES, "incoherent", "echo")
#: Every condition the embedded models can run (they have no reasoning mode for ``native``).
EMBEDDED_CONDITIONS = [c for c in CONDITIONS if c != "native"]


def _shape(message: str) -> str:
    """A message with its numbers blanked, lower-cased: two messages of one template agree."""
    return re.sub(r"\d+(\.\d+)?", "#", message).strip().lower()


#: The good replies' messages in the rules, as shapes.
EXAMPLES = {
    _shape(m)
    for m in re.findall(
        r'"message": "([^"]*)"',
        template("system").safe_substitute(example_propose=1, example_concede=1),
    )
}


def measure(
    model_name: str, condition: str, decisions: int, rounds: int, first_seed: int
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Run negotiations until ``decisions`` moves were made; screen every move (the row of the
    table and the screened moves)."""
    screened, outcomes, seconds = [], [], 0.0
    names = builtin_names()
    made = 0
    for seed, name in ((s, n) for s in itertools.count(first_seed) for n in names):
        if made >= decisions:
            break
        model = NegotiationModel(
            scenario=name,
            policy="llm",
            backend="embedded",
            model=model_name,
            condition=condition,
            max_rounds=rounds,
            temperature=0.8,
            rng=seed,
        )
        t0 = time.perf_counter()
        model.run()
        seconds += time.perf_counter() - t0
        moves = run_frames(model)["moves"]
        out = coherence.move_coherence(moves, load_scenario(name), model.turn_order)
        out["invalid"] = ~out["valid"].astype(bool)
        out["echo"] = moves["message"].fillna("").map(_shape).isin(EXAMPLES).to_numpy()
        screened.append(out.assign(scenario=name, seed=seed))
        made += len(out)
        outcome = model.outcome
        outcomes.append(f"{name}/{seed}: {outcome.kind if outcome else 'none'}")
        print(
            f"  {model_name} · {condition} · {name} seed {seed}: {len(out)} moves, "
            f"{(time.perf_counter() - t0) / max(len(out), 1):.1f} s/decision, "
            f"incoherent {int(out.incoherent.sum())}",
            flush=True,
        )
    frame = pd.concat(screened, ignore_index=True)
    row: dict[str, Any] = {
        "model": model_name,
        "condition": condition,
        "decisions": len(frame),
        "s_per_decision": seconds / max(len(frame), 1),
        **{k: float(frame[k].mean()) for k in COLUMNS},
        "runs": outcomes,
    }
    return row, frame.assign(model=model_name, condition=condition)


def table(rows: list[dict[str, Any]]) -> str:
    head = f"{'model':<14}{'condition':<16}{'dec':>5}{'s/dec':>7}" + "".join(
        f"{c.replace('_', '-'):>11}" for c in COLUMNS
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"{r['model']:<14}{r['condition']:<16}{r['decisions']:>5}{r['s_per_decision']:>7.1f}"
            + "".join(f"{r[c]:>11.1%}" for c in COLUMNS)
        )
    return "\n".join(lines)


def pooled(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per model, every condition measured taken together (each move counts once): what a
    user of that model meets across the conditions, beside the per-condition rows."""
    out = []
    for model_name in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model_name]
        if len(mine) < 2:
            continue
        n = sum(r["decisions"] for r in mine)
        out.append(
            {
                "model": model_name,
                "condition": "(all)",
                "decisions": n,
                "s_per_decision": sum(r["s_per_decision"] * r["decisions"] for r in mine) / n,
                **{c: sum(r[c] * r["decisions"] for r in mine) / n for c in COLUMNS},
            }
        )
    return out


def verdict(row: dict[str, Any]) -> str:
    missed = [f"{k} {row[k]:.0%} > {t:.0%}" for k, t in TARGETS.items() if row[k] > t + 1e-9]
    return "targets met" if not missed else "targets missed: " + ", ".join(missed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["qwen2.5-0.5b", "qwen2.5-1.5b"])
    parser.add_argument("--conditions", nargs="+", default=EMBEDDED_CONDITIONS)
    parser.add_argument("--decisions", type=int, default=45)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    parser.add_argument("--moves", type=Path, help="also write every screened move (Parquet)")
    args = parser.parse_args()
    rows, frames = [], []
    started = time.perf_counter()
    for model_name in args.models:
        for condition in args.conditions:
            row, frame = measure(model_name, condition, args.decisions, args.rounds, args.seed)
            rows.append(row)
            frames.append(frame)
            if args.moves:
                pd.concat(frames, ignore_index=True).to_parquet(args.moves)
            if args.json:
                args.json.write_text(json.dumps(rows, indent=2) + "\n")
    print()
    print(table(rows + pooled(rows)))
    for r in rows + pooled(rows):
        print(f"{r['model']} · {r['condition']}: {verdict(r)}")
    print(f"{time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
