"""The live run's panel: Reset, Play/Pause, Step and Stop, turn-by-turn progress, every view.

The rounds run in :class:`~parley.viz.runner.LiveRun` (off the UI thread, cancellable);
this module only draws its :class:`~parley.viz.runner.LiveState` and forwards the clicks.

Mesa's ``ModelController`` is not used, for three reasons checked against Mesa 3.5.1: its
Step button calls ``model.step()`` inside the click handler, so a round of LLM calls would
freeze the page; its Reset rebuilds the model with ``scenario=<mesa Scenario object>``
(``Model.scenario`` is Mesa's own), which replaces our scenario name; and a constructor
error there surfaces as a traceback.

The progress line has its own reactive value: a turn or a tick of the clock redraws that
line only, never the figures; and the bar under it is determinate (an indeterminate bar is
an endless animation the browser repaints 60 times a second, on the cores the model needs).

Human seats (the settings' seat chooser: parties a person at this screen plays) get their
private brief and, when their turn comes, the move form (:func:`~parley.viz.seat.PlayerSeats`);
the round waits for that move while the agents' turns go on in the run's threads.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from typing import Any, cast

import solara
from mesa.visualization.utils import update_counter

from parley.model.model import NegotiationModel
from parley.viz.components import RunViews
from parley.viz.env import OUT_ENV
from parley.viz.live_state import LiveState, Progress
from parley.viz.params import model_kwargs
from parley.viz.runner import DEFAULT_PLAY_SECONDS, PLAY_SPEEDS, LiveRun, ModelFactory
from parley.viz.seat import PlayerSeats

__all__ = ["LivePanel", "ModelFactory"]


def _kernel_context() -> Any:
    """The page session's kernel context (None outside a server, e.g. in tests)."""
    from solara.server import kernel_context

    return kernel_context.get_current_context() if kernel_context.has_current_context() else None


@solara.component
def LivePanel(
    params: solara.Reactive[dict[str, Any]],
    factory: ModelFactory = NegotiationModel,
    play_seconds: float = DEFAULT_PLAY_SECONDS,
):
    """Controls and every view of the live model, rebuilt when a parameter changes."""
    update_counter.get()
    state = solara.use_reactive(LiveState())
    progress = solara.use_reactive(cast(Progress | None, None))
    context = solara.use_memo(_kernel_context, [])

    def publish(new: LiveState) -> None:  # from the runner's threads
        def apply() -> None:
            core = replace(new, progress=None)
            if core != state.value:
                state.set(core)
            progress.set(new.progress)

        if context is None:
            apply()
        else:
            with context:
                apply()

    run = solara.use_memo(
        lambda: LiveRun(factory, publish, play_seconds, out_dir=os.environ.get(OUT_ENV)), []
    )
    speed = solara.use_reactive(run.play_seconds)
    run.play_seconds = speed.value

    solara.use_effect(lambda: run.close, [])  # unmounted (the tab closed): cancel the run

    def reset() -> None:
        run.reset(lambda: model_kwargs(params.value))

    solara.use_effect(reset, [params.value])
    view = state.value.view
    solara.use_effect(lambda: run.shown(view) if view is not None else None, [view])

    Controls(state.value, run, speed, reset)
    ProgressLine(progress)
    with solara.Div():  # a message coming or going never remounts the views below
        if state.value.error:
            solara.Error(state.value.error)
        if state.value.stopped:
            solara.Warning(state.value.stopped)
        if state.value.saved:
            solara.Success(f"Saved to {state.value.saved}", classes=["parley-saved"])
    if view is not None and state.value.humans:
        PlayerSeats(
            view.spec,
            state.value.humans,
            state.value.seats,
            running=view.running and not state.value.stopped and not state.value.error,
            on_submit=run.submit,
        )
    if view is not None:
        RunViews(view)


@solara.component
def Controls(
    state: LiveState, run: LiveRun, speed: solara.Reactive[float], reset: Callable[[], None]
):
    """Reset, Play/Pause, Step, Stop, the play speed, and what the live model is doing."""
    view = state.view
    running = view is not None and view.running and not state.stopped and not state.error
    with solara.Row(style={"align-items": "center", "flex-wrap": "wrap", "gap": "6px"}):
        solara.Button("Reset", color="primary", on_click=reset)
        if state.can_pause:
            solara.Button("❚❚ Pause", color="primary", on_click=run.pause)
        else:
            solara.Button("▶ Play", color="primary", on_click=run.play, disabled=not running)
        solara.Button("Step", color="primary", on_click=run.step, disabled=not state.can_step)
        solara.Button(
            "■ Stop",
            color="error",
            outlined=True,
            on_click=run.stop,
            disabled=state.busy is None and not state.playing,
        )
        solara.Select(
            "Seconds per round",
            values=list(PLAY_SPEEDS),
            value=speed.value,
            on_value=speed.set,
            style={"min-width": "200px", "max-width": "240px"},
        )
        if state.busy is not None and state.waiting:
            who = ", ".join(state.waiting)
            solara.Text(f"Round {state.busy}: your move ({who})", classes=["parley-busy"])
        elif state.busy is not None:
            solara.Text(f"Round {state.busy} in progress…", classes=["parley-busy"])
        elif view is not None and not view.running and not state.stopped:
            solara.Text("The negotiation has ended: Reset to play again.")


@solara.component
def ProgressLine(progress: solara.Reactive[Progress | None]):
    """Who has decided in the LLM round in progress, the time it has taken, calls and tokens."""
    p = progress.value
    if p is None:
        return
    with solara.Column(gap="2px", classes=["parley-progress"]):
        solara.Text(p.text(), classes=["parley-turns"])
        solara.ProgressLinear(value=100 * len(p.decided) / max(1, p.total), color="primary")
