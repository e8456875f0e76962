"""The report's fidelity section: each cell against reference runs (``--reference REF_DIR``).

The reference directory is a results directory (a sweep, or one ``parley run --out``) or a
folder of them (say one ``parley run --seat city=human --out human/<name>`` per student).
Its runs are grouped by scenario and by their human seats: against a group with human
seats, the action distributions compare the people's turns with the model's turns at the
same seats; against runs with no human seat (e.g. a heuristic baseline), all turns. Every
formula is in :mod:`parley.fidelity`; the coherence screen beside it is
:mod:`parley.coherence` (incoherent-move rate of the whole runs, both sides).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from parley import coherence
from parley import fidelity as f
from parley import metrics as m
from parley.agents.seating import parse_seats
from parley.experiments.render import Block
from parley.experiments.storage import MANIFEST, ResultsError, load_results

TABLES = ("runs", "moves", "agents")


def load_reference(path: str | Path) -> dict[str, pd.DataFrame]:
    """The ``runs``, ``moves`` and ``agents`` of a results directory or a folder of them.

    Run ids are prefixed with the sub-directory's name, so runs of several folders never mix.
    """
    root = Path(path)
    if (root / MANIFEST).is_file():
        found = [("", root)]
    elif root.is_dir():
        found = sorted((d.name, d) for d in root.iterdir() if (d / MANIFEST).is_file())
    else:
        raise ResultsError(f"{root}: no such reference directory")
    if not found:
        raise ResultsError(f"{root}: no parley results in it (nor in its sub-directories)")
    parts: dict[str, list[pd.DataFrame]] = {t: [] for t in TABLES}
    for name, folder in found:
        res = load_results(folder)
        for table in TABLES:
            frame = res.get(table)
            if frame is None:
                continue
            ids = frame["run_id"].astype(str) if "run_id" in frame.columns else "run"
            prefix = f"{name}/" if name else ""
            parts[table].append(frame.assign(run_id=prefix + ids))
    return {t: pd.concat(v, ignore_index=True) if v else pd.DataFrame() for t, v in parts.items()}


def human_seats(seating: object) -> str:
    """The parties a run's seating gives to people, comma-joined (``""`` if none)."""
    if not isinstance(seating, str):
        return ""
    return ",".join(p for p, policy in parse_seats(seating).items() if policy == "human")


def fidelity_table(
    per_run: pd.DataFrame, moves: pd.DataFrame, reference: dict[str, pd.DataFrame]
) -> pd.DataFrame:
    """One row per (cell of ``per_run``, reference group of the same scenario).

    ``per_run`` is :func:`parley.metrics.run_metrics` of the report's runs with a ``label``.
    """
    ref_runs = reference["runs"]
    ref = m.run_metrics(ref_runs, reference["moves"], reference["agents"])
    seatings = ref["seating"] if "seating" in ref.columns else pd.Series([""] * len(ref))
    ref = ref.assign(focus=[human_seats(s) for s in seatings])
    screened = coherence.run_coherence(per_run, moves)
    ref_screened = coherence.run_coherence(ref_runs, reference["moves"])
    rows = []
    for (label, scenario, condition), cell in per_run.groupby(["label", "scenario", "condition"]):
        for focus, group in ref[ref.scenario == scenario].groupby("focus", sort=True):
            parties = set(str(focus).split(",")) if focus else None
            rows.append(
                {
                    "label": label,
                    "scenario": scenario,
                    "condition": condition,
                    "reference": f"human seats: {focus}" if focus else "all seats",
                    **f.fidelity(
                        cell,
                        _actions(moves, cell, parties),
                        group,
                        _actions(reference["moves"], group, parties),
                        m.span_of(cell.iloc[0]),
                    ),
                    "incoherent": _incoherent(screened, cell),
                    "reference_incoherent": _incoherent(ref_screened, group),
                }
            )
    return pd.DataFrame(rows)


def _incoherent(screened: pd.DataFrame, runs: pd.DataFrame) -> float:
    """The pooled incoherent-move rate of ``runs`` (NaN when none could be screened)."""
    ids = runs.run_id.astype(str)
    return float(coherence.cell_coherence(screened, ids)["incoherent_rate"])


