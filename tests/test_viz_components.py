"""The app's components, rendered headless with Solara's own test renderer.

Each test renders a component on a model that has played some rounds (or on a recorded
run) and asserts on what the page shows: the round counter, party names in the feed, the
outcome, the metrics, the figures, and the one-line messages that replace tracebacks.
"""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import ipyvuetify as v
import ipywidgets
import pandas as pd
import pytest
import solara

from parley.cli import main
from parley.cli.app import check_free, server_command
from parley.experiments.manifest import build_manifest
from parley.experiments.records import run_frames
from parley.experiments.storage import ResultsError, write_results
from parley.llm.fakes import PuppetLLM, negotiator_responder
from parley.model.model import NegotiationModel
from parley.viz.components import RunViews
from parley.viz.feed import Feed
from parley.viz.live import LivePanel
from parley.viz.page import ParleyApp
from parley.viz.panels import MetricsPanel, OutcomePanel, run_metrics
from parley.viz.params import initial_values, model_kwargs, model_params
from parley.viz.replay import ReplayRun, run_choices
from parley.viz.replay_panel import ReplayOpener, ReplayPanel
from parley.viz.view import live_view


# -- helpers ------------------------------------------------------------------------------
def page_text(widget) -> str:
    """All text a rendered widget tree shows (strings, HTML, button labels)."""
    out = []
    html = getattr(widget, "unsafe_innerHTML", None)
    if html:
        out.append(html)
    for child in getattr(widget, "children", None) or []:
        out.append(child if isinstance(child, str) else page_text(child))
    return "\n".join(out)


