"""The fixed negotiation grammar: typed actions, their validation, and the JSON schema.

The grammar is identical for every condition and backend. Raw model output is parsed
into an :class:`Action` here, at the boundary; nothing downstream handles raw text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from parley.llm.replies import ReplyError, extract_json

MAX_MESSAGE_WORDS = 60
MAX_MESSAGE_CHARS = 600


class ActionKind(StrEnum):
    """The six moves a negotiator can make."""

    PROPOSE = "propose"
    CONCEDE = "concede"
    HOLD = "hold"
    ACCEPT = "accept"
    SUPPORT = "support"
    ESCALATE = "escalate"


ACTION_KINDS: tuple[str, ...] = tuple(k.value for k in ActionKind)
VALUE_KINDS = frozenset({ActionKind.PROPOSE, ActionKind.CONCEDE})


class InvalidAction(ReplyError):
    """An action that breaks the grammar; the message says why (it is shown to the model)."""


class Action(BaseModel):
    """One negotiator turn: an action kind, its fields, and a short public message."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ActionKind
    value: float | None = None
    target: str | None = None
    message: str = Field(default="", max_length=MAX_MESSAGE_CHARS)

    @classmethod
    def hold(cls, message: str = "") -> Action:
        return cls(kind=ActionKind.HOLD, message=message)

    def describe(self) -> str:
        """A short human-readable form, e.g. ``propose 62.5`` or ``support risk``."""
        match self.kind:
            case ActionKind.PROPOSE | ActionKind.CONCEDE:
                return f"{self.kind} {self.value:g}"
            case ActionKind.SUPPORT:
                return f"support {self.target}"
            case _:
                return str(self.kind)


class TableView(BaseModel):
    """What validation needs to know of the table: bounds, parties, positions."""

    model_config = ConfigDict(frozen=True)

    lo: float
    hi: float
    me: str
    positions: Mapping[str, float]
    standing: float | None


def median_of_others(view: TableView) -> float | None:
    """The median position of every party but ``view.me``."""
    others = sorted(v for p, v in view.positions.items() if p != view.me)
    if not others:
        return None
    mid = len(others) // 2
    return others[mid] if len(others) % 2 else (others[mid - 1] + others[mid]) / 2


def validate_action(action: Action, view: TableView) -> Action:
    """Check an action against the grammar and the table; raise :class:`InvalidAction`.

    Returns the action with its message trimmed to :data:`MAX_MESSAGE_WORDS` words.
    """
    kind = action.kind
    if kind in VALUE_KINDS:
        if action.value is None:
            raise InvalidAction(f"'{kind}' needs a numeric 'value'")
        if not (view.lo <= action.value <= view.hi):
            raise InvalidAction(
                f"value {action.value:g} is outside the issue's range [{view.lo:g}, {view.hi:g}]"
            )
    elif action.value is not None and kind != ActionKind.HOLD:
        # A stray value on hold is harmless noise; elsewhere it signals confusion.
        raise InvalidAction(f"'{kind}' takes no 'value'")
    if kind == ActionKind.CONCEDE:
        anchor = median_of_others(view)
        own = view.positions.get(view.me)
        value = float(action.value)  # type: ignore[arg-type]
        if (
            anchor is not None
            and own is not None
            and abs(value - anchor) >= abs(own - anchor) - 1e-9
        ):
            raise InvalidAction(
                f"concede to {value:g} does not move toward the others "
                f"(your position {own:g}, their median {anchor:g})"
            )
    if kind == ActionKind.SUPPORT:
        if not action.target:
            raise InvalidAction("'support' needs a 'target' party id")
        if action.target == view.me:
            raise InvalidAction("a party cannot support itself")
        if action.target not in view.positions:
            known = ", ".join(p for p in view.positions if p != view.me)
            raise InvalidAction(f"unknown support target '{action.target}' (parties: {known})")
    elif action.target is not None and kind != ActionKind.HOLD:
        raise InvalidAction(f"'{kind}' takes no 'target'")
    if kind == ActionKind.ACCEPT and view.standing is None:
        raise InvalidAction("there is no standing proposal to accept")
    words = action.message.split()
    if len(words) > MAX_MESSAGE_WORDS:
        action = action.model_copy(update={"message": " ".join(words[:MAX_MESSAGE_WORDS])})
    return action


