"""Measurement: pure functions over recorded data (DESIGN.md §5).

Every formula of the sampler-qualification report is written once here, with its
definition in the docstring. Inputs are plain values or the pandas frames a run or a sweep
writes (``runs``, ``moves``, ``agents``; see :func:`parley.load_results`), so the same
functions work in a notebook on Parquet files with no model and no LLM::

    import parley, parley.metrics as m
    res = parley.load_results("results/protocol")
    per_run = m.run_metrics(res["runs"], res["moves"], res["agents"])

Conventions: entropies are in bits; distances are fractions of the issue's range;
``span`` is the issue's ``max - min``.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Action entropy (bits, per-run mean) at or above which a cell counts as "diverse".
#: The maximum is log2(6) ≈ 2.585; the paper's flagged cell had 1.256.
DIVERSITY_ENTROPY_BITS = 1.0
#: Authority-decision rate at or above which a cell has collapsed onto the authority.
AUTHORITY_COLLAPSE_RATE = 0.9
#: Diversity without fidelity needs negotiation before the collapse: runs lasting at least
#: this many rounds on average ...
DYNAMICS_MIN_ROUNDS = 3.0
#: ... and at least this share of runs with a concession arc (the paper's cell: 0.933).
DYNAMICS_MIN_ARC_RATE = 0.5
#: A concession arc needs this many concession moves by one negotiator ...
ARC_MIN_CONCESSIONS = 2
#: ... and a final gain toward the others of at least this share of the range.
ARC_MIN_GAIN = 0.10
#: The two outcomes of a finished negotiation (a ``stopped`` run counts as failed).
OUTCOMES = ("compromise", "authority_decision")
_EPS = 1e-9


# -- entropies ------------------------------------------------------------------------------
def entropy_bits(counts: Iterable[float]) -> float:
    """Shannon entropy ``H = -sum p_i log2 p_i`` of a count vector, in bits (0 if empty)."""
    values = np.asarray([c for c in counts if c > 0], dtype=float)
    if values.size == 0:
        return 0.0
    p = values / values.sum()
    return float(-(p * np.log2(p)).sum()) + 0.0  # `+ 0.0` turns -0.0 into 0.0


def action_entropy(actions: Iterable[Hashable]) -> float:
    """Entropy in bits of the distribution of action kinds over the given turns.

    For one run pass its moves' ``action`` column: the per-run action entropy. For a cell
    pass every turn of every run: the *pooled* entropy. Invalid turns count as the ``hold``
    they became. Ranges from 0 (one kind only) to log2(6) ≈ 2.585.
    """
    return entropy_bits(Counter(actions).values())


def outcome_class(outcome: str | None, trigger: str | None) -> str:
    """The class of a run's ending: ``compromise`` or ``authority_decision:<trigger>``."""
    if outcome == "authority_decision":
        return f"authority_decision:{trigger}"
    return str(outcome)


def outcome_entropy(classes: Iterable[Hashable]) -> float:
    """Entropy in bits of outcome classes (see :func:`outcome_class`) across a cell's runs."""
    return entropy_bits(Counter(classes).values())


# -- trajectories -----------------------------------------------------------------------------
def trajectory(agents: pd.DataFrame) -> pd.DataFrame:
    """One run's positions as a frame: a row per step (0 = openings), a column per party.

    ``agents`` is the run's agent table (columns ``Step``, ``party``, ``position``).
    """
    frame = agents.pivot_table(index="Step", columns="party", values="position", aggfunc="last")
    frame.columns.name = None
    return frame.sort_index().sort_index(axis=1).astype(float)


