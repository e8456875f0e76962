"""The sampler-qualification report: cells, flags, comparisons, figures, formats, CLI."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest

import parley
from parley.cli import main
from parley.experiments.grid import build_grid
from parley.experiments.report import write_report
from parley.experiments.storage import write_results
from parley.experiments.summary import cell_table, comparisons
from parley.experiments.sweep import run_sweep

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small sweep: both rule-based policies, one scenario, two conditions, four seeds."""
    out = tmp_path_factory.mktemp("report") / "sweep"
    grid = build_grid(
        {"policy": ["heuristic", "solver"], "condition": ["none", "bounded"]},
        {"scenario": "grid_curtailment"},
        [0, 1, 2, 3],
    )
    run_sweep(grid, out, progress=False)
    return out


def test_cells_agree_with_the_runs_table(results: Path) -> None:
    res = parley.load_results(results)
    runs = res["runs"]
    cells = cell_table(runs, res["moves"], res["agents"]).set_index(["label", "condition"])
    assert len(cells) == 4 and (cells.n == 4).all() and (cells.failed == 0).all()
    for (label, condition), cell in cells.iterrows():
        mine = runs[(runs.policy == label) & (runs.condition == condition)]
        assert cell.authority == (mine.outcome == "authority_decision").mean()
        assert cell.compromise + cell.authority == pytest.approx(1.0)
        assert cell.authority_lo <= cell.authority <= cell.authority_hi
        triggers = cell.trigger_escalation + cell.trigger_deadlock + cell.trigger_deadline
        assert triggers == (mine.outcome == "authority_decision").sum()
    solver = cells.loc[("solver", "none")]
    assert solver.authority == 1.0 and solver.authority_collapse
    assert not cells.loc[("heuristic", "none")].authority_collapse


def test_comparisons_against_the_reference(results: Path) -> None:
    res = parley.load_results(results)
    cells = cell_table(res["runs"], res["moves"], res["agents"])
    comp = comparisons(cells, "bounded")
    assert set(comp.condition) == {"none"} and set(comp.label) == {"heuristic", "solver"}
    # The rule-based policies ignore the condition: same seeds, same outcomes, p = 1.
    assert (comp.difference == 0).all()
    assert comp.p_value.tolist() == pytest.approx([1.0, 1.0])
    assert comparisons(cells, "native").empty


def test_markdown_report_with_figures(results: Path, tmp_path: Path) -> None:
    report = write_report(results, fmt="md", out_dir=tmp_path)
    text = report.path.read_text()
    assert report.path == tmp_path / "report.md"
    assert "## Model: heuristic" in text and "## Model: solver" in text
    assert "| scenario | condition | n | excluded | compromise [95% CI]" in text
    assert "authority collapse: solver · grid_curtailment · none" in text
    assert "Against the reference condition 'bounded'" in text
    assert "| scenario | condition | moves | incoherent [95% CI] | leak |" in text
    assert "### Coherence per run" in text
    assert "diversity without fidelity: solver" not in text  # the solver does not negotiate
    assert len(report.figures) == 6
    for link in re.findall(r"!\[[^]]*\]\(([^)]+)\)", text):
        png = (tmp_path / link).read_bytes()
        assert png.startswith(PNG) and len(png) > 10_000
    assert {p.name for p in report.figures} >= {
        "solver-outcomes.png",
        "solver-entropy-vs-authority.png",
        "heuristic-trajectories.png",
    }
    rows = report.headline.splitlines()[2:]  # under the header and its rule
    assert [r.split()[:3] for r in rows] == [
        [label, "grid_curtailment", condition]
        for label in ("heuristic", "solver")
        for condition in ("bounded", "none")
    ]


def test_html_report_is_self_contained(results: Path, tmp_path: Path) -> None:
    report = write_report(results, fmt="html", reference="none", out_dir=tmp_path)
    page = report.path.read_text()
    assert page.startswith("<!doctype html>") and page.count("data:image/png;base64,") == 6
    assert 'src="figures/' not in page
    assert "Against the reference condition &#x27;none&#x27;" in page


