"""The report's figures, drawn with matplotlib's object API (no pyplot state, Agg canvas).

Each function takes the summary frames of one model and returns a ``Figure``; the caller
saves it. ``Figure`` objects are independent, so figures can be drawn from any thread.
"""

from __future__ import annotations

import math

import pandas as pd
from matplotlib.figure import Figure

from parley import metrics as m

OUTCOME_COLOURS = {
    "compromise": "#2a9d8f",
    "authority_decision:escalation": "#e76f51",
    "authority_decision:deadlock": "#f4a261",
    "authority_decision:deadline": "#e9c46a",
    "excluded": "#8d99ae",  # failed or invalid runs: counted, never read as outcomes
}
MARKERS = ("o", "s", "^", "D", "v", "P")


def outcome_mix(per_run: pd.DataFrame, conditions: list[str]) -> Figure:
    """Stacked bars of outcome classes per condition, one panel per scenario."""
    scenarios = sorted(per_run.scenario.unique())
    fig = Figure(figsize=(4.2 * len(scenarios), 4.2), layout="constrained")
    axes = fig.subplots(1, len(scenarios), sharey=True, squeeze=False)[0]
    classes = per_run.outcome_class.where(per_run.completed, "excluded")
    for ax, scenario in zip(axes, scenarios, strict=True):
        mine = classes[per_run.scenario == scenario]
        cond = per_run.condition[per_run.scenario == scenario]
        bottom = [0] * len(conditions)
        for cls, colour in OUTCOME_COLOURS.items():
            counts = [int(((cond == c) & (mine == cls)).sum()) for c in conditions]
            if any(counts):
                label = cls.replace("authority_decision:", "authority: ")
                ax.bar(conditions, counts, bottom=bottom, color=colour, label=label)
                bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
        ax.set_title(scenario, fontsize=10)
        ax.tick_params(axis="x", labelrotation=35, labelsize=8)
    axes[0].set_ylabel("runs")
    handles, labels = _legend_items(axes)
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=8)
    fig.suptitle("Outcome mix per condition", fontsize=11)
    return fig


def _legend_items(axes) -> tuple[list, list]:
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    return list(seen.values()), list(seen)


def entropy_vs_authority(cells: pd.DataFrame) -> Figure:
    """Each cell at (mean action entropy, authority-decision rate ± Wilson interval).

    The shaded corner is the diversity-without-fidelity region: varied moves, yet the
    authority decides (almost) every run.
    """
    fig = Figure(figsize=(7.5, 5.2), layout="constrained")
    ax = fig.subplots()
    top = math.log2(6)
    ax.fill_between(
        [m.DIVERSITY_ENTROPY_BITS, top],
        m.AUTHORITY_COLLAPSE_RATE,
        1.05,
        color="#e76f51",
        alpha=0.12,
        lw=0,
    )
    ax.text(top - 0.05, 1.02, "diversity without fidelity", ha="right", fontsize=8, color="#9b2226")
    ax.axhline(m.AUTHORITY_COLLAPSE_RATE, color="#9b2226", lw=0.8, ls="--")
    ax.axvline(m.DIVERSITY_ENTROPY_BITS, color="#9b2226", lw=0.8, ls="--")
    colours = _condition_colours(sorted(cells.condition.unique()))
    scenarios = sorted(cells.scenario.unique())
    for r in cells[cells.n > 0].itertuples():
        err = [[r.authority - r.authority_lo], [r.authority_hi - r.authority]]
        marker = MARKERS[scenarios.index(r.scenario) % len(MARKERS)]
        ax.errorbar(
            r.entropy_mean,
            r.authority,
            yerr=err,
            fmt=marker,
            ms=7,
            capsize=3,
            color=colours[r.condition],
            alpha=0.85,
        )
    for condition, colour in colours.items():
        ax.plot([], [], "o", color=colour, label=condition)
    for i, scenario in enumerate(scenarios):
        ax.plot([], [], MARKERS[i % len(MARKERS)], color="0.4", label=scenario)
    ax.set(
        xlim=(0, top),
        ylim=(-0.02, 1.05),
        xlabel="action entropy (bits, mean per run)",
        ylabel="authority-decision rate",
    )
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.set_title("Action entropy vs authority-decision rate", fontsize=11)
    return fig


def _condition_colours(conditions: list[str]) -> dict[str, str]:
    palette = ["#264653", "#2a9d8f", "#e9c46a", "#f4a261", "#e76f51", "#6d597a", "#457b9d"]
    return {c: palette[i % len(palette)] for i, c in enumerate(conditions)}


def sample_trajectories(
    per_run: pd.DataFrame, trajectories: dict[str, pd.DataFrame], conditions: list[str]
) -> Figure:
    """Positions over rounds of one sample run (the lowest seed) per scenario × condition.

    Only completed runs are drawn: a failed or invalid run's positions are no behaviour.
    """
    scenarios = sorted(per_run.scenario.unique())
    fig = Figure(
        figsize=(2.6 * len(conditions) + 1.5, 2.4 * len(scenarios) + 0.6), layout="constrained"
    )
    axes = fig.subplots(len(scenarios), len(conditions), squeeze=False)
    for i, scenario in enumerate(scenarios):
        for j, condition in enumerate(conditions):
            ax = axes[i][j]
            cell = per_run[(per_run.scenario == scenario) & (per_run.condition == condition)]
            cell = cell[cell.run_id.isin(trajectories) & cell.completed].sort_values("seed")
            if cell.empty:
                ax.set_axis_off()
                continue
            _draw_run(ax, cell.iloc[0], trajectories[cell.iloc[0].run_id])
            if j == len(conditions) - 1:  # one legend per scenario, outside the last panel
                ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
            ax.set_title(f"{condition}", fontsize=8)
            if j == 0:
                ax.set_ylabel(scenario, fontsize=8)
    fig.suptitle("Positions of sample runs (lowest seed); dashed: the outcome", fontsize=11)
    return fig


def _draw_run(ax, run: pd.Series, traj: pd.DataFrame) -> None:
    for party in traj.columns:
        ax.plot(traj.index, traj[party], lw=1.2, label=party)
    if pd.notna(run.get("final_value")):
        colour = "#2a9d8f" if run.outcome == "compromise" else "#e76f51"
        ax.axhline(run.final_value, color=colour, ls="--", lw=1)
    ax.set_ylim(float(run.issue_min), float(run.issue_max))
    ax.tick_params(labelsize=7)
    ax.set_xlabel(f"round · seed {run.seed}: {_short(run)}", fontsize=7)


def _short(run: pd.Series) -> str:
    if not run.completed:
        return "failed"
    return "compromise" if run.outcome == "compromise" else f"authority ({run.trigger})"
