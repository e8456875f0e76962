"""Replay of what a run recorded, no mixed sweep grids, and bad output/input handled in one line.

Each hardening case: one clear line, exit code 2, and nothing finished is lost.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from parley import load_results
from parley.cli import main
from parley.experiments.shards import SHARD_DIR
from parley.scenarios.loader import BUILTIN_DIR
from parley.viz.replay import ReplayRun

RUN = ["run", "--policy", "heuristic", "--seed", "2", "--quiet"]
SWEEP = ["sweep", "--policy", "heuristic", "--scenario", "grid_curtailment", "--quiet"]


def one_line_error(capsys, *parts: str) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for part in parts:
        assert part in err, err
    return err


# -- replay reads what the run was made with ---------------------------------------------------
def test_replay_shows_the_runs_own_deadline(tmp_path: Path) -> None:
    out = tmp_path / "r"
    assert main([*RUN, "--max-rounds", "4", "--out", str(out)]) == 0
    replay = ReplayRun.open(out)
    assert replay.max_rounds == 4  # it used to replay as "of 10", the scenario's deadline
    assert replay.view(replay.last_round).max_rounds == 4


def test_a_run_on_a_scenario_file_replays_from_anywhere(tmp_path: Path, monkeypatch) -> None:
    data = (BUILTIN_DIR / "grid_curtailment.yaml").read_text(encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    (work / "custom.yaml").write_text(data.replace("name: grid_curtailment", "name: custom_grid"))
    monkeypatch.chdir(work)
    assert main([*RUN, "--scenario", "custom.yaml", "--out", "res"]) == 0
    monkeypatch.chdir(tmp_path)  # elsewhere: the relative path in the manifest no longer works
    replay = ReplayRun.open(work / "res")
    assert replay.spec.name == "custom_grid"
    runs = load_results(work / "res")["runs"]
    assert runs.loc[0, "scenario_file"] == str((work / "custom.yaml").resolve())


def test_older_results_fall_back_to_the_manifest(tmp_path: Path) -> None:
    out = tmp_path / "r"
    assert main([*RUN, "--max-rounds", "3", "--out", str(out)]) == 0
    runs = pd.read_parquet(out / "runs.parquet").drop(columns=["max_rounds", "scenario_file"])
    runs.to_parquet(out / "runs.parquet", index=False)
    assert ReplayRun.open(out).max_rounds == 3  # from manifest.json's parameters


# -- a sweep directory never mixes grids --------------------------------------------------------
def test_protocol_refuses_a_directory_holding_another_grid(tmp_path: Path, capsys) -> None:
    out = tmp_path / "p"
    base = ["protocol", "--policy", "heuristic", "--scenario", "grid_curtailment", "--quiet"]
    assert main([*base, "--condition", "none", "--seeds", "2", "--out", str(out)]) == 0
    before = pd.read_parquet(out / "runs.parquet")
    capsys.readouterr()
    assert main([*base, "--condition", "bounded", "--seeds", "2", "--out", str(out)]) == 2
    one_line_error(capsys, "holds 2 runs of another grid", "choose another --out")
    pd.testing.assert_frame_equal(pd.read_parquet(out / "runs.parquet"), before)
    # the same grid again resumes (nothing to run)
    assert main([*base, "--condition", "none", "--seeds", "2", "--out", str(out)]) == 0


# -- hardening ----------------------------------------------------------------------------------
def test_out_under_a_file_is_refused_before_the_run(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    for argv in ([*RUN, "--out", str(blocker / "sub")], [*SWEEP, "--out", str(blocker / "s")]):
        assert main(argv) == 2
        captured = capsys.readouterr()
        assert captured.out == ""  # refused before the negotiation, not after it
        assert len(captured.err.strip().splitlines()) == 1 and "is a file" in captured.err
    assert blocker.read_text() == "not a directory"


def test_unwritable_out_is_refused_before_the_run(tmp_path: Path, capsys) -> None:
    assert main([*RUN, "--out", "/proc/self/parley-results"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "cannot write there" in captured.err
    assert len(captured.err.strip().splitlines()) == 1


def test_malformed_ipv6_base_url_is_one_line(capsys) -> None:
    argv = ["run", "--backend", "openai", "--model", "m", "--base-url", "http://[::1:8000/v1"]
    assert main(argv) == 2
    one_line_error(capsys, "--base-url", "not a valid URL")


@pytest.mark.parametrize("count", ["100000000000", "10000000"])
def test_seeds_have_an_upper_bound(tmp_path: Path, capsys, count: str) -> None:
    out = tmp_path / "s"
    assert_exit = pytest.raises(SystemExit)
    with assert_exit as exc:
        main([*SWEEP, "--seeds", count, "--out", str(out)])
    assert exc.value.code == 2
    one_line_error(capsys, "--seeds", "must be at most 10000")
    assert not out.exists()  # no lock left behind


def test_a_corrupt_manifest_does_not_block_resuming(tmp_path: Path) -> None:
    out = tmp_path / "s"
    assert main([*SWEEP, "--seeds", "3", "--out", str(out)]) == 0
    runs = pd.read_parquet(out / "runs.parquet")
    (out / "manifest.json").write_text('{"kind": "sweep", "grid')  # torn by hand
    assert main([*SWEEP, "--seeds", "3", "--out", str(out)]) == 0
    again = load_results(out)
    assert again.manifest["kind"] == "sweep"  # rebuilt
    pd.testing.assert_frame_equal(
        again["runs"].drop(columns="duration_s"), runs.drop(columns="duration_s")
    )


def test_a_shard_without_tables_is_run_again_not_dropped(tmp_path: Path, capsys) -> None:
    out = tmp_path / "s"
    assert main([*SWEEP, "--seeds", "3", "--out", str(out)]) == 0
    shard = sorted((out / SHARD_DIR).iterdir())[0]
    doc = json.loads(shard.read_text())
    shard.write_text(json.dumps({"summary": doc["summary"], "tables": {}}))
    capsys.readouterr()
    assert main([*SWEEP, "--seeds", "3", "--out", str(out)]) == 0
    summary = capsys.readouterr().out
    assert "3 runs (2 already done, 1 run now)" in summary and "0 failed" in summary
    assert len(load_results(out)["runs"]) == 3
    assert json.loads(shard.read_text())["tables"]["runs"]


def test_a_grid_files_seeds_have_the_same_bound(tmp_path: Path, capsys) -> None:
    grid = tmp_path / "grid.yaml"
    grid.write_text("policy: heuristic\nscenario: grid_curtailment\nseeds: 10000000\n")
    out = tmp_path / "s"
    assert main(["sweep", "--grid", str(grid), "--out", str(out), "--quiet"]) == 2
    one_line_error(capsys, "seeds must be at most 10000")
    assert not out.exists()


def test_a_grid_cell_with_a_bad_value_is_refused_before_any_run(tmp_path: Path, capsys) -> None:
    grid = tmp_path / "grid.yaml"
    grid.write_text("policy: heuristic\nscenario: grid_curtailment\nmax_rounds: [3, 0]\n")
    out = tmp_path / "s"
    assert main(["sweep", "--grid", str(grid), "--out", str(out), "--quiet"]) == 2
    one_line_error(capsys, "max_rounds must be at least 1, got 0")
    assert not out.exists()
