"""``parley run``: the transcript, the results written by ``--out``, help and bad input."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from parley import __version__, load_results
from parley.cli import build_parser, main
from parley.experiments.storage import TABLES

RUN = ["run", "--scenario", "grid_curtailment", "--policy", "heuristic", "--seed", "3"]


def run_parser() -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["run"]


def test_transcript_shows_rounds_coalitions_and_outcome(capsys) -> None:
    assert main(RUN) == 0
    out = capsys.readouterr().out
    assert out.startswith("Heatwave evening peak")
    assert "policy heuristic" in out and "seed 3" in out
    rounds = [line for line in out.splitlines() if line.startswith("Round ")]
    assert rounds == [f"Round {i}" for i in range(1, len(rounds) + 1)] and rounds
    assert out.count("coalitions {") == len(rounds)
    for party in ("operator", "industry", "critical", "retail", "city"):
        assert f"  {party}  " in out
    last = out.strip().splitlines()
    assert last[-2].startswith(f"Outcome: Compromise at 56 % after {len(rounds)} rounds")
    assert last[-1].startswith("Utilities: operator ")


def test_transcript_shows_the_authority(capsys) -> None:
    argv = ["run", "--scenario", "trading_limits_unified", "--policy", "solver", "--seed", "3"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "⚖ authority intervenes (escalation): CEO backing" in out
    assert "Outcome: Authority decision (escalation, CEO backing" in out


def test_quiet_prints_only_the_outcome(capsys) -> None:
    assert main([*RUN, "--quiet"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("Outcome: ")


def test_turn_order_and_max_rounds_reach_the_model(capsys) -> None:
    assert main([*RUN, "--turn-order", "sequential", "--max-rounds", "2"]) == 0
    out = capsys.readouterr().out
    assert "turn order sequential" in out and "deadline 2 rounds" in out
    assert "Round 3" not in out


def test_out_writes_tables_and_manifest(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run3"
    assert main([*RUN, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert f"Wrote {out}/" in captured.err
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{t}.parquet" for t in TABLES] + ["manifest.json"]
    )
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(runs) == 1
    run = runs.iloc[0]
    assert (run["scenario"], run["policy"], run["seed"], run["outcome"]) == (
        "grid_curtailment",
        "heuristic",
        3,
        "compromise",
    )
    assert f"after {run['rounds']} rounds" in captured.out
    n = int(run["rounds"])
    assert len(pd.read_parquet(out / "rounds.parquet")) == n + 1  # the opening + each round
    assert len(pd.read_parquet(out / "agents.parquet")) == 5 * (n + 1)
    moves = pd.read_parquet(out / "moves.parquet")
    assert len(moves) == 5 * n and moves["valid"].all()
    assert len(pd.read_parquet(out / "calls.parquet")) == 0  # no LLM, no calls

    manifest = json.loads((out / "manifest.json").read_text())
    params = manifest["parameters"]
    assert manifest["kind"] == "run"
    assert {k: params[k] for k in ("scenario", "policy", "condition", "turn_order", "rng")} == {
        "scenario": "grid_curtailment",
        "policy": "heuristic",
        "condition": "none",
        "turn_order": "simultaneous",
        "rng": 3,
    }
    assert manifest["versions"]["parley"] == __version__
    assert manifest["versions"]["mesa"].startswith("3.")
    assert "python" in manifest["versions"]
    assert not any("key" in str(v).lower() and k != "api_key_env" for k, v in params.items())

    loaded = load_results(out)
    pd.testing.assert_frame_equal(loaded["moves"], moves)


def test_out_reruns_identically(tmp_path: Path, capsys) -> None:
    for name in ("a", "b"):
        assert main([*RUN, "--quiet", "--out", str(tmp_path / name)]) == 0
    capsys.readouterr()
    for table in ("rounds", "agents", "moves"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "a" / f"{table}.parquet"),
            pd.read_parquet(tmp_path / "b" / f"{table}.parquet"),
        )


RUN_OPTIONS = (
    "--scenario",
    "--policy",
    "--condition",
    "--turn-order",
    "--max-rounds",
    "--authority",
    "--backend",
    "--model",
    "--base-url",
    "--api-key-env",
    "--temperature",
    "--max-concurrency",
    "--timeout",
    "--max-retries",
    "--cache",
    "--cache-path",
    "--max-tokens-total",
    "--seed",
    "--out",
    "--private",
    "--quiet",
)


def test_help_documents_every_option(capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["run", "--help"])
    assert caught.value.code == 0
    text = capsys.readouterr().out
    declared = {
        opt
        for action in run_parser()._actions
        for opt in action.option_strings
        if opt.startswith("--") and opt != "--help"
    }
    assert declared >= set(RUN_OPTIONS)
    for action in run_parser()._actions:
        if action.option_strings and action.dest != "help":
            assert action.help and action.help != argparse.SUPPRESS, action.dest
    for option in declared:
        assert option in text, option


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--scenario", "atlantis"], "unknown scenario 'atlantis'"),
        (["--scenario", "missing.yaml"], "no such scenario file"),
        (["--condition", "dreamy"], "invalid choice: 'dreamy'"),
        (["--policy", "oracle"], "invalid choice: 'oracle'"),
        (["--turn-order", "random"], "invalid choice: 'random'"),
        (["--seed", "-1"], "seeds must be non-negative, got -1"),
        (["--seed", "abc"], "invalid seed_int value: 'abc'"),
        (["--max-rounds", "0"], "must be at least 1, got 0"),
        (["--max-rounds", "-3"], "must be at least 1"),
        (["--max-concurrency", "0"], "must be at least 1"),
        (["--timeout", "0"], "must be positive"),
    ],
)
def test_bad_values_exit_2_with_one_line(argv, error, tmp_path: Path, capsys) -> None:
    out = tmp_path / "never"
    full = ["run", "--policy", "heuristic", "--out", str(out), *argv]
    try:
        code = main(full)
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    assert code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and error in lines[0], captured.err
    assert lines[0].startswith("parley run: error: ")
    assert captured.out == ""
    assert not out.exists()


def test_out_path_that_is_a_file(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main([*RUN, "--quiet", "--out", str(blocker)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # refused before the run, so no finished run is lost
    assert captured.err.strip() == f"parley run: error: {blocker}: exists and is not a directory"
    assert blocker.read_text() == "not a directory"


def test_console_script_matches_in_process_run(capsys) -> None:
    script = Path(sys.executable).with_name("parley")
    assert script.exists(), "the `parley` console script is not installed in this venv"
    done = subprocess.run(
        [str(script), *RUN], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert main(RUN) == 0
    assert done.stdout == capsys.readouterr().out
