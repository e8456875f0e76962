"""The fixed grammar: validation, parsing of raw model output, and the negotiator's apply."""

from __future__ import annotations

import pytest

from parley.agents.rules import HeuristicPolicy
from parley.checks import check_grammar_conformance
from parley.grammar import (
    ACTION_KINDS,
    MAX_MESSAGE_CHARS,
    MAX_MESSAGE_WORDS,
    Action,
    ActionKind,
    InvalidAction,
    TableView,
    action_schema,
    extract_json,
    median_of_others,
    parse_action,
    validate_action,
)
from parley.model.model import NegotiationModel

# me at 50, the others at 60 and 70: their median is 65.
VIEW = TableView(lo=0, hi=100, me="a", positions={"a": 50, "b": 60, "c": 70}, standing=60)


def act(kind: str, **fields) -> Action:
    return Action(kind=ActionKind(kind), **fields)


# -- validate_action ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "action",
    [
        act("propose", value=0),
        act("propose", value=100),
        act("propose", value=42.5),
        act("concede", value=55),
        act("concede", value=75),  # past the median but still closer to it
        act("hold"),
        act("hold", value=3, target="b"),  # stray fields on hold are harmless noise
        act("accept"),
        act("support", target="c"),
        act("escalate", message="let the authority decide"),
    ],
    ids=lambda a: a.describe(),
)
def test_valid_actions_pass_unchanged(action: Action) -> None:
    assert validate_action(action, VIEW) == action


@pytest.mark.parametrize(
    ("action", "error"),
    [
        (act("propose"), "needs a numeric 'value'"),
        (act("concede"), "needs a numeric 'value'"),
        (act("propose", value=-0.5), "outside the issue's range"),
        (act("propose", value=100.01), "outside the issue's range"),
        (act("concede", value=float("nan")), "outside the issue's range"),
        (act("concede", value=45), "does not move toward the others"),
        (act("concede", value=50), "does not move toward the others"),
        (act("concede", value=80), "does not move toward the others"),  # overshoots too far
        (act("accept", value=60), "takes no 'value'"),
        (act("escalate", value=1), "takes no 'value'"),
        (act("support", value=60, target="b"), "takes no 'value'"),
        (act("support"), "needs a 'target'"),
        (act("support", target="a"), "cannot support itself"),
        (act("support", target="zed"), "unknown support target 'zed'"),
        (act("propose", value=10, target="b"), "takes no 'target'"),
        (act("escalate", target="b"), "takes no 'target'"),
    ],
    ids=lambda x: x if isinstance(x, str) else None,
)
def test_invalid_actions_say_why(action: Action, error: str) -> None:
    with pytest.raises(InvalidAction, match=error):
        validate_action(action, VIEW)


def test_concede_direction_from_above() -> None:
    # me at 90, others at 20 and 40 (median 30): conceding means moving down.
    view = TableView(lo=0, hi=100, me="a", positions={"a": 90, "b": 20, "c": 40}, standing=None)
    assert validate_action(act("concede", value=70), view).value == 70
    with pytest.raises(InvalidAction, match="toward the others"):
        validate_action(act("concede", value=95), view)


def test_accept_needs_a_standing_proposal() -> None:
    view = VIEW.model_copy(update={"standing": None})
    with pytest.raises(InvalidAction, match="no standing proposal"):
        validate_action(act("accept"), view)


def test_unknown_support_target_lists_the_parties() -> None:
    with pytest.raises(InvalidAction, match=r"parties: b, c\)"):
        validate_action(act("support", target="d"), VIEW)


def test_message_is_trimmed_to_the_word_limit() -> None:
    words = [f"w{i}" for i in range(MAX_MESSAGE_WORDS + 25)]
    trimmed = validate_action(act("hold", message=" ".join(words)), VIEW)
    assert trimmed.message.split() == words[:MAX_MESSAGE_WORDS]
    short = act("hold", message="  a short   message ")
    assert validate_action(short, VIEW).message == short.message  # left alone


def test_median_of_others() -> None:
    assert median_of_others(VIEW) == 65
    odd = VIEW.model_copy(update={"positions": {"a": 1, "b": 9, "c": 3, "d": 5}})
    assert median_of_others(odd) == 5
    alone = VIEW.model_copy(update={"positions": {"a": 1}})
    assert median_of_others(alone) is None


