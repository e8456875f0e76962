"""Mixed tables: a policy per party (``seats``), recorded in every table, grouped in reports."""

from __future__ import annotations

import pickle

import pytest

from parley.agents.seating import canonical_seats, parse_seats, seating, uses_llm
from parley.experiments.grid import build_grid, canonical_cell
from parley.experiments.records import run_frames
from parley.experiments.summary import labelled, model_label
from parley.llm.fakes import PuppetLLM, negotiator_responder
from parley.model.model import NegotiationModel

PARTIES = ["operator", "industry", "critical", "retail", "city"]


def test_seats_parse_from_a_mapping_or_a_string_into_one_canonical_string() -> None:
    as_dict = {"industry": "heuristic", "city": "human"}
    assert parse_seats(as_dict) == as_dict
    assert parse_seats(" city = human , industry=heuristic ") == as_dict
    assert canonical_seats(as_dict) == "city=human,industry=heuristic"
    assert canonical_seats("industry=heuristic,city=human") == "city=human,industry=heuristic"
    assert canonical_seats(None) == canonical_seats("") == ""


@pytest.mark.parametrize(
    ("seats", "message"),
    [
        ("industry", "seat 'industry' is not PARTY=POLICY"),
        ("industry=genius", "unknown seat policy 'genius' for 'industry'"),
        ("city=llm,city=human", "party 'city' is seated twice (llm and human)"),
    ],
)
def test_malformed_seats_are_one_line_errors(seats: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_seats(seats)


def test_the_whole_seating_puts_the_table_policy_where_no_seat_says_otherwise() -> None:
    seated = seating(PARTIES, "heuristic", "industry=llm")
    assert list(seated) == PARTIES
    assert seated["industry"] == "llm" and set(seated.values()) == {"heuristic", "llm"}
    assert uses_llm("heuristic", "industry=llm") and not uses_llm("solver", "city=heuristic")
    with pytest.raises(ValueError, match="unknown seat party 'bank'"):
        seating(PARTIES, "heuristic", "bank=llm")


def test_a_mixed_table_keeps_each_partys_policy_and_is_picklable() -> None:
    model = NegotiationModel(
        policy="heuristic", seats={"industry": "solver", "city": "solver"}, rng=3
    )
    assert model.params["seats"] == "city=solver,industry=solver"
    names = {a.party_id: a.policy.name for a in model.negotiators}
    assert names == {**dict.fromkeys(PARTIES, "heuristic"), "industry": "solver", "city": "solver"}
    pickle.dumps(model.params)
    model.run()
    frames = run_frames(model)
    runs, moves, agents = frames["runs"], frames["moves"], frames["agents"]
    assert runs.seats[0] == "city=solver,industry=solver"
    assert runs.seating[0] == (
        "city=solver,critical=heuristic,industry=solver,operator=heuristic,retail=heuristic"
    )
    by_party = moves.groupby("party").policy.unique().map(list).to_dict()
    assert by_party["industry"] == ["solver"] and by_party["retail"] == ["heuristic"]
    assert set(agents.loc[agents.party == "city", "policy"]) == {"solver"}


def test_one_llm_seat_among_rule_based_negotiators_calls_the_llm_for_that_seat_only() -> None:
    llm = PuppetLLM(negotiator_responder)
    model = NegotiationModel(policy="heuristic", seats="retail=llm", llm=llm, rng=5, max_rounds=4)
    model.run()
    frames = run_frames(model)
    calls = frames["calls"]
    assert len(calls) >= model.round and set(calls.party) == {"retail"}
    assert frames["runs"].backend[0] == "embedded" and frames["runs"].calls[0] == len(calls)
    label = labelled(frames["runs"]).label[0]
    assert label == "heuristic · seats retail=llm (embedded/qwen2.5-0.5b)"


def test_reports_never_pool_a_mixed_table_with_a_uniform_one() -> None:
    assert model_label("heuristic", "none", "none") == "heuristic"
    assert model_label("heuristic", "none", "none", float("nan")) == "heuristic"
    assert (
        model_label("heuristic", "none", "none", "city=solver") == "heuristic · seats city=solver"
    )
    assert model_label("llm", "openai", "m", "city=heuristic") == "openai/m · seats city=heuristic"


def test_sweeps_take_seats_as_a_plain_value_and_refuse_human_seats() -> None:
    grid = build_grid({"seats": ["industry=llm", "city=solver"]}, {"policy": "heuristic"}, [0])
    cells = grid.cells()
    assert '"seats": "industry=llm"' in cells[0] and '"backend"' not in canonical_cell(
        {"policy": "heuristic", "seats": "city=solver", "backend": "embedded"}
    )
    assert '"backend"' in canonical_cell(
        {"policy": "heuristic", "seats": "industry=llm", "backend": "embedded"}
    )
    with pytest.raises(ValueError, match="a sweep cannot seat a human"):
        build_grid({}, {"seats": "city=human"}, [0])


def test_a_human_seat_without_a_move_source_is_refused_at_build() -> None:
    with pytest.raises(ValueError, match="seat 'city' is human but no move source was given"):
        NegotiationModel(policy="heuristic", seats="city=human")


def test_a_sweep_over_seatings_reports_each_seating_as_its_own_row(tmp_path, capsys) -> None:
    from parley import load_results
    from parley.cli import main

    grid = tmp_path / "grid.yaml"
    grid.write_text(
        "scenario: grid_curtailment\npolicy: heuristic\n"
        "seats: ['', 'industry=solver', 'city=solver,industry=solver']\nseeds: 2\n"
    )
    out = tmp_path / "o"
    assert main(["sweep", "--grid", str(grid), "--out", str(out), "--quiet"]) == 0
    runs = load_results(out)["runs"]
    seatings = sorted(runs.seats.fillna("").unique())
    assert seatings == ["", "city=solver,industry=solver", "industry=solver"]
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    headline = capsys.readouterr().out
    assert "heuristic · seats industry=solver " in headline
    assert "heuristic · seats city=solver,industry=solver " in headline
    assert sum(1 for line in headline.splitlines() if line.split("  ")[0] == "heuristic") == 1
    with pytest.raises(SystemExit):  # --seat takes PARTY=POLICY
        main(["sweep", "--seat", "industry", "--out", str(tmp_path / "x")])
