"""Per-cell summaries of a results directory: the numbers of the sampler-qualification report.

A *cell* is one model (policy, or backend/model for LLM policies) × scenario × condition.
Rates, entropies, arcs and diversity are computed over the cell's completed runs (ended in
a compromise or an authority decision, and passed the validity screen of
:mod:`parley.validity`); failed and invalid runs are counted apart with the reasons they
were excluded, and tokens, cost and invalid turns include them (they were spent). A cell
with too few valid runs is not interpretable and raises no flag. Every formula is in
:mod:`parley.metrics`.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd

from parley import coherence, validity
from parley import metrics as m

CELL = ("label", "scenario", "condition")
TRIGGERS = ("escalation", "deadlock", "deadline")


def model_label(policy: str, backend: Any, model: Any, seats: Any = "") -> str:
    """How a "model" is named in reports: the rule-based policy, or ``backend/model``.

    A mixed table adds its seats (``heuristic · seats industry=llm (embedded/qwen2.5-0.5b)``),
    so runs group by the whole seating, never pooling a mixed table with a uniform one.
    """
    llm = f"{backend}/{model}"
    base = llm if policy == "llm" else str(policy)
    if not isinstance(seats, str) or not seats:  # NaN: results written before seats existed
        return base
    label = f"{base} · seats {seats}"
    return f"{label} ({llm})" if policy != "llm" and "=llm" in seats else label


def labelled(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` with a ``label`` column (see :func:`model_label`)."""
    seats = runs["seats"] if "seats" in runs.columns else pd.Series([""] * len(runs))
    labels = [
        model_label(p, b, mo, st)
        for p, b, mo, st in zip(runs.policy, runs.backend, runs.model, seats, strict=True)
    ]
    return runs.assign(label=labels)