# -- parse_action -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"action": "propose", "value": 55}', act("propose", value=55)),
        ('{"action": "propose", "value": "55.5"}', act("propose", value=55.5)),  # numeric string
        ('{"action": "concede", "value": " 40 "}', act("concede", value=40)),
        ('{"kind": " Concede ", "value": 50}', act("concede", value=50)),  # alias, case, spaces
        ('{"action": "HOLD", "message": "not yet"}', act("hold", message="not yet")),
        ('{"action": "support", "target": "b", "value": null}', act("support", target="b")),
        ('{"action": "support", "target": ""}', act("support")),  # empty target is no target
        ('{"action": "hold", "message": null}', act("hold")),
        ('{"action": "accept", "value": ""}', act("accept")),
        ('{"action": "escalate", "extra": 1}', act("escalate")),  # unknown keys are ignored
        ('Sure!\n```json\n{"action": "hold", "message": "hi"}\n```', act("hold", message="hi")),
        ('```\n{"action": "escalate"}\n```', act("escalate")),
        ('I think {"action": "accept"} is right. {"x": 1}', act("accept")),
    ],
)
def test_parse_action_accepts(raw: str, expected: Action) -> None:
    assert parse_action(raw) == expected


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("no json here", "no JSON object"),
        ("[1, 2, 3]", "no JSON object"),
        ('{"action": "propose", "value": 5', "no JSON object"),  # truncated
        ('{"value": 3}', "missing 'action'"),
        ('{"action": "dance"}', "unknown action 'dance'"),
        ('{"action": "propose", "value": "abc"}', "must be a number, got 'abc'"),
        ('{"action": "propose", "value": true}', "must be a number"),
        ('{"action": "propose", "value": [1]}', "must be a number"),
        ('{"action": "support", "target": 3}', "target"),
    ],
)
def test_parse_action_rejects(raw: str, error: str) -> None:
    with pytest.raises(InvalidAction, match=error):
        parse_action(raw)


def test_parse_action_from_a_mapping_does_not_mutate_it() -> None:
    data = {"action": "propose", "value": 12}
    assert parse_action(data) == act("propose", value=12)
    assert data == {"action": "propose", "value": 12}


def test_parse_action_trims_verbose_messages() -> None:
    long_words = " ".join(["word"] * 200)
    assert len(parse_action({"action": "hold", "message": long_words}).message.split()) == 60
    one_blob = "x" * (MAX_MESSAGE_CHARS * 2)
    assert len(parse_action({"action": "hold", "message": one_blob}).message) == MAX_MESSAGE_CHARS


def test_extract_json_prefers_the_whole_text() -> None:
    assert extract_json('  {"a": {"b": 1}}  ') == {"a": {"b": 1}}


def test_action_schema_bounds_every_field() -> None:
    schema = action_schema(["a", "b"], value_grid=[0, 50, 100])
    props = schema["properties"]
    assert props["action"]["enum"] == list(ACTION_KINDS)
    assert props["value"]["enum"] == [0, 50, 100, None]
    assert props["target"]["enum"] == ["a", "b", None]
    assert schema["additionalProperties"] is False
    assert action_schema(["a"])["properties"]["value"] == {"type": ["number", "null"]}


def test_describe() -> None:
    assert act("propose", value=62.5).describe() == "propose 62.5"
    assert act("support", target="b").describe() == "support b"
    assert act("escalate").describe() == "escalate"


# -- the negotiator applies only valid moves ---------------------------------------------
@pytest.fixture
def puppet_model(scripted):
    """A grid_curtailment model where every party plays ``script``, else the heuristic."""

    def make(script: dict[int, Action], **kw) -> NegotiationModel:
        policy = scripted({"*": script}, fallback=HeuristicPolicy())
        return NegotiationModel(scenario="grid_curtailment", policy=policy, rng=1, **kw)

    return make


@pytest.mark.parametrize("turn_order", ["simultaneous", "sequential"])
def test_invalid_action_becomes_hold_and_is_counted(puppet_model, turn_order: str) -> None:
    script = {2: act("propose", value=500), 3: act("support", target="nobody")}
    model = puppet_model(script, turn_order=turn_order)
    model.step()
    before = dict(model.positions)
    model.step()
    assert model.positions == before  # every out-of-range proposal became hold
    moves = model.datacollector.get_table_dataframe("moves")
    second = moves[moves["round"] == 2]
    assert (second["action"] == "hold").all() and not second["valid"].any()
    assert second["error"].str.contains("outside the issue's range").all()
    model.step()
    assert all(a.invalid_turns == 2 for a in model.negotiators)
    assert check_grammar_conformance(model) == {"turns": 15, "invalid": 10}


def test_valid_moves_change_positions_as_the_grammar_says(puppet_model) -> None:
    model = puppet_model({1: act("propose", value=50)})
    model.step()
    assert set(model.positions.values()) == {50.0}
    assert model.outcome is not None and model.outcome.kind == "compromise"
    assert model.outcome.value == 50
    check_grammar_conformance(model)


def test_conformance_check_catches_a_tampered_history() -> None:
    model = NegotiationModel(scenario="grid_curtailment", policy="heuristic", rng=0)
    model.run()
    first = model.history[0][0]
    forged = first.__class__(
        first.round, first.party, act("propose", value=999), True, first.position_before, 999
    )
    model.history[0] = (forged, *model.history[0][1:])
    with pytest.raises(AssertionError, match="round 1"):
        check_grammar_conformance(model)
