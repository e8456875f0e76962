"""Crash safety: ``kill -9`` a sweep anywhere, run it again, and get exactly the same results.

Each trial forks a ``parley sweep`` process (forking keeps the test fast: the child has
everything imported already), SIGKILLs it at a seeded random point — between runs, in the
middle of writing a shard, while merging the tables — possibly again while it resumes,
then runs the same command to the end. The directory must then hold exactly the runs of
an uninterrupted sweep, once each, in the same order, with every Parquet file and shard
readable. One trial goes through the loopback fake server with the SQLite cache recording,
and the cache must replay the whole sweep afterwards with the server gone.
"""

from __future__ import annotations

import io
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pandas as pd
import pytest

from parley.cli import main
from parley.experiments.shards import SUFFIX, read_summary
from parley.experiments.storage import TABLES, ResultsError, load_results
from parley.scenarios import builtin_names

SEEDS = 12
RUNS = 3 * SEEDS
VOLATILE = ("duration_s", "latency_s", "cached", "cached_calls")  # timings; replayed or not


def heuristic_argv(out: Path) -> list[str]:
    return ["sweep", "--policy", "heuristic", "--scenario", *builtin_names()] + [
        "--seeds", str(SEEDS), "--out", str(out), "--quiet",
    ]  # fmt: skip


def quietly(argv: list[str]) -> tuple[int, str]:
    """``parley ARGV`` in this process; its exit code and stdout."""
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(io.StringIO()):
        code = main(argv)
    return code, out.getvalue()


def shard_count(out: Path) -> int:
    shards = out / "shards"
    return len(list(shards.glob(f"*{SUFFIX}"))) if shards.is_dir() else 0


def kill_sweep(argv: list[str], out: Path, after_shards: int, delay: float) -> bool:
    """Fork ``parley ARGV``; SIGKILL it ``delay`` s after ``after_shards`` shards exist.

    Returns whether it was killed (False if it finished first).
    """
    with warnings.catch_warnings():
        # pyarrow's idle thread pool makes this process "multi-threaded"; Arrow re-creates
        # its pools in a forked child, and the child touches no other thread's locks.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: the sweep, silenced; never returns into pytest
        code = 1
        try:
            code, _ = quietly(argv)
        finally:
            os._exit(code)
    deadline = time.monotonic() + 30
    while shard_count(out) < after_shards and time.monotonic() < deadline:
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            return False
        time.sleep(0.002)
    time.sleep(delay)
    if os.waitpid(pid, os.WNOHANG) != (0, 0):
        return False
    os.kill(pid, signal.SIGKILL)  # a child that exited just now is a zombie: no error
    _, status = os.waitpid(pid, 0)
    if os.WIFEXITED(status):
        return False  # it finished a moment before the kill
    assert os.WTERMSIG(status) == signal.SIGKILL
    return True


def tables(out: Path) -> dict[str, pd.DataFrame]:
    res = load_results(out)
    return {name: res[name].drop(columns=[c for c in VOLATILE if c in res[name]]) for name in res}


def assert_same_results(out: Path, reference: dict[str, pd.DataFrame]) -> None:
    got = tables(out)
    assert got["runs"]["run_id"].is_unique and len(got["runs"]) == len(reference["runs"])
    assert set(got) == set(reference)
    for name, frame in reference.items():  # same rows, same order (the grid's), same values
        pd.testing.assert_frame_equal(got[name], frame, check_dtype=False)


def assert_nothing_torn(out: Path) -> None:
    """Every shard and table present is whole (atomic writes leave no partial file)."""
    for path in (out / "shards").glob(f"*{SUFFIX}"):
        assert read_summary(path) is not None, path
    for name in TABLES:
        path = out / f"{name}.parquet"
        if path.exists():
            pd.read_parquet(path)
    if (out / "manifest.json").exists():
        assert isinstance(json.loads((out / "manifest.json").read_text()), dict)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    out = tmp_path_factory.mktemp("reference") / "sweep"
    code, text = quietly(heuristic_argv(out))
    assert code == 0 and f"{RUNS} runs (0 already done" in text
    return tables(out)