def cell_table(
    runs: pd.DataFrame,
    moves: pd.DataFrame,
    agents: pd.DataFrame,
    trajs: dict[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """One row per cell with n, rates and intervals, triggers, entropies, arcs, diversity,
    invalid-turn rate, tokens, cost, the two flags, and the coherence screen
    (:func:`parley.coherence.cell_coherence`: per-measure rates, the incoherent-move rate
    with its interval, and the ``incoherent`` flag) over the moves of its completed runs.

    ``trajs`` may pass :func:`parley.metrics.trajectories` of ``agents`` if already computed.
    """
    trajs = m.trajectories(agents) if trajs is None else trajs
    per_run = labelled(m.run_metrics(runs, moves, agents, trajs))
    actions = moves.groupby("run_id")["action"].apply(list).to_dict() if len(moves) else {}
    screened = coherence.run_coherence(runs, moves)
    rows = [
        {
            **_cell_row(dict(zip(CELL, key, strict=True)), group, trajs, actions),
            **coherence.cell_coherence(screened, group.run_id[group.completed]),
        }
        for key, group in per_run.groupby(list(CELL), sort=True)
    ]
    return interpreted(pd.DataFrame(rows))


#: Every flag a cell can raise (boolean columns of :func:`cell_table`).
FLAGS = ("authority_collapse", "diversity_without_fidelity", "incoherent")


def interpreted(cells: pd.DataFrame) -> pd.DataFrame:
    """``cells`` with every flag cleared on a cell that is not interpretable (too few valid
    runs, see :func:`parley.validity.interpretable`): a flag is never raised on it."""
    if cells.empty or "interpretable" not in cells.columns:
        return cells
    out = cells.copy()
    for flag in FLAGS:
        if flag in out.columns:
            out[flag] = out[flag].astype(bool) & out["interpretable"].astype(bool)
    return out


def _cell_row(
    key: dict[str, Any],
    runs: pd.DataFrame,
    trajectories: dict[str, pd.DataFrame],
    actions: dict[str, list[str]],
) -> dict[str, Any]:
    done = runs[runs.completed]
    n = len(done)
    compromise = m.rate(int((done.outcome == "compromise").sum()), n)
    authority = m.rate(int((done.outcome == "authority_decision").sum()), n)
    triggers = Counter(done.loc[done.outcome == "authority_decision", "trigger"])
    entropy = float(done.action_entropy.mean()) if n else float("nan")
    pooled = m.action_entropy(a for rid in done.run_id for a in actions.get(rid, []))
    span = m.span_of(runs.iloc[0])
    arcs = m.rate(int(done.concession_arc.sum()), n)
    mean_rounds = float(done.rounds.mean()) if n else float("nan")
    trajs = [trajectories[rid] for rid in done.run_id if rid in trajectories]
    statuses = _statuses(runs)
    excluded = validity.exclusions(zip(statuses, _errors(runs), strict=True))
    return {
        **key,
        "n": n,
        "runs": len(runs),
        "failed": int(len(runs) - n),
        "invalid": sum(1 for s in statuses if s == "invalid"),
        "excluded": "; ".join(f"{k} {kind}" for kind, k in excluded.items()),
        "interpretable": validity.interpretable(n, len(runs)),
        "not_interpretable": validity.not_interpretable_reason(n, len(runs)),
        "compromise": compromise.value,
        "compromise_lo": compromise.lo,
        "compromise_hi": compromise.hi,
        "authority_k": authority.k,
        "authority": authority.value,
        "authority_lo": authority.lo,
        "authority_hi": authority.hi,
        **{f"trigger_{t}": int(triggers.get(t, 0)) for t in TRIGGERS},
        "entropy_mean": entropy,
        "entropy_pooled": pooled,
        "arc_rate": arcs.value,
        "mean_rounds": mean_rounds,
        "diversity": m.trajectory_diversity(trajs, span),
        "outcome_entropy": m.outcome_entropy(done.outcome_class),
        "invalid_rate": m.invalid_turn_rate(
            int(runs.invalid_turns.fillna(0).sum()), int(runs.turns.fillna(0).sum())
        ),
        "tokens": int(_sum(runs, "prompt_tokens", "completion_tokens", "reasoning_tokens")),
        "cost_usd": float(_sum(runs, "cost_usd")),
        "authority_collapse": bool(n) and m.authority_collapse(authority.value),
        "diversity_without_fidelity": bool(n)
        and m.diversity_without_fidelity(entropy, authority.value, arcs.value, mean_rounds),
    }


def _statuses(runs: pd.DataFrame) -> list[str]:
    """Each run's status; a run that ended without one (older tables) is ``ok`` if it
    completed, else ``failed``."""
    if "status" in runs.columns:
        return [str(s) if isinstance(s, str) else "failed" for s in runs.status]
    return ["ok" if c else "failed" for c in runs.completed]


def _errors(runs: pd.DataFrame) -> list[str | None]:
    if "error" not in runs.columns:
        return [None] * len(runs)
    return [e if isinstance(e, str) else None for e in runs.error]


def _sum(frame: pd.DataFrame, *columns: str) -> float:
    return sum(float(frame[c].fillna(0).sum()) for c in columns if c in frame.columns)


def comparisons(cells: pd.DataFrame, reference: str = "bounded") -> pd.DataFrame:
    """Each cell's authority-decision rate against the ``reference`` condition's cell of the
    same model and scenario: the difference and a two-sided Fisher exact p-value (NaN when
    either cell is not interpretable, see :func:`parley.validity.interpretable`)."""
    rows = []
    ref = {(r.label, r.scenario): r for r in cells.itertuples() if r.condition == reference}
    for r in cells.itertuples():
        base = ref.get((r.label, r.scenario))
        if base is None or r.condition == reference:
            continue
        rows.append(
            {
                "label": r.label,
                "scenario": r.scenario,
                "condition": r.condition,
                "reference": reference,
                "authority": r.authority,
                "reference_authority": base.authority,
                "difference": r.authority - base.authority,
                "p_value": m.fisher_exact_p(r.authority_k, r.n, base.authority_k, base.n)
                if _readable(r) and _readable(base)
                else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def _readable(row: Any) -> bool:
    return bool(getattr(row, "interpretable", True))


def uninterpreted(cells: pd.DataFrame) -> list[str]:
    """One sentence per cell too thin to carry a flag (its flags are never raised)."""
    return [
        f"{r.label} · {r.scenario} · {r.condition}: {r.not_interpretable}"
        for r in cells.itertuples()
        if not _readable(r)
    ]


def excluded(cells: pd.DataFrame) -> list[str]:
    """One sentence per cell that lost runs: how many, and why (see :mod:`parley.validity`)."""
    return [
        f"{r.label} · {r.scenario} · {r.condition}: {r.runs - r.n} of {r.runs} runs "
        f"excluded — {r.excluded}"
        for r in cells.itertuples()
        if getattr(r, "excluded", "")
    ]


def flags(cells: pd.DataFrame) -> list[str]:
    """One sentence per raised flag."""
    out = []
    for r in cells.itertuples():
        where = f"{r.label} · {r.scenario} · {r.condition}"
        if r.authority_collapse:
            out.append(
                f"authority collapse: {where} — {r.authority:.0%} of {r.n} runs end in an "
                f"authority decision (≥ {m.AUTHORITY_COLLAPSE_RATE:.0%})"
            )
        if getattr(r, "incoherent", False):
            out.append(
                f"incoherent: {where} — {r.incoherent_rate:.0%} of {r.screened_moves} moves "
                f"leak, recite, harm the mover or contradict their message "
                f"(> {coherence.INCOHERENT_MOVE_RATE:.0%})"
            )
        if r.diversity_without_fidelity:
            out.append(
                f"diversity without fidelity: {where} — action entropy {r.entropy_mean:.2f} bits "
                f"(≥ {m.DIVERSITY_ENTROPY_BITS:g}), {r.mean_rounds:.1f} rounds and concession "
                f"arcs in {r.arc_rate:.0%} of runs, yet {r.authority:.0%} authority decisions"
            )
    return out
