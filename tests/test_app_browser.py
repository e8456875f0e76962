"""The app in a real browser: ``solara run`` on loopback, driven by headless Chromium.

Playwright for Python drives Debian's ``/usr/bin/chromium`` (Playwright's own browser
download does not work here). Locally the test skips, saying why, when Chromium, Playwright
or the app's front-end files are missing (``make setup-browser`` installs all three); with
``PARLEY_REQUIRE_HEAVY=1`` (CI) such a skip is a failure. Set ``PARLEY_APP_SCREENSHOT=PATH``
to also save the screenshot of the live run there (``make screenshot`` refreshes
``docs/img/app.png`` this way).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from parley.experiments.manifest import build_manifest
from parley.experiments.records import run_frames
from parley.experiments.storage import write_results
from parley.llm.fake_server import FakeOpenAIServer
from parley.model.model import NegotiationModel

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
def app_url(tmp_path_factory) -> Iterator[str]:
    """``solara run parley/viz/app.py`` on a free loopback port, for this module."""
    reason = missing()
    if reason:
        pytest.skip(reason)
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "solara.log"
    cmd = [sys.executable, "-m", "solara", "run", str(APP), "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--no-open", "--production"]
    with open(log, "wb") as out:
        server = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
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


@pytest.fixture
def page(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            tab = browser.new_page(viewport={"width": 1500, "height": 1100})
            tab.set_default_timeout(ROUND_TIMEOUT_MS)
            tab.goto(app_url)
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


def counter(page, text: str):
    """The visible round counter, once it reads ``text``."""
    found = page.locator(".parley-round:visible", has_text=text)
    found.wait_for()
    return found


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the sidebar select labelled ``label``."""
    page.locator(".v-select", has=page.get_by_label(label, exact=True)).click()
    page.get_by_role("option", name=option, exact=True).click()


def figures(page) -> list[bytes]:
    """The network and positions figures as rendered pixels."""
    images = page.locator("img:visible")
    assert images.count() == 2
    return [images.nth(i).screenshot() for i in range(2)]


def test_app_in_a_browser(page, recorded_run, tmp_path):
    counter(page, "Round 0 of 10")
    before = figures(page)
    for k in (1, 2, 3, 4):
        page.get_by_role("button", name="Step").click()
        counter(page, f"Round {k} of 10")
    page.get_by_text("Round 4", exact=True).wait_for()  # the feed's newest round
    after = figures(page)
    assert after[0] != before[0], "the coalition network did not change"
    assert after[1] != before[1], "the positions chart did not change"
    assert page.locator("b", has_text="operator").count() >= 4  # a move of each round
    page.screenshot(path=tmp_path / "live.png")
    if os.environ.get("PARLEY_APP_SCREENSHOT"):
        shutil.copyfile(tmp_path / "live.png", os.environ["PARLEY_APP_SCREENSHOT"])

    # A slow LLM (a loopback OpenAI-compatible server): the round runs off the UI thread.
    with FakeOpenAIServer(latency_s=4.0) as server:
        choose(page, "Policy", "llm")
        choose(page, "LLM backend", "openai")
        url = page.get_by_label("Base URL (openai backend; blank: the client's)")
        url.fill(server.base_url)
        url.press("Enter")
        counter(page, "Round 0 of 10")
        page.get_by_text("live · llm (openai: gpt-4o-mini)").wait_for()
        page.get_by_role("button", name="Step").click()
        page.get_by_text("Round 1 in progress…").wait_for(timeout=5_000)
        toggle = page.get_by_label("Show private ledgers, memos and reasoning").first
        toggle.check(timeout=5_000)  # the page answers while the round runs
        assert page.get_by_text("Round 1 in progress…").is_visible()
        counter(page, "Round 1 of 10")
        assert len(server.requests) >= 5

    # Another scenario: the live run restarts on it.
    choose(page, "Scenario", "trading_limits_fragmented")
    counter(page, "Round 0 of 12")
    page.get_by_text("VaR limit after a volatility shock").wait_for()

    # A recorded run, scrubbed back one round from its end.
    field = page.get_by_label("Results directory (parley run --out DIR, or a sweep)")
    field.fill(str(recorded_run))
    field.press("Enter")
    page.get_by_role("button", name="Open recorded run").click()
    page.get_by_text("replay · recorded").wait_for()
    last = int(counter(page, "of 12").inner_text().split()[1])
    page.get_by_text("Authority decision (trigger:").wait_for()
    page.get_by_role("button", name="◀").click()
    counter(page, f"Round {last - 1} of 12")
    page.screenshot(path=tmp_path / "replay.png")
    assert (tmp_path / "live.png").stat().st_size > 50_000
    assert (tmp_path / "replay.png").stat().st_size > 50_000
