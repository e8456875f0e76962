"""A person takes a seat on the main page in a real browser and plays it to an outcome.

``solara run`` of the app (no replay, no room), headless Chromium: the settings seat the
person at ``city`` against heuristic agents; Play runs the rounds and each one waits for the
person's move from the form; a refused move is asked again with the grammar's message; the
negotiation ends in a compromise or an authority decision. Skips locally as
``tests/test_app_browser.py`` does.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_app_browser import CHROMIUM, CHROMIUM_FLAGS, choose, counter, missing, serve_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]
GAME_TIMEOUT_S = 240
VALUE = "Value % (0–100, step 1)"


@pytest.fixture
def app(tmp_path) -> Iterator[str]:
    reason = missing()
    if reason:
        pytest.skip(reason)
    with serve_app({}, tmp_path / "solara.log") as url:
        yield url


def save_shot(element, path: Path) -> None:
    """Screenshot ``element``; with ``PARLEY_APP_SCREENSHOT`` (``make screenshot``) also next
    to it as ``<stem>-seat.png`` (docs/img/app-seat.png)."""
    page = element.page
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": 1400})  # the card, whole
    element.scroll_into_view_if_needed()
    element.screenshot(path=path)
    page.set_viewport_size(size)
    target = os.environ.get("PARLEY_APP_SCREENSHOT")
    if target:
        shutil.copyfile(path, Path(target).parent / f"{Path(target).stem}-seat.png")


def turn_title(page) -> str | None:
    """``Your move · round k`` while the seat's turn waits, else None."""
    form = page.locator(".parley-your-turn .parley-move-form")
    try:
        return form.inner_text(timeout=1_000).split("\n")[0] if form.count() else None
    except Exception:  # the form went between count() and inner_text()
        return None


def send_until(page, shown, every_s: float = 5.0, timeout_s: float = 60.0) -> None:
    """Click Send move until ``shown`` (the server's answer) is visible. A click can land
    where the button was a moment ago: the server re-draws the form after a choice (the value
    field goes for accept and hold) and, on a loaded machine, that can arrive between
    Playwright's check of the button and its click. A second click on a turn already answered
    is ignored by the app, as a person's double click is."""
    from playwright.sync_api import TimeoutError as NotYet

    send = page.get_by_role("button", name="Send move")
    deadline = time.monotonic() + timeout_s
    while True:
        send.click()
        try:
            shown.wait_for(timeout=every_s * 1_000)
            return
        except NotYet:
            assert time.monotonic() < deadline, "the move was never answered"


def test_a_person_plays_a_seat_against_heuristic_agents_to_an_outcome(app, tmp_path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1024, "height": 768})
            page.set_default_timeout(30_000)
            page.goto(app)
            counter(page, "Round 0 of 10")
            page.get_by_label("person plays city").check()
            page.get_by_text("You play city").wait_for()
            page.get_by_text("You are city (").wait_for()  # the seat's private brief
            assert page.get_by_text("You are operator (").count() == 0
            page.get_by_text("live · heuristic · seats city=human").wait_for()

            page.get_by_role("button", name="Step").click()
            form = page.locator(".parley-move-form:visible", has_text="Your move · round 1")
            form.wait_for()
            page.get_by_text("Round 1: your move (city)").wait_for()
            # A refused move comes back with the grammar's message; nothing is played.
            choose(page, "Action", "concede")
            page.get_by_label(VALUE, exact=True).fill("0")
            send_until(
                page, page.get_by_text("Not accepted: concede to 0 does not move toward the others")
            )
            save_shot(page.locator(".parley-human-seat"), tmp_path / "seat-refused.png")
            counter(page, "Round 0 of 10")
            # Any value of the issue's grid: 47 is not on the agents' coarse grid.
            choose(page, "Action", "propose")
            page.get_by_label(VALUE, exact=True).fill("47")
            page.get_by_label("Public message (optional)").fill("Meet me at 47")
            send_until(page, page.locator(".parley-round:visible", has_text="Round 1 of 10"))
            page.get_by_text("Meet me at 47").first.wait_for()  # city's move in the feed
            page.screenshot(path=tmp_path / "seat.png")

            choose(page, "Seconds per round", "0.5")
            page.get_by_role("button", name="▶ Play").click()
            ended = page.get_by_text("The negotiation has ended: Reset to play again.")
            send = page.get_by_role("button", name="Send move")
            deadline = time.monotonic() + GAME_TIMEOUT_S
            turns, answered, sent_at = 0, None, 0.0
            while not ended.is_visible():
                assert time.monotonic() < deadline, "the negotiation did not end in time"
                title = turn_title(page)
                # accept each turn once; should the grammar refuse it (no standing proposal
                # to take), the turn is asked again: hold, which is always valid. A turn
                # still open 5 s after its click is clicked again (see send_until).
                refused = page.locator(".parley-refused:visible").count() > 0
                again = title == answered and time.monotonic() - sent_at > 5.0
                if (
                    title is not None
                    and send.is_enabled()
                    and (title != answered or refused or again)
                ):
                    choose(page, "Action", "hold" if refused else "accept")
                    # the server drops the value field for accept and hold: click after that
                    page.get_by_label(VALUE, exact=True).wait_for(state="detached")
                    send.click()
                    answered, turns, sent_at = title, turns + 1, time.monotonic()
                time.sleep(0.2)
            assert turns >= 1
            outcome = page.get_by_text("Compromise at").or_(page.get_by_text("Authority decision"))
            outcome.first.wait_for()
            assert page.locator(".parley-move-form:visible").count() == 0  # no form at the end
        finally:
            browser.close()
