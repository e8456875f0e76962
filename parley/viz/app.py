"""The parley app: ``parley app`` or ``solara run parley/viz/app.py``.

Importing this module builds nothing: no model, no LLM client, no network, no key. Each
browser session gets its own live model when its page renders. The one exception is
classroom mode (``parley app --room DIR``): Solara runs this module as the server starts,
and that is when the rooms a stopped server left unfinished in ``DIR`` are reopened.
"""

from __future__ import annotations

import os

import solara
from solara.server import settings

from parley.viz.env import REPLAY_ENV, ROOM_ENV
from parley.viz.page import ParleyApp
from parley.viz.params import extra_scenarios

# Solara's "This website runs on Solara" banner sits over the page's bottom-right corner
# (the run metrics): a page shown to a room has nothing covered.
settings.theme.show_banner = False

if os.environ.get(ROOM_ENV):
    from parley.viz.room import restore_rooms

    restore_rooms(os.environ[ROOM_ENV])  # rooms already open are left alone


@solara.component
def Page():
    """The page Solara serves (scenario files and a replay directory from ``parley app``;
    the classroom page with ``parley app --room``)."""
    if os.environ.get(ROOM_ENV):
        from parley.viz.room_page import RoomPage

        RoomPage()
        return
    ParleyApp(scenarios=tuple(extra_scenarios()), replay_dir=os.environ.get(REPLAY_ENV, ""))
