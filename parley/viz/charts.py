"""Positions over rounds: every party's line, the standing proposal and the status quo."""

from __future__ import annotations

import textwrap

import solara
from matplotlib.figure import Figure
from mesa.visualization.utils import update_counter

from parley.viz.style import AUTHORITY_COLOUR, NORMAL, Display, display_context, party_colours
from parley.viz.view import RunView

_OUTCOME_COLOUR = {"compromise": "#2ca02c", "authority_decision": AUTHORITY_COLOUR}


def positions_figure(view: RunView, display: Display = NORMAL) -> Figure:
    """Positions per round for every party (a fresh Figure; no pyplot, thread-safe).

    The x axis always spans the whole deadline, so the lines visibly grow round by round.
    Each party has its colour of every view (:func:`parley.viz.style.party_colours`).
    """
    fig = Figure(figsize=display.figsize, layout="constrained")
    ax = fig.add_subplot()
    issue = view.spec.issue
    traj = view.trajectory
    colours = party_colours(view.parties)
    for party in view.parties:
        if party in traj:
            ax.plot(
                traj.index, traj[party], marker="o", ms=4.5 * display.line,
                lw=1.8 * display.line, color=colours[party], label=party,
            )  # fmt: skip
    if len(view.standing):
        ax.plot(
            view.standing.index, view.standing.values, color="black", ls="--",
            lw=2.0 * display.line, label="standing proposal",
        )  # fmt: skip
    ax.axhline(issue.status_quo, color="#666666", ls=":", lw=1.4 * display.line, label="status quo")
    out = view.outcome
    if out is not None and out.value is not None:
        ax.scatter(
            [out.round], [out.value], marker="*", s=260 * display.line, zorder=5,
            color=_OUTCOME_COLOUR.get(out.kind, "black"), label=out.kind.replace("_", " "),
        )  # fmt: skip
    ax.set_xlim(-0.3, max(view.max_rounds, view.round) + 0.3)
    pad = 0.04 * issue.span
    ax.set_ylim(issue.min - pad, issue.max + pad)
    ax.tick_params(labelsize=display.font)
    ax.set_xlabel("round", fontsize=display.font)
    label = f"{issue.name} ({issue.unit})" if issue.unit else issue.name
    ax.set_ylabel(textwrap.fill(label, 28), fontsize=display.font)
    ax.set_title(f"Positions through round {view.round}", fontsize=display.title)
    ax.grid(alpha=0.3)
    ax.legend(
        loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, fontsize=display.font * 0.9,
        frameon=False,
    )  # fmt: skip
    return fig


@solara.component
def PositionsChart(view: RunView):
    """Positions over rounds as a PNG figure."""
    update_counter.get()
    display = solara.use_context(display_context)
    fig = solara.use_memo(lambda: positions_figure(view, display), dependencies=[view, display])
    solara.FigureMatplotlib(fig, format="png", dependencies=[view, display])
