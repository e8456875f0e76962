"""The outcome panel and the run-metrics panel."""

from __future__ import annotations

import html
from collections import Counter

import pandas as pd
import solara
from mesa.visualization.utils import update_counter

from parley.coherence import MEASURES, move_coherence
from parley.metrics import action_entropy
from parley.validity import screen_run
from parley.viz.style import party_colours, swatch
from parley.viz.view import RunView, plural

_MAX_ENTROPY_BITS = 2.585  # log2(6): all six action kinds equally often


def outcome_headline(view: RunView) -> str:
    """One line: the outcome with its trigger and value, or where the negotiation stands.

    A run the validity screen rejects (:mod:`parley.validity`) shows why instead of an
    outcome: its ending is an artifact of invalid turns.
    """
    out, unit = view.outcome, view.spec.issue.unit
    if out is not None and (reason := screen_run(view.moves, view.calls).reason):
        after = plural(out.round, "round")
        return f"Invalid run: {reason}; its ending after {after} is not an outcome"
    if out is None:
        standing = view.standing.iloc[-1] if len(view.standing) else None
        table = "" if standing is None or standing != standing else f"; standing {standing:g}"
        state = "negotiating" if view.running else "no outcome recorded"
        return f"No outcome yet: {state}, round {view.round} of {view.max_rounds}{table} {unit}"
    after = plural(out.round, "round")
    if out.kind == "compromise":
        return f"Compromise at {out.value:g} {unit} after {after}"
    if out.kind == "authority_decision":
        return (
            f"Authority decision (trigger: {out.trigger}): {out.body} imposes "
            f"{out.value:g} {unit} after {after}"
        )
    return f"Run stopped after {after}: {out.reason}"


def utilities_html(view: RunView) -> str:
    """Each party's role, ideal and utility of the outcome, as an HTML table."""
    utilities = view.utilities()
    if not utilities:
        return ""
    colours = party_colours(view.parties)
    rows = "".join(
        f"<tr><td>{swatch(colours[p.id])}{html.escape(p.id)}</td><td>{html.escape(p.role)}</td>"
        f"<td class='num'>{p.ideal:g}</td><td class='num'>{utilities[p.id]:+.2f}</td></tr>"
        for p in view.spec.parties
    )
    head = "<tr><th>party</th><th>role</th><th class='num'>ideal</th>"
    head += "<th class='num'>utility</th></tr>"
    total = (
        "<tr><td colspan='3'><b>total</b></td>"
        f"<td class='num'><b>{sum(utilities.values()):+.2f}</b></td></tr>"
    )
    return f"<table class='parley-table'>{head}{rows}{total}</table>"


def run_metrics(view: RunView) -> dict[str, str]:
    """The run's measures so far, as label -> text (pure; the panel only shows them).

    Action entropy is :func:`parley.metrics.action_entropy` over every turn so far.
    """
    moves, calls = view.moves, view.calls
    actions = moves["action"].astype(str).tolist() if not moves.empty else []
    counts = Counter(actions)
    invalid = int((~moves["valid"].astype(bool)).sum()) if not moves.empty else 0
    concessions = moves[moves["action"] == "concede"] if not moves.empty else moves
    conceders = (
        plural(concessions["party"].nunique(), "party", "parties") if len(concessions) else ""
    )
    out = {
        "Action entropy": f"{action_entropy(actions):.3f} bits (max {_MAX_ENTROPY_BITS})",
        "Actions": " · ".join(f"{k} {n}" for k, n in counts.most_common()) or "none yet",
        "Concessions": f"{len(concessions)} by {conceders}" if len(concessions) else "0",
        "Invalid turns": f"{invalid} of {len(actions)}",
        "Escalations": str(counts.get("escalate", 0)),
        "Incoherent moves": _coherence(view),
    }
    out.update(_call_metrics(calls, view.llm))
    return out


def _coherence(view: RunView) -> str:
    """The coherence screen so far (:func:`parley.coherence.move_coherence`), in one line."""
    if view.moves.empty:
        return "none yet"
    screened = move_coherence(view.moves, view.spec)
    parts = " · ".join(f"{k.replace('_', '-')} {int(screened[k].sum())}" for k in MEASURES)
    return f"{int(screened['incoherent'].sum())} of {len(screened)} ({parts})"


def _call_metrics(calls: pd.DataFrame, llm: bool) -> dict[str, str]:
    if calls.empty or "total_tokens" not in calls:
        return {"LLM calls": "none yet" if llm else "none (rule-based policy)"}

    def total(col: str) -> float:
        return float(pd.to_numeric(calls[col], errors="coerce").fillna(0).sum())

    n = len(calls)
    cached = int(calls["cached"].fillna(False).astype(bool).sum())
    latency = total("latency_s")
    return {
        "LLM calls": f"{n} ({cached} from cache)",
        "Tokens": f"{int(total('total_tokens')):,} (prompt {int(total('prompt_tokens')):,}, "
        f"completion {int(total('completion_tokens')):,}, "
        f"reasoning {int(total('reasoning_tokens')):,})",
        "Latency": f"{latency:.2f} s in all, {latency / n:.2f} s per call",
    }


@solara.component
def OutcomePanel(view: RunView):
    """Compromise or authority decision (with trigger), final value, each party's utility."""
    update_counter.get()
    solara.HTML(tag="h3", unsafe_innerHTML=html.escape(outcome_headline(view)))
    if screen_run(view.moves, view.calls).valid:  # an invalid run has no outcome to show
        if view.rationale and view.outcome is not None:
            solara.Text(f"Ruling: {view.rationale}")
        solara.HTML(tag="div", unsafe_innerHTML=utilities_html(view))


@solara.component
def MetricsPanel(view: RunView):
    """Action entropy so far, concessions, invalid turns, coherence, tokens and latency."""
    update_counter.get()
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
        for k, v in run_metrics(view).items()
    )
    solara.HTML(tag="table", unsafe_innerHTML=rows, classes=["parley-table"])
