"""The parley app: ``parley app`` or ``solara run parley/viz/app.py``.

Importing this module builds nothing: no model, no LLM client, no network, no key. Each
browser session gets its own live model when its page renders.
"""

from __future__ import annotations

import os

import solara
from solara.server import settings

from parley.viz.page import ParleyApp
from parley.viz.params import REPLAY_ENV, extra_scenarios

# Solara's "This website runs on Solara" banner sits over the page's bottom-right corner
# (the run metrics): a page shown to a room has nothing covered.
settings.theme.show_banner = False


@solara.component
def Page():
    """The page Solara serves (scenario files and a replay directory from ``parley app``)."""
    ParleyApp(scenarios=tuple(extra_scenarios()), replay_dir=os.environ.get(REPLAY_ENV, ""))
