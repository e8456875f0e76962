"""The sampler-qualification report of a results directory (Markdown or HTML + PNG figures).

Per model: the cells side by side (n, compromise and authority rates with Wilson
intervals, trigger mix, action entropy, concession arcs, diversity, invalid turns, tokens
and cost), the flags raised, comparisons against a reference condition (Fisher exact), and
three figures. The document is built once as a list of blocks and rendered to either
format; the HTML embeds its figures, so the one file is the whole report.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from parley import coherence, validity
from parley import metrics as m
from parley.experiments import figures, summary
from parley.experiments.fidelity_report import (
    fidelity_blocks,
    fidelity_figure,
    fidelity_table,
    load_reference,
)
from parley.experiments.render import Block, render_html, render_markdown
from parley.experiments.storage import atomic_write_bytes, load_results

FORMATS = ("md", "html")


@dataclass(frozen=True)
class Report:
    """A written report: its path, the figures, and the headline table for the terminal."""

    path: Path
    figures: list[Path]
    headline: str


def write_report(
    results_dir: str | Path,
    fmt: str = "md",
    reference: str = "bounded",
    out_dir: str | Path | None = None,
    reference_runs: str | Path | None = None,
) -> Report:
    """Write ``report.<fmt>`` and ``figures/*.png`` into ``out_dir`` (default: the results).

    ``reference_runs`` (a results directory or a folder of them, e.g. human-seat runs) adds
    a fidelity section per model (see :mod:`parley.experiments.fidelity_report`).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format '{fmt}' (one of: {', '.join(FORMATS)})")
    res = load_results(results_dir)
    ref = load_reference(reference_runs) if reference_runs is not None else None
    runs, moves, agents = (_tables(res, n) for n in ("runs", "moves", "agents"))
    out = Path(out_dir) if out_dir is not None else Path(results_dir)
    trajs = m.trajectories(agents)
    per_run = summary.labelled(m.run_metrics(runs, moves, agents, trajs))
    cells = summary.cell_table(runs, moves, agents, trajs)
    fid = fidelity_table(per_run, moves, ref) if ref is not None else None
    screened = coherence.run_coherence(runs, moves)
    blocks: list[Block] = _front(res.manifest, runs, reference)
    written: list[Path] = []
    for label in sorted(per_run.label.unique()):
        mine = cells[cells.label == label]
        mine_runs = per_run[per_run.label == label].join(screened, on="run_id")
        blocks += _model_blocks(
            label, mine, summary.comparisons(mine, reference), reference, mine_runs
        )
        paths = _figures(label, per_run[per_run.label == label], mine, trajs, out / "figures")
        if fid is not None:
            blocks += fidelity_blocks(label, fid, str(reference_runs))
            if len(fid) and (fid.label == label).any():
                paths.append(_save(fidelity_figure(label, fid), out / "figures", label, "fidelity"))
        written += paths
        blocks.append(("h3", "Figures"))
        blocks += [("img", p.relative_to(out).as_posix(), p.stem) for p in paths]
    text = render_markdown(blocks) if fmt == "md" else render_html(blocks, out)
    path = out / f"report.{fmt}"
    atomic_write_bytes(path, text.encode("utf-8"))
    return Report(path, written, headline(cells))


_EMPTY = {
    "moves": ["run_id", "action"],
    "agents": ["run_id", "Step", "party", "position"],
}


def _tables(res: dict[str, pd.DataFrame], name: str) -> pd.DataFrame:
    """A table of the results; a single ``parley run --out`` gets the run id ``run``."""
    frame = res.get(name)
    if frame is None:
        return pd.DataFrame({c: [] for c in _EMPTY.get(name, ["run_id"])})
    return frame if "run_id" in frame.columns else frame.assign(run_id="run")


def _front(manifest: dict, runs: pd.DataFrame, reference: str) -> list[Block]:
    status = runs.get("status", pd.Series(["ok"] * len(runs)))
    invalid = int((status == "invalid").sum())
    failed = int((status != "ok").sum()) - invalid
    versions = manifest.get("versions", {})
    return [
        ("h1", "Sampler-qualification report"),
        (
            "p",
            f"{len(runs)} runs ({failed} failed, {invalid} invalid) · "
            f"created {manifest.get('created', '?')} · "
            f"parley {versions.get('parley', '?')}, mesa {versions.get('mesa', '?')} · "
            f"git {manifest.get('git_revision') or 'unknown'}",
        ),
        (
            "p",
            "Validity screen: a run with more than "
            f"{validity.MAX_INVALID_SHARE:.0%} of its turns invalid after the repair is "
            "invalid; failed and invalid runs are excluded from every rate, flag, comparison "
            "and figure and counted under 'excluded', with their reasons below each table; a "
            f"cell with fewer than {validity.MIN_VALID_RUNS} valid runs, or more than "
            f"{validity.MAX_EXCLUDED_SHARE:.0%} of its runs excluded, is not interpreted "
            "(no flag, no comparison).",
        ),
        (
            "p",
            "A cell is one model × scenario × condition. Rates are over completed runs "
            "(compromise or authority decision) with 95% Wilson intervals; action entropy is "
            "in bits (max log2 6 ≈ 2.585), the mean of per-run values and the pooled value; "
            "a concession arc is a negotiator making ≥ 2 moves toward the others' median and "
            "ending ≥ 10% of the range closer; diversity is the mean pairwise distance between "
            "runs' position trajectories (fraction of the range). Flags: authority collapse "
            f"('collapse': authority rate ≥ {m.AUTHORITY_COLLAPSE_RATE:g}); diversity without "
            f"fidelity ('div-w/o-fidelity': mean entropy ≥ {m.DIVERSITY_ENTROPY_BITS:g} bit, "
            f"≥ {m.DYNAMICS_MIN_ROUNDS:g} rounds on average and concession arcs in "
            f"≥ {m.DYNAMICS_MIN_ARC_RATE:.0%} of runs, yet authority rate "
            f"≥ {m.AUTHORITY_COLLAPSE_RATE:g}). Comparisons: Fisher exact test of "
            f"each condition's authority rate against '{reference}'. The scenarios, grammar and "
            "formulas are this project's adaptation of the solver-sampler protocol.",
        ),
        (
            "p",
            "Coherence screen (read it first: an incoherent model is not a sampler of "
            "anything): each move of a completed run is checked for private leakage (its "
            "message names a number only the party knew), recitation "
            f"(≥ {coherence.RECITATION_WORDS} consecutive words of a brief), self-harm (a move "
            "against the party's own stated interest) and action–message mismatch; a move "
            "showing any is incoherent. Rates are over moves, with 95% Wilson intervals "
            "(moves of one run are not independent: descriptive). Flag 'incoherent': "
            f"incoherent-move rate > {coherence.INCOHERENT_MOVE_RATE:g}. Definitions and "
            "their validation: docs/concepts.md, Coherence.",
        ),
    ]


CELL_HEAD = [
    "scenario",
    "condition",
    "n",
    "excluded",
    "compromise [95% CI]",
    "authority [95% CI]",
    "esc/deadlock/deadline",
    "entropy mean/pooled",
    "arc rate",
    "diversity",
    "outcome H",
    "invalid",
    "tokens",
    "cost $",
    "flags",
]


COHERENCE_HEAD = [
    "scenario",
    "condition",
    "moves",
    "incoherent [95% CI]",
    "leak",
    "recite",
    "self-harm",
    "mismatch",
]
RUN_COHERENCE_HEAD = ["run", "scenario", "condition", "seed", "moves", "incoherent [95% CI]"]


def _coherence_blocks(cells: pd.DataFrame, per_run: pd.DataFrame) -> list[Block]:
    """The coherence screen per cell, then per run (see :mod:`parley.coherence`)."""
    rows = [
        [
            r.scenario,
            r.condition,
            str(r.screened_moves),
            _ci(r.incoherent_rate, r.incoherent_lo, r.incoherent_hi),
            *(_num(getattr(r, f"{k}_rate")) for k in coherence.MEASURES),
        ]
        for r in cells.itertuples()
    ]
    if "incoherent_rate" not in per_run.columns:
        per_run = per_run.assign(incoherent_rate=math.nan)
    screened = per_run.dropna(subset=["incoherent_rate"])
    run_rows = [
        [
            str(r.run_id),
            r.scenario,
            r.condition,
            str(r.seed),
            str(int(r.screened_moves)),
            _ci(r.incoherent_rate, r.incoherent_lo, r.incoherent_hi),
        ]
        for r in screened.itertuples()
    ]
    blocks: list[Block] = [("h3", "Coherence"), ("table", COHERENCE_HEAD, rows)]
    if run_rows:
        blocks += [("h3", "Coherence per run"), ("table", RUN_COHERENCE_HEAD, run_rows)]
    return blocks


def _model_blocks(
    label: str,
    cells: pd.DataFrame,
    comp: pd.DataFrame,
    reference: str,
    per_run: pd.DataFrame | None = None,
) -> list[Block]:
    rows = [
        [
            r.scenario,
            r.condition,
            str(r.n),
            str(r.failed),
            _ci(r.compromise, r.compromise_lo, r.compromise_hi),
            _ci(r.authority, r.authority_lo, r.authority_hi),
            f"{r.trigger_escalation}/{r.trigger_deadlock}/{r.trigger_deadline}",
            f"{_num(r.entropy_mean)} / {_num(r.entropy_pooled)}",
            _num(r.arc_rate),
            _num(r.diversity, 3),
            _num(r.outcome_entropy),
            _num(r.invalid_rate, 3),
            f"{r.tokens:,}",
            f"{r.cost_usd:.4f}",
            _flag_marks(r),
        ]
        for r in cells.itertuples()
    ]
    raised = summary.flags(cells)
    blocks: list[Block] = [
        ("h2", f"Model: {label}"),
        ("h3", "Cells"),
        ("table", CELL_HEAD, rows),
        *_coherence_blocks(cells, per_run if per_run is not None else pd.DataFrame()),
        ("h3", "Flags"),
    ]
    blocks.append(("list", raised) if raised else ("p", "No flag raised."))
    dropped, thin = summary.excluded(cells), summary.uninterpreted(cells)
    if dropped:
        blocks += [("h3", "Excluded runs"), ("list", dropped)]
    if thin:
        blocks += [("h3", "Not interpreted (no flag, no comparison)"), ("list", thin)]
    blocks.append(("h3", f"Against the reference condition '{reference}'"))
    if comp.empty:
        blocks.append(("p", f"No '{reference}' cells to compare with."))
    else:
        head = ["scenario", "condition", "authority", reference, "difference", "Fisher p"]
        blocks.append(
            (
                "table",
                head,
                [
                    [
                        c.scenario,
                        c.condition,
                        _num(c.authority),
                        _num(c.reference_authority),
                        f"{c.difference:+.2f}" if not math.isnan(c.difference) else "–",
                        _p(c.p_value),
                    ]
                    for c in comp.itertuples()
                ],
            )
        )
    return blocks


def _figures(
    label: str,
    per_run: pd.DataFrame,
    cells: pd.DataFrame,
    trajs: dict[str, pd.DataFrame],
    folder: Path,
) -> list[Path]:
    conditions = sorted(per_run.condition.unique())
    drawn = {
        "outcomes": figures.outcome_mix(per_run, conditions),
        "entropy-vs-authority": figures.entropy_vs_authority(cells),
        "trajectories": figures.sample_trajectories(per_run, trajs, conditions),
    }
    return [_save(fig, folder, label, name) for name, fig in drawn.items()]


def _save(fig: Figure, folder: Path, label: str, name: str) -> Path:
    """Write ``fig`` as ``<label slug>-<name>.png`` in ``folder``; return its path."""
    slug = re.sub(r"[^A-Za-z0-9.]+", "-", label).strip("-")
    path = folder / f"{slug}-{name}.png"
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _num(x: float, digits: int = 2) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _ci(value: float, lo: float, hi: float) -> str:
    return "–" if math.isnan(value) else f"{value:.2f} [{lo:.2f}, {hi:.2f}]"


def _p(p: float) -> str:
    return "–" if math.isnan(p) else (f"{p:.2g}" if p < 0.001 else f"{p:.3f}")


def _flag_marks(r) -> str:
    marks = (
        (["incoherent"] if getattr(r, "incoherent", False) else [])
        + (["collapse"] if r.authority_collapse else [])
        + (["div-w/o-fidelity"] if r.diversity_without_fidelity else [])
    )
    if not getattr(r, "interpretable", True):  # too few valid runs: no flag can be raised
        marks = ["not interpreted"]
    return ", ".join(marks)


def headline(cells: pd.DataFrame) -> str:
    """The report's headline table as plain text for the terminal."""
    head = [
        "model",
        "scenario",
        "condition",
        "n",
        "excluded",
        "compromise",
        "authority",
        "entropy",
        "arc",
        "incoherent",
        "flags",
    ]
    rows = [
        [
            r.label,
            r.scenario,
            r.condition,
            str(r.n),
            str(r.failed),
            _num(r.compromise),
            _num(r.authority),
            _num(r.entropy_mean),
            _num(r.arc_rate),
            _num(r.incoherent_rate),
            _flag_marks(r),
        ]
        for r in cells.itertuples()
    ]
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in [head, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
