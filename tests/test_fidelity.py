"""Fidelity measures against hand computation, and the report's fidelity section."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest

from parley import fidelity as f
from parley.cli import main
from parley.experiments.fidelity_report import human_seats, load_reference
from parley.experiments.storage import ResultsError


def test_js_divergence_by_hand() -> None:
    # p = (1/2, 1/2, 0), q = (0, 1/2, 1/2): m = (1/4, 1/2, 1/4)
    # KL(p||m) = 1/2·log2(2) + 1/2·log2(1) = 1/2; KL(q||m) = 1/2; JS = 1/2.
    assert f.js_divergence(["a", "b"], ["b", "c"]) == pytest.approx(0.5)
    assert f.js_divergence({"a": 3, "b": 1}, {"a": 6, "b": 2}) == pytest.approx(0.0)
    assert f.js_divergence(["a"], ["b"]) == pytest.approx(1.0)
    # p = (3/4, 1/4), q = (1/4, 3/4): m = (1/2, 1/2); KL(p||m) = 3/4·log2(3/2) + 1/4·log2(1/2)
    kl = 0.75 * math.log2(1.5) + 0.25 * math.log2(0.5)
    assert f.js_divergence(["x", "x", "x", "y"], ["x", "y", "y", "y"]) == pytest.approx(kl)
    assert math.isnan(f.js_divergence([], ["a"]))


def test_total_variation_by_hand() -> None:
    # p = (2/3, 1/3), q = (1/4, 3/4): ½(|2/3 − 1/4| + |1/3 − 3/4|) = 5/12
    assert f.total_variation(["c", "c", "a"], ["c", "a", "a", "a"]) == pytest.approx(5 / 12)
    assert f.total_variation(["c"], ["c"]) == 0.0


def test_rate_difference_is_newcombes_hybrid_interval() -> None:
    # Newcombe (1998), table II, example (a): 56/70 − 48/80 = 0.2, interval 0.0524 to 0.3339.
    d = f.rate_difference(56, 70, 48, 80)
    assert d.value == pytest.approx(0.2)
    assert (d.lo, d.hi) == (pytest.approx(0.0524, abs=1e-4), pytest.approx(0.3339, abs=1e-4))
    # example (e): 10/10 − 0/10 = 1, interval 0.6075 to 1.
    d = f.rate_difference(10, 10, 0, 10)
    assert (d.value, d.hi) == (1.0, 1.0) and d.lo == pytest.approx(0.6075, abs=1e-4)
    assert math.isnan(f.rate_difference(1, 2, 0, 0).value)


def test_wasserstein_1_is_the_area_between_the_empirical_cdfs() -> None:
    # {1, 3} vs {2}: |F_a − F_b| is 1/2 on [1, 2) and 1/2 on [2, 3): area 1.
    assert f.wasserstein_1([1, 3], [2]) == pytest.approx(1.0)
    # a shift by 2 moves every unit of mass by 2.
    assert f.wasserstein_1([0, 1, 5], [2, 3, 7]) == pytest.approx(2.0)
    # {0, 0, 10} vs {4, 4}: F_a − F_b = 2/3 on [0, 4), −1/3 on [4, 10): 8/3 + 2 = 14/3.
    assert f.wasserstein_1([0, 0, 10], [4, 4]) == pytest.approx(14 / 3)
    assert math.isnan(f.wasserstein_1([], [1]))


def _runs(outcomes, arcs, rounds, finals) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "completed": [o != "stopped" for o in outcomes],
            "outcome": [o.split(":")[0] for o in outcomes],
            "outcome_class": outcomes,
            "concession_arc": arcs,
            "rounds": rounds,
            "final_value": finals,
        }
    )


def test_fidelity_of_a_cell_by_hand() -> None:
    cell = _runs(
        ["compromise", "compromise", "authority_decision:deadline", "stopped"],
        [True, False, False, True],
        [4, 6, 10, 2],
        [50.0, 60.0, 40.0, float("nan")],
    )
    ref = _runs(["compromise", "authority_decision:escalation"], [True, True], [5, 3], [55, 30])
    row = f.fidelity(cell, ["propose", "hold"], ref, ["propose", "propose"], span=100)
    assert (row["n"], row["n_reference"]) == (3, 2)  # the stopped run is not data
    assert row["compromise"] == pytest.approx(2 / 3) and row["reference_compromise"] == 0.5
    assert row["compromise_diff"] == pytest.approx(2 / 3 - 1 / 2)
    # classes: cell (2/3 compromise, 1/3 deadline), ref (1/2 compromise, 1/2 escalation)
    assert row["outcome_tv"] == pytest.approx(0.5 * (1 / 6 + 1 / 3 + 1 / 2))
    # (1/2, 1/2) vs (1, 0): m = (3/4, 1/4); ½[½log2(2/3) + ½log2 2] + ½[log2(4/3)]
    js = 0.5 * (0.5 * math.log2(2 / 3) + 0.5 * math.log2(2)) + 0.5 * math.log2(4 / 3)
    assert row["action_jsd"] == pytest.approx(js)
    assert row["arc_diff"] == pytest.approx(1 / 3 - 1)
    assert row["rounds_diff"] == pytest.approx(20 / 3 - 4)
    assert row["final_diff"] == pytest.approx(0.5 - 0.425)
    # final values /100: {0.4, 0.5, 0.6} vs {0.3, 0.55}: CDF gaps 1/2 on [.3,.4), 1/6 on
    # [.4,.5), 1/6 on [.5,.55), 1/3 on [.55,.6) -> .05 + .01667 + .00833 + .01667 = 0.09167
    assert row["final_w1"] == pytest.approx(0.05 + 0.1 / 6 + 0.05 / 6 + 0.05 / 3)


def test_human_seats_of_a_seating() -> None:
    assert human_seats("city=human,industry=llm,operator=human") == "city,operator"
    assert human_seats("city=heuristic") == "" and human_seats(float("nan")) == ""


def _run(out: Path, *flags: str, stdin: str | None = None) -> None:
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "parley", "run", "--quiet", "--out", str(out), *flags]
    done = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_report_against_human_seat_runs(tmp_path: Path, capsys) -> None:
    sweep = tmp_path / "sweep"
    argv = ["sweep", "--policy", "heuristic", "solver", "--scenario", "grid_curtailment"]
    assert main([*argv, "--seeds", "3", "--out", str(sweep), "--quiet"]) == 0
    human = tmp_path / "human"
    moves = "propose 60 Industry can drop faster\n" + "accept\n" * 12
    for name, seed in (("ana", "1"), ("ben", "2")):
        _run(
            human / name,
            "--policy",
            "heuristic",
            "--seat",
            "operator=human",
            "--seed",
            seed,
            stdin=moves,
        )
    capsys.readouterr()
    assert main(["report", str(sweep), "--reference", str(human)]) == 0
    text = (sweep / "report.md").read_text()
    assert f"### Fidelity against the reference runs in {human}" in text
    rows = [line for line in text.splitlines() if "| human seats: operator |" in line]
    assert len(rows) == 2  # heuristic and solver, each against the two human runs
    assert all("| 3 / 2 |" in r for r in rows)
    # the coherence screen side by side: cell / reference incoherent-move rates
    rates = [re.search(r"\| (\d\.\d\d) / (\d\.\d\d) \|$", r) for r in rows]
    assert all(rates), rows
    heuristic, solver = (float(m.group(1)) for m in rates if m)  # the report's label order
    assert solver == 0.0 and heuristic <= 0.05  # rule-based moves are coherent
    assert (sweep / "figures" / "heuristic-fidelity.png").stat().st_size > 1000
    assert (sweep / "figures" / "solver-fidelity.png").exists()
    ref = load_reference(human)
    assert sorted(ref["runs"].run_id) == ["ana/run", "ben/run"]


def test_report_against_a_baseline_directory_compares_all_seats(tmp_path: Path) -> None:
    base, other = tmp_path / "base", tmp_path / "other"
    assert (
        main(
            [
                "sweep",
                "--policy",
                "heuristic",
                "--scenario",
                "grid_curtailment",
                "--seeds",
                "2",
                "--out",
                str(base),
                "--quiet",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "sweep",
                "--policy",
                "solver",
                "--scenario",
                "grid_curtailment",
                "--seeds",
                "2",
                "--out",
                str(other),
                "--quiet",
            ]
        )
        == 0
    )
    assert main(["report", str(other), "--reference", str(base), "--format", "html"]) == 0
    html = (other / "report.html").read_text()
    assert "Fidelity against the reference runs" in html and "all seats" in html


def test_a_bad_reference_is_one_line_exit_2(tmp_path: Path, capsys) -> None:
    assert main(["run", "--policy", "heuristic", "--quiet", "--out", str(tmp_path / "r")]) == 0
    capsys.readouterr()
    assert main(["report", str(tmp_path / "r"), "--reference", str(tmp_path / "missing")]) == 2
    assert "is neither a condition" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "r"), "--reference", str(tmp_path / "empty")]) == 2
    assert "no parley results in it" in capsys.readouterr().err
    with pytest.raises(ResultsError):
        load_reference(tmp_path / "nowhere")