# Seeded kill points: (shards written before the kill, extra delay in s), one list per trial;
# a second point kills the resumed sweep too. RUNS shards means "while merging".
_RNG = random.Random(20261123)
TRIALS = [
    [(_RNG.randint(1, RUNS - 1), _RNG.uniform(0, 0.01))],
    [(_RNG.randint(1, RUNS // 2), 0.0), (_RNG.randint(RUNS // 2, RUNS - 1), _RNG.uniform(0, 0.01))],
    [(RUNS, _RNG.uniform(0.05, 0.2))],
    [(0, _RNG.uniform(0, 0.2)), (RUNS, _RNG.uniform(0.05, 0.2))],
]


@pytest.mark.parametrize("points", TRIALS, ids=[f"trial{i}" for i in range(len(TRIALS))])
def test_sigkill_then_restart_gives_the_uninterrupted_results(
    tmp_path: Path, reference: dict[str, pd.DataFrame], points: list[tuple[int, float]]
) -> None:
    out = tmp_path / "sweep"
    argv = heuristic_argv(out)
    for after, delay in points:
        kill_sweep(argv, out, after, delay)
        assert_nothing_torn(out)
        try:  # a killed sweep is refused (or, killed after its last write, complete)
            assert_same_results(out, reference)
        except ResultsError as err:
            assert str(out) in str(err) and "\n" not in str(err)
    done_before = shard_count(out)
    code, text = quietly(argv)
    assert code == 0 and f"({done_before} already done, {RUNS - done_before} run now)" in text
    assert_same_results(out, reference)
    assert_nothing_torn(out)
    assert shard_count(out) == RUNS
    assert not list(out.rglob("*.tmp"))  # what a killed write left behind is cleared


# -- through the fake server, with the cache recording ----------------------------------------
@pytest.fixture
def server_url() -> Iterator[str]:
    """A fake server in its own process, so the forked sweep's parent has no server threads."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "parley.llm.fake_server", "--latency", "0.02"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc.stdout.readline().strip()  # type: ignore[union-attr]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def llm_argv(out: Path, url: str, cache: Path, mode: str) -> list[str]:
    return [
        "sweep", "--scenario", "grid_curtailment", "--policy", "llm", "--backend", "openai",
        "--model", "fake-model", "--base-url", url, "--api-key-env", "PARLEY_TEST_UNSET_KEY",
        "--timeout", "5", "--max-rounds", "2", "--seeds", "6", "--cache", mode,
        "--cache-path", str(cache), "--out", str(out), "--quiet",
    ]  # fmt: skip


def test_the_cache_survives_a_sigkill_and_replays_the_sweep(tmp_path: Path, server_url) -> None:
    cache, out = tmp_path / "cache.sqlite", tmp_path / "recorded"
    argv = llm_argv(out, server_url, cache, "record")
    assert kill_sweep(argv, out, after_shards=random.Random(7).randint(1, 4), delay=0.05)
    code, text = quietly(argv)
    assert code == 0 and "6 runs (" in text and "0 failed" in text
    with sqlite3.connect(cache) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        recorded = db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]
    recorded_tables = tables(out)
    assert recorded == len(recorded_tables["calls"])  # one recording per distinct call
    # Replay the whole sweep elsewhere with the server unreachable: every call is a hit.
    dead = "http://127.0.0.1:9/v1"
    code, text = quietly(llm_argv(tmp_path / "replayed", dead, cache, "replay"))
    assert code == 0 and "0 failed" in text, text
    replayed = tables(tmp_path / "replayed")
    for name in ("runs", "moves", "rounds"):
        pd.testing.assert_frame_equal(replayed[name], recorded_tables[name], check_dtype=False)
    assert load_results(tmp_path / "replayed")["calls"]["cached"].all()


def test_sigkill_with_runs_in_flight_then_restart(tmp_path: Path, server_url) -> None:
    """``--concurrency``: runs in flight on one loop die with the process; the rerun redoes
    exactly those, and the results equal a one-at-a-time sweep's."""
    reference_dir = tmp_path / "one_at_a_time"
    code, _ = quietly(llm_argv(reference_dir, server_url, tmp_path / "c0.sqlite", "off"))
    assert code == 0
    reference = tables(reference_dir)
    out = tmp_path / "in_flight"
    argv = [*llm_argv(out, server_url, tmp_path / "c1.sqlite", "off"), "--concurrency", "4"]
    rng = random.Random(12)
    killed = []
    for after in (rng.randint(1, 3), rng.randint(3, 5)):
        killed.append(kill_sweep(argv, out, after_shards=after, delay=rng.uniform(0, 0.02)))
        assert_nothing_torn(out)
    assert killed[0]  # the first kill lands mid-sweep, with runs in flight
    done_before = shard_count(out)
    code, text = quietly(argv)
    assert code == 0 and f"({done_before} already done, {6 - done_before} run now)" in text
    assert_same_results(out, reference)
    assert_nothing_torn(out)
    assert shard_count(out) == 6
