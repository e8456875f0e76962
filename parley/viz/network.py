"""The coalition network: parties placed along the issue axis, coloured by coalition.

Each party is a node at its current position (x) on its own lane (y, in the scenario's
order, so a node never jumps vertically and labels never collide), sized by its backing
(how many parties hold its value), coloured by coalition. Edges come from the model's
networkx coalition graph: thin grey for positions within the coalition tolerance, thick
for support given this round. When the authority has ruled, it appears as a node at the
imposed value with its body and trigger.
"""

from __future__ import annotations

import solara
from matplotlib.figure import Figure
from mesa.visualization.utils import update_counter

from parley.viz.view import RunView

# Matplotlib's tab10, written out so colours never depend on global rcParams.
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
AUTHORITY_COLOUR = "#b22222"
_BASE_SIZE, _SIZE_PER_BACKER = 170, 110  # marker area (pt²) by backing


def coalition_colour(coalition_id: int) -> str:
    """A stable colour for a coalition id."""
    return PALETTE[coalition_id % len(PALETTE)]


def network_figure(view: RunView) -> Figure:
    """Draw the coalition network of ``view`` (a fresh Figure; no pyplot, thread-safe)."""
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.add_subplot()
    issue = view.spec.issue
    parties = view.parties
    lane = {p: len(parties) - i for i, p in enumerate(parties)}  # first party on top
    pos = view.positions
    xy = {p: (pos[p], lane[p]) for p in parties if p in pos}

    for a, b, data in view.graph.edges(data=True):
        if a not in xy or b not in xy:
            continue
        (xa, ya), (xb, yb) = xy[a], xy[b]
        if data.get("support"):
            ax.plot([xa, xb], [ya, yb], color="#222222", lw=2.6, zorder=2)
        else:
            ax.plot([xa, xb], [ya, yb], color="#bbbbbb", lw=1.0, zorder=1)

    backing = view.backing()
    names = list(xy)
    sizes = {p: _BASE_SIZE + _SIZE_PER_BACKER * (backing[p] - 1) for p in names}
    ax.scatter(
        [xy[p][0] for p in names],
        [xy[p][1] for p in names],
        s=[sizes[p] for p in names],
        c=[coalition_colour(view.coalition.get(p, 0)) for p in names],
        edgecolors="black",
        linewidths=1.0,
        zorder=3,
    )
    for p in names:
        x, y = xy[p]
        ax.annotate(
            f"{p} ({x:g})", (x, y), xytext=(sizes[p] ** 0.5 / 2 + 4, 0), textcoords="offset points",
            ha="left", va="center", fontsize=8, zorder=4,
        )  # fmt: skip

    _reference_lines(ax, view)
    top = len(parties) + 1
    _authority(ax, view, top)
    pad = 0.04 * issue.span
    ax.set_xlim(issue.min - pad, issue.max + pad)
    ax.set_ylim(0.3, top + 0.9)
    ax.set_yticks([])
    ax.set_xlabel(f"{issue.name} ({issue.unit})" if issue.unit else issue.name)
    n = len(set(view.coalition.values()))
    ax.set_title(
        f"Coalitions after round {view.round}: {n} coalition{'s' if n != 1 else ''}",
        fontsize=10,
    )
    return fig


def _reference_lines(ax, view: RunView) -> None:
    """Status quo (dotted) and the standing proposal (dashed) as vertical lines."""
    issue = view.spec.issue
    ax.axvline(issue.status_quo, color="#888888", ls=":", lw=1.2, label="status quo")
    standing = view.standing.iloc[-1] if len(view.standing) else None
    if standing is not None and standing == standing:  # NaN-safe
        ax.axvline(float(standing), color="black", ls="--", lw=1.2, label="standing proposal")
    ax.plot([], [], color="#bbbbbb", lw=1.0, label="close positions")
    ax.plot([], [], color="#222222", lw=2.6, label="support")
    ax.legend(loc="upper center", ncol=4, fontsize=8, frameon=False, bbox_to_anchor=(0.5, -0.14))


def _authority(ax, view: RunView, y: float) -> None:
    """The authority node at the imposed value, when it has ruled."""
    out = view.outcome
    if out is None or out.kind != "authority_decision" or out.value is None:
        return
    ax.axvline(out.value, color=AUTHORITY_COLOUR, lw=1.0, alpha=0.6)
    ax.scatter([out.value], [y], marker="s", s=420, c=AUTHORITY_COLOUR, zorder=3)
    ax.annotate(
        f"authority: {out.body or 'authority'} imposes {out.value:g} ({out.trigger})",
        (out.value, y), xytext=(0, 12), textcoords="offset points", ha="center",
        fontsize=8, color=AUTHORITY_COLOUR, zorder=4,
    )  # fmt: skip


@solara.component
def CoalitionNetwork(view: RunView):
    """The coalition network of ``view`` as a PNG figure."""
    update_counter.get()
    fig = solara.use_memo(lambda: network_figure(view), dependencies=[view])
    solara.FigureMatplotlib(fig, format="png", dependencies=[view])