def wait_for(check: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll ``check`` until it holds (the live panel steps in a worker thread)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def round_counter(box) -> str | None:
    found = re.findall(r"Round \d+ of \d+", page_text(box))
    return found[0] if found else None


def button(rc, label: str):
    return rc.find(v.Btn, children=[label]).widget


def played(rounds: int, **kwargs) -> NegotiationModel:
    model = NegotiationModel(**{"policy": "heuristic", "rng": 0, **kwargs})
    for _ in range(rounds):
        model.step()
    return model


def record(model: NegotiationModel, out: Path, run_id: str | None = None) -> Path:
    frames = run_frames(model)
    if run_id is not None:  # a sweep: every table keyed by run_id
        frames = {k: f.assign(run_id=run_id) for k, f in frames.items()}
    return write_results(out, frames, build_manifest("run", dict(model.params)))


def params(**overrides) -> solara.Reactive:
    return solara.reactive({**initial_values(model_params()), **overrides})


# -- views of one round ---------------------------------------------------------------------
def test_run_views_show_round_parties_metrics_and_two_figures():
    model = played(3)
    box, rc = solara.render(RunViews(live_view(model)), handle_error=False)
    text = page_text(box)
    assert round_counter(box) == "Round 3 of 10"
    assert "Heatwave evening peak" in text
    for party in model.positions:
        assert f"<b>{party}</b>" in text  # every party in the feed
    assert "Action entropy" in text and "Invalid turns" in text
    images = rc.find(ipywidgets.Image).widgets
    assert len(images) == 2 and all(len(img.value) > 5_000 for img in images)


def test_figures_change_from_round_to_round():
    model = played(1)
    first = live_view(model)
    model.step()
    box1, rc1 = solara.render(RunViews(first), handle_error=False)
    box2, rc2 = solara.render(RunViews(live_view(model)), handle_error=False)
    before = [bytes(i.value) for i in rc1.find(ipywidgets.Image).widgets]
    after = [bytes(i.value) for i in rc2.find(ipywidgets.Image).widgets]
    assert before[0] != after[0] and before[1] != after[1]  # network, positions


def test_outcome_panel_compromise_with_utilities():
    model = played(20)  # runs to its end
    assert model.outcome.kind == "compromise"
    box, _ = solara.render(OutcomePanel(live_view(model)), handle_error=False)
    text = page_text(box)
    assert f"Compromise at {model.outcome.value:g} %" in text
    for party, u in model.utilities().items():
        assert party in text and f"{u:+.2f}" in text


def test_outcome_panel_authority_decision_names_trigger_and_body():
    model = played(20, policy="solver", scenario="trading_limits_fragmented")
    assert model.outcome.kind == "authority_decision"
    box, _ = solara.render(OutcomePanel(live_view(model)), handle_error=False)
    text = page_text(box)
    assert f"Authority decision (trigger: {model.outcome.trigger})" in text
    assert model.outcome.body in text and f"imposes {model.outcome.value:g}" in text
    assert "Ruling:" in text


def test_metrics_count_actions_concessions_and_entropy():
    model = played(3)
    view = live_view(model)
    shown = run_metrics(view)
    moves = view.moves
    concessions = int((moves["action"] == "concede").sum())
    assert shown["Invalid turns"] == f"0 of {len(moves)}"
    assert shown["Concessions"].startswith(str(concessions))
    assert float(shown["Action entropy"].split()[0]) > 0
    # the heuristic never leaks, recites or contradicts itself (self-harm is rare, not nil)
    pattern = rf"(\d+) of {len(moves)} \(leak 0 · recite 0 · self-harm (\d+) · mismatch 0\)"
    found = re.fullmatch(pattern, shown["Incoherent moves"])
    assert found and found.group(1) == found.group(2)
    box, _ = solara.render(MetricsPanel(view), handle_error=False)
    assert "none (rule-based policy)" in page_text(box) and "Incoherent moves" in page_text(box)


def test_metrics_show_tokens_and_latency_of_llm_calls():
    model = played(2, policy="llm", llm=PuppetLLM(negotiator_responder))
    view = live_view(model)
    shown = run_metrics(view)
    assert len(view.calls) >= 10  # five parties, two rounds (plus any repairs)
    assert shown["LLM calls"] == f"{len(view.calls)} (0 from cache)"
    assert "prompt" in shown["Tokens"] and "per call" in shown["Latency"]


def test_feed_hides_private_state_until_toggled():
    model = played(2, policy="llm", condition="bounded", llm=PuppetLLM(negotiator_responder))
    view = live_view(model)
    assert view.moves["private_state"].notna().all()
    box, rc = solara.render(Feed(view), handle_error=False)
    assert "🔒 private" not in page_text(box)
    rc.find(v.Checkbox).widget.v_model = True
    assert "🔒 private" in page_text(box)


def test_feed_escapes_llm_text():
    evil = {"action": "hold", "message": "<script>alert(1)</script>"}
    model = played(1, policy="llm", llm=PuppetLLM(lambda _r: evil))
    box, _ = solara.render(Feed(live_view(model)), handle_error=False)
    text = page_text(box)
    assert "<script>" not in text and "&lt;script&gt;" in text


# -- the live panel ---------------------------------------------------------------------------
def test_live_panel_steps_resets_and_plays_to_the_end():
    box, rc = solara.render(LivePanel(params()), handle_error=False)
    assert round_counter(box) == "Round 0 of 10"
    for k in (1, 2, 3):
        button(rc, "Step").click()
        wait_for(lambda k=k: round_counter(box) == f"Round {k} of 10")
    button(rc, "Reset").click()
    wait_for(lambda: round_counter(box) == "Round 0 of 10")
    button(rc, "▶ Play").click()
    wait_for(lambda: "The negotiation has ended" in page_text(box), timeout=60)
    wait_for(lambda: "Compromise at" in page_text(box) or "Authority decision" in page_text(box))
    rc.close()


def test_a_slow_round_runs_off_the_ui_thread():
    release = threading.Event()  # the round's calls wait until the test has checked the page

    class Held(PuppetLLM):
        async def acomplete(self, request):
            await asyncio.to_thread(release.wait, 30)
            return await super().acomplete(request)

    slow = Held(negotiator_responder)

    def factory(**kwargs):
        return NegotiationModel(**kwargs, llm=slow)

    box, rc = solara.render(LivePanel(params(policy="llm"), factory), handle_error=False)
    start = time.monotonic()
    button(rc, "Step").click()
    assert time.monotonic() - start < 0.5  # the click returned long before the round ends
    wait_for(lambda: "Round 1 in progress…" in page_text(box), timeout=2)
    assert button(rc, "Step").disabled
    # The page still answers while the round runs: the private-state toggle re-renders.
    rc.find(v.Checkbox).widget.v_model = True
    assert rc.find(v.Checkbox).widget.v_model is True
    assert round_counter(box) == "Round 0 of 10"
    release.set()
    wait_for(lambda: round_counter(box) == "Round 1 of 10", timeout=20)
    wait_for(lambda: "in progress" not in page_text(box))
    rc.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_backend_is_a_message_not_a_traceback(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-key")
    url = f"http://127.0.0.1:{closed_port()}/v1"
    p = params(policy="llm", backend="openai", model="m", base_url=url)
    box, rc = solara.render(LivePanel(p), handle_error=False)
    button(rc, "Step").click()
    wait_for(lambda: "LLM backend unreachable" in page_text(box), timeout=30)
    assert "cannot connect" in page_text(box) and "Traceback" not in page_text(box)
    rc.close()


def test_invalid_scenario_and_seed_are_one_line_messages(write_scenario, scenario_data):
    scenario_data["parties"][0]["ideal"] = 1000  # outside the range
    bad = str(write_scenario(scenario_data, name="bad"))
    p = params(scenario=bad)
    box, rc = solara.render(LivePanel(p), handle_error=False)
    shown = rc.find(v.Alert).widget.children[0]
    assert shown.startswith("Invalid scenario: ") and "ideal" in shown and "\n" not in shown
    assert round_counter(box) is None  # no views of a model that does not exist
    p.set({**p.value, "scenario": "grid_curtailment", "rng": "seven"})
    wait_for(lambda: "Invalid parameters: the seed must be a whole number" in page_text(box))
    p.set({**p.value, "rng": "7"})
    wait_for(lambda: round_counter(box) == "Round 0 of 10")
    assert not rc.find(v.Alert).widgets


def test_model_kwargs_from_page_values():
    kw = model_kwargs({**initial_values(model_params()), "max_rounds": 4, "rng": " 12 "})
    assert kw["rng"] == 12 and kw["max_rounds"] == 4 and kw["base_url"] is None
    assert kw["model"] == "qwen2.5-0.5b"
    NegotiationModel(**kw)  # every key is a model keyword argument
    assert model_kwargs({**kw, "backend": "openai", "model": "", "rng": "0"})["model"]
    with pytest.raises(ValueError, match="seed"):
        model_kwargs({**kw, "rng": "-1"})


# -- replay -----------------------------------------------------------------------------------
def test_replay_matches_the_live_run_round_by_round(tmp_path):
    model = NegotiationModel(policy="heuristic", scenario="trading_limits_fragmented", rng=3)
    live = [live_view(model)]
    while model.running:
        model.step()
        live.append(live_view(model))
    replay = ReplayRun.open(record(model, tmp_path / "run"))
    assert replay.last_round == model.round
    for r, expected in enumerate(live):
        got = replay.view(r)
        pd.testing.assert_frame_equal(got.trajectory, expected.trajectory)
        assert got.coalition == expected.coalition
        assert sorted(got.graph.edges()) == sorted(expected.graph.edges())
        assert list(got.standing) == list(expected.standing)
        assert len(got.moves) == len(expected.moves)
    assert replay.view(model.round).utilities() == pytest.approx(model.utilities())
    assert replay.view(model.round - 1).outcome is None


def test_one_run_of_a_sweep_directory(tmp_path):
    out = tmp_path / "sweep"
    a, b = played(20, rng=1), played(20, rng=2, policy="solver")
    frames = {}
    for rid, model in (("r1", a), ("r2", b)):
        for name, frame in run_frames(model).items():
            frames.setdefault(name, []).append(frame.assign(run_id=rid))
    write_results(out, {k: pd.concat(v) for k, v in frames.items()}, build_manifest("sweep", {}))
    assert [rid for rid, _ in run_choices(out)] == ["r1", "r2"]
    with pytest.raises(ResultsError, match="choose a run id"):
        ReplayRun.open(out)
    with pytest.raises(ResultsError, match="no run with id 'r9'"):
        ReplayRun.open(out, "r9")
    second = ReplayRun.open(out, "r2")
    assert second.view(99).outcome.kind == b.outcome.kind
    assert len(second.view(99).moves) == len(b.datacollector.tables["moves"]["round"])


def test_each_run_of_a_real_sweep_replays_to_its_recorded_end(tmp_path):
    from parley.experiments.grid import build_grid
    from parley.experiments.sweep import run_sweep

    grid = build_grid({"policy": ["heuristic", "solver"]}, {"scenario": "grid_curtailment"}, [0])
    run_sweep(grid, tmp_path / "sweep", progress=False)
    runs = pd.read_parquet(tmp_path / "sweep" / "runs.parquet")
    choices = run_choices(tmp_path / "sweep")
    assert sorted(rid for rid, _ in choices) == sorted(runs["run_id"])
    for rid, label in choices:
        row = runs[runs["run_id"] == rid].iloc[0]
        replay = ReplayRun.open(tmp_path / "sweep", rid)
        end = replay.view(replay.last_round)
        assert label.endswith(row["outcome"]) and replay.last_round == row["rounds"]
        assert end.outcome.kind == row["outcome"] and end.outcome.value == row["final_value"]
        assert set(end.moves["party"]) == set(end.parties)


def test_replay_opener_lists_sweep_runs_and_opens_the_chosen_one(tmp_path):
    from parley.experiments.grid import build_grid
    from parley.experiments.sweep import run_sweep

    grid = build_grid({"policy": ["heuristic", "solver"]}, {"scenario": "grid_curtailment"}, [3])
    run_sweep(grid, tmp_path / "sweep", progress=False)
    opened: list[ReplayRun] = []
    box, rc = solara.render(ReplayOpener(opened.append), handle_error=False)
    enter(rc, str(tmp_path / "nowhere"))
    assert "Cannot open the recorded run" in page_text(box)
    enter(rc, str(tmp_path / "sweep"))
    assert "Cannot open the recorded run" not in page_text(box)  # resolved: the error goes
    select = rc.find(v.Select).widget
    assert select.label == "Run (2 in this directory)"
    solver = next(label for label in select.items if "solver" in label)
    select.v_model = solver  # choosing a run opens it
    assert len(opened) == 1 and opened[0].summary["policy"] == "solver"
    assert opened[0].source.endswith(solver.split(" · ", 1)[1])
    button(rc, "Open recorded run").click()
    assert len(opened) == 2 and opened[1].summary["policy"] == "solver"


def enter(rc, text: str) -> None:
    """Type ``text`` into the results-directory field and press Enter."""
    field = rc.find(v.TextField).widget
    field.v_model = text
    field.fire_event("keyup.enter", {})


def test_replay_panel_scrubs_rounds(tmp_path):
    model = played(20)
    replay = ReplayRun.open(record(model, tmp_path / "run"))
    box, rc = solara.render(ReplayPanel(replay, on_close=lambda: None), handle_error=False)
    last = model.round
    assert round_counter(box) == f"Round {last} of 10" and "Compromise at" in page_text(box)
    button(rc, "◀").click()
    assert round_counter(box) == f"Round {last - 1} of 10"
    assert "No outcome yet" in page_text(box)
    rc.find(v.Slider).widget.v_model = 1
    assert round_counter(box) == "Round 1 of 10"
    assert "Round 2</h4>" not in page_text(box) and "Round 1</h4>" in page_text(box)


def test_app_opens_a_recorded_run_and_reports_a_bad_one(tmp_path):
    path = record(played(20), tmp_path / "run")
    box, rc = solara.render(ParleyApp(replay_dir=str(path)), handle_error=False)
    wait_for(lambda: "replay · run" in page_text(box))
    assert "Back to live" in page_text(box)
    box, rc = solara.render(ParleyApp(replay_dir=str(tmp_path / "nothing")), handle_error=False)
    wait_for(lambda: "Cannot open the recorded run" in page_text(box))
    assert "no such results directory" in page_text(box)


def test_replay_of_a_sweep_starts_on_the_replay_tab_with_its_run_chooser(tmp_path):
    from parley.experiments.grid import build_grid
    from parley.experiments.sweep import run_sweep

    grid = build_grid({"policy": ["heuristic", "solver"]}, {"scenario": "grid_curtailment"}, [3])
    run_sweep(grid, tmp_path / "sweep", progress=False)
    box, rc = solara.render(ParleyApp(replay_dir=str(tmp_path / "sweep")), handle_error=False)
    wait_for(lambda: "replay · sweep" in page_text(box))
    tabs = rc.find(v.BtnToggle).widget
    assert tabs.v_model == "Replay"  # the Replay tab, not the live run
    chooser = rc.find(v.Select, label="Run (2 in this directory)").widget
    assert chooser.v_model == chooser.items[0]  # the first run is open
    assert not rc.find(v.Alert, type="error").widgets  # no "choose a run id" error
    chooser.v_model = chooser.items[1]
    wait_for(lambda: "solver" in page_text(box).split("replay · sweep")[1][:200])


def test_settings_show_llm_fields_only_for_the_llm_policy_and_the_rounds_value():
    box, rc = solara.render(ParleyApp(), handle_error=False)
    labels = lambda: [w.label for w in rc.find(v.Select).widgets + rc.find(v.TextField).widgets]  # noqa: E731
    assert "LLM backend" not in labels() and "Reflection condition (LLM policy)" not in labels()
    assert "The LLM settings (condition, backend, model, base URL) appear" in page_text(box)
    rc.find(v.Select, label="Policy").widget.v_model = "llm"
    assert (
        "LLM backend" in labels() and "Base URL (openai backend; blank: the client's)" in labels()
    )
    slider = rc.find(v.Slider).widget
    assert "Max rounds: the scenario's deadline" in page_text(box)
    slider.v_model = 12
    assert "Max rounds: 12" in page_text(box)
    rc.close()


def test_a_scenario_file_is_listed_by_its_name_and_title(tiny):
    path = tiny({"a": 20, "b": 80})
    specs = model_params([path])
    assert specs["scenario"]["labels"][path] == "tiny · Tiny"
    box, rc = solara.render(ParleyApp(scenarios=(path,)), handle_error=False)
    select = rc.find(v.Select, label="Scenario").widget
    assert "tiny · Tiny" in select.items and path not in select.items
    select.v_model = "tiny · Tiny"
    wait_for(lambda: round_counter(box) is not None and "Tiny" in page_text(box))
    rc.close()


def test_settings_toggle_has_a_label_and_presenter_mode_enlarges_the_page():
    box, rc = solara.render(ParleyApp(), handle_error=False)
    toggle = rc.find(v.Btn, children=["☰ Hide settings"]).widget
    assert toggle.attributes["aria-label"] == "Hide settings"
    button(rc, "Step").click()
    wait_for(lambda: round_counter(box) == "Round 1 of 10")
    wait_for(lambda: "Round 1" in page_text(box) and not button(rc, "Step").disabled)
    toggle.click()  # (the round's own redraw is over: the click's redraw is not raced)
    wait_for(lambda: bool(rc.find(v.Btn, children=["☰ Settings"]).widgets))
    shown = rc.find(v.Btn, children=["☰ Settings"]).widget
    assert shown.attributes["aria-label"] == "Settings"
    settings = rc.find(v.Html, class_="parley-settings").widget
    assert "display:none" in settings.style_  # the settings column is hidden...
    assert round_counter(box) == "Round 1 of 10"  # ... and the live run goes on
    images = lambda: [bytes(i.value) for i in rc.find(ipywidgets.Image).widgets]  # noqa: E731
    normal = images()
    rc.find(v.Switch).widget.v_model = True
    assert rc.find(v.Html, class_="parley-page parley-presenter").widgets
    assert images() != normal  # the figures are redrawn with larger type
    rc.close()


def test_rule_based_feed_says_why_there_are_no_private_ledgers():
    box, rc = solara.render(Feed(live_view(played(1))), handle_error=False)
    assert rc.find(v.Checkbox).widget.disabled
    assert "Rule-based negotiators keep no private ledgers" in page_text(box)


def test_wording_one_round_and_the_authority_rule():
    model = played(20, scenario="trading_limits_fragmented")
    text = page_text(solara.render(RunViews(live_view(model)), handle_error=False)[0])
    assert "(contested) (ambiguous)" not in text and "(contested), rule: ambiguous" in text
    from parley.viz.panels import outcome_headline

    view = live_view(model)
    one = replace(view, outcome=replace(view.outcome, round=1))
    assert outcome_headline(one).endswith("after 1 round")


def test_metrics_before_the_first_llm_round_say_none_yet():
    model = NegotiationModel(policy="llm", llm=PuppetLLM(negotiator_responder), rng=0)
    assert run_metrics(live_view(model))["LLM calls"] == "none yet"


# -- import and CLI -----------------------------------------------------------------------------
def test_importing_the_app_needs_no_key_no_network_and_builds_nothing():
    probe = (
        "import os, socket, time\n"
        "os.environ.pop('OPENAI_API_KEY', None)\n"
        "def refuse(*a, **k): raise AssertionError('network used at import')\n"
        "socket.socket.connect = refuse\n"
        "import parley.model.model as mm\n"
        "def never(*a, **k): raise AssertionError('model built at import')\n"
        "mm.NegotiationModel.__init__ = never\n"
        "t = time.process_time()\n"
        "import parley.viz.app as app\n"
        "assert callable(app.Page)\n"
        "print(round(time.process_time() - t, 2))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout.strip()) < 15  # CPU seconds: solara, mesa and matplotlib


def test_parley_app_rejects_bad_input_in_one_line(tmp_path, capsys):
    def app(*args: str) -> tuple[int, str]:
        try:
            code = main(["app", *args])
        except SystemExit as exit:  # argparse's own errors
            code = exit.code
        return code, capsys.readouterr().err

    for args, needle in (
        (("--port", "70000"), "a port is 1-65535"),
        (("--scenario", str(tmp_path / "none.yaml")), "no such scenario file"),
        (("--replay", str(tmp_path / "none")), "no such results directory"),
    ):
        code, err = app(*args)
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        code, err = app("--port", str(busy.getsockname()[1]))
    assert code == 2 and "cannot listen on 127.0.0.1" in err


def test_parley_app_restarts_at_once_on_the_port_it_just_left():
    # A server that closed its side of a connection leaves it in TIME_WAIT (up to ~60 s):
    # the port is free for a new server (uvicorn binds with SO_REUSEADDR, and so must the
    # check before it), but a plain bind() would say "Address already in use".
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        conn, _ = server.accept()
        conn.close()  # the server closes first: its end waits in TIME_WAIT
        client.close()
    with socket.socket() as plain, pytest.raises(OSError):
        plain.bind(("127.0.0.1", port))
    check_free("127.0.0.1", port)  # no UserError


def test_parley_app_command_line_serves_the_app_module():
    cmd = server_command("127.0.0.1", 8765)
    assert cmd[1:4] == ["-m", "solara", "run"] and Path(cmd[4]).is_file()
    assert cmd[4].endswith("parley/viz/app.py") and "--no-open" in cmd
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"


@pytest.mark.slow
def test_parley_app_serves_on_loopback_and_prints_the_url():
    port = closed_port()
    cmd = [sys.executable, "-m", "parley", "app", "--port", str(port)]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first = server.stdout.readline()
        assert first.strip() == f"parley app: serving on http://127.0.0.1:{port}/ (Ctrl-C to stop)"
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, server.stdout.read()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as page:
                    assert page.status == 200 and b"solara" in page.read().lower()
                break
            except OSError:
                assert time.monotonic() < deadline, "parley app did not serve in time"
                time.sleep(0.5)
    finally:
        server.terminate()  # `parley app` became the solara server: one process to stop
        server.wait(timeout=30)
