"""Open a recorded run and scrub through its rounds with the live views."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import solara
from mesa.visualization.utils import update_counter

from parley.viz.components import RunViews
from parley.viz.errors import describe_error
from parley.viz.replay import ReplayRun, run_choices
from parley.viz.view import plural


@solara.component
def ReplayOpener(on_open: Callable[[ReplayRun], None], initial_dir: str = ""):
    """A results directory field, the run chooser of a sweep, and an Open button.

    Given ``initial_dir`` (``parley app --replay DIR``), it lists the runs at once and opens
    the first; choosing another run opens it. An error stays only until something opens.
    """
    path = solara.use_reactive(initial_dir)
    choices = solara.use_reactive(cast(list[tuple[str, str]], []))  # (run_id, label)
    chosen = solara.use_reactive("")  # a label
    error = solara.use_reactive(cast(str | None, None))

    def list_runs(text: str | None) -> list[tuple[str, str]]:  # also InputText's on_value
        path.set((text or "").strip())
        error.set(None)
        if not path.value:
            choices.set([])
            return []
        try:
            found = run_choices(path.value)
        except Exception as err:
            choices.set([])
            error.set(describe_error(err))
            return []
        choices.set(found)
        if chosen.value not in [_label(c) for c in found]:
            chosen.set(_label(found[0]))
        return found

    def open_run(label: str | None = None) -> None:
        found = list_runs(path.value) if label is None else choices.value
        if not found:
            error.set(error.value or "Give a results directory first (parley run --out DIR).")
            return
        if label is not None:
            chosen.set(label)
        want = chosen.value or _label(found[0])
        run_id = next((rid for rid, lbl in found if _label((rid, lbl)) == want), found[0][0])
        try:
            on_open(ReplayRun.open(path.value, run_id or None))
        except Exception as err:
            error.set(describe_error(err))
            return
        error.set(None)

    def open_initial() -> None:
        if initial_dir and list_runs(initial_dir):
            open_run()

    solara.use_effect(open_initial, [initial_dir])

    with solara.Row(style={"align-items": "center", "flex-wrap": "wrap", "gap": "8px"}):
        with solara.Column(style={"flex": "1 1 320px", "min-width": "260px"}):
            solara.InputText(
                "Results directory (parley run --out DIR, or a sweep)",
                value=path.value,
                on_value=list_runs,  # type: ignore[arg-type]  # its return value is ignored
            )
        if len(choices.value) > 1:
            with solara.Column(style={"flex": "2 1 420px", "min-width": "260px"}):
                solara.Select(
                    f"Run ({len(choices.value)} in this directory)",
                    values=[_label(c) for c in choices.value],
                    value=chosen.value,
                    on_value=open_run,
                )
        solara.Button(
            "Open recorded run", color="primary", on_click=lambda: open_run(), outlined=True
        )
    if choices.value:
        solara.Text(
            f"{plural(len(choices.value), 'recorded run')} in {path.value}",
            classes=["parley-note", "parley-runs-found"],
        )
    if error.value:
        solara.Error(error.value)


def _label(choice: tuple[str, str]) -> str:
    rid, label = choice
    return f"{rid} · {label}" if rid else label


@solara.component
def ReplayPanel(replay: ReplayRun, on_close: Callable[[], None]):
    """A round slider (with one-round buttons) over a recorded run, and its views."""
    update_counter.get()
    round_no = solara.use_reactive(replay.last_round)
    r = max(0, min(round_no.value, replay.last_round))
    view = solara.use_memo(lambda: replay.view(r), dependencies=[replay, r])
    with solara.Row(style={"align-items": "center"}):
        solara.Button("◀", on_click=lambda: round_no.set(max(0, r - 1)), disabled=r == 0)
        solara.Button(
            "▶", on_click=lambda: round_no.set(min(replay.last_round, r + 1)),
            disabled=r >= replay.last_round,
        )  # fmt: skip
        with solara.Column(style={"flex-grow": "1", "min-width": "240px"}):
            solara.SliderInt("Round", value=round_no, min=0, max=replay.last_round)
        solara.Button("Back to live", on_click=on_close, outlined=True)
    RunViews(view)