def _actions(moves: pd.DataFrame, runs: pd.DataFrame, parties: set[str] | None) -> list[str]:
    """Action kinds of the completed runs' turns (at ``parties`` only, if given)."""
    done = set(runs.run_id[runs.completed])
    keep = moves.run_id.isin(done)
    if parties is not None:
        keep &= moves.party.isin(parties)
    return moves.action[keep].astype(str).tolist()


HEAD = [
    "scenario",
    "condition",
    "reference",
    "n / ref",
    "compromise / ref",
    "Δ compromise [95% CI]",
    "outcome TV",
    "action JS (bits)",
    "Δ arc rate [95% CI]",
    "Δ rounds (W1)",
    "Δ final value (W1)",
    "incoherent / ref",
]


def fidelity_blocks(label: str, table: pd.DataFrame, reference_dir: str) -> list[Block]:
    """The section's heading, its table and a note when no reference run matched."""
    blocks: list[Block] = [("h3", f"Fidelity against the reference runs in {reference_dir}")]
    mine = table[table.label == label] if len(table) else table
    if mine.empty:
        return [*blocks, ("p", "No reference run of the same scenario.")]
    rows = [
        [
            r.scenario,
            r.condition,
            r.reference,
            f"{r.n} / {r.n_reference}",
            f"{_num(r.compromise)} / {_num(r.reference_compromise)}",
            _diff(r.compromise_diff, r.compromise_diff_lo, r.compromise_diff_hi),
            _num(r.outcome_tv),
            _num(r.action_jsd, 3),
            _diff(r.arc_diff, r.arc_diff_lo, r.arc_diff_hi),
            f"{_signed(r.rounds_diff)} ({_num(r.rounds_w1)})",
            f"{_signed(r.final_diff)} ({_num(r.final_w1)})",
            f"{_num(r.incoherent)} / {_num(r.reference_incoherent)}",
        ]
        for r in mine.itertuples()
    ]
    note = (
        "Each cell against the completed reference runs of its scenario, grouped by their "
        "human seats (the action distributions then compare the turns at those seats). Δ is "
        "cell minus reference, with 95% Newcombe intervals for rates; outcome TV is the "
        "total-variation distance of the outcome-class mixes; action JS is the Jensen–Shannon "
        "divergence of action kinds (0 = same mix, 1 = disjoint); rounds and final values "
        "show the difference of means and, in brackets, the 1-Wasserstein distance (final "
        "values in fractions of the range); incoherent is the share of moves the coherence screen "
        "flags (leakage, recitation, self-harm, mismatch), cell / reference."
    )
    return [*blocks, ("p", note), ("table", HEAD, rows)]


def fidelity_figure(label: str, table: pd.DataFrame) -> Figure:
    """Per cell: the compromise-rate difference with its interval, and the action JS."""
    mine = table[table.label == label].reset_index(drop=True)
    names = [f"{r.scenario} · {r.condition}\n({r.reference})" for r in mine.itertuples()]
    fig = Figure(figsize=(9, 1.9 + 0.6 * max(1, len(mine))), layout="constrained")
    left, right = fig.subplots(1, 2, sharey=True)
    ys = list(range(len(mine)))
    err = [
        (mine.compromise_diff - mine.compromise_diff_lo).fillna(0).tolist(),
        (mine.compromise_diff_hi - mine.compromise_diff).fillna(0).tolist(),
    ]
    left.errorbar(mine.compromise_diff, ys, xerr=err, fmt="o", color="#2a9d8f", capsize=3)
    left.axvline(0, color="grey", lw=0.8)
    left.set_xlim(-1, 1)
    left.set_xlabel("compromise rate − reference (95% CI)")
    left.set_yticks(ys, names, fontsize=8)
    left.invert_yaxis()
    right.barh(ys, mine.action_jsd.fillna(0), color="#e76f51")
    right.set_xlim(0, 1)
    right.set_xlabel("action JS divergence (bits)")
    fig.suptitle(f"Fidelity to the reference runs — {label}", fontsize=11)
    return fig


def _num(x: float, digits: int = 2) -> str:
    return "–" if pd.isna(x) else f"{x:.{digits}f}"


def _signed(x: float) -> str:
    return "–" if pd.isna(x) else f"{x:+.2f}"


def _diff(value: float, lo: float, hi: float) -> str:
    return "–" if pd.isna(value) else f"{value:+.2f} [{lo:+.2f}, {hi:+.2f}]"
