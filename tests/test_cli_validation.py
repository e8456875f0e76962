"""Input validation wherever a user types: every bad flag is one clear line and exit code 2.

"One clear line" is checked literally: stderr holds exactly one non-empty line, it starts
with the command's name, it names the problem (and the file, for a corrupt one), and
nothing was printed on stdout or written as if the command had worked.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from parley.cli import build_parser, main
from parley.cli.app import server_command
from parley.llm.fake_server import FakeOpenAIServer

HEURISTIC = ["run", "--policy", "heuristic", "--quiet"]


def fails_in_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], *needles: str) -> str:
    """Run ``parley ARGV``; assert exit 2 and one stderr line containing every needle."""
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse reports bad flags by exiting
        code = exit_.code
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (argv, out, err)
    assert len(lines) == 1, err
    assert lines[0].startswith(f"parley {argv[0]}") or lines[0].startswith("parley: ")
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert out == "", out
    return lines[0]


@pytest.fixture(scope="module")
def dead_url() -> str:
    """The URL of a server that has just stopped: nothing listens there."""
    server = FakeOpenAIServer().start()
    url = server.base_url
    server.stop()
    return url


@pytest.fixture
def live_url() -> Iterator[str]:
    with FakeOpenAIServer() as server:
        yield server.base_url


def corrupt_sqlite(path: Path) -> Path:
    path.write_bytes(b"SQLite format 3\x00" + b"\x07" * 200)  # the header, then garbage
    return path


# -- parley run -------------------------------------------------------------------------------
RUN_CASES = {
    "unknown scenario": (["--scenario", "nope"], ["unknown scenario 'nope'"]),
    "missing scenario file": (["--scenario", "missing.yaml"], ["missing.yaml", "no such"]),
    "unknown condition": (["--condition", "calm"], ["--condition", "'calm'"]),
    "unknown backend": (["--backend", "magic"], ["--backend", "'magic'"]),
    "unknown policy": (["--policy", "oracle"], ["--policy", "'oracle'"]),
    "negative seed": (["--seed", "-1"], ["--seed", "non-negative"]),
    "negative rounds": (["--max-rounds", "-3"], ["--max-rounds", "-3"]),
    "zero rounds": (["--max-rounds", "0"], ["--max-rounds", "at least 1"]),
    "rounds not a number": (["--max-rounds", "ten"], ["--max-rounds", "'ten'"]),
    "zero timeout": (["--timeout", "0"], ["--timeout", "positive"]),
    "nan temperature": (["--temperature", "nan"], ["--temperature"]),
    "negative temperature": (["--temperature", "-1"], ["--temperature"]),
    "too many retries": (["--max-retries", "9"], ["--max-retries"]),
    "zero concurrency": (["--max-concurrency", "0"], ["--max-concurrency"]),
    "unknown cache mode": (["--cache", "sometimes"], ["--cache", "'sometimes'"]),
}


@pytest.mark.parametrize("case", RUN_CASES)
def test_run_rejects_bad_flags(capsys, case) -> None:
    flags, needles = RUN_CASES[case]
    fails_in_one_line(capsys, [*HEURISTIC, *flags], *needles)


def test_run_rejects_an_unknown_embedded_model(capsys) -> None:
    fails_in_one_line(capsys, ["run", "--policy", "llm", "--model", "gpt-9"], "'gpt-9'")


def test_run_rejects_an_unreachable_base_url_before_any_round(capsys, dead_url) -> None:
    argv = ["run", "--policy", "llm", "--backend", "openai", "--base-url", dead_url]
    fails_in_one_line(capsys, argv, "cannot reach", dead_url)
    argv = ["run", "--policy", "heuristic", "--authority", "llm", "--backend", "openai"]
    fails_in_one_line(capsys, [*argv, "--base-url", dead_url], "cannot reach")


@pytest.mark.parametrize("url", ["localhost:8000/v1", "ftp://127.0.0.1/v1", "http:///v1"])
def test_run_rejects_a_base_url_that_is_not_one(capsys, url) -> None:
    argv = ["run", "--policy", "llm", "--backend", "openai", "--base-url", url]
    fails_in_one_line(capsys, argv, "not an http(s) URL")


def test_a_replay_needs_no_server_and_a_miss_stops_the_run(capsys, dead_url, tmp_path) -> None:
    # A replay never calls the server, so a dead base URL is fine; a miss names the cache.
    cache = tmp_path / "empty.sqlite"
    argv = ["run", "--policy", "llm", "--backend", "openai", "--base-url", dead_url]
    argv += ["--cache", "replay", "--cache-path", str(cache), "--quiet"]
    fails_in_one_line(capsys, argv, "cache replay miss", str(cache))


def test_a_rejected_api_key_stops_the_run_in_one_line(capsys) -> None:
    with FakeOpenAIServer() as server:
        server.fail("auth", times=10)
        argv = ["run", "--policy", "llm", "--backend", "openai", "--base-url", server.base_url]
        fails_in_one_line(capsys, [*argv, "--quiet"], "authentication failed", server.base_url)


def test_run_refuses_an_out_path_that_is_a_file_before_running(capsys, tmp_path) -> None:
    blocker = tmp_path / "results"
    blocker.write_text("keep me")
    fails_in_one_line(capsys, [*HEURISTIC, "--out", str(blocker)], str(blocker), "not a directory")
    assert blocker.read_text() == "keep me"


def test_run_names_a_corrupt_cache_file(capsys, tmp_path, live_url) -> None:
    cache = corrupt_sqlite(tmp_path / "cache.sqlite")
    argv = ["run", "--policy", "llm", "--backend", "openai", "--base-url", live_url]
    argv += ["--cache", "record", "--cache-path", str(cache)]
    fails_in_one_line(capsys, argv, str(cache), "unusable")


def test_run_names_a_broken_scenario_file(capsys, write_scenario, scenario_data) -> None:
    scenario_data["issue"]["max"] = "a lot"
    path = write_scenario(scenario_data, name="broken")
    fails_in_one_line(capsys, [*HEURISTIC, "--scenario", str(path)], str(path), "issue.max")
    path.write_text("issue: [unclosed", encoding="utf-8")
    fails_in_one_line(capsys, [*HEURISTIC, "--scenario", str(path)], str(path))


# -- parley scenarios, model, and the command itself ------------------------------------------
def test_scenarios_check_names_the_bad_file(capsys, tmp_path) -> None:
    missing = tmp_path / "missing.yaml"
    fails_in_one_line(capsys, ["scenarios", "--check", str(missing)], str(missing))
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n", encoding="utf-8")
    fails_in_one_line(capsys, ["scenarios", "--check", str(bad)], str(bad))


def test_model_prepare_rejects_an_unknown_model(capsys) -> None:
    fails_in_one_line(capsys, ["model", "prepare", "--model", "gpt-9"], "'gpt-9'")


@pytest.mark.parametrize(
    "argv", [["dance"], ["run", "--no-such-flag"], ["run", "extra-positional"], []]
)
def test_unknown_commands_and_flags(capsys, argv) -> None:
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2 and len([ln for ln in err.splitlines() if ln.strip()]) == 1, err


# -- parley sweep and parley protocol ---------------------------------------------------------
SWEEP = ["sweep", "--policy", "heuristic", "--scenario", "grid_curtailment", "--quiet"]
SWEEP_CASES = {
    "unknown scenario": (["--scenario", "nope"], ["unknown scenario 'nope'"]),
    "unknown condition": (["--condition", "calm"], ["--condition", "'calm'"]),
    "unknown backend": (["--backend", "magic"], ["--backend", "'magic'"]),
    "negative seeds": (["--seeds", "-1"], ["--seeds"]),
    "zero seeds": (["--seeds", "0"], ["--seeds", "at least 1"]),
    "negative seed in a list": (["--seed-list", "2", "-3"], ["--seed-list", "non-negative"]),
    "negative rounds": (["--max-rounds", "-2"], ["--max-rounds"]),
    "zero jobs": (["--jobs", "0"], ["--jobs"]),
    "dask without a scheduler": (["--executor", "dask"], ["--scheduler"]),
}


@pytest.mark.parametrize("case", SWEEP_CASES)
def test_sweep_rejects_bad_flags_and_writes_nothing(capsys, tmp_path, case) -> None:
    flags, needles = SWEEP_CASES[case]
    fails_in_one_line(capsys, [*SWEEP, *flags, "--out", str(tmp_path / "out")], *needles)
    assert not (tmp_path / "out").exists()


def test_sweep_needs_an_out_directory_it_may_use(capsys, tmp_path) -> None:
    fails_in_one_line(capsys, SWEEP, "--out")
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    fails_in_one_line(capsys, [*SWEEP, "--out", str(blocker)], str(blocker), "not a directory")
    other = tmp_path / "notes"
    other.mkdir()
    (other / "thesis.txt").write_text("keep me too")
    fails_in_one_line(capsys, [*SWEEP, "--out", str(other)], str(other), "not a parley sweep")
    assert sorted(p.name for p in other.iterdir()) == ["thesis.txt"]


def test_sweep_and_protocol_reject_an_unreachable_base_url_before_any_run(
    capsys, tmp_path, dead_url
) -> None:
    llm = ["--policy", "llm", "--backend", "openai", "--base-url", dead_url, "--seeds", "1"]
    llm += ["--condition", "none"]
    for command in ("sweep", "protocol"):
        out = tmp_path / command
        fails_in_one_line(capsys, [command, *llm, "--out", str(out)], "cannot reach", dead_url)
        assert not out.exists()


@pytest.mark.parametrize("command", ["sweep", "protocol"])
def test_a_grid_asking_a_model_for_a_condition_it_cannot_run_is_refused(
    capsys, tmp_path, command
) -> None:
    """The protocol's six conditions on a model without a reasoning mode: one line before
    any run, rather than 45 failed ``native`` runs (nothing is asked of any server)."""
    out = tmp_path / command
    argv = [command, "--policy", "llm", "--seeds", "1", "--out", str(out)]
    argv += [] if command == "protocol" else ["--condition", "none", "native"]
    fails_in_one_line(
        capsys,
        argv,
        "condition 'native' needs a model with a reasoning mode",
        "qwen2.5-0.5b",
        "3 cells",
    )
    assert not out.exists()


def test_sweep_names_a_corrupt_cache_file_before_any_run(capsys, tmp_path, dead_url) -> None:
    cache = corrupt_sqlite(tmp_path / "cache.sqlite")
    argv = ["sweep", "--policy", "llm", "--backend", "openai", "--base-url", dead_url]
    argv += ["--cache", "replay", "--cache-path", str(cache), "--seeds", "1"]
    fails_in_one_line(capsys, [*argv, "--out", str(tmp_path / "o")], str(cache), "unusable")
    assert not (tmp_path / "o").exists()


def test_sweep_names_a_broken_grid_file(capsys, tmp_path) -> None:
    grid = tmp_path / "grid.yaml"
    fails_in_one_line(capsys, [*SWEEP, "--grid", str(grid), "--out", str(tmp_path / "o")], "grid")
    grid.write_text("condition: [none, calm]\n", encoding="utf-8")
    fails_in_one_line(capsys, [*SWEEP[:1], "--grid", str(grid), "--out", str(tmp_path / "o")])
    grid.write_text("scenario: [unclosed\n", encoding="utf-8")
    argv = [*SWEEP[:1], "--grid", str(grid), "--out", str(tmp_path / "o")]
    fails_in_one_line(capsys, argv, str(grid), "not valid YAML")


def test_protocol_rejects_several_policies_and_bad_seeds(capsys, tmp_path) -> None:
    out = str(tmp_path / "p")
    argv = ["protocol", "--policy", "heuristic", "solver", "--out", out]
    fails_in_one_line(capsys, argv, "one policy")
    fails_in_one_line(capsys, ["protocol", "--policy", "heuristic", "--seeds", "-1", "--out", out])
    fails_in_one_line(capsys, ["protocol", "--scenario", "nope", "--out", out], "'nope'")


# -- parley report: a results directory that is not one, or is corrupt ------------------------
@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small finished sweep (heuristic, two seeds) to corrupt copies of."""
    out = tmp_path_factory.mktemp("results") / "sweep"
    assert main([*SWEEP, "--seeds", "2", "--out", str(out)]) == 0
    return out


