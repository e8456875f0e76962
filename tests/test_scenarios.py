"""Scenario files: the built-ins load and list; malformed files give one line naming the field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from parley.cli import main
from parley.scenarios import ScenarioError, builtin_names, load_scenario
from parley.scenarios.loader import BUILTIN_DIR

BUILTINS = ("grid_curtailment", "trading_limits_fragmented", "trading_limits_unified")


# -- the built-ins -----------------------------------------------------------------------
def test_the_three_builtins_exist() -> None:
    assert tuple(builtin_names()) == BUILTINS


def test_builtin_loads_by_name_and_by_path(scenario_name: str) -> None:
    by_name = load_scenario(scenario_name)
    assert by_name == load_scenario(BUILTIN_DIR / f"{scenario_name}.yaml")
    assert by_name.name == scenario_name
    assert len(by_name.parties) >= 2 and by_name.description
    for party in by_name.parties:
        assert party.acceptable(party.ideal) and party.acceptable(party.reservation)
        assert len(party.private_brief.split()) >= 20  # a real brief, not a placeholder


def test_unknown_scenario_names_the_builtins() -> None:
    with pytest.raises(ScenarioError, match="unknown scenario 'atlantis'.*grid_curtailment"):
        load_scenario("atlantis")


def test_missing_scenario_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario(tmp_path / "nope.yaml")


def test_cli_lists_the_builtins(capsys) -> None:
    assert main(["scenarios"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(BUILTINS)
    for name, line in zip(BUILTINS, lines, strict=True):
        assert load_scenario(name).description in line


def test_cli_check_ok(capsys) -> None:
    path = BUILTIN_DIR / "grid_curtailment.yaml"
    assert main(["scenarios", "--check", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"ok  {path}: grid_curtailment (5 parties, authority rule preference)")


def test_cli_check_stops_at_the_first_bad_file(write_scenario, scenario_data, capsys) -> None:
    del scenario_data["title"]
    bad = write_scenario(scenario_data, name="bad")
    good = BUILTIN_DIR / "trading_limits_unified.yaml"
    assert main(["scenarios", "--check", str(good), str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out.startswith("ok  ")
    assert captured.err.strip().splitlines() == [
        f"parley scenarios: error: {bad.resolve()}: title: missing required field"
    ]


# -- malformed files ---------------------------------------------------------------------
Mutation = Callable[[dict], object]


def ambiguous(*bodies: tuple[str, float, float]) -> Mutation:
    def mutate(d: dict) -> None:
        d["authority"]["rule"] = "ambiguous"
        d["authority"]["bodies"] = [
            {"id": i, "name": i.title(), "value": v, "probability": p} for i, v, p in bodies
        ]

    return mutate


def setter(*path_and_value) -> Mutation:
    """``setter("issue", "min", 5)`` sets ``d["issue"]["min"] = 5``."""
    *path, key, value = path_and_value

    def mutate(d: dict) -> None:
        for part in path:
            d = d[part]
        d[key] = value

    return mutate


def deleter(*path) -> Mutation:
    *path, key = path

    def mutate(d: dict) -> None:
        for part in path:
            d = d[part]
        del d[key]

    return mutate


GRID_TEXT = (BUILTIN_DIR / "grid_curtailment.yaml").read_text(encoding="utf-8")

# name -> (mutation of the data, or replacement YAML text; expected field; words of the message)
MALFORMED: dict[str, tuple[Mutation | str, str, str]] = {
    "unknown_top_field": (setter("colour", "red"), "colour", "unknown field"),
    "unknown_party_field": (setter("parties", 0, "mood", "x"), "parties[0].mood", "unknown field"),
    "unknown_protocol_field": (setter("protocol", "rounds", 3), "protocol.rounds", "unknown"),
    "missing_title": (deleter("title"), "title", "missing required field"),
    "missing_issue": (deleter("issue"), "issue", "missing required field"),
    "missing_ideal": (deleter("parties", 1, "ideal"), "parties[1].ideal", "missing"),
    "missing_authority_rule": (deleter("authority", "rule"), "authority.rule", "missing"),
    "ideal_out_of_range": (setter("parties", 2, "ideal", 120), "parties[2].ideal", "outside"),
    "reservation_out_of_range": (
        setter("parties", 0, "reservation", -5),
        "parties[0].reservation",
        "outside [0, 100]",
    ),
    "status_quo_out_of_range": (
        setter("issue", "status_quo", 101),
        "issue.status_quo",
        "outside",
    ),
    "belief_value_out_of_range": (
        lambda d: d["parties"][1]["authority_belief"][0].update(value=150),
        "parties[1].authority_belief[0].value",
        "outside",
    ),
    "belief_probabilities_not_one": (
        lambda d: d["parties"][0]["authority_belief"][1].update(probability=0.3),
        "parties[0].authority_belief",
        "sum to 0.9",
    ),
    "belief_probability_above_one": (
        lambda d: d["parties"][3]["authority_belief"][0].update(probability=1.5),
        "parties[3].authority_belief[0].probability",
        "less than or equal to 1",
    ),
    "no_beliefs": (setter("parties", 0, "authority_belief", []), "parties[0].authority_belief", ""),
    "duplicate_party_id": (setter("parties", 3, "id", "operator"), "parties[3].id", "duplicate"),
    "bad_party_id": (setter("parties", 0, "id", "Grid Operator"), "parties[0].id", "pattern"),
    "bad_scenario_name": (setter("name", "grid-2"), "name", "pattern"),
    "quorum_above_parties": (
        setter("protocol", "escalation_quorum", 6),
        "protocol.escalation_quorum",
        "larger than the 5 parties",
    ),
    "quorum_zero": (setter("protocol", "escalation_quorum", 0), "protocol.escalation_quorum", ""),
    "max_rounds_zero": (setter("protocol", "max_rounds", 0), "protocol.max_rounds", ""),
    "tolerance_above_one": (
        setter("protocol", "agreement_tolerance", 1.5),
        "protocol.agreement_tolerance",
        "",
    ),
    "non_numeric_min": (setter("issue", "min", "low"), "issue.min", "valid number"),
    "boolean_max": (setter("issue", "max", True), "issue.max", "valid number"),
    "numeric_string_ideal": (setter("parties", 0, "ideal", "55"), "parties[0].ideal", "number"),
    "nan_min": (setter("issue", "min", float("nan")), "issue.min", "finite"),
    "max_equals_min": (setter("issue", "max", 0), "issue.max", "greater than min"),
    "max_below_min": (setter("issue", "max", -10), "issue.max", "greater than min"),
    "step_larger_than_range": (setter("issue", "step", 500), "issue.step", "larger"),
    "empty_parties": (setter("parties", []), "parties", "at least 2"),
    "one_party": (lambda d: d.update(parties=d["parties"][:1]), "parties", "at least 2"),
    "parties_not_a_list": (setter("parties", {"operator": 1}), "parties", "valid list"),
    "negative_process_cost": (
        setter("parties", 4, "process_cost", -0.1),
        "parties[4].process_cost",
        "greater than or equal to 0",
    ),
    "empty_private_brief": (
        setter("parties", 2, "private_brief", ""),
        "parties[2].private_brief",
        "at least 1 character",
    ),
    "preference_rule_without_preference": (
        deleter("authority", "preference"),
        "authority.preference",
        "required when rule is 'preference'",
    ),
    "preference_out_of_range": (
        setter("authority", "preference", 140),
        "authority.preference",
        "outside",
    ),
    "unknown_authority_rule": (setter("authority", "rule", "coin_toss"), "authority.rule", ""),
    "ambiguous_with_one_body": (
        ambiguous(("regulator", 45, 1.0)),
        "authority.bodies",
        "at least two bodies",
    ),
    "body_probabilities_not_one": (
        ambiguous(("a", 30, 0.5), ("b", 60, 0.4)),
        "authority.bodies",
        "sum to 0.9",
    ),
    "body_value_out_of_range": (
        ambiguous(("a", 30, 0.5), ("b", 160, 0.5)),
        "authority.bodies[1].value",
        "outside",
    ),
    "duplicate_body_id": (
        ambiguous(("a", 30, 0.5), ("a", 60, 0.5)),
        "authority.bodies[1].id",
        "duplicate",
    ),
    "duplicate_yaml_key": (
        GRID_TEXT.replace("    ideal: 55\n", "    ideal: 55\n    ideal: 30\n", 1),
        "ideal",
        "duplicate key (line",
    ),
    "invalid_yaml": (GRID_TEXT.replace("issue:\n", "issue:\n  - [unclosed\n", 1), "", "YAML"),
    "top_level_list": ("- name: grid\n- title: x\n", "", "expected a mapping"),
    "empty_file": ("", "", "expected a mapping"),
}


def test_there_are_at_least_twenty_malformed_cases() -> None:
    assert len(MALFORMED) >= 20


@pytest.fixture(params=sorted(MALFORMED))
def malformed(request, write_scenario, scenario_data) -> tuple[Path, str, str]:
    """A malformed scenario file, its expected field path and words of its message."""
    change, field, words = MALFORMED[request.param]
    if isinstance(change, str):
        text = change
    else:
        change(scenario_data)
        text = scenario_data
    return write_scenario(text, name=request.param), field, words


def test_malformed_file_is_one_line_naming_file_and_field(malformed) -> None:
    path, field, words = malformed
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert "\n" not in message
    prefix = f"{path.resolve()}: " + (f"{field}: " if field else "")
    assert message.startswith(prefix), message
    assert words in message


def test_malformed_file_through_the_cli(malformed, tmp_path: Path, capsys) -> None:
    path, field, _ = malformed
    assert main(["scenarios", "--check", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert str(path.resolve()) in err and field in err
    out = tmp_path / "results"
    code = main(["run", "--scenario", str(path), "--policy", "heuristic", "--out", str(out)])
    assert code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("parley run: error: ") and field in captured.err
    assert len(captured.err.strip().splitlines()) == 1
    assert not out.exists()
