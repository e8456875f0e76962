"""The feed: every round's actions and public messages, newest round first.

Private ledgers, memos and reasoning are recorded for every LLM turn but never shown to
other agents; the page shows them only behind a toggle. All recorded text (LLM output
included) is HTML-escaped before it reaches the page.
"""

from __future__ import annotations

import html
import math

import pandas as pd
import solara
from mesa.visualization.utils import update_counter

from parley.viz.style import party_colours, swatch
from parley.viz.view import RunView

_STYLE = "max-height: 420px; overflow-y: auto; line-height: 1.4"
PRIVATE_LABEL = "Show private ledgers, memos and reasoning"


def _text(value) -> str | None:
    """A table cell as text, or None when empty/NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    text = str(value).strip()
    return text or None


def describe_move(row: pd.Series) -> str:
    """``propose 62``, ``support risk``, ``hold``... from a ``moves`` row."""
    kind = str(row["action"])
    if kind in ("propose", "concede") and _text(row.get("value")) is not None:
        return f"{kind} {float(row['value']):g}"
    if kind == "support" and _text(row.get("target")):
        return f"support {row['target']}"
    return kind


def move_html(row: pd.Series, private: bool, colour: str = "#333") -> str:
    """One move as an HTML list item (escaped), the party in its colour of every view."""
    e = html.escape
    after = float(row["position_after"])
    who = f"{swatch(colour)}<b>{e(str(row['party']))}</b>"
    parts = [f"{who} <code>{e(describe_move(row))}</code> → {after:g}"]
    if not bool(row["valid"]):
        parts.append(
            f' <span style="color:#b22222">[invalid → hold: {e(_text(row.get("error")) or "")}]'
            "</span>"
        )
    elif bool(row.get("repaired") or False):
        parts.append(' <span style="color:#8c564b">[repaired]</span>')
    message = _text(row.get("message"))
    if message:
        parts.append(f'<br><i>"{e(message)}"</i>')
    if private:
        for label, col in (("private", "private_state"), ("reasoning", "reasoning")):
            text = _text(row.get(col))
            if text:
                parts.append(
                    f'<br><span style="color:#555">🔒 {label}: {e(text)}</span>'
                )  # fmt: skip
    return "<li>" + "".join(parts) + "</li>"


def ending_html(view: RunView) -> str:
    """The authority's ruling or the compromise, as a feed line (empty while running)."""
    out, unit = view.outcome, html.escape(view.spec.issue.unit)
    if out is None:
        return ""
    if out.kind == "authority_decision":
        why = f" {html.escape(view.rationale)}" if view.rationale else ""
        return (
            f"<p><b>⚖ Authority intervenes ({html.escape(str(out.trigger))})</b>: "
            f"{html.escape(str(out.body))} imposes {out.value:g} {unit}.{why}</p>"
        )
    if out.kind == "compromise":
        return f"<p><b>🤝 Compromise</b> at {out.value:g} {unit}.</p>"
    return f"<p><b>Run stopped</b>: {html.escape(str(out.reason))}</p>"


def feed_html(view: RunView, private: bool) -> str:
    """Every round of ``view`` as HTML, newest first."""
    if view.moves.empty:
        return "<p>No moves yet: step the model to start the negotiation.</p>"
    blocks = [ending_html(view)]
    colours = party_colours(view.parties)
    for round_no in sorted(view.moves["round"].unique(), reverse=True):
        rows = view.moves[view.moves["round"] == round_no]
        items = "".join(
            move_html(row, private, colours.get(str(row["party"]), "#333"))
            for _, row in rows.iterrows()
        )
        blocks.append(f"<h4 style='margin:6px 0 2px'>Round {int(round_no)}</h4><ul>{items}</ul>")
    return "".join(blocks)


def has_private(view: RunView) -> bool:
    """Whether any move so far recorded private state or reasoning."""
    cols = [c for c in ("private_state", "reasoning") if c in view.moves]
    return any(view.moves[c].map(_text).notna().any() for c in cols)


@solara.component
def Feed(view: RunView):
    """The feed of actions and messages, with a toggle for private state and reasoning.

    Rule-based negotiators keep no private ledgers: there the toggle is disabled and says so.
    """
    update_counter.get()
    private = solara.use_reactive(False)
    if view.llm:
        solara.Checkbox(label=PRIVATE_LABEL, value=private)
        if private.value and not has_private(view):
            solara.Text(
                "Nothing private recorded so far: only the bounded, private_memo and "
                "private_persona conditions keep a ledger or memo, and native reasoning.",
                classes=["parley-note"],
            )
    else:
        solara.Checkbox(label=PRIVATE_LABEL, value=False, disabled=True)
        solara.Text(
            "Rule-based negotiators keep no private ledgers, memos or reasoning: "
            "run the LLM policy under a private-state condition to see them.",
            classes=["parley-note"],
        )
    shown = private.value and view.llm
    solara.HTML(tag="div", unsafe_innerHTML=feed_html(view, shown), style=_STYLE)
