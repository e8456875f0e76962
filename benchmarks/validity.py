"""Validity of the embedded model's turns: a 5-party, 10-round run of each built-in scenario.

Issue 3's target: at least 95% of turns valid after at most one repair. Prints, per
scenario, turns, valid turns, repaired turns and seconds per decision, and the total.

    .venv/bin/python benchmarks/validity.py [--model qwen2.5-0.5b] [--rounds 10] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

from parley.model.model import NegotiationModel
from parley.scenarios import builtin_names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-0.5b")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--condition", default="none")
    args = parser.parse_args()
    total = valid = repaired = 0
    started = time.perf_counter()
    print(f"embedded {args.model} · condition {args.condition} · seed {args.seed}")
    print(f"{'scenario':<27}{'rounds':>7}{'turns':>7}{'valid':>7}{'repaired':>9}{'s/dec':>7}")
    for name in builtin_names():
        t0 = time.perf_counter()
        model = NegotiationModel(
            scenario=name,
            policy="llm",
            backend="embedded",
            model=args.model,
            condition=args.condition,
            max_rounds=args.rounds,
            rng=args.seed,
        )
        # The deadline is what we measure: keep negotiating past a compromise or a ruling
        # would change the protocol, so count the turns of the run as it ends.
        model.run()
        moves = model.datacollector.get_table_dataframe("moves")
        n, ok = len(moves), int(moves["valid"].sum())
        rep = int(moves["repaired"].fillna(False).astype(bool).sum())
        total, valid, repaired = total + n, valid + ok, repaired + rep
        per = (time.perf_counter() - t0) / max(n, 1)
        print(f"{name:<27}{model.round:>7}{n:>7}{ok:>7}{rep:>9}{per:>7.1f}", flush=True)
    rate = valid / max(total, 1)
    verdict = "met" if rate >= 0.95 else "NOT met"
    print(
        f"total: {valid}/{total} valid ({rate:.1%}), {repaired} repaired, "
        f"{time.perf_counter() - started:.0f} s · target >= 95%: {verdict}"
    )


if __name__ == "__main__":
    main()
