"""The app's model parameters, in SolaraViz's ``model_params`` format, and their conversion.

Keys are :class:`~parley.model.model.NegotiationModel` keyword arguments and values are
plain strings and numbers, as everywhere else (CLI, ``batch_run``, notebooks). Text inputs
(seed, model, base URL) arrive as strings; :func:`model_kwargs` turns them into the
model's arguments and rejects bad ones with a one-line ``ValueError``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from parley.agents.seating import format_seating, parse_seats
from parley.config import CHOICES, DEFAULT_MODELS, RunConfig
from parley.scenarios.loader import ScenarioError, builtin_names, load_scenario
from parley.viz.env import SCENARIOS_ENV

#: Parameters that only an LLM policy uses (the settings hide them for rule-based ones).
LLM_KEYS = ("condition", "backend", "model", "base_url")
MAX_ROUNDS_LIMIT = 60


def extra_scenarios() -> list[str]:
    """Scenario files named in :data:`SCENARIOS_ENV`."""
    return [p for p in os.environ.get(SCENARIOS_ENV, "").split(os.pathsep) if p]


def model_params(scenarios: Sequence[str] = ()) -> dict[str, Any]:
    """SolaraViz-style parameter specs: user inputs (dicts with ``type``) and fixed values.

    One type is parley's own: ``Seats`` (the human seats of ``seats``, a checkbox per party
    of the chosen scenario; drawn by :mod:`parley.viz.settings`).

    Args:
        scenarios: scenario files offered after the built-in names.
    """
    names = builtin_names() + [s for s in scenarios if s not in builtin_names()]

    def select(label: str, values: Sequence[str], value: str) -> dict[str, Any]:
        return {"type": "Select", "label": label, "values": list(values), "value": value}

    scenario = select("Scenario", names, RunConfig.scenario)
    scenario["labels"] = scenario_labels(names)

    def text(label: str, value: str = "") -> dict[str, Any]:
        return {"type": "InputText", "label": label, "value": value}

    return {
        "scenario": scenario,
        "policy": select("Policy", CHOICES["policy"], RunConfig.policy),
        # The model's ``seats`` (canonical string); the form offers its human seats.
        "seats": {"type": "Seats", "label": "Seats you play at this screen", "value": ""},
        "condition": select("Reflection condition (LLM policy)", CHOICES["condition"], "none"),
        "backend": select("LLM backend", CHOICES["backend"], RunConfig.backend),
        "model": text("LLM model (blank: the backend's default)"),
        "base_url": text("Base URL (openai backend; blank: the client's)"),
        "turn_order": select("Turn order", CHOICES["turn_order"], RunConfig.turn_order),
        "max_rounds": {
            "type": "SliderInt",
            "label": "Max rounds",  # 0: the scenario's deadline (said under the inputs)
            "value": 0,
            "min": 0,
            "max": MAX_ROUNDS_LIMIT,
            "step": 1,
        },
        "rng": text("Seed", "0"),
        # Fixed: a page must not wait minutes on a dead server before saying so.
        "timeout": 30.0,
        "max_retries": 1,
    }


def scenario_labels(names: Sequence[str]) -> dict[str, str]:
    """What the scenario chooser shows for each scenario argument: a built-in's name, a
    file's scenario name and title (its file name if it does not load)."""
    builtins = set(builtin_names())
    labels: dict[str, str] = {}
    for name in names:
        if name in builtins:
            labels[name] = name
            continue
        try:
            spec = load_scenario(name)
            label = f"{spec.name} · {spec.title}"
        except ScenarioError:
            label = f"{Path(name).name} (invalid)"
        while label in labels.values():  # two files of one name stay apart
            label += f" ({Path(name).name})"
        labels[name] = label
    return labels


def changed(values: Mapping[str, Any], name: str, value: Any) -> dict[str, Any]:
    """The page's values once ``name`` is set to ``value``: another scenario keeps only the
    seats of parties it has (a seat of a party it lacks would be an error)."""
    out = {**values, name: value}
    if name == "scenario" and out.get("seats"):
        try:
            parties = load_scenario(value).party_ids
        except ScenarioError:
            return out  # the page says what is wrong with the scenario
        kept = {p: v for p, v in parse_seats(out["seats"]).items() if p in parties}
        out["seats"] = format_seating(kept)
    return out


def initial_values(params: Mapping[str, Any]) -> dict[str, Any]:
    """The starting value of every parameter (a user input's ``value``, or the fixed value)."""
    return {k: v["value"] if _is_input(v) else v for k, v in params.items()}


def user_inputs(params: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """The user-input specs with their ``value`` set to the current ``values``."""
    return {k: {**v, "value": values.get(k, v["value"])} for k, v in params.items() if _is_input(v)}


def model_kwargs(values: Mapping[str, Any]) -> dict[str, Any]:
    """NegotiationModel keyword arguments from the page's parameter values.

    Raises:
        ValueError: a seed that is not a non-negative whole number, or bad max rounds.
    """
    kwargs = dict(values)
    backend = str(kwargs.get("backend") or "embedded")
    # A blank "model" field means the backend's default (as `parley run` does).
    kwargs["model"] = _blank_none(kwargs.get("model")) or DEFAULT_MODELS.get(backend, "")
    kwargs["base_url"] = _blank_none(kwargs.get("base_url"))
    rounds = int(kwargs.get("max_rounds") or 0)
    if rounds < 0:
        raise ValueError(f"max rounds must be 0 (the scenario's) or more, got {rounds}")
    kwargs["max_rounds"] = rounds or None
    kwargs["rng"] = seed_value(kwargs.get("rng"))
    return kwargs


def seed_value(text: Any) -> int:
    """A seed from the page's text field; a one-line ValueError if it is not one."""
    raw = str(text if text is not None else "").strip()
    if not raw.isdigit():
        raise ValueError(f"the seed must be a whole number of 0 or more, got '{raw}'")
    return int(raw)


def time_limit_value(text: Any) -> float | None:
    """Seconds per human turn from a text field (blank: no limit); a one-line ValueError if
    it is not a positive number."""
    raw = str(text if text is not None else "").strip()
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"the time limit must be a positive number of seconds, got '{raw}'")
    return seconds


def _blank_none(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _is_input(spec: Any) -> bool:
    return isinstance(spec, dict) and "type" in spec
