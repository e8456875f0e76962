"""Positions over rounds: every party's line, the standing proposal and the status quo."""

from __future__ import annotations

import solara
from matplotlib.figure import Figure
from mesa.visualization.utils import update_counter

from parley.viz.network import AUTHORITY_COLOUR, PALETTE
from parley.viz.view import RunView

_OUTCOME_COLOUR = {"compromise": "#2ca02c", "authority_decision": AUTHORITY_COLOUR}


def positions_figure(view: RunView) -> Figure:
    """Positions per round for every party (a fresh Figure; no pyplot, thread-safe).

    The x axis always spans the whole deadline, so the lines visibly grow round by round.
    """
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.add_subplot()
    issue = view.spec.issue
    traj = view.trajectory
    for i, party in enumerate(view.parties):
        if party in traj:
            ax.plot(
                traj.index, traj[party], marker="o", ms=3.5, lw=1.6,
                color=PALETTE[i % len(PALETTE)], label=party,
            )  # fmt: skip
    if len(view.standing):
        ax.plot(
            view.standing.index, view.standing.values, color="black", ls="--", lw=2.0,
            label="standing proposal",
        )  # fmt: skip
    ax.axhline(issue.status_quo, color="#888888", ls=":", lw=1.4, label="status quo")
    out = view.outcome
    if out is not None and out.value is not None:
        ax.scatter(
            [out.round], [out.value], marker="*", s=260, zorder=5,
            color=_OUTCOME_COLOUR.get(out.kind, "black"), label=out.kind.replace("_", " "),
        )  # fmt: skip
    ax.set_xlim(-0.3, max(view.max_rounds, view.round) + 0.3)
    pad = 0.04 * issue.span
    ax.set_ylim(issue.min - pad, issue.max + pad)
    ax.set_xlabel("round")
    ax.set_ylabel(f"{issue.name} ({issue.unit})" if issue.unit else issue.name)
    ax.set_title(f"Positions through round {view.round}", fontsize=10)
    ax.grid(alpha=0.25)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, frameon=False)
    return fig


@solara.component
def PositionsChart(view: RunView):
    """Positions over rounds as a PNG figure."""
    update_counter.get()
    fig = solara.use_memo(lambda: positions_figure(view), dependencies=[view])
    solara.FigureMatplotlib(fig, format="png", dependencies=[view])
