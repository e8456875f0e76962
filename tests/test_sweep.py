"""Sweeps: grids, batch_run execution, resume (also after SIGKILL), failures, Dask, CLI errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import parley
from parley.cli import main
from parley.experiments.grid import build_grid, canonical_cell, load_grid_file, run_id
from parley.experiments.shards import SUFFIX, shard_dir
from parley.experiments.sweep import run_sweep
from parley.llm.fake_server import FakeOpenAIServer, Reply

TABLES = ("runs", "rounds", "agents", "moves", "calls")
# Columns that measure the machine, not the negotiation.
TIMING = {"duration_s", "latency_s"}


def small_grid(seeds=(0, 1)):
    return build_grid(
        {"policy": ["heuristic", "solver"]}, {"scenario": "grid_curtailment"}, list(seeds)
    )


def assert_same_results(a: Path, b: Path, ignore: set[str] = TIMING) -> None:
    ra, rb = parley.load_results(a), parley.load_results(b)
    for name in TABLES:
        fa, fb = ra[name], rb[name]
        drop = [c for c in fa.columns if c in ignore]
        pd.testing.assert_frame_equal(
            fa.drop(columns=drop), fb.drop(columns=[c for c in drop if c in fb.columns])
        )


# -- grids ---------------------------------------------------------------------------------------
def test_run_ids_are_stable_and_ignore_operational_knobs() -> None:
    cell = canonical_cell(
        {
            "scenario": "grid_curtailment",
            "policy": "llm",
            "model": "m",
            "backend": "openai",
            "timeout": 5,
            "base_url": "http://127.0.0.1:1/v1",
        }
    )
    other = canonical_cell(
        {
            "scenario": "grid_curtailment",
            "policy": "llm",
            "model": "m",
            "backend": "openai",
            "timeout": 60,
            "base_url": "http://127.0.0.1:2/v1",
        }
    )
    assert run_id(cell, 3) == run_id(other, 3) != run_id(cell, 4)
    assert len(run_id(cell, 3)) == 16
    changed = canonical_cell(
        {"scenario": "grid_curtailment", "policy": "llm", "model": "m2", "backend": "openai"}
    )
    assert run_id(changed, 3) != run_id(cell, 3)


def test_rule_based_cells_drop_llm_knobs_and_dedupe() -> None:
    grid = build_grid({"policy": ["heuristic"], "model": ["a", "b"]}, {"backend": "openai"}, [0, 1])
    assert grid.cells() == ['{"policy": "heuristic"}']  # the model axis means nothing here
    assert len(grid.runs()) == 2


def test_grid_file(tmp_path: Path) -> None:
    path = tmp_path / "grid.yaml"
    path.write_text(
        "scenario: [grid_curtailment, trading_limits_unified]\npolicy: heuristic\n"
        "max_rounds: 6\nseeds: [4, 5]\n"
    )
    axes, fixed, seeds = load_grid_file(path)
    assert axes == {"scenario": ["grid_curtailment", "trading_limits_unified"]}
    assert fixed == {"policy": "heuristic", "max_rounds": 6}
    assert seeds == [4, 5]
    path.write_text("scenario: grid_curtailment\ntemprature: 0.3\n")
    with pytest.raises(ValueError, match=r"grid.yaml: unknown parameter 'temprature'"):
        load_grid_file(path)


@pytest.mark.parametrize(
    ("axes", "message"),
    [
        ({"policy": ["heuristic", "oracle"]}, "unknown policy 'oracle'"),
        ({"condition": ["reflective"]}, "unknown condition 'reflective'"),
        ({"scenario": ["no_such_scenario"]}, "no_such_scenario"),
        ({"policy": []}, "has no values"),
    ],
)
def test_bad_grids_name_the_problem(axes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_grid(axes, {}, [0])


# -- running and resuming -------------------------------------------------------------------------
def test_sweep_writes_tables_manifest_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    first = run_sweep(small_grid(), out, progress=False)
    assert (first.total, first.ran, first.skipped, first.failed) == (4, 4, 0, 0)
    res = parley.load_results(out)
    runs = res["runs"]
    assert len(runs) == 4 and runs.run_id.is_unique
    assert set(runs.policy) == {"heuristic", "solver"} and set(runs.seed) == {0, 1}
    assert (runs.status == "ok").all()
    for name in ("rounds", "agents", "moves"):
        assert set(res[name].run_id) == set(runs.run_id)
    assert list(res["calls"].columns)[:4] == ["run_id", "round", "party", "condition"]
    manifest = res.manifest
    assert manifest["kind"] == "sweep" and manifest["status"] == "complete"
    assert manifest["parameters"]["seeds"] == [0, 1] and manifest["runs"] == 4
    assert manifest["versions"]["mesa"].startswith("3.")
    assert len(list(shard_dir(out).glob(f"*{SUFFIX}"))) == 4

    before = {p: p.stat().st_mtime_ns for p in shard_dir(out).iterdir()}
    again = run_sweep(small_grid(), out, progress=False)
    assert (again.ran, again.skipped) == (0, 4)
    assert {p: p.stat().st_mtime_ns for p in shard_dir(out).iterdir()} == before

    more = run_sweep(small_grid(seeds=(0, 1, 2)), out, progress=False)  # extend by one seed
    assert (more.ran, more.skipped) == (2, 4)
    assert len(parley.load_results(out)["runs"]) == 6
    assert parley.load_results(out).manifest["history"][0]["grid"]["seeds"] == [0, 1]


def test_a_sweep_run_equals_the_single_run(tmp_path: Path) -> None:
    run_sweep(small_grid(seeds=(3,)), tmp_path / "s", progress=False)
    assert (
        main(
            [
                "run",
                "--policy",
                "heuristic",
                "--seed",
                "3",
                "--quiet",
                "--out",
                str(tmp_path / "one"),
            ]
        )
        == 0
    )
    swept = parley.load_results(tmp_path / "s")["moves"]
    swept = swept[swept.run_id == swept.run_id.iloc[0]].drop(columns="run_id")
    single = parley.load_results(tmp_path / "one")["moves"]
    pd.testing.assert_frame_equal(swept.reset_index(drop=True), single)


def parley_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "parley", *args]


SIGKILL_GRID = [
    "sweep",
    "--policy",
    "heuristic",
    "--scenario",
    "grid_curtailment",
    "trading_limits_fragmented",
    "trading_limits_unified",
    "--condition",
    "none",
    "bounded",
    "--seeds",
    "12",
    "--quiet",
]  # 72 runs


@pytest.mark.slow
def test_sigkill_midway_then_resume_equals_an_uninterrupted_sweep(tmp_path: Path) -> None:
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    proc = subprocess.Popen(
        parley_cmd(*SIGKILL_GRID, "--jobs", "2", "--out", str(killed)),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while len(list(shard_dir(killed).glob(f"*{SUFFIX}"))) < 5:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "no shards appeared"
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its batch_run workers, mid-write
    proc.wait()
    done_at_kill = len(list(shard_dir(killed).glob(f"*{SUFFIX}")))
    assert 5 <= done_at_kill < 72
    assert not (killed / "runs.parquet").exists()

    resumed = subprocess.run(
        parley_cmd(*SIGKILL_GRID, "--jobs", "2", "--out", str(killed)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "72 runs (" in resumed.stdout and "0 failed" in resumed.stdout
    skipped = int(resumed.stdout.split("(")[1].split(" already done")[0])
    assert skipped >= done_at_kill
    assert not list(shard_dir(killed).glob(".*.tmp"))

    assert main([*SIGKILL_GRID, "--out", str(clean)]) == 0  # uninterrupted, one process
    assert_same_results(killed, clean)
    assert parley.load_results(killed)["runs"].run_id.is_unique


# -- failures through the fake LLM server ----------------------------------------------------------
def llm_grid(base_url: str, **fixed) -> object:
    params = {
        "policy": "llm",
        "backend": "openai",
        "model": "fake-model",
        "base_url": base_url,
        "api_key_env": "PARLEY_TEST_NO_KEY",
        "timeout": 5.0,
        "max_retries": 1,
        "scenario": "grid_curtailment",
        **fixed,
    }
    return build_grid({"condition": ["none", "private_memo"]}, params, [0, 1])


def test_fault_injected_sweep_records_every_failure_then_reruns_them(tmp_path: Path) -> None:
    out = tmp_path / "faults"
    with FakeOpenAIServer(hang_s=2.0) as server:
        # One call at a time, so the first run's calls meet these replies in this order.
        server.fail("server_error")  # call 1 fails, its retry succeeds
        server.script(Reply())
        server.fail("rate_limit", retry_after=0)  # call 2 likewise
        server.script(Reply())
        server.fail("bad_action")  # call 3 is invalid and repaired by asking again
        server.script(Reply())
        server.fail("unavailable", times=2)  # call 4 fails, and its one retry: lost for good
        summary = run_sweep(llm_grid(server.base_url, max_concurrency=1), out, progress=False)
    assert (summary.total, summary.ran) == (4, 4)
    res = parley.load_results(out)
    runs, calls = res["runs"], res["calls"]
    failed = runs[runs.status == "failed"]
    assert summary.failed == len(failed) == 1
    assert failed.condition.iloc[0] == "none" and failed.seed.iloc[0] == 0  # the first run
    assert failed.error.iloc[0].startswith("LLM call failed for good (server_error)")
    assert "HTTP 503" in failed.error.iloc[0]
    assert "1 failed" in summary.text() and failed.run_id.iloc[0] in summary.text()
    ok = runs[runs.status == "ok"]
    assert ok.outcome.isin(["compromise", "authority_decision"]).all()
    first = calls[calls.run_id == failed.run_id.iloc[0]]
    assert first.retries.tolist()[:2] == [1, 1]  # the transient faults were retried
    assert first.purpose.tolist()[2:4] == ["decide", "repair"]
    assert first.fault.tolist()[4] == "server_error"
    assert calls.fault.notna().sum() == 1  # one lost call in the whole sweep

    with FakeOpenAIServer() as healthy:  # the server is back (on another port)
        again = run_sweep(llm_grid(healthy.base_url), out, progress=False)
    assert (again.ran, again.skipped, again.failed) == (1, 3, 0)
    assert (parley.load_results(out)["runs"].status == "ok").all()


def test_server_down_for_good_fails_runs_not_the_sweep(tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        url = server.base_url  # a port nothing listens on once the server stops
    summary = run_sweep(llm_grid(url, max_retries=0), tmp_path / "down", progress=False)
    assert (summary.total, summary.failed) == (4, 4)
    runs = parley.load_results(tmp_path / "down")["runs"]
    assert runs.error.str.contains("connection").all()


def test_replayed_sweep_equals_the_recorded_one(tmp_path: Path) -> None:
    cache = str(tmp_path / "cache.sqlite")
    with FakeOpenAIServer() as server:
        url = server.base_url
        run_sweep(
            llm_grid(url, cache="record", cache_path=cache),
            tmp_path / "recorded",
            progress=False,
        )
        served = len(server.requests)
    assert served > 0
    # The server is gone: every answer must come from the cache.
    replay = run_sweep(
        llm_grid(url, cache="replay", cache_path=cache),
        tmp_path / "replayed",
        progress=False,
    )
    assert replay.failed == 0
    assert_same_results(
        tmp_path / "recorded",
        tmp_path / "replayed",
        ignore=TIMING | {"cached", "cached_calls", "cost_usd"},
    )
    replayed = parley.load_results(tmp_path / "replayed")
    assert replayed["calls"].cached.all()
    assert replayed.manifest["cache_modes"] == ["replay"]
    assert replayed.manifest["llms"] == ["openai/fake-model"]


# -- Dask -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dask_cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        yield cluster


def test_dask_executor_matches_local_and_resumes(tmp_path: Path, dask_cluster) -> None:
    grid = small_grid(seeds=(0, 1, 2))
    address = dask_cluster.scheduler_address
    first = run_sweep(grid, tmp_path / "dask", executor="dask", scheduler=address, progress=False)
    assert (first.ran, first.failed) == (6, 0)
    run_sweep(grid, tmp_path / "local", progress=False)
    assert_same_results(tmp_path / "dask", tmp_path / "local")
    shards = sorted(shard_dir(tmp_path / "dask").glob(f"*{SUFFIX}"))
    for path in shards[:2]:
        path.unlink()
    again = run_sweep(grid, tmp_path / "dask", executor="dask", scheduler=address, progress=False)
    assert (again.ran, again.skipped) == (2, 4)
    assert_same_results(tmp_path / "dask", tmp_path / "local")
    assert parley.load_results(tmp_path / "dask").manifest["executor"] == "dask"


def test_dask_with_runs_in_flight_matches_local(tmp_path: Path, dask_cluster) -> None:
    with FakeOpenAIServer(latency_s=0.01) as server:
        grid = build_grid(
            {"condition": ["none", "bounded"]},
            {
                "scenario": "grid_curtailment",
                "policy": "llm",
                "backend": "openai",
                "model": "fake-model",
                "base_url": server.base_url,
                "max_rounds": 2,
                "timeout": 5.0,
            },
            [0, 1, 2],
        )
        address = dask_cluster.scheduler_address
        dask = run_sweep(
            grid, tmp_path / "dask", executor="dask", scheduler=address, concurrency=4,
            progress=False,
        )  # fmt: skip
        run_sweep(grid, tmp_path / "local", progress=False)
    assert (dask.ran, dask.failed) == (6, 0)
    assert_same_results(tmp_path / "dask", tmp_path / "local")


# -- the command line ----------------------------------------------------------------------------
def test_cli_sweep_with_a_grid_file(tmp_path: Path, capsys) -> None:
    grid = tmp_path / "grid.yaml"
    grid.write_text("scenario: grid_curtailment\npolicy: [heuristic, solver]\nseeds: 2\n")
    assert main(["sweep", "--grid", str(grid), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    assert "4 runs (0 already done, 4 run now)" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["parameters"]["axes"]["policy"] == ["heuristic", "solver"]
    assert manifest["parameters"]["fixed"]["scenario"] == "grid_curtailment"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--policy", "heuristic", "--out", "{file}"], "exists and is not a directory"),
        (["--policy", "heuristic", "--out", "{other}"], "not a parley sweep directory"),
        (["--policy", "heuristic", "--out", "{run}"], "holds a 'run' result, not a sweep"),
        (
            [
                "--policy",
                "heuristic",
                "--executor",
                "dask",
                "--scheduler",
                "tcp://127.0.0.1:9",
                "--out",
                "{new}",
            ],
            "cannot reach the Dask scheduler at tcp://127.0.0.1:9",
        ),
        (["--policy", "heuristic", "--executor", "dask", "--out", "{new}"], "needs --scheduler"),
        (
            ["--grid", "{grid}", "--scenario", "grid_curtailment", "--out", "{new}"],
            "--scenario is also set in",
        ),
        (["--grid", "{missing}", "--out", "{new}"], "cannot read grid file"),
    ],
)
def test_cli_sweep_bad_input_is_one_line_exit_2(tmp_path: Path, capsys, args, message) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    (tmp_path / "grid.yaml").write_text("scenario: grid_curtailment\npolicy: heuristic\n")
    assert main(["run", "--policy", "heuristic", "--quiet", "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    names = {k: str(tmp_path / k) for k in ("file", "other", "run", "new", "missing")}
    names["grid"] = str(tmp_path / "grid.yaml")
    assert main(["sweep", *(a.format(**names) for a in args)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "new" / "runs.parquet").exists()
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


def test_every_single_valued_model_flag_reaches_the_cells() -> None:
    from parley.cli import build_parser
    from parley.cli.sweep import build_grid_from_args

    args = build_parser().parse_args(
        [
            "sweep",
            "--policy",
            "llm",
            "--backend",
            "openai",
            "--model",
            "a",
            "b",
            "--server",
            "vllm",
            "--structured",
            "json_object",
            "--temperature",
            "0.3",
            "--max-rounds",
            "4",
            "--seeds",
            "2",
            "--out",
            "unused",
        ]
    )
    grid = build_grid_from_args(args, {"scenario": ["grid_curtailment"]})
    cells = [json.loads(c) for c in grid.cells()]
    assert [c["model"] for c in cells] == ["a", "b"]
    for cell in cells:
        assert (cell["server"], cell["structured"], cell["temperature"]) == (
            "vllm",
            "json_object",
            0.3,
        )
        assert (cell["backend"], cell["max_rounds"], cell["policy"]) == ("openai", 4, "llm")
    assert grid.seeds == (0, 1)


def test_a_run_whose_worker_died_is_recorded_failed(tmp_path: Path, monkeypatch) -> None:
    import parley.experiments.sweep as sweep_module

    real = sweep_module.run_local

    def lose_one(pending, shard_dir_, jobs, progress, *rest):  # the first run's worker dies
        rows = real(pending, shard_dir_, jobs, progress, *rest)
        (shard_dir_ / f"{pending[0].run_id}{SUFFIX}").unlink()
        return rows

    monkeypatch.setattr(sweep_module, "run_local", lose_one)
    summary = run_sweep(small_grid(), tmp_path / "s", progress=False)
    assert (summary.total, summary.failed) == (4, 1)
    runs = parley.load_results(tmp_path / "s")["runs"]
    lost = runs[runs.status == "failed"]
    assert len(runs) == 4 and lost.error.tolist() == [sweep_module.LOST]
    monkeypatch.setattr(sweep_module, "run_local", real)
    again = run_sweep(small_grid(), tmp_path / "s", progress=False)
    assert (again.ran, again.failed) == (1, 0)