def corrupted(results: Path, tmp_path: Path, damage) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(results, copy)
    damage(copy)
    return copy


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:300])


DAMAGE = {
    "truncated moves": (lambda d: truncate(d / "moves.parquet"), "moves.parquet", "corrupt"),
    "truncated runs": (lambda d: truncate(d / "runs.parquet"), "runs.parquet", "corrupt"),
    "half a manifest": (
        lambda d: (d / "manifest.json").write_text('{"kind": "sweep",'),
        "manifest.json",
        "corrupt manifest",
    ),
    "manifest not an object": (
        lambda d: (d / "manifest.json").write_text("[1, 2]"),
        "manifest.json",
        "corrupt manifest",
    ),
    "no manifest": (lambda d: (d / "manifest.json").unlink(), "copy", "not a parley results"),
    "no runs table": (lambda d: (d / "runs.parquet").unlink(), "copy", "runs.parquet"),
}


@pytest.mark.parametrize("case", DAMAGE)
def test_report_names_the_corrupt_file(capsys, tmp_path, results, case) -> None:
    damage, name, needle = DAMAGE[case]
    broken = corrupted(results, tmp_path, damage)
    fails_in_one_line(capsys, ["report", str(broken)], name, needle)
    assert not (broken / "report.md").exists()


def test_report_rejects_what_is_not_a_results_directory(capsys, tmp_path) -> None:
    fails_in_one_line(capsys, ["report", str(tmp_path / "missing")], "no such results directory")
    (tmp_path / "file").write_text("x")
    fails_in_one_line(capsys, ["report", str(tmp_path / "file")], str(tmp_path / "file"))
    (tmp_path / "notes").mkdir()
    fails_in_one_line(capsys, ["report", str(tmp_path / "notes")], "not a parley results")
    fails_in_one_line(capsys, ["report", str(tmp_path), "--format", "pdf"], "--format")


