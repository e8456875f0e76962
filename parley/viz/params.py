"""The app's model parameters, in SolaraViz's ``model_params`` format, and their conversion.

Keys are :class:`~parley.model.model.NegotiationModel` keyword arguments and values are
plain strings and numbers, as everywhere else (CLI, ``batch_run``, notebooks). Text inputs
(seed, model, base URL) arrive as strings; :func:`model_kwargs` turns them into the
model's arguments and rejects bad ones with a one-line ``ValueError``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from parley.config import CHOICES, DEFAULT_MODELS, RunConfig
from parley.scenarios.loader import builtin_names

#: Extra scenario files offered in the app (``os.pathsep``-separated; set by ``parley app``).
SCENARIOS_ENV = "PARLEY_APP_SCENARIOS"
#: A results directory the app opens for replay at start (set by ``parley app --replay``).
REPLAY_ENV = "PARLEY_APP_REPLAY"
MAX_ROUNDS_LIMIT = 60


def extra_scenarios() -> list[str]:
    """Scenario files named in :data:`SCENARIOS_ENV`."""
    return [p for p in os.environ.get(SCENARIOS_ENV, "").split(os.pathsep) if p]


def model_params(scenarios: Sequence[str] = ()) -> dict[str, Any]:
    """SolaraViz-style parameter specs: user inputs (dicts with ``type``) and fixed values.

    Args:
        scenarios: scenario files offered after the built-in names.
    """
    names = builtin_names() + [s for s in scenarios if s not in builtin_names()]

    def select(label: str, values: Sequence[str], value: str) -> dict[str, Any]:
        return {"type": "Select", "label": label, "values": list(values), "value": value}

    def text(label: str, value: str = "") -> dict[str, Any]:
        return {"type": "InputText", "label": label, "value": value}

    return {
        "scenario": select("Scenario", names, RunConfig.scenario),
        "policy": select("Policy", CHOICES["policy"], RunConfig.policy),
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


def _blank_none(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _is_input(spec: Any) -> bool:
    return isinstance(spec, dict) and "type" in spec