def parse_action(data: Mapping[str, Any] | str) -> Action:
    """Parse raw model output (text or a decoded object) into an :class:`Action`.

    Accepts the field name ``action`` or ``kind`` for the move, and numeric strings for
    ``value``. Anything else is an :class:`InvalidAction` with a message fit for a repair.
    """
    try:
        obj = extract_json(data) if isinstance(data, str) else dict(data)
    except ReplyError as err:
        raise InvalidAction(str(err)) from None
    kind = obj.pop("action", None) or obj.pop("kind", None)
    if kind is None:
        raise InvalidAction(f"missing 'action' (one of: {', '.join(ACTION_KINDS)})")
    if str(kind).strip().lower() not in ACTION_KINDS:
        raise InvalidAction(f"unknown action '{kind}' (one of: {', '.join(ACTION_KINDS)})")
    try:
        return Action(
            kind=ActionKind(str(kind).strip().lower()),
            value=_as_number(obj.get("value")),
            target=obj.get("target") or None,
            message=_trimmed(str(obj.get("message") or "")),
        )
    except ValidationError as err:
        first = err.errors()[0]
        raise InvalidAction(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def _trimmed(message: str) -> str:
    """A verbose message is cut to the word and character limits, not a reason to reject a move.

    Control and format characters (terminal escapes, bidi overrides) are dropped: a message
    is printed in transcripts and shown to people, and must not drive their terminal.
    """
    message = "".join(ch if ch.isprintable() or ch.isspace() else " " for ch in message)
    words = message.split()
    if len(words) > MAX_MESSAGE_WORDS or len(message) > MAX_MESSAGE_CHARS:
        return " ".join(words[:MAX_MESSAGE_WORDS])[:MAX_MESSAGE_CHARS]
    return message


def _as_number(raw: Any) -> float | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        raise InvalidAction("'value' must be a number")
    if isinstance(raw, int | float):
        return float(raw)
    try:
        return float(str(raw).strip())
    except ValueError:
        raise InvalidAction(f"'value' must be a number, got {raw!r}") from None


def action_schema(
    parties: Sequence[str], value_grid: Sequence[float] | None = None
) -> dict[str, Any]:
    """The JSON schema of one action, with ``value`` an enum of allowed numbers if given.

    Small models emit parseable, in-range actions when the schema bounds them (llama.cpp's
    converter honours ``enum`` but not ``minimum``/``maximum``).
    """
    value: dict[str, Any] = {"type": ["number", "null"]}
    if value_grid is not None:
        value = {"enum": [*value_grid, None]}
    return {
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": list(ACTION_KINDS)},
            "value": value,
            "target": {"enum": [*parties, None]},
            "message": {"type": "string", "maxLength": 300},
        },
        "required": ["action", "value", "target", "message"],
        "additionalProperties": False,
    }


def with_move_branches(
    schema: dict[str, Any], view: TableView, value_grid: Sequence[float]
) -> dict[str, Any]:
    """Add an ``anyOf`` of one branch per move that is valid on this table.

    The flat ``properties`` stay (servers and fakes that read them see the union); a
    grammar-constrained decoder that follows ``anyOf`` (llama.cpp) can then only emit moves
    the grammar accepts here: a concession only to values closer to the others' median,
    a proposal only on the grid, a support only of another party. Validation at the
    boundary still checks every reply, whatever the server enforced.
    """
    props = schema["properties"]
    head = {k: v for k, v in props.items() if k not in {"action", "value", "target", "message"}}
    own = view.positions.get(view.me)
    anchor = median_of_others(view)
    concede = [
        v
        for v in value_grid
        if anchor is not None and own is not None and abs(v - anchor) < abs(own - anchor) - 1e-9
    ]
    others = [p for p in view.positions if p != view.me]
    none: dict[str, Any] = {"type": "null"}
    moves: list[tuple[ActionKind, dict[str, Any], dict[str, Any]]] = [
        (ActionKind.PROPOSE, {"enum": list(value_grid)}, none),
        (ActionKind.CONCEDE, {"enum": concede}, none),
        (ActionKind.HOLD, none, none),
        (ActionKind.ACCEPT, none, none),
        (ActionKind.SUPPORT, none, {"enum": others}),
        (ActionKind.ESCALATE, none, none),
    ]
    branches = []
    for kind, value, target in moves:
        if (kind == ActionKind.CONCEDE and not concede) or (
            kind == ActionKind.ACCEPT and view.standing is None
        ):
            continue
        branch_props = {
            **head,
            "action": {"enum": [kind.value]},
            "value": value,
            "target": target,
            "message": props["message"],
        }
        branches.append(
            {
                "type": "object",
                "properties": branch_props,
                "required": list(branch_props),
                "additionalProperties": False,
            }
        )
    return {**schema, "anyOf": branches}
