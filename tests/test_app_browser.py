"""The app in a real browser: ``solara run`` on loopback, driven by headless Chromium.

Playwright for Python drives Debian's ``/usr/bin/chromium`` (Playwright's own browser
download does not work here). Locally the test skips, saying why, when Chromium, Playwright
or the app's front-end files are missing (``make setup-browser`` installs all three); with
``PARLEY_REQUIRE_HEAVY=1`` (CI) such a skip is a failure. Set ``PARLEY_APP_SCREENSHOT=PATH``
to also save the screenshot of the live run there (``make screenshot`` refreshes
``docs/img/app.png`` this way).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from parley.experiments.grid import build_grid
from parley.experiments.manifest import build_manifest
from parley.experiments.records import run_frames
from parley.experiments.storage import write_results
from parley.experiments.sweep import run_sweep
from parley.llm.fake_server import FakeOpenAIServer
from parley.model.model import NegotiationModel
from parley.viz.env import REPLAY_ENV

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
APP = Path(__file__).resolve().parents[1] / "parley" / "viz" / "app.py"
START_TIMEOUT_S = 180  # solara's first start imports a lot; CI machines are busy
ROUND_TIMEOUT_MS = 60_000

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def missing() -> str | None:
    """Why the browser test cannot run here, or None."""
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} not installed (make setup-browser installs Debian's chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright not installed (make setup-browser installs the 'browser' extra)"
    from solara.server import settings

    app_js = Path(settings.assets.proxy_cache_dir) / "requirejs@2.3.6"
    if not app_js.is_dir():
        return "the app's front-end files are missing (run: python scripts/solara_assets.py)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    """A sweep of two runs (heuristic and solver on grid_curtailment, seed 3)."""
    grid = build_grid({"policy": ["heuristic", "solver"]}, {"scenario": "grid_curtailment"}, [3])
    out = tmp_path_factory.mktemp("sweep") / "sweep"
    run_sweep(grid, out, progress=False)
    return out


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, sweep_dir) -> Iterator[str]:
    """``solara run parley/viz/app.py`` on a free loopback port, for this module, opened on
    ``sweep_dir`` for replay as ``parley app --replay`` does."""
    reason = missing()
    if reason:
        pytest.skip(reason)
    log = tmp_path_factory.mktemp("server") / "solara.log"
    with serve_app({REPLAY_ENV: str(sweep_dir)}, log) as url:
        yield url


@contextlib.contextmanager
def serve_app(env: dict[str, str], log: Path, port: int | None = None) -> Iterator[str]:
    """``solara run`` of the app with ``env`` added, on loopback (a free port unless
    ``port`` is given); its URL."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "solara", "run", str(APP), "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--no-open", "--production"]
    with open(log, "wb") as out:
        server = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env}
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_served(url, server, log)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def wait_until_served(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"solara exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"solara did not serve {url} in {START_TIMEOUT_S} s")


def open_page(pw, url: str, width: int, height: int):
    browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
    tab = browser.new_page(viewport={"width": width, "height": height})
    tab.set_default_timeout(ROUND_TIMEOUT_MS)
    tab.goto(url)
    return browser, tab


@pytest.fixture
def pw(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def page(pw, app_url):
    browser, tab = open_page(pw, app_url, 1500, 1100)
    try:
        yield tab
    finally:
        browser.close()


@pytest.fixture
def recorded_run(tmp_path) -> Path:
    """A ``parley run --out`` directory: 12 rounds, then the authority decides (deadline)."""
    model = NegotiationModel(scenario="trading_limits_fragmented", policy="heuristic", rng=11)
    model.run()
    assert model.outcome.kind == "authority_decision"
    manifest = build_manifest("run", {**model.params})
    return write_results(tmp_path / "recorded", run_frames(model), manifest)


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Iterator[Path]:
    """Where the screenshots go; copied next to ``PARLEY_APP_SCREENSHOT`` at the end."""
    folder = tmp_path_factory.mktemp("shots")
    yield folder
    target = os.environ.get("PARLEY_APP_SCREENSHOT")
    if target:
        for shot in sorted(folder.glob("*.png")):
            name = Path(target).name if shot.stem == "app" else f"{Path(target).stem}-{shot.name}"
            shutil.copyfile(shot, Path(target).parent / name)


def counter(page, text: str):
    """The visible round counter, once it reads ``text``."""
    found = page.locator(".parley-round:visible", has_text=text)
    found.wait_for()
    return found


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the select labelled ``label``."""
    page.locator(".v-select:visible", has=page.get_by_label(label, exact=True)).click()
    page.get_by_role("option", name=option, exact=True).click()


def live(page) -> None:
    """Switch to the live run (the page opened on the replay)."""
    page.get_by_role("button", name="Live run").click()
    counter(page, "Round 0 of 10")  # a new page: a new live run
    shown = page.locator(".parley-round:visible")
    deadline = time.monotonic() + 10
    while shown.count() != 1:  # the replay's counter is hidden once the switch is drawn
        assert time.monotonic() < deadline, "the replay stayed visible"
        time.sleep(0.05)


def figures(page) -> list[bytes]:
    """The network and positions figures as rendered pixels."""
    images = page.locator("img:visible")
    assert images.count() == 2
    return [images.nth(i).screenshot() for i in range(2)]


def watch_rounds(page) -> None:
    """Record every text the visible round counter shows from now on (in the browser)."""
    page.evaluate(
        """() => {
        window.parleyRounds = [];
        const look = () => {
            for (const el of document.querySelectorAll('.parley-round')) {
                if (el.offsetParent === null) continue;
                const t = el.textContent.trim();
                if (window.parleyRounds[window.parleyRounds.length - 1] !== t) {
                    window.parleyRounds.push(t);
                }
            }
        };
        new MutationObserver(look).observe(
            document.body, {subtree: true, childList: true, characterData: true});
        look();
    }"""
    )


def test_replay_opens_first_with_the_run_chooser(page, shots):
    # parley app --replay SWEEP: the Replay tab, the sweep's first run open, the chooser there.
    page.get_by_text("replay · sweep").wait_for()
    label = "Run (2 in this directory)"
    assert page.get_by_label(label, exact=True).is_visible()
    assert not page.get_by_text("choose a run id").is_visible()
    page.get_by_text("Authority decision").or_(page.get_by_text("Compromise at")).first.wait_for()
    page.screenshot(path=shots / "replay.png")
    page.locator(".v-select:visible", has=page.get_by_label(label, exact=True)).click()
    solver = page.get_by_role("option").filter(has_text="solver")
    solver.click()  # choosing a run opens it
    page.get_by_text(re.compile(r"replay · sweep · \w+ · grid_curtailment · solver")).wait_for()
    last = int(counter(page, "of 10").inner_text().split()[1])
    page.get_by_role("button", name="◀").click()
    counter(page, f"Round {last - 1} of 10")


def test_live_run_steps_and_an_llm_round_is_stopped_at_once(page, recorded_run, shots):
    live(page)
    counter(page, "Round 0 of 10")
    before = figures(page)
    for k in (1, 2, 3, 4):
        page.get_by_role("button", name="Step").click()
        counter(page, f"Round {k} of 10")
    page.locator("h4:visible", has_text="Round 4").wait_for()  # the feed's newest round
    after = figures(page)
    assert after[0] != before[0], "the coalition network did not change"
    assert after[1] != before[1], "the positions chart did not change"
    assert page.locator("b:visible", has_text="operator").count() >= 4  # a move of each round
    page.screenshot(path=shots / "app.png")

    # A slow LLM (a loopback OpenAI-compatible server): the round runs off the UI thread,
    # the page says who has decided, and Stop cancels the calls in flight at once.
    with FakeOpenAIServer(latency_s=2.0) as server:
        choose(page, "Policy", "llm")
        choose(page, "LLM backend", "openai")
        url = page.get_by_label("Base URL (openai backend; blank: the client's)")
        url.fill(server.base_url)
        url.press("Enter")
        counter(page, "Round 0 of 10")
        page.get_by_text("live · llm (openai: gpt-4o-mini)").wait_for()
        page.get_by_role("button", name="Step").click()
        page.get_by_text("Round 1 in progress…").wait_for(timeout=5_000)
        page.locator(".parley-turns", has_text="Round 1 · 0/5 decided").wait_for(timeout=5_000)
        toggle = page.get_by_label("Show private ledgers, memos and reasoning").first
        toggle.check(timeout=5_000)  # the page answers while the round runs
        counter(page, "Round 1 of 10")
        assert len(server.requests) >= 5

        server.latency_s = 30.0  # a round that would take half a minute
        first = len(server.requests)
        page.get_by_role("button", name="Step").click()
        page.locator(".parley-turns", has_text="Round 2 · 0/5 decided").wait_for(timeout=5_000)
        deadline = time.monotonic() + 10
        while len(server.requests) < first + 5:  # the round's five calls are in flight
            assert time.monotonic() < deadline
            time.sleep(0.05)
        asked = len(server.requests)
        started = time.monotonic()
        page.get_by_role("button", name="■ Stop").click()
        page.get_by_text("Stopped during round 2: that round was discarded.").wait_for(
            timeout=5_000
        )
        assert time.monotonic() - started < 5
        assert page.get_by_role("button", name="Step").is_disabled()
        counter(page, "Round 1 of 10")
        page.screenshot(path=shots / "stopped.png")
        time.sleep(1.0)
        assert len(server.requests) == asked  # no call was started after Stop

    # Reset: a new run at once (the abandoned round is not waited for).
    choose(page, "Policy", "heuristic")
    counter(page, "Round 0 of 10")
    page.get_by_role("button", name="Step").click()
    counter(page, "Round 1 of 10")

    # Another scenario: the live run restarts on it.
    choose(page, "Scenario", "trading_limits_fragmented")
    counter(page, "Round 0 of 12")
    page.get_by_text("VaR limit after a volatility shock").wait_for()

    # A recorded run, opened from the Replay tab and scrubbed back one round from its end.
    page.get_by_role("button", name="Replay").click()
    field = page.get_by_label("Results directory (parley run --out DIR, or a sweep)")
    field.fill(str(recorded_run))
    field.press("Enter")
    page.get_by_text(f"1 recorded run in {recorded_run}").wait_for()
    page.get_by_role("button", name="Open recorded run").click()
    page.get_by_text("replay · recorded").wait_for()
    last = int(counter(page, "of 12").inner_text().split()[1])
    page.get_by_text("Authority decision (trigger:").wait_for()
    page.get_by_role("button", name="◀").click()
    counter(page, f"Round {last - 1} of 12")
    assert (shots / "app.png").stat().st_size > 50_000


def test_play_shows_every_round_at_the_presenters_speed(page):
    live(page)
    choose(page, "Seconds per round", "0.5")
    watch_rounds(page)
    page.get_by_role("button", name="▶ Play").click()
    page.get_by_text("The negotiation has ended: Reset to play again.").wait_for()
    seen = page.evaluate("window.parleyRounds")
    rounds = [int(t.split()[1]) for t in seen]
    assert rounds == list(range(rounds[0], rounds[-1] + 1)), f"rounds skipped: {seen}"
    assert rounds[0] == 0 and rounds[-1] >= 5


def test_narrow_screen_and_presenter_mode(pw, app_url, shots):
    browser, page = open_page(pw, app_url, 1024, 768)
    try:
        live(page)
        settings = page.locator(".parley-settings")
        main = page.locator(".parley-main")
        s, m = settings.bounding_box(), main.bounding_box()
        assert s["x"] + s["width"] <= m["x"] + 1, "the settings cover the page"
        page.screenshot(path=shots / "1024.png")
        page.get_by_role("button", name="Step").click()
        counter(page, "Round 1 of 10")
        hide = page.get_by_role("button", name="Hide settings")
        hide.click()
        settings.wait_for(state="hidden")
        show = page.get_by_role("button", name="Settings", exact=True)
        show.wait_for()
        assert show.bounding_box()["width"] > 40  # a labelled button, not a missing icon
        show.click()
        settings.wait_for()
        counter(page, "Round 1 of 10")  # hiding the settings kept the live run
        # Nothing covers the run metrics (no badge, no drawer).
        metrics = page.locator(".v-card:visible", has_text="Run metrics")
        metrics.scroll_into_view_if_needed()
        box = metrics.bounding_box()
        inside = page.evaluate(
            "([x, y]) => !!document.elementFromPoint(x, y).closest('.v-card')",
            [box["x"] + box["width"] - 8, box["y"] + box["height"] - 8],
        )
        assert inside, "something covers the bottom-right corner of the metrics"
        assert not page.get_by_text("This website runs on Solara").is_visible()
    finally:
        browser.close()

    browser, page = open_page(pw, app_url, 1920, 1080)
    try:
        live(page)
        body = page.locator(".parley-page")
        normal = float(body.evaluate("el => parseFloat(getComputedStyle(el).fontSize)"))
        page.get_by_label("Presenter mode (large type, high contrast)").check()
        page.locator(".parley-presenter").wait_for()
        big = float(body.evaluate("el => parseFloat(getComputedStyle(el).fontSize)"))
        assert big >= 1.4 * normal
        page.get_by_role("button", name="Hide settings").click()
        page.locator(".parley-settings").wait_for(state="hidden")
        page.screenshot(path=shots / "presenter.png")
    finally:
        browser.close()
