"""A readable, round-by-round transcript of a negotiation (for the terminal and notebooks)."""

from __future__ import annotations

import textwrap

from parley.model.model import NegotiationModel


def rounds(n: int) -> str:
    """``1 round``, ``3 rounds``."""
    return f"{n} round" if n == 1 else f"{n} rounds"


def header(model: NegotiationModel) -> str:
    s, issue = model.spec, model.spec.issue
    policy = model.params["policy"]
    who = f"{policy}" + (
        f" ({model.params['backend']}: {model.params['model']})" if policy == "llm" else ""
    )
    return "\n".join(
        [
            f"{s.title}",
            f"  scenario {s.name} · policy {who} · condition {model.condition} · "
            f"turn order {model.turn_order} · seed {model.params.get('rng')}",
            f"  issue: {issue.name} ({issue.unit}), range {issue.min:g}–{issue.max:g}, "
            f"status quo {issue.status_quo:g}, deadline {model.max_rounds} rounds",
            f"  authority: {s.authority.name} (rule: {s.authority.rule})",
        ]
    )


def round_text(model: NegotiationModel, round_no: int | None = None, private: bool = False) -> str:
    """The moves of one round (default: the last), the table after it, and any ruling."""
    round_no = round_no or model.round
    moves = model.history[round_no - 1]
    unit = model.spec.issue.unit
    width = max(len(p.id) for p in model.spec.parties)
    lines = [f"Round {round_no}"]
    for mv in moves:
        flag = "" if mv.valid else "  [invalid → hold]"
        lines.append(
            f"  {mv.party:<{width}}  {mv.action.describe():<18} → {mv.position_after:g}{flag}"
        )
        if mv.action.message:
            lines.append(
                textwrap.indent(textwrap.fill(f'"{mv.action.message}"', 88), " " * (width + 4))
            )
        decision = model.decisions.get(mv.party)
        if private and decision is not None and round_no == model.round:
            for label, text in (
                ("private", decision.private_state),
                ("reasoning", decision.reasoning),
            ):
                if text:
                    lines.append(
                        textwrap.indent(textwrap.fill(f"({label}) {text}", 88), " " * (width + 4))
                    )
    if round_no == model.round:
        groups = " ".join("{" + ", ".join(c) + "}" for c in model.coalitions)
        standing = "none" if model.standing is None else f"{model.standing:g} {unit}"
        lines.append(
            f"  table: standing {standing} (backed by {', '.join(model.backers)}) · "
            f"spread {model.spreads[-1]:g} · coalitions {groups}"
        )
        if model.ruling is not None:
            r = model.ruling
            lines.append(
                f"  ⚖ authority intervenes ({r.trigger}): {r.body} imposes {r.value:g} {unit}. "
                f"{r.rationale}"
            )
            if r.fallback:
                lines.append(
                    f"    (LLM ruling rejected: {r.fallback}; the scenario's rule applied)"
                )
    return "\n".join(lines)


def reasoning_note(model: NegotiationModel) -> str | None:
    """A line counting calls that asked for reasoning off yet reasoned (None if there were none)."""
    calls = model.datacollector.get_table_dataframe("calls")
    if calls.empty or "unexpected_reasoning" not in calls:
        return None
    n = int(calls["unexpected_reasoning"].fillna(False).astype(bool).sum())
    if n == 0:
        return None
    return (
        f"Note: {n} of {len(calls)} LLM calls asked for reasoning off but reported reasoning "
        "(calls.unexpected_reasoning): the server did not honour the condition."
    )


def outcome_text(model: NegotiationModel) -> str:
    out, unit = model.outcome, model.spec.issue.unit
    if out is None:
        return f"No outcome yet after {rounds(model.round)}."
    if out.kind == "stopped":
        return f"Run stopped after {rounds(out.round)}: {out.reason}"
    label = (
        "Compromise"
        if out.kind == "compromise"
        else f"Authority decision ({out.trigger}, {out.body})"
    )
    utilities = ", ".join(f"{p} {u:+.2f}" for p, u in model.utilities().items())
    return (
        f"Outcome: {label} at {out.value:g} {unit} after {rounds(out.round)}.\n"
        f"Utilities: {utilities}"
    )