def trajectories(agents: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Every run's :func:`trajectory`, keyed by ``run_id`` (one pivot for all runs)."""
    out: dict[str, pd.DataFrame] = {}
    ordered = agents.sort_values(["run_id", "Step", "party"], kind="stable")
    for rid, run in ordered.groupby("run_id", sort=False):
        parties = sorted(set(run["party"]))
        steps = run["Step"].drop_duplicates().to_numpy()
        if len(run) == len(steps) * len(parties):  # every party recorded at every step
            values = run["position"].to_numpy(dtype=float).reshape(len(steps), len(parties))
            out[str(rid)] = pd.DataFrame(
                values, index=pd.Index(steps, name="Step"), columns=parties
            )
        else:
            out[str(rid)] = trajectory(run)
    return out


def _median_of_others(row: list[float], i: int) -> float:
    # statistics.median on a handful of floats is far cheaper than numpy's
    return statistics.median(row[:i] + row[i + 1 :])


def concession_moves(traj: pd.DataFrame) -> pd.Series:
    """How many concession moves each negotiator made.

    A concession move is a round in which the negotiator's own position change reduced its
    distance to the median of the *others'* positions at the start of that round. Whatever
    the action (``concede``, ``propose``, ``accept``, ``support``) only the movement counts.
    """
    counts = _concession_counts(traj.to_numpy(dtype=float).tolist())
    return pd.Series(counts, index=traj.columns, dtype=int)


def _concession_counts(values: list[list[float]]) -> list[int]:
    counts = [0] * (len(values[0]) if values else 0)
    for before, after in itertools.pairwise(values):
        for i in range(len(counts)):
            anchor = _median_of_others(before, i)
            if abs(after[i] - anchor) < abs(before[i] - anchor) - _EPS:
                counts[i] += 1
    return counts


def concession_gain(traj: pd.DataFrame, span: float) -> pd.Series:
    """How much closer each negotiator ends to the others' median than it began (÷ span).

    ``(|x_0 - m_0| - |x_T - m_T|) / span`` where ``m_t`` is the median of the other
    negotiators' positions at step ``t`` (0 = openings, T = the last recorded step).
    """
    gains = _gains(traj.to_numpy(dtype=float).tolist(), span)
    return pd.Series(gains, index=traj.columns, dtype=float)


def _gains(values: list[list[float]], span: float) -> list[float]:
    first, last = values[0], values[-1]
    return [
        (abs(first[i] - _median_of_others(first, i)) - abs(last[i] - _median_of_others(last, i)))
        / span
        for i in range(len(first))
    ]


def has_concession_arc(
    traj: pd.DataFrame,
    span: float,
    min_concessions: int = ARC_MIN_CONCESSIONS,
    min_gain: float = ARC_MIN_GAIN,
) -> bool:
    """Whether a run shows a concession arc.

    True when some negotiator makes at least ``min_concessions`` concession moves (see
    :func:`concession_moves`) *and* ends at least ``min_gain`` of the range closer to the
    others than it began (see :func:`concession_gain`). A run of fewer than two
    negotiators or with no round has none.
    """
    if traj.shape[1] < 2 or len(traj) < 2:
        return False
    values = traj.to_numpy(dtype=float).tolist()
    moves, gains = _concession_counts(values), _gains(values, span)
    return any(
        k >= min_concessions and g >= min_gain - _EPS for k, g in zip(moves, gains, strict=True)
    )


def trajectory_distance(a: pd.DataFrame, b: pd.DataFrame, span: float) -> float:
    """Normalized distance between two runs' position trajectories (same parties).

    The shorter run is padded with its last state; the distance is the mean over steps and
    parties of ``|a - b| / span``, so it lies in [0, 1].
    """
    if list(a.columns) != list(b.columns):
        raise ValueError("trajectories of different parties cannot be compared")
    return _distance(a.to_numpy(dtype=float), b.to_numpy(dtype=float), span)


def _distance(a: np.ndarray, b: np.ndarray, span: float) -> float:
    n = max(len(a), len(b))
    return float(np.abs(_pad(a, n) - _pad(b, n)).mean() / span)


def _pad(values: np.ndarray, n: int) -> np.ndarray:
    if len(values) >= n:
        return values
    return np.vstack([values, np.repeat(values[-1:], n - len(values), axis=0)])


def trajectory_diversity(trajectories: Sequence[pd.DataFrame], span: float) -> float:
    """Mean pairwise :func:`trajectory_distance` between a cell's runs (NaN for < 2 runs)."""
    k = len(trajectories)
    if k < 2:
        return math.nan
    if len({tuple(t.columns) for t in trajectories}) > 1:
        raise ValueError("trajectories of different parties cannot be compared")
    arrays = [t.to_numpy(dtype=float) for t in trajectories]
    pairs = [_distance(a, b, span) for a, b in itertools.combinations(arrays, 2)]
    return float(np.mean(pairs))


# -- rates, intervals, tests -------------------------------------------------------------------
@dataclass(frozen=True)
class Rate:
    """``k`` successes out of ``n`` with a 95% Wilson score interval ``[lo, hi]``."""

    k: int
    n: int
    lo: float
    hi: float

    @property
    def value(self) -> float:
        """``k / n`` (NaN when ``n`` is 0)."""
        return self.k / self.n if self.n else math.nan


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k/n``.

    ``(p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)``; for ``n = 0`` the
    uninformative ``(0, 1)``.
    """
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - half) / denom), min(1.0, (centre + half) / denom)


def rate(k: int, n: int) -> Rate:
    """A :class:`Rate` with its Wilson interval."""
    return Rate(int(k), int(n), *wilson_interval(int(k), int(n)))


def fisher_exact_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided Fisher exact p-value that ``k1/n1`` and ``k2/n2`` share one rate.

    With the margins of the 2×2 table ``[[k1, n1-k1], [k2, n2-k2]]`` fixed, the count in
    the first cell is hypergeometric: ``P(x) = C(K, x)·C(N-K, n1-x) / C(N, n1)`` with
    ``K = k1 + k2`` and ``N = n1 + n2``. The p-value sums ``P(x)`` over every table no more
    likely than the observed one (relative tolerance 1e-7, as ``scipy.stats.fisher_exact``,
    which the tests compare it with; computed here in exact integers, without importing
    scipy.stats, which costs seconds). NaN when either group is empty.
    """
    if n1 == 0 or n2 == 0:
        return math.nan
    total, successes = n1 + n2, k1 + k2
    lo, hi = max(0, successes - n2), min(n1, successes)
    weights = {
        x: math.comb(successes, x) * math.comb(total - successes, n1 - x) for x in range(lo, hi + 1)
    }
    observed = weights[k1]
    extreme = sum(w for w in weights.values() if w <= observed * (1 + 1e-7))
    return min(1.0, extreme / math.comb(total, n1))


def invalid_turn_rate(invalid_turns: int, turns: int) -> float:
    """Share of negotiator turns that stayed invalid after the repair (NaN for 0 turns)."""
    return invalid_turns / turns if turns else math.nan


# -- flags ------------------------------------------------------------------------------------
def authority_collapse(authority_rate: float, threshold: float = AUTHORITY_COLLAPSE_RATE) -> bool:
    """A cell whose authority-decision rate is at least ``threshold`` (default 0.9)."""
    return bool(authority_rate >= threshold - _EPS)


def diversity_without_fidelity(
    entropy: float,
    authority_rate: float,
    arc_rate: float,
    mean_rounds: float,
    entropy_threshold: float = DIVERSITY_ENTROPY_BITS,
    authority_threshold: float = AUTHORITY_COLLAPSE_RATE,
    min_arc_rate: float = DYNAMICS_MIN_ARC_RATE,
    min_rounds: float = DYNAMICS_MIN_ROUNDS,
) -> bool:
    """Negotiation that looks human yet always ends with the authority.

    All four must hold: high action entropy (≥ ``entropy_threshold`` bits, per-run mean);
    negotiation dynamics before the collapse — runs last ``min_rounds`` rounds or more on
    average (``mean_rounds``) and at least ``min_arc_rate`` of them show a concession arc
    (``arc_rate``, see :func:`has_concession_arc`); and still the cell ends in the
    authority's decision (rate ≥ ``authority_threshold``). The paper's flagged cell
    (entropy 1.256, arc rate 0.933, 15/15 authority) raises it; a solver that mixes
    escalate, accept and concede in a single round and then escalates (varied moves, no
    bargaining) does not.
    """
    dynamics = arc_rate >= min_arc_rate - _EPS and mean_rounds >= min_rounds - _EPS
    return (
        bool(entropy >= entropy_threshold - _EPS)
        and bool(dynamics)
        and authority_collapse(authority_rate, authority_threshold)
    )


# -- per-run table ----------------------------------------------------------------------------
def run_metrics(
    runs: pd.DataFrame,
    moves: pd.DataFrame,
    agents: pd.DataFrame,
    trajs: dict[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """One row per run (keyed by ``run_id``) with the per-run measures added.

    Adds ``completed`` (ended in compromise or authority decision), ``outcome_class``,
    ``invalid_rate``, ``action_entropy`` and ``concession_arc`` to the columns of ``runs``
    (which already holds outcome, trigger, rounds, final value, utilities and welfare).
    ``trajs`` may pass :func:`trajectories` of ``agents`` if already computed.
    """
    out = runs.copy()
    out["completed"] = out["outcome"].isin(OUTCOMES) & (out.get("status", "ok") == "ok")
    out["outcome_class"] = [
        outcome_class(o, t) for o, t in zip(out.outcome, out.trigger, strict=True)
    ]
    out["invalid_rate"] = [
        invalid_turn_rate(int(i or 0), int(t or 0))
        for i, t in zip(out.invalid_turns, out.turns, strict=True)
    ]
    by_run = moves.groupby("run_id")["action"]
    entropy = by_run.agg(action_entropy) if len(moves) else pd.Series(dtype=float)
    out["action_entropy"] = out["run_id"].map(entropy).fillna(0.0)
    trajs = trajectories(agents) if trajs is None else trajs
    spans = dict(
        zip(out.run_id, out.issue_max.astype(float) - out.issue_min.astype(float), strict=True)
    )
    arcs = {rid: has_concession_arc(t, spans[rid]) for rid, t in trajs.items() if rid in spans}
    out["concession_arc"] = out["run_id"].map(arcs).fillna(False).astype(bool)
    return out


def span_of(run: pd.Series) -> float:
    """The issue's range of a run row (``issue_max - issue_min``)."""
    return float(run["issue_max"]) - float(run["issue_min"])
