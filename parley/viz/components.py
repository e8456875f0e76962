"""All views of one run, laid out: header, network, positions, outcome, metrics, feed.

:func:`RunViews` takes a :class:`~parley.viz.view.RunView`, so the same layout shows a live
model (stepped in a worker thread) and a replayed recording.
"""

from __future__ import annotations

import html

import solara
from mesa.visualization.utils import update_counter

from parley.viz.charts import PositionsChart
from parley.viz.feed import Feed
from parley.viz.network import CoalitionNetwork
from parley.viz.panels import MetricsPanel, OutcomePanel
from parley.viz.view import RunView


def round_counter(view: RunView) -> str:
    """``Round 3 of 10`` (the text the page and its tests look for)."""
    return f"Round {view.round} of {view.max_rounds}"


def header_line(view: RunView) -> str:
    """The scenario, its issue, the authority and its rule, and where the run comes from."""
    spec, issue = view.spec, view.spec.issue
    unit = f" {issue.unit}" if issue.unit else ""
    return (
        f"{spec.name} · issue: {issue.name}, {issue.min:g}–{issue.max:g}{unit}, status quo "
        f"{issue.status_quo:g} · authority: {spec.authority.name}, rule: {spec.authority.rule}"
        f" · {view.source}"
    )


@solara.component
def RunHeader(view: RunView):
    """The scenario's title and issue, where the run comes from, and the round counter."""
    update_counter.get()
    spec = view.spec
    with solara.Row(justify="space-between", style={"align-items": "baseline"}):
        solara.HTML(tag="h2", unsafe_innerHTML=html.escape(spec.title), style={"margin": "0"})
        solara.HTML(
            tag="h2",
            unsafe_innerHTML=round_counter(view),
            classes=["parley-round"],
            style={"margin": "0", "white-space": "nowrap"},
        )
    solara.Text(header_line(view))
    if view.notice:
        solara.Warning(view.notice)


@solara.component
def RunViews(view: RunView):
    """Every view of ``view``: network and positions side by side, then outcome and metrics,
    then the feed."""
    update_counter.get()
    RunHeader(view)
    with solara.Div(classes=["parley-grid"]):  # side by side when wide, stacked when narrow
        with solara.Card("Coalition network", margin=0):
            CoalitionNetwork(view)
        with solara.Card("Positions over rounds", margin=0):
            PositionsChart(view)
    with solara.Div(classes=["parley-grid"]):
        with solara.Card("Outcome", margin=0):
            OutcomePanel(view)
        with solara.Card("Run metrics", margin=0):
            MetricsPanel(view)
    with solara.Card("Feed: actions and public messages", margin=0):
        Feed(view)
