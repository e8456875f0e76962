"""``parley protocol``: the known-answer check through the whole pipeline, and its CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import parley
from parley.agents.factory import CONDITIONS
from parley.cli import main
from parley.experiments.summary import cell_table
from parley.scenarios import builtin_names

pytestmark = pytest.mark.slow  # two full protocols (540 runs) and their reports


@pytest.fixture(scope="module")
def protocols(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The full protocol (3 scenarios x 6 conditions x 15 seeds) for both rule-based policies."""
    root = tmp_path_factory.mktemp("protocol")
    out = {}
    for policy in ("solver", "heuristic"):
        out[policy] = root / policy
        assert main(["protocol", "--policy", policy, "--out", str(out[policy]), "--quiet"]) == 0
    return out


def scenario_rates(results: Path) -> dict[str, tuple[float, float]]:
    runs = parley.load_results(results)["runs"]
    return {
        s: ((g.outcome == "authority_decision").mean(), (g.outcome == "compromise").mean())
        for s, g in runs.groupby("scenario")
    }


def test_the_protocol_runs_every_cell(protocols: dict[str, Path]) -> None:
    res = parley.load_results(protocols["heuristic"])
    runs = res["runs"]
    assert len(runs) == 3 * 6 * 15 and (runs.status == "ok").all()
    assert set(runs.scenario) == set(builtin_names()) and set(runs.condition) == set(CONDITIONS)
    assert runs.groupby(["scenario", "condition"]).size().eq(15).all()
    assert res.manifest["kind"] == "protocol" and res.manifest["status"] == "complete"


def test_known_answer_solver_vs_heuristic(protocols: dict[str, Path]) -> None:
    solver, heuristic = scenario_rates(protocols["solver"]), scenario_rates(protocols["heuristic"])
    assert set(solver) == set(heuristic) == set(builtin_names())
    for scenario in builtin_names():
        assert solver[scenario][0] >= 0.9, scenario  # the solver hands the issue to the authority
        assert heuristic[scenario][1] >= 0.6, scenario  # the heuristic sampler mostly settles
        assert solver[scenario][0] > heuristic[scenario][0]


def test_the_report_flags_the_solver_cells_only(protocols: dict[str, Path]) -> None:
    solver_text = (protocols["solver"] / "report.md").read_text()
    heuristic_text = (protocols["heuristic"] / "report.md").read_text()
    for scenario in builtin_names():
        for condition in CONDITIONS:
            assert f"authority collapse: solver · {scenario} · {condition}" in solver_text
    assert "authority collapse:" not in heuristic_text
    res = parley.load_results(protocols["solver"])
    cells = cell_table(res["runs"], res["moves"], res["agents"])
    assert len(cells) == 18 and cells.authority_collapse.all()
    assert (protocols["solver"] / "figures" / "solver-entropy-vs-authority.png").is_file()


def test_protocol_narrowed_and_bad_input(tmp_path: Path, capsys) -> None:
    out = tmp_path / "narrow"
    args = [
        "protocol",
        "--policy",
        "heuristic",
        "--scenario",
        "grid_curtailment",
        "--condition",
        "none",
        "bounded",
        "--seeds",
        "2",
        "--out",
        str(out),
        "--quiet",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "4 runs (0 already done, 4 run now)" in printed
    assert printed.count("heuristic  grid_curtailment") == 2  # the headline table
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "protocol" and (out / "report.md").is_file()
    assert main(["protocol", "--policy", "heuristic", "solver", "--out", str(tmp_path / "x")]) == 2
    assert "one policy" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
