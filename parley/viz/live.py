"""The live run: step, play/pause and reset, with every round computed off the UI thread.

Mesa's ``ModelController`` is not used, for three reasons checked against Mesa 3.5.1: its
Step button calls ``model.step()`` inside the click handler, so a round of LLM calls would
freeze the page; its Reset rebuilds the model with ``scenario=<mesa Scenario object>``
(``Model.scenario`` is Mesa's own), which replaces our scenario name; and a constructor
error there surfaces as a traceback. Here a round runs in a Solara task thread while the
page shows "Round N in progress…" and stays usable, and every failure becomes one line.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, cast

import solara
import solara.lab
from mesa.visualization.utils import force_update, update_counter

from parley.model.model import NegotiationModel
from parley.viz.components import RunViews
from parley.viz.errors import describe_error
from parley.viz.params import model_kwargs
from parley.viz.view import RunView, live_view

log = logging.getLogger(__name__)
ModelFactory = Callable[..., NegotiationModel]


class LiveRun:
    """The live model of one page session.

    Only the worker thread that steps the model reads it; the page draws the
    :class:`RunView` snapshots it returns.

    Args:
        factory: builds the model from keyword arguments (``NegotiationModel``; tests pass
            one that injects an in-process LLM double).
    """

    def __init__(self, factory: ModelFactory = NegotiationModel) -> None:
        self.factory = factory
        self.model: NegotiationModel | None = None
        self.play_token = 0
        self._lock = threading.Lock()

    def build(self, kwargs: dict[str, Any]) -> RunView:
        """Replace the model with a new one (cheap: no LLM call); its opening view."""
        model = self.factory(**kwargs)
        self.model = model
        return live_view(model)

    def step(self) -> tuple[NegotiationModel, RunView] | None:
        """Play one round of the current model; ``(model, view)``, or None if it has ended."""
        model = self.model
        if model is None or not model.running:
            return None
        with self._lock:  # never two rounds of one model at once (Step racing Play)
            model.step()
            return model, live_view(model)

    @property
    def running(self) -> bool:
        return self.model is not None and bool(self.model.running)


@solara.component
def LivePanel(
    params: solara.Reactive[dict[str, Any]],
    factory: ModelFactory = NegotiationModel,
    play_interval_ms: int = 300,
):
    """Controls (Reset, Play/Pause, Step) and every view of the live model.

    The model is rebuilt whenever a parameter changes, and by Reset.
    """
    update_counter.get()
    run = solara.use_memo(lambda: LiveRun(factory), [])
    view = solara.use_reactive(cast(RunView | None, None))
    error = solara.use_reactive(cast(str | None, None))
    playing = solara.use_reactive(False)
    busy = solara.use_reactive(cast(int | None, None))  # the round in progress

    def rebuild() -> None:
        playing.set(False)
        busy.set(None)
        try:
            view.set(run.build(model_kwargs(params.value)))
            error.set(None)
        except Exception as err:  # the page shows one line; the server log keeps the rest
            log.debug("building the model failed", exc_info=True)
            run.model = None
            view.set(None)
            error.set(describe_error(err))
        force_update()

    solara.use_effect(rebuild, [params.value])

    def step_once() -> None:
        model = run.model
        if model is None or not model.running:
            return
        busy.set(model.round + 1)
        try:
            done = run.step()
        except Exception as err:
            log.warning("round failed", exc_info=True)
            if run.model is model:  # a Reset meanwhile makes this failure moot
                error.set(describe_error(err))
                playing.set(False)
                busy.set(None)
            return
        if done is not None and run.model is done[0]:
            view.set(done[1])
            if done[1].notice:  # an unreachable backend: stop playing, say so
                playing.set(False)
            busy.set(None)
            force_update()

    step_task = solara.lab.use_task(  # type: ignore[call-overload]
        step_once, dependencies=None, prefer_threaded=True, raise_error=False
    )

    def play_loop() -> None:
        run.play_token += 1
        token = run.play_token
        while playing.value and run.play_token == token and run.running:
            step_once()
            time.sleep(play_interval_ms / 1000)
        if run.play_token == token and not run.running:
            playing.set(False)

    solara.lab.use_task(play_loop, dependencies=[playing.value], prefer_threaded=True)

    Controls(view.value, busy.value, playing, step_task, rebuild)
    if error.value:
        solara.Error(error.value)
    if view.value is not None:
        RunViews(view.value)


@solara.component
def Controls(
    view: RunView | None,
    busy: int | None,
    playing: solara.Reactive[bool],
    step: Callable[[], Any],
    reset: Callable[[], None],
):
    """Reset, Play/Pause and Step, and what the live model is doing."""
    running = view is not None and view.running
    with solara.Row(style={"align-items": "center"}):
        solara.Button("Reset", color="primary", on_click=reset)
        solara.Button(
            "❚❚ Pause" if playing.value else "▶ Play",
            color="primary",
            on_click=lambda: playing.set(not playing.value),
            disabled=not running and not playing.value,
        )
        solara.Button(
            "Step",
            color="primary",
            on_click=step,
            disabled=bool(busy) or playing.value or not running,
        )
        if busy:
            solara.Text(f"Round {busy} in progress…", classes=["parley-busy"])
        elif view is not None and not view.running:
            solara.Text("The negotiation has ended: Reset to play again.")
    solara.ProgressLinear(bool(busy))
