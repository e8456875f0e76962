"""The prompt builder: named templates (``parley/agents/prompts/*.txt``) filled from an observation.

Every negotiator prompt is ordered **shared first, private last**, so that llama.cpp's
prefix cache processes most of it once per round instead of once per party:

1. system message: rules and grammar, then the condition's instructions (identical for all
   negotiators of a run);
2. user message, shared part: public brief, the table, round and deadline, the windowed
   history and the last round's messages (identical for all negotiators of a round);
3. user message, private part, last: the party's identity, private brief, numbers,
   authority beliefs and its own carried-over private state.

Messages of parties are quoted as JSON strings inside a block labelled as data, so a
message cannot pose as a rule. Another party's private state is never an input here: the
observation only carries its owner's. Templates use ``string.Template`` (``$name``) so the
JSON examples in them need no escaping; a missing field raises instead of printing a gap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template
from typing import Any

from parley.agents.observation import Move, Observation
from parley.grammar import action_schema, with_move_branches
from parley.llm.interface import Message
from parley.scenarios.schema import Issue, Scenario

MESSAGE_WORDS = 25  # what the rules ask for; the grammar tolerates up to 60
QUOTE_WORDS = 15  # messages quoted back to the table are cut here to bound prompt growth
STATE_WORDS = 150  # private state budget, the same for ledger, memo and diary


@dataclass(frozen=True)
class Framing:
    """What a reflection condition contributes to an LLM turn (see :mod:`reflection`).

    Attributes:
        instructions: template name of the condition's instructions (end of the system).
        state_key: JSON field holding the private state, asked for before ``action``.
        state_schema: JSON schema of that field.
        state_label: how the carried-over state is introduced to its owner.
        max_tokens: output budget of each call (the visible action and its fields).
        reasoning_effort: the model's reasoning mode setting (``native`` only).
        reasoning_budget: tokens of room for reasoning, added to ``max_tokens`` in the
            request (``native`` only; providers count reasoning inside the output cap).
    """

    instructions: str = "condition_none"
    state_key: str | None = None
    state_schema: dict[str, Any] | None = None
    state_label: str = ""
    max_tokens: int = 256
    reasoning_effort: str | None = None
    reasoning_budget: int = 0


@cache
def template(name: str) -> Template:
    """The named template shipped in ``parley/agents/prompts``."""
    text = resources.files("parley.agents").joinpath("prompts", f"{name}.txt").read_text("utf-8")
    return Template(text.rstrip("\n"))


def render(name: str, **fields: Any) -> str:
    """Fill template ``name``; a missing field raises ``KeyError``."""
    return template(name).substitute(**fields)


def num(x: float | None) -> str:
    """A compact number: ``55`` rather than ``55.0``."""
    return "none" if x is None else f"{x:g}"


# -- the shared part --------------------------------------------------------------------------
def system_prompt(scenario: Scenario, max_rounds: int, framing: Framing) -> str:
    """Rules, grammar and the condition's instructions: identical for every negotiator."""
    issue, protocol = scenario.issue, scenario.protocol
    rules = render(
        "system",
        authority=scenario.authority.name,
        tolerance=f"{num(protocol.agreement_tolerance * issue.span)} {issue.unit}".strip(),
        quorum=protocol.escalation_quorum,
        patience=protocol.patience,
        max_rounds=max_rounds,
        words=MESSAGE_WORDS,
        **example_values(issue),
    )
    return rules + "\n" + render(framing.instructions, state_words=STATE_WORDS)


def example_values(issue: Issue) -> dict[str, str]:
    """The values of the good replies in the rules: a proposal a tenth of the range above the
    status quo and a concession halfway back (the same for every party, so the rules stay
    shared; they illustrate the form, not a recommendation)."""
    propose = snap(issue, issue.status_quo + issue.span / 10)
    if propose == issue.status_quo:
        propose = snap(issue, issue.status_quo - issue.span / 10)
    concede = snap(issue, (propose + issue.status_quo) / 2)
    return {"example_propose": num(propose), "example_concede": num(concede)}


