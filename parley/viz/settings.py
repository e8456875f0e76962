"""The model's settings form, drawn from the parameter specs of :mod:`parley.viz.params`.

Mesa's ``UserInputs`` draws the same specs; this form adds what a room full of people
needs: LLM fields appear only for the LLM policy, a scenario file is listed by its name and
title (not its path), and the max-rounds slider always shows its value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import solara

from parley.agents.seating import format_seating, humans, parse_seats
from parley.scenarios.loader import ScenarioError, load_scenario
from parley.viz.params import LLM_KEYS
from parley.viz.seat import SeatChooser


def slider_label(label: str, value: int) -> str:
    """``Max rounds: 12``, or what 0 means."""
    return f"{label}: {value}" if value else f"{label}: the scenario's deadline"


@solara.component
def SettingsForm(
    specs: Mapping[str, Any],
    values: Mapping[str, Any],
    on_change: Callable[[str, Any], None],
):
    """One input per user-input spec; LLM-only ones hidden unless the policy is ``llm``."""
    llm = values.get("policy") == "llm"
    for key, spec in specs.items():
        if not (isinstance(spec, dict) and "type" in spec):
            continue  # a fixed value
        if key in LLM_KEYS and not llm:
            continue
        value = values.get(key, spec.get("value"))

        def change(new: Any, key: str = key) -> None:
            on_change(key, new)

        match spec["type"]:
            case "Select":
                labels: dict[str, str] = spec.get("labels") or {}
                back = {labels.get(v, v): v for v in spec["values"]}

                def choose(label: str, change=change, back=back) -> None:
                    change(back[label])

                solara.Select(
                    spec["label"],
                    values=list(back),
                    value=labels.get(value, value),
                    on_value=choose,
                )
            case "Seats":
                SeatsInput(spec["label"], str(values.get("scenario")), value, change)
            case "SliderInt":
                solara.Text(slider_label(spec["label"], int(value or 0)), classes=["parley-label"])
                solara.SliderInt(
                    "",
                    value=int(value or 0),
                    min=spec["min"],
                    max=spec["max"],
                    step=spec.get("step", 1),
                    on_value=change,
                    thumb_label=True,  # while dragged; the label above always says it
                )
            case _:
                solara.InputText(spec["label"], value=str(value or ""), on_value=change)
    if not llm:
        solara.Text(
            "The LLM settings (condition, backend, model, base URL) appear for the llm policy.",
            classes=["parley-note"],
        )


@solara.component
def SeatsInput(label: str, scenario: str, seats: Any, on_value: Callable[[str], None]):
    """Which parties a person at this screen plays (the model's ``seats``, human ones);
    every other party plays the table-wide policy."""
    try:
        parties = load_scenario(scenario).party_ids
    except ScenarioError:
        return  # the live panel says what is wrong with the scenario

    def choose(people: tuple[str, ...]) -> None:
        others = {p: v for p, v in parse_seats(seats).items() if v != "human"}
        on_value(format_seating({**others, **dict.fromkeys(people, "human")}))

    solara.Text(f"{label}:", classes=["parley-label"])
    SeatChooser(parties, humans(seats), choose)
    solara.Text(
        "The other parties play the policy above; your move form appears at your turn.",
        classes=["parley-note"],
    )
