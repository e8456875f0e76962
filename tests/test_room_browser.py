"""A classroom room in a real browser: two people take two seats against heuristic agents.

The facilitator opens a room with two human seats; two browser contexts (two people, no
shared cookies) open their seat links and play every turn through the move form until the
negotiation ends; one of them reloads mid-game and is back at their seat. The saved run
shows both human seats. Another room outlives its server: stopped between two people's
moves, the server starts again on the same folder and the old links lead back to the
seats. Skips locally as ``tests/test_app_browser.py`` does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from test_app_browser import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    choose,
    free_port,
    missing,
    serve_app,
)

from parley import load_results
from parley.viz.env import FACILITATOR_ENV, ROOM_ENV

pytestmark = [pytest.mark.browser, pytest.mark.slow]
KEY = "facilitator-test-key"
GAME_TIMEOUT_S = 240


def room_env(rooms: Path) -> dict[str, str]:
    """What ``parley app --room DIR`` tells the server: the rooms folder, the facilitator key."""
    return {ROOM_ENV: str(rooms), FACILITATOR_ENV: KEY}


@pytest.fixture
def room_server(tmp_path) -> Iterator[tuple[str, Path]]:
    """``solara run`` of the app in room mode on a free loopback port; (url, rooms folder)."""
    reason = missing()
    if reason:
        pytest.skip(reason)
    rooms = tmp_path / "class"
    env = room_env(rooms)
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


def open_room(facilitator, url: str) -> dict[str, str]:
    """Open a room with the operator and the city played by people; their seat links."""
    facilitator.goto(f"{url}?facilitator={KEY}")
    facilitator.get_by_label("person plays operator").check()
    facilitator.get_by_label("person plays city").check()
    facilitator.get_by_role("button", name="Open room").click()
    links = facilitator.locator("a.parley-seat-link")
    links.first.wait_for(timeout=60_000)
    return {
        links.nth(i).get_attribute("data-seat"): links.nth(i).get_attribute("href")
        for i in range(links.count())
    }


def take_seat(browser, url: str, party: str, href: str):
    """Another person (a browser context of their own) opens their seat link."""
    page = browser.new_context().new_page()
    page.set_default_timeout(30_000)
    page.goto(url + href)
    page.get_by_text(f"You are {party} (").wait_for()  # their private brief
    return page


def play_to_the_end(people: dict) -> None:
    deadline = time.monotonic() + GAME_TIMEOUT_S
    while time.monotonic() < deadline:
        if all(p.locator(".parley-ended").count() for p in people.values()):
            return
        for page in people.values():
            play_turn(page)
        time.sleep(0.3)
    raise AssertionError("the room's negotiation did not end in time")


def test_two_people_play_one_room_and_a_reload_reconnects(room_server) -> None:
    from playwright.sync_api import sync_playwright

    url, rooms = room_server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            facilitator = browser.new_context().new_page()
            hrefs = open_room(facilitator, url)
            assert set(hrefs) == {"operator", "city"}
            people = {party: take_seat(browser, url, party, href) for party, href in hrefs.items()}
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

    (saved,) = [d for d in rooms.iterdir() if d.is_dir() and d.name != ".rooms"]  # state: hidden
    res = load_results(saved)
    moves = res["moves"]
    assert res["runs"].outcome[0] in ("compromise", "authority_decision")
    assert res["runs"].seats[0] == "city=human,operator=human"
    assert set(moves[moves.party.isin(["city", "operator"])].policy) == {"human"}
    assert set(moves[~moves.party.isin(["city", "operator"])].policy) == {"heuristic"}


def test_a_room_survives_a_server_restart_between_two_moves(tmp_path) -> None:
    reason = missing()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    rooms = tmp_path / "class"
    env = room_env(rooms)
    port = free_port()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            with serve_app(env, tmp_path / "solara-1.log", port) as url:
                hrefs = open_room(browser.new_context().new_page(), url)
                room_id = parse_qs(urlparse(hrefs["city"]).query)["room"][0]
                operator = take_seat(browser, url, "operator", hrefs["operator"])
                operator.locator(".parley-move-form:visible").wait_for()
                assert play_turn(operator)  # the operator's first move ...
                moves = rooms / ".rooms" / room_id / "moves.json"
                deadline = time.monotonic() + 30
                while not json.loads(moves.read_text())["turns"]:  # ... is on disk
                    assert time.monotonic() < deadline, "the move was not written"
                    time.sleep(0.1)
            # the server is stopped; it starts again on the same folder and port
            with serve_app(env, tmp_path / "solara-2.log", port) as again:
                assert again == url
                log = (tmp_path / "solara-2.log").read_text()
                assert f"parley app: room {room_id} reopened: round 1, 1 recorded moves" in log
                people = {p: take_seat(browser, url, p, hrefs[p]) for p in ("operator", "city")}
                city_form = people["city"].locator(".parley-move-form:visible")
                city_form.wait_for()  # the city is to move in round 1, as before the stop
                assert "round 1" in city_form.inner_text()
                assert people["operator"].locator(".parley-move-form:visible").count() == 0
                play_to_the_end(people)
                facilitator = browser.new_context().new_page()
                facilitator.goto(f"{url}?facilitator={KEY}")
                facilitator.get_by_text("Saved to").wait_for()
        finally:
            browser.close()

    res = load_results(rooms / room_id)
    assert res.manifest["reopened"] == 1
    assert res["runs"].outcome[0] in ("compromise", "authority_decision")
    moves = res["moves"]
    first = moves[(moves["round"] == 1) & (moves.party == "operator")].iloc[0]
    assert first.action == "propose" and first.policy == "human"


def test_a_time_limit_holds_for_an_idle_seat_and_close_room_saves_a_stopped_run(
    room_server,
) -> None:
    from playwright.sync_api import sync_playwright

    url, rooms = room_server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            facilitator = browser.new_context().new_page()
            facilitator.set_default_timeout(60_000)
            facilitator.goto(f"{url}?facilitator={KEY}")
            facilitator.get_by_label("Seconds per turn (blank: no limit)").fill("1.5")
            facilitator.get_by_label("person plays city").check()
            facilitator.get_by_role("button", name="Open room").click()
            facilitator.locator("a.parley-seat-link").first.wait_for()
            # Nobody plays city: each turn runs out and is a hold; the rounds go on.
            facilitator.locator(".parley-round", has_text="Round 1 of 10").wait_for()
            facilitator.get_by_role("button", name="Close room").click()
            facilitator.get_by_text("Saved to").wait_for()
            facilitator.get_by_text("the facilitator closed the room").first.wait_for()
            assert facilitator.get_by_role("button", name="Close room").count() == 0
        finally:
            browser.close()

    (saved,) = [d for d in rooms.iterdir() if d.is_dir() and d.name != ".rooms"]
    res = load_results(saved)
    runs, moves = res["runs"], res["moves"]
    assert runs.outcome[0] == "stopped"
    assert runs.stop_reason[0] == "city: the facilitator closed the room"
    assert runs.human_time_limit[0] == 1.5
    assert set(moves[moves.party == "city"].action) == {"hold"}
