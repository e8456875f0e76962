"""The whole page: parameters and the replay opener in the sidebar; live or replay views.

It follows SolaraViz's layout (an app bar, a sidebar with the model parameters given as a
``model_params`` dict and drawn by Mesa's own ``UserInputs``, the views in the main area);
the live controls are parley's own (see :mod:`parley.viz.live`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import solara
from mesa.visualization.solara_viz import UserInputs

from parley.model.model import NegotiationModel
from parley.viz.errors import describe_error
from parley.viz.live import LivePanel, ModelFactory
from parley.viz.params import initial_values, model_params, user_inputs
from parley.viz.replay import ReplayRun
from parley.viz.replay_panel import ReplayOpener, ReplayPanel

TITLE = "parley · LLM negotiators: sampler or solver?"
LIVE_TAB, REPLAY_TAB = "Live run", "Replay"


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
        replay_dir: a results directory to open for replay at start ('' for none).
    """
    specs = solara.use_memo(lambda: model_params(scenarios), [tuple(scenarios)])
    params = solara.use_reactive(initial_values(specs))
    replay = solara.use_reactive(cast(ReplayRun | None, None))
    replay_error = solara.use_reactive(cast(str | None, None))
    tab = solara.use_reactive(LIVE_TAB)

    def open_replay(run: ReplayRun) -> None:
        replay.set(run)
        tab.set(REPLAY_TAB)

    def open_initial() -> None:
        if replay_dir:
            try:
                open_replay(ReplayRun.open(replay_dir))
            except Exception as err:
                replay_error.set(describe_error(err))

    solara.use_effect(open_initial, [replay_dir])

    def on_change(name: str, value) -> None:
        params.set({**params.value, name: value})

    with solara.AppBar():
        solara.AppBarTitle(TITLE)
    with solara.Sidebar():
        with solara.Card("Model parameters"):
            UserInputs(user_inputs(specs, params.value), on_change=on_change)
            solara.Text(
                "Max rounds 0 means the scenario's deadline. A change restarts the live run."
            )
        with solara.Card("Replay a recorded run"):
            ReplayOpener(open_replay, replay_dir)
    solara.ToggleButtonsSingle(value=tab, values=[LIVE_TAB, REPLAY_TAB])
    # Both stay mounted (one hidden) so that looking at a replay keeps the live run.
    with solara.Div(style=_shown(tab.value == LIVE_TAB)):
        LivePanel(params, factory)
    with solara.Div(style=_shown(tab.value == REPLAY_TAB)):
        if replay_error.value:
            solara.Error(replay_error.value)
        if replay.value is None:
            solara.Info("Open a recorded run from the sidebar to replay it here.")
        else:
            ReplayPanel(replay.value, on_close=lambda: tab.set(LIVE_TAB)).key(
                f"replay-{id(replay.value)}"
            )


def _shown(visible: bool) -> dict[str, str]:
    return {} if visible else {"display": "none"}
