"""A classroom room in a real browser: two people take two seats against heuristic agents.

The facilitator opens a room with two human seats; two browser contexts (two people, no
shared cookies) open their seat links and play every turn through the move form until the
negotiation ends; one of them reloads mid-game and is back at their seat. The saved run
shows both human seats. Skips locally as ``tests/test_app_browser.py`` does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_app_browser import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    choose,
    missing,
    serve_app,
)

from parley import load_results

pytestmark = [pytest.mark.browser, pytest.mark.slow]
KEY = "facilitator-test-key"
GAME_TIMEOUT_S = 240


@pytest.fixture
def room_server(tmp_path) -> Iterator[tuple[str, Path]]:
    """``solara run`` of the app in room mode on a free loopback port; (url, rooms folder)."""
    reason = missing()
    if reason:
        pytest.skip(reason)
    rooms = tmp_path / "class"
    env = {"PARLEY_APP_ROOM": str(rooms), "PARLEY_APP_FACILITATOR_KEY": KEY}
    with serve_app(env, tmp_path / "solara.log") as url:
        yield url, rooms


def play_turn(page) -> bool:
    """Send one move if it is this seat's turn (propose in round 1, then accept)."""
    form = page.locator(".parley-move-form:visible")
    if form.count() == 0:
        return False
    if "round 1" not in form.first.inner_text():
        choose(page, "Action", "accept")
    page.get_by_role("button", name="Send move").click()
    return True


def test_two_people_play_one_room_and_a_reload_reconnects(room_server) -> None:
    from playwright.sync_api import sync_playwright

    url, rooms = room_server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            facilitator = browser.new_context().new_page()
            facilitator.goto(f"{url}?facilitator={KEY}")
            facilitator.get_by_label("person plays operator").check()
            facilitator.get_by_label("person plays city").check()
            facilitator.get_by_role("button", name="Open room").click()
            links = facilitator.locator("a.parley-seat-link")
            links.first.wait_for(timeout=60_000)
            hrefs = {
                links.nth(i).get_attribute("data-seat"): links.nth(i).get_attribute("href")
                for i in range(links.count())
            }
            assert set(hrefs) == {"operator", "city"}

            people = {}
            for party, href in hrefs.items():
                page = browser.new_context().new_page()  # another person: no shared state
                page.set_default_timeout(30_000)
                page.goto(url + href)
                page.get_by_text(f"You are {party} (").wait_for()  # their private brief
                people[party] = page
            assert "Your engineers would like" in people["operator"].inner_text(".parley-brief")
            assert "Your engineers would like" not in people["city"].inner_text("body")

            reloaded = False
            deadline = time.monotonic() + GAME_TIMEOUT_S
            while time.monotonic() < deadline:
                if all(p.locator(".parley-ended").count() for p in people.values()):
                    break
                moved = [play_turn(p) for p in people.values()]
                if not reloaded and any(moved):
                    people["city"].reload()  # a student's page reloads mid-game ...
                    people["city"].get_by_text("You are city (").wait_for()
                    reloaded = True  # ... and is back at their seat
                time.sleep(0.3)
            else:
                raise AssertionError("the room's negotiation did not end in time")
            ended = people["operator"].locator(".parley-ended").inner_text()
            assert "Compromise" in ended or "Authority decision" in ended
            facilitator.get_by_text("Saved to").wait_for()
        finally:
            browser.close()

    (saved,) = [d for d in rooms.iterdir() if d.is_dir()]
    res = load_results(saved)
    moves = res["moves"]
    assert res["runs"].outcome[0] in ("compromise", "authority_decision")
    assert res["runs"].seats[0] == "city=human,operator=human"
    assert set(moves[moves.party.isin(["city", "operator"])].policy) == {"human"}
    assert set(moves[~moves.party.isin(["city", "operator"])].policy) == {"heuristic"}