def table_text(obs: Observation) -> str:
    """The public brief and the table as every negotiator sees it this round."""
    s, issue = obs.scenario, obs.scenario.issue
    positions = "; ".join(
        f"{p.id} ({short_role(p.role)}) {num(obs.positions[p.id])}" for p in s.parties
    )
    standing = "none"
    if obs.standing is not None:
        standing = f"{num(obs.standing)} (backed by {', '.join(obs.backers) or 'nobody'})"
    return render(
        "table",
        public_brief=s.public_brief,
        issue=issue.name,
        lo=num(issue.min),
        hi=num(issue.max),
        unit=issue.unit,
        status_quo=num(issue.status_quo),
        round=obs.round,
        max_rounds=obs.max_rounds,
        positions=positions,
        standing=standing,
        coalitions=" ".join("{" + ", ".join(c) + "}" for c in obs.coalitions) or "none",
    )


def short_role(role: str) -> str:
    """A role without its parenthetical detail (the private part keeps the full role)."""
    return role.split(" (")[0]


def history_text(obs: Observation) -> str:
    """The windowed moves, then the latest round's messages quoted as JSON strings."""
    rounds = [r for r in obs.history if r]
    if not rounds:
        return "Recent moves: none yet."
    moves = "\n".join(f"R{r[0].round}: " + "; ".join(_move(m) for m in r) for r in rounds)
    said = [(m.party, _quote(m.action.message)) for m in rounds[-1] if m.action.message.strip()]
    messages = "\n".join(f"{party}: {text}" for party, text in said) or "(none)"
    return render("history", moves=moves, message_round=rounds[-1][0].round, messages=messages)


def _move(m: Move) -> str:
    return f"{m.party} {m.action.describe()}" + ("" if m.valid else " (invalid)")


def _quote(message: str) -> str:
    words = message.split()
    cut = " ".join(words[:QUOTE_WORDS]) + (" ..." if len(words) > QUOTE_WORDS else "")
    return json.dumps(cut, ensure_ascii=False)  # a JSON string cannot break out of its quotes


def shared_text(obs: Observation) -> str:
    """The part of the user message that is identical for all negotiators of a round."""
    return table_text(obs) + "\n" + history_text(obs)


# -- the private part -------------------------------------------------------------------------
def private_text(obs: Observation, framing: Framing) -> str:
    """Identity, private brief, numbers, beliefs and the owner's own private state."""
    party, s = obs.party, obs.scenario
    issue = s.issue
    beliefs = ", ".join(f"{num(b.value)} ({b.probability:.0%})" for b in party.authority_belief)
    state = ""
    if framing.state_key is not None:
        state = render("state", label=framing.state_label, state=obs.private_state or "(none yet)")
        state += "\n"
    return render(
        "private",
        me=party.id,
        role=party.role,
        persona=f" {party.persona}" if party.persona else "",
        private_brief=party.private_brief,
        ideal=num(party.ideal),
        reservation=num(party.reservation),
        position=num(obs.position),
        process_cost=f"{num(round(party.process_cost * issue.span, 3))} {issue.unit}".strip(),
        authority=s.authority.name,
        beliefs=beliefs,
        state=state,
        round=obs.round,
    )


def negotiator_messages(obs: Observation, framing: Framing) -> list[Message]:
    """The chat messages of one turn, shared content first and private content last."""
    return [
        {"role": "system", "content": system_prompt(obs.scenario, obs.max_rounds, framing)},
        {"role": "user", "content": shared_text(obs) + "\n" + private_text(obs, framing)},
    ]


def repair_messages(messages: list[Message], reply: str, error: str) -> list[Message]:
    """The turn's messages plus the invalid reply and the validation error."""
    return [
        *messages,
        {"role": "assistant", "content": reply},
        {"role": "user", "content": render("repair", error=error)},
    ]


