"""No failure can pass as data: the validity screen, configuration faults, halted sweeps.

The bug this guards against: a server that refuses every call (HTTP 400, 429
``insufficient_quota``) or answers every call with empty content cut off by the token limit
made every turn an invalid ``hold``; holds deadlock; the authority decides — and ``parley
run`` printed "Outcome: Authority decision", runs.parquet said ``authority_decision``, the
report showed authority 1.00 and flagged "collapse". Every server here is a loopback
server the test starts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
import solara
from broken_servers import SERVER_TEXT, broken_server
from llm_fixtures import NO_KEY_ENV, server_flags

import parley
from parley import validity
from parley.cli import main
from parley.experiments import halt
from parley.experiments.grid import build_grid
from parley.experiments.records import run_columns
from parley.experiments.report import write_report
from parley.experiments.shards import scan, shard_dir
from parley.experiments.storage import write_results
from parley.experiments.summary import cell_table, comparisons
from parley.experiments.sweep import run_sweep
from parley.llm.fake_server import FakeOpenAIServer, Reply
from parley.llm.fakes import PuppetLLM, negotiator_responder
from parley.model.model import NegotiationModel
from parley.viz.panels import OutcomePanel, outcome_headline
from parley.viz.view import live_view


def llm_flags(url: str, *extra: str) -> list[str]:
    return ["--policy", "llm", *server_flags(url, *extra)]


# -- the screen -------------------------------------------------------------------------------
def test_the_screen_threshold_is_a_share_of_turns() -> None:
    limit = validity.MAX_INVALID_SHARE
    assert validity.Screen(turns=10, invalid=1).valid  # 10% is not over 10%
    assert not validity.Screen(turns=10, invalid=2).valid
    half = validity.Screen(turns=25, invalid=12, repaired=12)  # 48% invalid
    assert half.invalid_share == pytest.approx(0.48) and not half.valid
    assert half.reason == f"invalid turns: 12 of 25 (48%, over the {limit:.0%} limit)"
    # A truncated reply repaired with more room is a valid turn; one that stayed invalid is
    # an invalid turn like any other, and the reason says how many were cut off.
    assert validity.Screen(turns=15, invalid=0, repaired=15, truncated=15).valid
    cut = validity.Screen(turns=15, invalid=15, truncated=15)
    assert (
        cut.reason
        == "invalid turns: 15 of 15 (100%, over the 10% limit, 15 cut off by the token limit)"
    )
    assert validity.Screen(turns=0).valid  # a rule-based run has no turn to screen


def test_run_status_and_exclusion_kinds() -> None:
    ok, bad = validity.Screen(turns=10), validity.Screen(turns=10, invalid=10)
    assert validity.run_status("authority_decision", ok) == ("ok", None)
    assert validity.run_status("authority_decision", bad)[0] == "invalid"
    assert validity.run_status("stopped", ok, "token budget") == ("failed", "stopped: token budget")
    rows = [
        ("ok", None),
        ("invalid", "invalid turns: 15 of 15 (100%, over the 10% limit)"),
        ("invalid", "invalid turns: 9 of 15 (60%, over the 10% limit)"),
        ("failed", "configuration fault (auth): authentication failed"),
    ]
    assert validity.exclusions(rows) == {"invalid turns": 2, "configuration fault (auth)": 1}
    assert validity.interpretable(3, 3) and not validity.interpretable(2, 2)
    assert not validity.interpretable(4, 15)  # most runs lost: a selected sample
    assert "2 valid run(s) of 2" in validity.not_interpretable_reason(2, 2)


def test_truncated_turns_come_from_finish_reason_when_recorded() -> None:
    calls = {
        "round": [1, 1, 1, 2],
        "party": ["a", "a", "b", "a"],
        "purpose": ["decide", "repair", "decide", "authority"],
        "finish_reason": ["length", "length", "stop", "length"],
    }
    assert validity.truncated_turns(calls) == {(1, "a")}  # the authority's call is no turn
    unrecorded = {k: v for k, v in calls.items() if k != "finish_reason"}
    assert validity.truncated_turns(unrecorded) == set()
    moves = {"valid": [True, True], "repaired": [True, False]}
    screen = validity.screen_run(moves, calls)
    assert (screen.turns, screen.invalid, screen.repaired, screen.truncated) == (2, 0, 1, 1)


def test_reasoning_under_a_condition_without_it_invalidates_the_run() -> None:
    calls = {
        "round": [1, 1, 2, 2],
        "party": ["a", "b", "a", "b"],
        "purpose": ["decide"] * 4,
        "unexpected_reasoning": [True, False, True, None],
    }
    moves = {"valid": [True] * 4}
    screen = validity.screen_run(moves, calls)
    assert screen.reasoned == 2 and not screen.valid
    assert screen.reason is not None and screen.reason.startswith("reasoning turns: 2 of 4")
    assert validity.exclusion_kind("invalid", screen.reason) == "reasoning turns"
    del calls["unexpected_reasoning"]  # tables from before it was recorded
    assert validity.screen_run(moves, calls).valid


def test_truncated_turns_without_the_column_are_none() -> None:
    assert validity.truncated_turns({"round": [1], "party": ["a"]}) == set()


def test_a_run_with_many_invalid_turns_is_recorded_invalid_not_as_an_outcome() -> None:
    # Two of five negotiators never answer in the grammar: 40% invalid turns, every one a hold.
    def fn(request):
        user = request.messages[1][1]
        if "You are industry " in user or "You are critical " in user:
            return "I would rather not say."
        return negotiator_responder(request)

    model = NegotiationModel(policy="llm", llm=PuppetLLM(fn), rng=0)
    model.run()
    tables = run_columns(model)
    row = {k: v[0] for k, v in tables["runs"].items()}
    assert row["outcome"] in ("compromise", "authority_decision")  # it "ended" ...
    share = row["invalid_turns"] / row["turns"]
    assert share > validity.MAX_INVALID_SHARE
    assert row["status"] == "invalid" and row["error"].startswith("invalid turns:")  # ... no
    assert row["repaired_turns"] >= row["invalid_turns"]


# -- parley run against broken servers -----------------------------------------------------
@pytest.mark.parametrize("kind", ["bad_request", "quota", "length"])
def test_a_broken_server_never_yields_an_outcome(kind: str, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    with broken_server(kind) as server:
        code = main(["run", *llm_flags(server.base_url), "--quiet", "--out", str(out)])
    stdout, stderr = capsys.readouterr()
    # A configuration fault: the run stops at once, one line with the server's own message.
    assert "Outcome:" not in stdout and code == 2
    errors = [line for line in stderr.splitlines() if line.startswith("parley run: error:")]
    assert len(errors) == 1 and "error: configuration fault (" in errors[0]
    assert SERVER_TEXT[kind] in errors[0]
    status = "failed"
    runs = parley.load_results(out)["runs"]
    assert runs.status.tolist() == [status] and runs.error.notna().all()
    assert main(["report", str(out)]) == 0
    report = capsys.readouterr().out
    assert "collapse" not in report and "1.00" not in report
    line = report.splitlines()[2].split()
    assert line[3:5] == ["0", "1"] and "interpreted" in line  # n=0, 1 excluded


def sweep_grid(url: str, seeds: int = 3):
    return build_grid(
        {"condition": ["none", "bounded"]},
        {
            "policy": "llm",
            "backend": "openai",
            "model": "fake-model",
            "base_url": url,
            "api_key_env": NO_KEY_ENV,
            "timeout": 5.0,
            "max_retries": 0,
            "scenario": "grid_curtailment",
        },
        list(range(seeds)),
    )


def test_a_sweep_of_unusable_answers_is_invalid_and_stays_out_of_the_report(
    tmp_path: Path,
) -> None:
    out = tmp_path / "sweep"
    # Every answer has the wrong shape: each turn is an invalid hold, each run "deadlocks".
    with FakeOpenAIServer(plan=lambda body: Reply(fault="wrong_shape")) as server:
        grid = sweep_grid(server.base_url)
        summary = run_sweep(grid, out, progress=False)
    assert summary.outcomes == {} and (summary.invalid, summary.failed) == (6, 0)
    assert "6 invalid" in summary.text() and "excluded from the report" in summary.text()
    res = parley.load_results(out)
    runs = res["runs"]
    assert (runs.status == "invalid").all() and (runs.outcome == "authority_decision").all()
    assert runs.error.str.startswith("invalid turns: ").all()
    cells = cell_table(runs, res["moves"], res["agents"])
    assert (cells.n == 0).all() and (cells.invalid == 3).all()
    assert not cells.authority_collapse.any() and not cells.diversity_without_fidelity.any()
    assert not cells.interpretable.any()
    assert comparisons(cells, "bounded").p_value.isna().all()
    text = write_report(out).path.read_text()
    assert "No flag raised." in text and "### Excluded runs" in text
    assert "3 of 3 runs excluded — 3 invalid turns" in text and "| 0 | 3 | – | – |" in text
    again = run_sweep(grid, out, progress=False)  # invalid runs are results: not rerun
    assert (again.skipped, again.ran) == (6, 0)


def test_a_sweep_of_truncated_answers_stops(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    with broken_server("length") as server:
        summary = run_sweep(sweep_grid(server.base_url), out, progress=False)
    limit = halt.MAX_CONFIG_FAULTS
    assert summary.outcomes == {} and summary.halted is not None
    assert (summary.failed, summary.not_started) == (limit, 6 - limit)
    res = parley.load_results(out)
    assert res["runs"].error.str.startswith("configuration fault (truncated): ").all()
    text = write_report(out).path.read_text()
    assert "No flag raised." in text and "configuration fault (truncated)" in text


def test_invalid_runs_are_excluded_from_rates_with_their_reason(tmp_path: Path) -> None:
    """Cells over hand-made tables: one cell of 4 valid runs and 1 invalid, one of invalids."""
    ids = [f"r{i}" for i in range(8)]
    runs = pd.DataFrame(
        {
            "run_id": ids,
            "scenario": "s",
            "policy": "llm",
            "backend": "openai",
            "model": "m",
            "condition": ["none"] * 5 + ["bounded"] * 3,
            "seed": list(range(5)) + list(range(3)),
            "outcome": ["compromise"] * 4 + ["authority_decision"] * 4,
            "trigger": [None] * 4 + ["deadlock"] * 4,
            "status": ["ok"] * 4 + ["invalid"] * 4,
            "error": [None] * 4 + ["invalid turns: 15 of 15 (100%, over the 10% limit)"] * 4,
            "final_value": 50.0,
            "issue_min": 0.0,
            "issue_max": 100.0,
            "turns": 15,
            "invalid_turns": [0] * 4 + [15] * 4,
            "rounds": 3,
        }
    )
    moves = pd.DataFrame({"run_id": ids, "round": 1, "party": "x", "action": "hold"})
    agents = pd.DataFrame(
        {"run_id": ids * 2, "Step": [0.0] * 8 + [1.0] * 8, "party": "x", "position": 50.0}
    )
    cells = cell_table(runs, moves, agents).set_index("condition")
    none, bounded = cells.loc["none"], cells.loc["bounded"]
    assert (none.n, none.failed, none.invalid, none.compromise) == (4, 1, 1, 1.0)
    assert none.excluded == "1 invalid turns" and none.interpretable
    assert (bounded.n, bounded.invalid) == (0, 3) and not bounded.authority_collapse
    write_results(tmp_path, {"runs": runs, "moves": moves, "agents": agents}, {"kind": "sweep"})
    text = write_report(tmp_path).path.read_text()
    assert "(0 failed, 4 invalid)" in text
    assert "m · s · none: 1 of 5 runs excluded — 1 invalid turns" in text
    assert "m · s · bounded: 0 valid run(s) of 3" in text


# -- configuration faults ------------------------------------------------------------------------
def test_a_configuration_fault_stops_the_run_keeping_what_was_played(
    tmp_path: Path, capsys
) -> None:
    out = tmp_path / "run"
    with FakeOpenAIServer() as server:
        server.script(*[Reply()] * 12)  # round 1 (and any repairs) answered ...
        server.fail("auth", times=100)  # ... then the key is rejected
        flags = llm_flags(server.base_url, "--max-concurrency", "1")
        code = main(["run", *flags, "--quiet", "--out", str(out)])
    stdout, stderr = capsys.readouterr()
    assert code == 2 and "Outcome:" not in stdout
    error = [line for line in stderr.splitlines() if line.startswith("parley run: error:")]
    assert len(error) == 1 and "configuration fault (auth): " in error[0]
    assert "HTTP 401" in error[0]
    res = parley.load_results(out)
    assert res["runs"].status.tolist() == ["failed"] and "auth" in res["runs"].error[0]
    assert len(res["moves"]) >= 5 and res.manifest["status"] == "failed"  # round 1 is kept


def llm_grid(url: str, seeds: int = 6):
    return build_grid(
        {"condition": ["none"]},
        {
            "policy": "llm",
            "backend": "openai",
            "model": "fake-model",
            "base_url": url,
            "api_key_env": NO_KEY_ENV,
            "timeout": 5.0,
            "max_retries": 0,
            "scenario": "grid_curtailment",
        },
        list(range(seeds)),
    )


def test_configuration_faults_in_a_row_stop_the_sweep_and_resume_later(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    with FakeOpenAIServer() as server:
        server.fail("auth", times=1000)
        url = server.base_url
        summary = run_sweep(llm_grid(url), out, progress=False)
        refused = len(server.requests)
    limit = halt.MAX_CONFIG_FAULTS
    assert summary.halted is not None and f"after {limit} consecutive" in summary.halted
    assert (summary.ran, summary.failed, summary.not_started) == (limit, limit, 6 - limit)
    assert refused <= limit * 5  # one round of five calls per run at most: no more burnt
    assert "Sweep stopped after" in summary.text() and "runs not started" in summary.text()
    assert len(scan(shard_dir(out))) == limit  # the runs not started left no shard
    runs = parley.load_results(out)["runs"]
    assert len(runs) == limit and runs.error.str.startswith("configuration fault (auth)").all()
    assert json.loads((out / "manifest.json").read_text())["status"] == "stopped"
    with FakeOpenAIServer(port=int(url.rsplit(":", 1)[1].split("/")[0])) as healthy:
        again = run_sweep(llm_grid(healthy.base_url), out, progress=False)
    assert again.halted is None and again.ran == 6 and again.failed == 0
    assert (parley.load_results(out)["runs"].status == "ok").all()


def test_runs_in_flight_stop_too(tmp_path: Path) -> None:
    """With --concurrency, runs already in flight finish; no new run starts after the stop."""
    seeds = 9
    with FakeOpenAIServer() as server:
        server.fail("auth", times=1000)
        grid = llm_grid(server.base_url, seeds=seeds)
        summary = run_sweep(grid, tmp_path / "sweep", progress=False, concurrency=2)
    limit = halt.MAX_CONFIG_FAULTS
    assert summary.halted is not None and summary.outcomes == {}
    assert limit <= summary.failed <= limit + 1  # the other run in flight may finish
    assert summary.failed + summary.not_started == seeds and summary.ran == summary.failed


def test_scattered_configuration_faults_do_not_stop_a_sweep(tmp_path: Path) -> None:
    shards = tmp_path / "shards"
    shards.mkdir()

    def shard(i: int, fault: str | None) -> None:
        summary = {"status": "failed", "fault": fault}
        doc = {"summary": summary, "tables": {"runs": {"run_id": [f"r{i}"]}}}
        path = shards / f"r{i}.shard.json"
        path.write_text(json.dumps(doc))
        os.utime(path, ns=(i * 10**9, i * 10**9))

    for i, fault in enumerate(["auth", None, "auth", "auth"]):
        shard(i, fault)
    assert halt.check(shards) is None and halt.stop_reason(shards) is None
    shard(4, "auth")
    assert halt.check(shards) is not None and halt.stop_reason(shards)
    halt.clear(shards)
    assert halt.stop_reason(shards) is None


def test_cli_sweep_stopped_by_configuration_faults_exits_2(tmp_path: Path, capsys) -> None:
    with FakeOpenAIServer() as server:
        server.fail("auth", times=1000)
        argv = ["sweep", *llm_flags(server.base_url), "--condition", "none", "--scenario"]
        argv += ["grid_curtailment", "--seeds", "5", "--out", str(tmp_path / "s"), "--quiet"]
        code = main([*argv, "--no-check"])
    out = capsys.readouterr().out
    assert code == 2 and "Sweep stopped after 3 consecutive configuration faults" in out


# -- the app's outcome panel -----------------------------------------------------------------------
def test_the_outcome_panel_shows_an_invalid_run_as_invalid() -> None:
    model = NegotiationModel(policy="llm", llm=PuppetLLM(lambda r: "no JSON here"), rng=0)
    model.run()
    assert model.outcome is not None and model.outcome.kind == "authority_decision"
    view = live_view(model)
    headline = outcome_headline(view)
    assert headline.startswith("Invalid run: invalid turns: ") and "not an outcome" in headline
    box, _ = solara.render(OutcomePanel(view), handle_error=False)
    assert "Authority decision" not in str(box) and "Ruling:" not in str(box)
