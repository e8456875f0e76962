"""Fidelity: how far a cell's runs are from reference runs (people, or any baseline).

Pure functions over recorded data, like :mod:`parley.metrics`. The reference is usually
runs with human seats (``parley run --seat PARTY=human``), and then the action
distributions compare what the model did at those seats with what the people did; with no
human data any results directory (e.g. the heuristic baseline) can be the reference.

Measures (each against the reference runs of the same scenario, completed runs only):

- **outcome mix**: the compromise-rate difference with a 95% Newcombe interval, and the
  total-variation distance between the outcome-class mixes (compromise / authority by
  trigger), ``TV = ½ Σ |p_i − q_i|`` in [0, 1];
- **actions**: the Jensen–Shannon divergence of the action-kind distributions, in bits
  (base 2, in [0, 1]): ``JS = ½ KL(p‖m) + ½ KL(q‖m)``, ``m = ½(p + q)``;
- **concession arcs**: the arc-rate difference with a Newcombe interval;
- **rounds to the end** and **final value**: the difference of means and the 1-Wasserstein
  distance between the two empirical distributions, ``W1 = ∫ |F_a − F_b|`` (final values as
  fractions of the issue's range).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from parley.metrics import wilson_interval


@dataclass(frozen=True)
class Difference:
    """``a − b`` of two proportions with a 95% interval ``[lo, hi]`` (NaN when undefined)."""

    value: float
    lo: float
    hi: float


def shares(items: Iterable[Hashable] | Mapping[Any, float]) -> dict[Any, float]:
    """A distribution from items (counted) or from counts; empty if there are none."""
    counts = dict(items) if isinstance(items, Mapping) else Counter(items)
    total = float(sum(v for v in counts.values() if v > 0))
    return {k: v / total for k, v in counts.items() if v > 0} if total else {}


def js_divergence(
    p: Iterable[Hashable] | Mapping[Any, float], q: Iterable[Hashable] | Mapping[Any, float]
) -> float:
    """Jensen–Shannon divergence in bits between two distributions (items or counts).

    0 for identical distributions, 1 for disjoint ones; NaN if either is empty.
    """
    a, b = shares(p), shares(q)
    if not a or not b:
        return math.nan
    js = 0.0
    for k in set(a) | set(b):
        pa, pb = a.get(k, 0.0), b.get(k, 0.0)
        mid = (pa + pb) / 2
        if pa:
            js += 0.5 * pa * math.log2(pa / mid)
        if pb:
            js += 0.5 * pb * math.log2(pb / mid)
    return max(0.0, js)


def total_variation(
    p: Iterable[Hashable] | Mapping[Any, float], q: Iterable[Hashable] | Mapping[Any, float]
) -> float:
    """Total-variation distance ``½ Σ |p_i − q_i|`` (NaN if either is empty)."""
    a, b = shares(p), shares(q)
    if not a or not b:
        return math.nan
    return 0.5 * sum(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in set(a) | set(b))


def rate_difference(k1: int, n1: int, k2: int, n2: int) -> Difference:
    """``k1/n1 − k2/n2`` with Newcombe's hybrid score interval (from the Wilson intervals).

    ``lo = d − sqrt((p1 − l1)² + (u2 − p2)²)``, ``hi = d + sqrt((u1 − p1)² + (p2 − l2)²)``
    (Newcombe 1998, method 10). NaN when either group is empty.
    """
    if n1 == 0 or n2 == 0:
        return Difference(math.nan, math.nan, math.nan)
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_interval(k1, n1)
    l2, u2 = wilson_interval(k2, n2)
    d = p1 - p2
    lo = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    hi = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Difference(d, max(-1.0, lo), min(1.0, hi))


def wasserstein_1(a: Sequence[float], b: Sequence[float]) -> float:
    """1-Wasserstein distance between two samples: the area between their empirical CDFs.

    In the samples' own unit; NaN if either is empty.
    """
    x, y = np.sort(np.asarray(a, dtype=float)), np.sort(np.asarray(b, dtype=float))
    if x.size == 0 or y.size == 0:
        return math.nan
    points = np.sort(np.concatenate([x, y]))
    widths = np.diff(points)
    fx = np.searchsorted(x, points[:-1], side="right") / x.size
    fy = np.searchsorted(y, points[:-1], side="right") / y.size
    return float(np.sum(np.abs(fx - fy) * widths))


def mean_difference(a: Sequence[float], b: Sequence[float]) -> float:
    """``mean(a) − mean(b)`` (NaN if either is empty)."""
    if len(a) == 0 or len(b) == 0:
        return math.nan
    return float(np.mean(a) - np.mean(b))


def fidelity(
    runs: pd.DataFrame,
    actions: Sequence[str],
    reference: pd.DataFrame,
    reference_actions: Sequence[str],
    span: float,
) -> dict[str, float]:
    """Every fidelity measure of one cell against one reference group.

    ``runs``/``reference`` are per-run tables (:func:`parley.metrics.run_metrics` columns:
    ``completed``, ``outcome``, ``outcome_class``, ``rounds``, ``final_value``,
    ``concession_arc``); only completed runs count. ``actions``/``reference_actions`` are the
    action kinds of the turns compared (e.g. the human seats' turns and the model's turns at
    the same seats).
    """
    a, b = runs[runs.completed], reference[reference.completed]
    na, nb = len(a), len(b)
    compromise = rate_difference(
        int((a.outcome == "compromise").sum()), na, int((b.outcome == "compromise").sum()), nb
    )
    arcs = rate_difference(int(a.concession_arc.sum()), na, int(b.concession_arc.sum()), nb)
    rounds_a, rounds_b = a.rounds.astype(float).tolist(), b.rounds.astype(float).tolist()
    final_a = (a.final_value.astype(float) / span).tolist()
    final_b = (b.final_value.astype(float) / span).tolist()
    return {
        "n": na,
        "n_reference": nb,
        "compromise": float((a.outcome == "compromise").mean()) if na else math.nan,
        "reference_compromise": float((b.outcome == "compromise").mean()) if nb else math.nan,
        "compromise_diff": compromise.value,
        "compromise_diff_lo": compromise.lo,
        "compromise_diff_hi": compromise.hi,
        "outcome_tv": total_variation(list(a.outcome_class), list(b.outcome_class)),
        "action_jsd": js_divergence(list(actions), list(reference_actions)),
        "arc_diff": arcs.value,
        "arc_diff_lo": arcs.lo,
        "arc_diff_hi": arcs.hi,
        "rounds_diff": mean_difference(rounds_a, rounds_b),
        "rounds_w1": wasserstein_1(rounds_a, rounds_b),
        "final_diff": mean_difference(final_a, final_b),
        "final_w1": wasserstein_1(final_a, final_b),
    }
