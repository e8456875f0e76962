"""Engine benchmark: the built-in scenarios x 15 seeds with the rule-based ``heuristic`` policy.

A *decision* is one negotiator turn (observe, decide, validate, apply, record). With a
rule-based policy the decision itself costs microseconds, so the time per decision is the
engine's own overhead: model construction, the round protocol, coalitions, terminal checks
and the DataCollector. Target: at most 1 ms per decision on a 2-vCPU machine.

Usage::

    .venv/bin/python benchmarks/engine.py [--seeds 15] [--turn-order simultaneous sequential]
"""

from __future__ import annotations

import argparse
import platform
import time
from dataclasses import dataclass

from parley.model.model import TURN_ORDERS, NegotiationModel
from parley.scenarios import builtin_names

TARGET_MS = 1.0


@dataclass
class Tally:
    """Runs, rounds, decisions and wall time of one cell of the benchmark."""

    runs: int = 0
    rounds: int = 0
    decisions: int = 0
    seconds: float = 0.0

    def add(self, other: Tally) -> None:
        self.runs += other.runs
        self.rounds += other.rounds
        self.decisions += other.decisions
        self.seconds += other.seconds

    @property
    def ms_per_decision(self) -> float:
        return 1000 * self.seconds / max(1, self.decisions)

    @property
    def decisions_per_s(self) -> float:
        return self.decisions / self.seconds if self.seconds else 0.0


def run_cell(scenario: str, turn_order: str, seeds: range, policy: str) -> Tally:
    """Build and run one model per seed; time construction and every round."""
    tally = Tally()
    for seed in seeds:
        start = time.perf_counter()
        model = NegotiationModel(scenario=scenario, policy=policy, turn_order=turn_order, rng=seed)
        model.run()
        tally.seconds += time.perf_counter() - start
        tally.runs += 1
        tally.rounds += model.round
        tally.decisions += model.round * len(model.spec.parties)
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=15, help="seeds 0..N-1 (default: 15)")
    parser.add_argument("--policy", default="heuristic", choices=("heuristic", "solver"))
    parser.add_argument("--turn-order", nargs="+", default=list(TURN_ORDERS), choices=TURN_ORDERS)
    args = parser.parse_args(argv)
    seeds = range(args.seeds)
    # Warm-up: imports, the scenario cache and Mesa's first-model setup are not the engine.
    run_cell(builtin_names()[0], args.turn_order[0], range(1), args.policy)

    print(f"parley engine benchmark · policy {args.policy} · seeds 0-{args.seeds - 1}")
    print(f"python {platform.python_version()} · {platform.machine()} · {platform.system()}")
    header = f"{'scenario':<27} {'turn order':<12} {'runs':>4} {'rounds':>6} {'decisions':>9}"
    print(f"{header} {'time s':>7} {'dec/s':>7} {'ms/dec':>7}")
    total = Tally()
    for turn_order in args.turn_order:
        for scenario in builtin_names():
            cell = run_cell(scenario, turn_order, seeds, args.policy)
            total.add(cell)
            print(
                f"{scenario:<27} {turn_order:<12} {cell.runs:>4} {cell.rounds:>6} "
                f"{cell.decisions:>9} {cell.seconds:>7.3f} {cell.decisions_per_s:>7.0f} "
                f"{cell.ms_per_decision:>7.3f}"
            )
    print(
        f"total: {total.runs} runs, {total.decisions} decisions in {total.seconds:.2f} s · "
        f"{total.decisions_per_s:.0f} decisions/s · {total.ms_per_decision:.3f} ms/decision "
        f"(target <= {TARGET_MS:g} ms: {'met' if total.ms_per_decision <= TARGET_MS else 'MISSED'})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
