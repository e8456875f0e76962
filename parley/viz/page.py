"""The whole page: settings beside the views, the live run or a replay, presenter mode.

The layout is parley's own (no Solara drawer): the settings are a column beside the views
that a labelled button hides and shows, so at 1024 px nothing covers the page and the
button is always there; the figures sit side by side when there is room and stack when
there is not. The app bar holds the title, the Live/Replay switch and presenter mode.

The pieces a page is made of are small components below (``SettingsPanel``,
``ReplayTab``), so that other pages (e.g. a room of human seats) can reuse them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import solara

from parley.model.model import NegotiationModel
from parley.viz.live import LivePanel, ModelFactory
from parley.viz.params import changed, initial_values, model_params
from parley.viz.replay import ReplayRun
from parley.viz.replay_panel import ReplayOpener, ReplayPanel
from parley.viz.settings import SettingsForm
from parley.viz.style import NORMAL, PAGE_CSS, PRESENTER, display_context

TITLE = "parley · LLM negotiators: sampler or solver?"
LIVE_TAB, REPLAY_TAB = "Live run", "Replay"
SHOW_SETTINGS, HIDE_SETTINGS = "☰ Settings", "☰ Hide settings"


@solara.component
def ParleyApp(
    factory: ModelFactory = NegotiationModel,
    scenarios: Sequence[str] = (),
    replay_dir: str = "",
):
    """The parley app.

    Args:
        factory: builds the live model from keyword arguments (tests inject LLM doubles).
        scenarios: scenario files offered after the built-in scenarios.
        replay_dir: a results directory to open for replay at start ('' for none); the
            page then starts on the replay.
    """
    specs = solara.use_memo(lambda: model_params(scenarios), [tuple(scenarios)])
    params = solara.use_reactive(initial_values(specs))
    tab = solara.use_reactive(REPLAY_TAB if replay_dir else LIVE_TAB)
    presenter = solara.use_reactive(False)
    settings_open = solara.use_reactive(True)

    display_context.provide(PRESENTER if presenter.value else NORMAL)
    solara.Style(PAGE_CSS)
    with solara.AppBar():
        solara.AppBarTitle(TITLE)
    classes = ["parley-page"] + (["parley-presenter"] if presenter.value else [])
    with solara.Div(classes=classes):
        with solara.Row(style={"align-items": "center", "flex-wrap": "wrap", "gap": "12px"}):
            label = HIDE_SETTINGS if settings_open.value else SHOW_SETTINGS
            solara.Button(
                label,
                on_click=lambda: settings_open.set(not settings_open.value),
                outlined=True,
                attributes={"aria-label": label.strip("☰ "), "title": label.strip("☰ ")},
                classes=["parley-settings-toggle"],
            )
            solara.ToggleButtonsSingle(value=tab, values=[LIVE_TAB, REPLAY_TAB])
            solara.Switch(label="Presenter mode (large type, high contrast)", value=presenter)
        with solara.Div(classes=["parley-layout"]):
            # Hidden, not unmounted: the live run beside it must not be rebuilt.
            with solara.Div(classes=["parley-settings"], style=_shown(settings_open.value)):
                SettingsPanel(specs, params)
            with solara.Div(classes=["parley-main"]):
                # Both stay mounted (one hidden) so that looking at a replay keeps the live run.
                with solara.Div(style=_shown(tab.value == LIVE_TAB)):
                    LivePanel(params, factory)
                with solara.Div(style=_shown(tab.value == REPLAY_TAB)):
                    ReplayTab(replay_dir, on_close=lambda: tab.set(LIVE_TAB))


@solara.component
def SettingsPanel(specs: dict[str, Any], params: solara.Reactive[dict[str, Any]]):
    """The live run's model parameters (a change restarts the live run)."""

    def on_change(name: str, value: Any) -> None:
        params.set(changed(params.value, name, value))

    with solara.Card("Model parameters", margin=0):
        SettingsForm(specs, params.value, on_change)
        solara.Text("A change restarts the live run.", classes=["parley-note"])


@solara.component
def ReplayTab(replay_dir: str, on_close: Any):
    """The run chooser on top, the chosen recorded run below."""
    replay = solara.use_reactive(cast(ReplayRun | None, None))
    ReplayOpener(replay.set, replay_dir)
    if replay.value is None:
        solara.Info("Choose a results directory and open a recorded run to replay it here.")
    else:
        ReplayPanel(replay.value, on_close=on_close).key(f"replay-{id(replay.value)}")


def _shown(visible: bool) -> dict[str, str]:
    return {} if visible else {"display": "none"}
