"""Secrets: a recognizable fake API key never lands in a file, a log, a page or an error.

Each test sets the key in the environment variable the runs read, drives a user-facing
path (run, sweep, report, the app's views) against the loopback fake server — including a
server that rejects the key and echoes it back, as OpenAI does — and scans everything
written, printed, logged or raised for it.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
from llm_fixtures import FAKE_KEY, KEY_ENV, fake_key_fixture, files_containing  # noqa: F401

from parley.cli import main
from parley.experiments.storage import load_results
from parley.llm.fake_server import FakeOpenAIServer
from parley.llm.fakes import as_server_responder, negotiator_responder
from parley.llm.interface import LLMError
from parley.llm.openai_backend import OpenAIBackend
from parley.llm.wrappers import find_layer
from parley.model.model import NegotiationModel

LLM_FLAGS = ["--policy", "llm", "--backend", "openai", "--model", "fake-model"]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(as_server_responder(negotiator_responder), hang_s=2.0) as fake:
        yield fake


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every record logged at INFO and up, and down to DEBUG where requests are logged.

    (Not DEBUG everywhere: reacton's debug records format whole DataFrames, for minutes.)
    """
    caplog.set_level(logging.INFO)
    for name in ("openai", "httpx", "httpcore", "parley", "asyncio"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def assert_nowhere(secret: str, root: Path, *texts: str) -> None:
    """Zero hits of ``secret`` in any file under ``root`` and in ``texts``."""
    assert files_containing(root, secret) == []
    for text in texts:
        assert secret not in text


def flags(server: FakeOpenAIServer, tmp_path: Path) -> list[str]:
    return [
        *LLM_FLAGS,
        "--base-url",
        server.base_url,
        "--api-key-env",
        KEY_ENV,
        "--timeout",
        "5",
        "--cache",
        "record",
        "--cache-path",
        str(tmp_path / "cache.sqlite"),
    ]


def test_the_key_reaches_the_server_and_nothing_else(
    server, fake_key, tmp_path, capsys, logs
) -> None:
    argv = ["run", *flags(server, tmp_path), "--authority", "llm", "--max-rounds", "2"]
    assert main([*argv, "--private", "--out", str(tmp_path / "run")]) == 0
    out, err = capsys.readouterr()
    assert len(server.requests) >= 10  # the calls were made, with the key...
    assert (tmp_path / "cache.sqlite").stat().st_size > 0
    assert_nowhere(fake_key, tmp_path, out, err, logs.text)  # ...and it went nowhere else
    assert any(r.name.startswith(("openai", "httpx")) for r in logs.records)  # logs were seen


def test_a_rejected_key_echoed_by_the_server_is_not_repeated(
    server, fake_key, tmp_path, capsys, logs
) -> None:
    server.fail("auth", times=100)  # 401 whose message quotes the key, like OpenAI's
    argv = ["run", *flags(server, tmp_path), "--max-rounds", "1", "--out", str(tmp_path / "r")]
    assert main(argv) == 2  # a rejected key stops the run: one line, exit 2
    out, err = capsys.readouterr()
    assert server.requests  # the server did see (and echo) the key
    errors = [line for line in err.splitlines() if line.startswith("parley run: error:")]
    assert len(errors) == 1 and "authentication failed" in errors[0]
    assert err.startswith("Wrote ")  # what was played is kept (status=failed)
    assert_nowhere(fake_key, tmp_path, out, err, logs.text)
    model = NegotiationModel(
        policy="llm",
        backend="openai",
        model="fake-model",
        base_url=server.base_url,
        api_key_env=KEY_ENV,
        timeout=5.0,
        rng=0,
    )
    with pytest.raises(LLMError) as caught:  # raised from a step, the error says no more
        model.step()
    assert caught.value.fault == "auth"
    trace = "".join(traceback.format_exception(caught.value))
    assert fake_key not in trace and fake_key not in repr(caught.value)
    backend = find_layer(model.llm, OpenAIBackend)
    assert fake_key not in repr(backend) and fake_key not in str(model.params)


def widget_state_text() -> str:
    """Every trait of every live widget (what the app would send a browser), as one string."""
    import ipywidgets
    import ipywidgets.widgets.widget as registry

    def plain(value: object) -> str:
        if isinstance(value, ipywidgets.Widget):
            return ""  # scanned on its own
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value).decode("latin-1")
        if isinstance(value, list | tuple):
            return "\n".join(plain(v) for v in value)
        return repr(value)

    widgets = list(registry._instances.values())
    return "\n".join(plain(getattr(w, key)) for w in widgets for key in w.keys)


def test_sweep_report_and_app_never_show_the_key(
    server, fake_key, tmp_path, capsys, logs, monkeypatch
) -> None:
    import solara

    from parley.viz.live import LivePanel
    from parley.viz.page import ParleyApp
    from parley.viz.params import initial_values, model_params
    from parley.viz.replay import ReplayRun
    from parley.viz.replay_panel import ReplayPanel

    monkeypatch.setenv("OPENAI_API_KEY", fake_key)  # the app reads the default variable
    sweep = tmp_path / "sweep"
    argv = ["sweep", *flags(server, tmp_path), "--authority", "llm", "--max-rounds", "2"]
    argv += ["--scenario", "grid_curtailment"]
    assert main([*argv, "--seeds", "3", "--out", str(sweep), "--quiet"]) == 0
    server.fail("auth", times=1000)  # a second sweep whose every run fails: a rejected key
    rejected = tmp_path / "rejected"
    # The endpoint check refuses to start it (one line and the probe's table, exit 2) ...
    assert main([*argv, "--seeds", "2", "--out", str(rejected), "--quiet"]) == 2
    # ... and without the check each run fails on its configuration fault.
    assert main([*argv, "--seeds", "2", "--out", str(rejected), "--quiet", "--no-check"]) == 0
    assert main(["report", str(sweep), "--format", "html", "--out", str(tmp_path / "html")]) == 0
    assert main(["report", str(sweep), "--out", str(tmp_path / "md")]) == 0
    out, err = capsys.readouterr()
    assert "2 failed" in out and "authentication failed" in out  # the failures were seen
    assert (tmp_path / "html" / "report.html").is_file()

    # The app: the page opened on the sweep, each recorded run replayed, and a live LLM run
    # against the server that rejects the key (its one-line error is on the page).
    rendered = [solara.render(ParleyApp(replay_dir=str(sweep)), handle_error=False)[1]]
    for run_id in load_results(sweep)["runs"]["run_id"]:
        panel = ReplayPanel(ReplayRun.open(sweep, run_id), on_close=lambda: None)
        rendered.append(solara.render(panel, handle_error=False)[1])
    live = {"policy": "llm", "backend": "openai", "model": "m", "base_url": server.base_url}
    params = solara.reactive({**initial_values(model_params()), **live})
    _, live_rc = solara.render(LivePanel(params), handle_error=False)
    live_rc.find(v_btn(), children=["Step"]).widget.click()
    deadline = time.monotonic() + 30
    page = widget_state_text()
    while not ("replay · sweep" in page and "authentication failed" in page):
        assert time.monotonic() < deadline, "the app did not show the replay and the error"
        time.sleep(0.05)
        page = widget_state_text()
    assert "holds 3 runs; choose a run id" in page  # the page on the sweep directory
    for rc in [*rendered, live_rc]:
        rc.close()
    assert_nowhere(fake_key, tmp_path, out, err, logs.text, page)


def v_btn():
    import ipyvuetify

    return ipyvuetify.Btn