# -- the value grid ---------------------------------------------------------------------------
MAX_GRID = 41
_COARSE = (1, 2, 5, 10, 20, 25, 50, 100, 200, 500, 1000)


def snap(issue: Issue, value: float) -> float:
    """``value`` clamped into the range and rounded to the issue's own step."""
    v = issue.min + round((value - issue.min) / issue.step) * issue.step
    return round(min(issue.max, max(issue.min, v)), 6)


def value_grid(issue: Issue, anchors: list[float]) -> list[float]:
    """Allowed values for the schema's ``value`` enum: a sensible grid plus public anchors.

    The issue's own grid if it is small; otherwise a coarser multiple of its step with at most
    about :data:`MAX_GRID` values. ``anchors`` (status quo, opening and current positions) are
    added, snapped to the issue's step, so a party can always name a value on the table.
    """
    values = set(_base_grid(issue))
    values |= {snap(issue, a) for a in anchors}
    return sorted(values)


@cache
def _base_grid(issue: Issue) -> frozenset[float]:
    """The issue's grid, coarsened if large (cached: it is the same for every turn)."""
    values = set(issue.grid())
    if len(values) > 60:
        k = next(
            (k for k in _COARSE if issue.span / (issue.step * k) + 1 <= MAX_GRID - 10), _COARSE[-1]
        )
        step = issue.step * k
        values = {round(issue.min + i * step, 6) for i in range(int(issue.span // step) + 1)}
        values.add(issue.max)
    return frozenset(values)


def _json_number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x


def observation_grid(obs: Observation) -> list[int | float]:
    """The value grid of a turn: the same for every party of a round (no private anchors)."""
    s = obs.scenario
    anchors = [s.issue.status_quo, *(p.ideal for p in s.parties), *obs.positions.values()]
    if obs.standing is not None:
        anchors.append(obs.standing)
    return [_json_number(v) for v in value_grid(s.issue, anchors)]


def turn_schema(obs: Observation, framing: Framing) -> dict[str, Any]:
    """The JSON schema of a turn: private state field (if any) first, then the action."""
    others = [p for p in obs.scenario.party_ids if p != obs.me]
    grid = observation_grid(obs)
    schema = action_schema(others, grid)
    if framing.state_key is not None:
        props = {framing.state_key: framing.state_schema, **schema["properties"]}
        required = [framing.state_key, *schema["required"]]
        schema = {**schema, "properties": props, "required": required}
    # One branch per move valid on this table, so a constrained decoder cannot, e.g.,
    # concede away from the others (the flat properties above stay for other readers).
    return with_message_limits(with_move_branches(schema, obs.table_view(), grid))


#: A message may use this many characters when decoding is constrained (about 25 words).
MESSAGE_CHARS = 160
#: What a constrained message may contain: printable ASCII without digits or a JSON string's
#: own delimiters (quote, backslash).
MESSAGE_PATTERN = rf"^[ !#-/:-\[\]-~]{{0,{MESSAGE_CHARS}}}$"


def with_message_limits(schema: dict[str, Any]) -> dict[str, Any]:
    """Constrain the public message of every move branch to :data:`MESSAGE_PATTERN`: at most
    :data:`MESSAGE_CHARS` printable ASCII characters and no digit at all. The move's value is
    on the table for everyone to read, so a message loses nothing by naming no number, and it
    can then neither name a number the move does not carry (not even as a full-width digit
    or a numeral in another script), nor disclose a private figure, nor copy a long span of
    the briefs. A decoder that ignores the constraint loses nothing: every reply is still
    validated at the boundary, and the coherence screen reads what was said."""
    message = {"type": "string", "pattern": MESSAGE_PATTERN}
    branches = [
        {**branch, "properties": {**branch["properties"], "message": message}}
        for branch in schema.get("anyOf", [])
    ]
    return {**schema, "anyOf": branches} if branches else schema