def test_a_sweep_killed_before_merging_is_refused_in_one_line(capsys, tmp_path, results) -> None:
    def unfinished(d: Path) -> None:
        manifest = json.loads((d / "manifest.json").read_text())
        (d / "manifest.json").write_text(json.dumps({**manifest, "status": "running"}))

    broken = corrupted(results, tmp_path, unfinished)
    fails_in_one_line(capsys, ["report", str(broken)], "did not finish", "same --out")


def test_a_single_run_never_overwrites_a_sweep(capsys, tmp_path, results) -> None:
    sweep = tmp_path / "sweep"
    shutil.copytree(results, sweep)
    before = (sweep / "runs.parquet").read_bytes()
    fails_in_one_line(capsys, [*HEURISTIC, "--out", str(sweep)], str(sweep), "'sweep' result")
    assert (sweep / "runs.parquet").read_bytes() == before
    code, _ = main([*SWEEP, "--seeds", "2", "--out", str(sweep)]), capsys.readouterr()
    assert code == 0  # still a sweep, still resumable


# -- parley app (argument checks only: no server is started) ----------------------------------
def test_app_listens_on_loopback_unless_told_otherwise() -> None:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    args = sub.choices["app"].parse_args([])
    assert args.host == "127.0.0.1"
    cmd = server_command(args.host, args.port)
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"  # what the server is told to bind


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--port", "0"], "--port"),
        (["--port", "70000"], "--port"),
        (["--port", "http"], "--port"),
        (["--scenario", "missing.yaml"], "no such scenario file"),
        (["--replay", "missing"], "no such results directory"),
    ],
)
def test_app_rejects_bad_flags(capsys, args, needle) -> None:
    fails_in_one_line(capsys, ["app", *args], needle)


def test_app_checks_a_replay_directory_before_serving(capsys, tmp_path, results) -> None:
    (tmp_path / "notes").mkdir()
    fails_in_one_line(capsys, ["app", "--replay", str(tmp_path / "notes")], "not a parley results")
    broken = corrupted(results, tmp_path, lambda d: (d / "manifest.json").write_text("{"))
    fails_in_one_line(capsys, ["app", "--replay", str(broken)], "manifest.json")


def test_app_out_must_be_a_folder(capsys, tmp_path) -> None:
    a_file = tmp_path / "results.txt"
    a_file.write_text("not a folder")
    fails_in_one_line(capsys, ["app", "--out", str(a_file)], "exists and is not a directory")
