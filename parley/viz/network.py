"""The coalition network: parties placed along the issue axis, each in its own colour.

Each party is a node at its current position (x) on its own lane (y, in the scenario's
order, so a node never jumps vertically and labels never collide), sized by its backing
(how many parties hold its value), in the party's colour (the same in every view).
Coalitions are shaded groups around their members, and edges from the model's networkx
coalition graph: thin grey for positions within the coalition tolerance, thick for support
given this round. When the authority has ruled, it appears as a node at the imposed value
with its body and trigger.
"""

from __future__ import annotations

import solara
from matplotlib.figure import Figure
from matplotlib.patches import Polygon
from mesa.visualization.utils import update_counter

from parley.viz.style import (
    AUTHORITY_COLOUR,
    NORMAL,
    Display,
    display_context,
    party_colours,
)
from parley.viz.view import RunView

_BASE_SIZE, _SIZE_PER_BACKER = 170, 110  # marker area (pt²) by backing
_GROUP_COLOUR = "#9aa5b1"


def hull(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The convex hull of ``points``, counter-clockwise (Andrew's monotone chain)."""
    pts = sorted(set(points))
    if len(pts) <= 2:
        return pts

    def cross(o, a, b) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    upper: list[tuple[float, float]] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def network_figure(view: RunView, display: Display = NORMAL) -> Figure:
    """Draw the coalition network of ``view`` (a fresh Figure; no pyplot, thread-safe)."""
    fig = Figure(figsize=display.figsize, layout="constrained")
    ax = fig.add_subplot()
    issue = view.spec.issue
    parties = view.parties
    colours = party_colours(parties)
    lane = {p: len(parties) - i for i, p in enumerate(parties)}  # first party on top
    pos = view.positions
    xy = {p: (pos[p], float(lane[p])) for p in parties if p in pos}

    _coalition_groups(ax, view, xy)
    for a, b, data in view.graph.edges(data=True):
        if a not in xy or b not in xy:
            continue
        (xa, ya), (xb, yb) = xy[a], xy[b]
        if data.get("support"):
            ax.plot([xa, xb], [ya, yb], color="#222222", lw=2.6 * display.line, zorder=2)
        else:
            ax.plot([xa, xb], [ya, yb], color="#8a8a8a", lw=1.2 * display.line, zorder=1)

    backing = view.backing()
    names = list(xy)
    sizes = {p: _BASE_SIZE + _SIZE_PER_BACKER * (backing[p] - 1) for p in names}
    ax.scatter(
        [xy[p][0] for p in names],
        [xy[p][1] for p in names],
        s=[sizes[p] * display.line for p in names],
        c=[colours[p] for p in names],
        edgecolors="black",
        linewidths=1.0 * display.line,
        zorder=3,
    )
    for p in names:
        x, y = xy[p]
        ax.annotate(
            f"{p} ({x:g})", (x, y), xytext=(sizes[p] ** 0.5 / 2 + 4, 0), textcoords="offset points",
            ha="left", va="center", fontsize=display.font, zorder=4,
        )  # fmt: skip

    _reference_lines(ax, view, display)
    top = len(parties) + 1
    _authority(ax, view, top, display)
    pad = 0.04 * issue.span
    ax.set_xlim(issue.min - pad, issue.max + pad)
    ax.set_ylim(0.3, top + 0.9)
    ax.set_yticks([])
    ax.tick_params(labelsize=display.font)
    ax.set_xlabel(
        f"{issue.name} ({issue.unit})" if issue.unit else issue.name, fontsize=display.font
    )
    n = len(set(view.coalition.values()))
    ax.set_title(
        f"Coalitions after round {view.round}: {n} coalition{'s' if n != 1 else ''}",
        fontsize=display.title,
    )
    return fig


def _coalition_groups(ax, view: RunView, xy: dict[str, tuple[float, float]]) -> None:
    """A shaded outline around the members of every coalition of two or more parties."""
    groups: dict[int, list[str]] = {}
    for party, cid in view.coalition.items():
        if party in xy:
            groups.setdefault(cid, []).append(party)
    dx = 0.035 * view.spec.issue.span
    for members in groups.values():
        if len(members) < 2:
            continue
        corners = [
            (x + sx * dx, y + sy * 0.38) for p in members for x, y in [xy[p]]
            for sx in (-1, 1) for sy in (-1, 1)
        ]  # fmt: skip
        ax.add_patch(
            Polygon(
                hull(corners), closed=True, facecolor=_GROUP_COLOUR, alpha=0.22,
                edgecolor="#52606d", ls="--", lw=1.0, zorder=0.5, joinstyle="round",
            )
        )  # fmt: skip


def _reference_lines(ax, view: RunView, display: Display) -> None:
    """Status quo (dotted) and the standing proposal (dashed) as vertical lines."""
    issue = view.spec.issue
    ax.axvline(issue.status_quo, color="#666666", ls=":", lw=1.4 * display.line, label="status quo")
    standing = view.standing.iloc[-1] if len(view.standing) else None
    if standing is not None and standing == standing:  # NaN-safe
        ax.axvline(
            float(standing),
            color="black",
            ls="--",
            lw=1.4 * display.line,
            label="standing proposal",
        )
    ax.fill(
        [], [], facecolor=_GROUP_COLOUR, alpha=0.4, edgecolor="#52606d", ls="--", label="coalition"
    )
    ax.plot([], [], color="#222222", lw=2.6 * display.line, label="support")
    ax.legend(
        loc="upper center", ncol=2, fontsize=display.font * 0.9, frameon=False,
        bbox_to_anchor=(0.5, -0.16),
    )  # fmt: skip


def _authority(ax, view: RunView, y: float, display: Display) -> None:
    """The authority node at the imposed value, when it has ruled."""
    out = view.outcome
    if out is None or out.kind != "authority_decision" or out.value is None:
        return
    ax.axvline(out.value, color=AUTHORITY_COLOUR, lw=1.0 * display.line, alpha=0.6)
    ax.scatter([out.value], [y], marker="s", s=420, c=AUTHORITY_COLOUR, zorder=3)
    ax.annotate(
        f"authority: {out.body or 'authority'} imposes {out.value:g} ({out.trigger})",
        (out.value, y), xytext=(0, 12), textcoords="offset points", ha="center",
        fontsize=display.font, color=AUTHORITY_COLOUR, zorder=4,
    )  # fmt: skip


@solara.component
def CoalitionNetwork(view: RunView):
    """The coalition network of ``view`` as a PNG figure."""
    update_counter.get()
    display = solara.use_context(display_context)
    fig = solara.use_memo(lambda: network_figure(view, display), dependencies=[view, display])
    solara.FigureMatplotlib(fig, format="png", dependencies=[view, display])