def test_a_cell_of_failed_runs_only(tmp_path: Path) -> None:
    """An empty cell (every run failed) reports n = 0, no rates, no flags, and draws."""
    common = {
        "scenario": "s",
        "policy": "llm",
        "backend": "openai",
        "model": "m",
        "issue_min": 0.0,
        "issue_max": 100.0,
        "turns": 2,
        "invalid_turns": 0,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "reasoning_tokens": 0,
        "cost_usd": 0.001,
        "seed": 0,
        "final_value": 50.0,
    }
    runs = pd.DataFrame(
        [
            {
                **common,
                "run_id": "a",
                "condition": "none",
                "status": "ok",
                "outcome": "compromise",
                "trigger": None,
                "rounds": 1,
            },
            {
                **common,
                "run_id": "b",
                "condition": "bounded",
                "status": "failed",
                "outcome": None,
                "trigger": None,
                "rounds": 1,
                "final_value": None,
            },
        ]
    )
    moves = pd.DataFrame(
        {
            "run_id": ["a", "a", "b", "b"],
            "round": [1, 1, 1, 1],
            "party": ["x", "y", "x", "y"],
            "action": ["accept", "hold"] * 2,
        }
    )
    agents = pd.DataFrame(
        {
            "run_id": ["a"] * 4 + ["b"] * 4,
            "Step": [0.0, 0.0, 1.0, 1.0] * 2,
            "party": ["x", "y"] * 4,
            "position": [40, 60, 60, 60, 40, 60, 40, 60],
        }
    )
    write_results(tmp_path, {"runs": runs, "moves": moves, "agents": agents}, {"kind": "sweep"})
    cells = cell_table(runs, moves, agents).set_index("condition")
    empty = cells.loc["bounded"]
    assert (empty.n, empty.failed) == (0, 1)
    assert math.isnan(empty.authority) and not empty.authority_collapse
    assert empty.tokens == 15 and empty.cost_usd == pytest.approx(0.001)  # spent all the same
    assert cells.loc["none", "compromise"] == 1.0
    assert comparisons(cells.reset_index(), "bounded").p_value.isna().all()
    report = write_report(tmp_path)
    text = report.path.read_text()
    assert "| s | bounded | 0 | 1 | – | – |" in text and "No flag raised." in text
    assert "1 failed" in text


def test_cli_report_prints_the_headline(results: Path, tmp_path: Path, capsys) -> None:
    assert main(["report", str(results), "--out", str(tmp_path), "--format", "html"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split() == [
        "model",
        "scenario",
        "condition",
        "n",
        "excluded",
        "compromise",
        "authority",
        "entropy",
        "arc",
        "incoherent",
        "flags",
    ]
    assert sum("collapse" in line for line in lines) == 2  # the two solver cells
    assert f"Wrote {tmp_path / 'report.html'}" in err


def test_report_of_a_single_run(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    assert main(["run", "--policy", "solver", "--quiet", "--out", str(run)]) == 0
    assert main(["report", str(run)]) == 0
    out = capsys.readouterr().out
    # One run is a run, not a rate: the cell is shown but too thin to flag.
    assert "solver  grid_curtailment  none       1  0         0.00        1.00" in out
    assert "not interpreted" in out and "collapse" not in out
    assert "## Model: solver" in (run / "report.md").read_text()


@pytest.mark.parametrize("kind", ["missing", "empty", "file"])
def test_cli_report_on_something_else_is_one_line_exit_2(tmp_path: Path, capsys, kind) -> None:
    target = tmp_path / "x"
    if kind == "empty":
        target.mkdir()
    elif kind == "file":
        target.write_text("not results")
    assert main(["report", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("parley report: error: ") and err.count("\n") == 1


def test_the_coherence_screen_in_cells_and_its_flag(tmp_path: Path) -> None:
    """A cell of moves that recite the public brief is flagged incoherent; the rate has an
    interval; a failed run's moves are not screened."""
    brief = "A heatwave has pushed tonight's forecast peak 1,500 MW above available supply"
    ids = ["a", "b", "c", "d"]  # three valid runs (a flag needs three) and a failed one
    n = len(ids)
    runs = pd.DataFrame(
        {
            "run_id": ids,
            "status": ["ok", "ok", "ok", "failed"],
            "scenario": ["grid_curtailment"] * n,
            "policy": ["llm"] * n,
            "backend": ["fake"] * n,
            "model": ["m"] * n,
            "condition": ["none"] * n,
            "turn_order": ["simultaneous"] * n,
            "seed": list(range(n)),
            "outcome": ["compromise"] * 3 + [None],
            "trigger": [None] * n,
            "rounds": [1] * n,
            "issue_min": [0] * n,
            "issue_max": [100] * n,
            "invalid_turns": [0] * n,
            "turns": [2] * n,
        }
    )
    moves = pd.DataFrame(
        {
            "run_id": [r for r in ids for _ in range(2)],
            "round": [1] * 2 * n,
            "party": ["operator", "industry"] * n,
            "action": ["hold"] * 2 * n,
            "value": [None] * 2 * n,
            "message": [brief, "We hold."] * 3 + [brief, brief],
            "position_before": [55.0, 20.0] * n,
            "position_after": [55.0, 20.0] * n,
        }
    )
    agents = pd.DataFrame(
        {
            "run_id": [r for r in ids[:3] for _ in range(4)],
            "Step": [0, 0, 1, 1] * 3,
            "party": ["operator", "industry"] * 6,
            "position": [55, 20, 55, 20] * 3,
        }
    )
    cell = cell_table(runs, moves, agents).iloc[0]
    assert cell.screened_moves == 6 and cell.recite_rate == 0.5 and cell.leak_rate == 0.0
    assert cell.incoherent_rate == 0.5 and cell.incoherent_lo < 0.5 < cell.incoherent_hi
    assert cell.incoherent  # 0.5 > INCOHERENT_MOVE_RATE
    write_results(tmp_path, {"runs": runs, "moves": moves, "agents": agents}, {"kind": "sweep"})
    text = write_report(tmp_path).path.read_text()
    assert "incoherent: fake/m · grid_curtailment · none — 50% of 6 moves" in text


def test_a_cell_that_negotiates_and_still_collapses_raises_diversity_without_fidelity() -> None:
    """Three runs of four rounds: varied moves, concessions toward the others, and still the
    authority decides both — the paper's pattern. The same moves crammed into one round (the
    solver's) do not raise the flag."""

    def cell(rounds: int) -> pd.Series:
        actions = ["propose", "concede", "hold", "escalate"]
        runs = pd.DataFrame(
            {
                "run_id": ["a", "b", "c"],
                "status": ["ok"] * 3,
                "scenario": ["s"] * 3,
                "policy": ["heuristic"] * 3,
                "backend": ["none"] * 3,
                "model": ["none"] * 3,
                "condition": ["none"] * 3,
                "seed": [0, 1, 2],
                "outcome": ["authority_decision"] * 3,
                "trigger": ["deadlock"] * 3,
                "rounds": [rounds] * 3,
                "issue_min": [0] * 3,
                "issue_max": [100] * 3,
                "invalid_turns": [0] * 3,
                "turns": [3 * rounds] * 3,
            }
        )
        moves = pd.DataFrame(
            {
                "run_id": [r for r in ("a", "b", "c") for _ in range(3 * rounds)],
                "action": [actions[i % 4] for _ in ("a", "b", "c") for i in range(3 * rounds)],
            }
        )
        # x concedes from 10 toward y and z (at 90) by 10 points a round
        steps = range(rounds + 1)
        agents = pd.DataFrame(
            {
                "run_id": [r for r in ("a", "b", "c") for _ in steps for _ in "xyz"],
                "Step": [t for _ in ("a", "b", "c") for t in steps for _ in "xyz"],
                "party": [p for _ in ("a", "b", "c") for _ in steps for p in "xyz"],
                "position": [
                    v for _ in ("a", "b", "c") for t in steps for v in (10 + 10 * t, 90, 90)
                ],
            }
        )
        return cell_table(runs, moves, agents).iloc[0]

    negotiated = cell(4)
    assert negotiated.entropy_mean >= 1.0 and negotiated.arc_rate == 1.0
    assert negotiated.mean_rounds == 4 and negotiated.authority == 1.0
    assert negotiated.diversity_without_fidelity and negotiated.authority_collapse
    one_round = cell(1)  # the same mix of moves, no negotiation before the collapse
    assert one_round.entropy_mean >= 1.0 and one_round.arc_rate == 0.0
    assert one_round.authority_collapse and not one_round.diversity_without_fidelity
