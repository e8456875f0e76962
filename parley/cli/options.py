"""Command-line options shared by the commands that build models (run, sweep, app).

Every flag is a :class:`~parley.config.RunConfig` parameter: its choices and default come
from there (:data:`DEFAULTS`, :data:`~parley.config.CHOICES`); :func:`run_config` checks
the parsed flags as the model will.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from parley.agents.reflection import REASONING_BUDGET
from parley.cli import UserError
from parley.config import CHOICES, DEFAULT_MODELS, PARAMETERS, RunConfig, model_of

#: Every parameter's default (the CLI's own default policy differs: see DEFAULT_POLICY).
DEFAULTS = {f.name: f.default for f in dataclasses.fields(RunConfig)}
DEFAULT_POLICY = "llm"  # the embedded LLM; `--policy heuristic` needs no model at all


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def seed_count(text: str) -> int:
    """A number of seeds: at least 1, at most the grid's limit."""
    from parley.experiments.grid import MAX_SEEDS

    value = positive_int(text)
    if value > MAX_SEEDS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_SEEDS}, got {value}")
    return value


def seed_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"seeds must be non-negative, got {value}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def temperature(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 5:  # also refuses nan, which compares false
        raise argparse.ArgumentTypeError(f"must be between 0 and 5, got {text}")
    return value


def add_model_options(p: argparse.ArgumentParser, *, sweep: bool = False) -> None:
    """The NegotiationModel's parameters as flags (lists of values when ``sweep``)."""
    many: dict[str, Any] = {"nargs": "+"} if sweep else {}
    g = p.add_argument_group("negotiation")
    g.add_argument(
        "--scenario",
        default=None if sweep else DEFAULTS["scenario"],
        **many,
        help="built-in scenario name or path to a scenario YAML file (see `parley scenarios`)",
    )
    g.add_argument(
        "--policy",
        default=None if sweep else DEFAULT_POLICY,
        **many,
        choices=CHOICES["policy"],
        help="who decides: the LLM, the rule-based 'heuristic' sampler, or the "
        "rule-based 'solver' (default: %(default)s)",
    )
    g.add_argument(
        "--condition",
        default=None if sweep else DEFAULTS["condition"],
        choices=CHOICES["condition"],
        **many,
        help="reflection condition of LLM negotiators (default: %(default)s)",
    )
    g.add_argument(
        "--turn-order",
        default=DEFAULTS["turn_order"],
        choices=CHOICES["turn_order"],
        help="all decide on one observation, or one after another (default: %(default)s)",
    )
    g.add_argument(
        "--max-rounds",
        type=positive_int,
        default=None,
        help="deadline in rounds (default: the scenario's)",
    )
    g.add_argument(
        "--authority",
        default=DEFAULTS["authority"],
        choices=CHOICES["authority"],
        help="'rule': the scenario's authority rule; 'llm': an LLM writes the ruling "
        "(default: %(default)s)",
    )
    g = p.add_argument_group("LLM")
    g.add_argument(
        "--backend",
        default=DEFAULTS["backend"],
        choices=CHOICES["backend"],
        help="'embedded': the offline llama.cpp model shipped on PyPI; 'openai': "
        "any OpenAI-compatible server (default: %(default)s)",
    )
    g.add_argument(
        "--model",
        default=None,
        **many,
        help=f"model name: {DEFAULT_MODELS['embedded']} (default) or qwen2.5-1.5b for the "
        f"embedded backend; the server's model id for --backend openai (default: "
        f"{DEFAULT_MODELS['openai']})",
    )
    g.add_argument(
        "--base-url",
        default=None,
        help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 "
        "(default: the openai client's)",
    )
    g.add_argument(
        "--api-key-env",
        default=DEFAULTS["api_key_env"],
        help="name of the environment variable that holds the API key "
        "(default: %(default)s; the key itself is never written anywhere)",
    )
    g.add_argument(
        "--server",
        default=None,
        choices=CHOICES["server"],
        help="provider profile of the server: how output tokens, structured output and "
        "reasoning on/off are asked for, and its endpoint when --base-url is not given "
        "(default: inferred from a provider's own --base-url or an unambiguous --model; "
        "OpenAI's API when neither says; see docs/backends.md)",
    )
    g.add_argument(
        "--structured",
        default=None,
        choices=CHOICES["structured"],
        help="override the structured-output mode: json_schema (OpenAI, Gemini, vLLM, "
        "Ollama), json_object_schema (llama.cpp server), json_object (DeepSeek), grammar "
        "(GBNF), text (extract JSON from prose); a mode the server refuses is refused",
    )
    g.add_argument(
        "--reasoning",
        action="store_true",
        help="the served model has a reasoning mode (Qwen3 thinking, DeepSeek-R1...) on "
        "vllm, ollama, llamacpp and generic servers, where the profile cannot know; OpenAI, "
        "DeepSeek and Gemini models are known by name. --condition native needs one; the "
        "other conditions run with reasoning off, or refuse to start if it cannot be",
    )
    g.add_argument(
        "--reasoning-budget",
        type=non_negative_int,
        default=None,
        help="tokens for --condition native's reasoning, on top of the action's budget "
        f"(default: {REASONING_BUDGET})",
    )
    g.add_argument(
        "--temperature",
        type=temperature,
        default=DEFAULTS["temperature"],
        help="sampling temperature (default: %(default)s)",
    )
    g.add_argument(
        "--max-concurrency",
        type=positive_int,
        default=DEFAULTS["max_concurrency"],
        help="LLM calls in flight at once in a simultaneous round (default: %(default)s)",
    )
    g.add_argument(
        "--timeout",
        type=positive_float,
        default=DEFAULTS["timeout"],
        help="seconds before one LLM request times out (default: %(default)s)",
    )
    g.add_argument(
        "--max-retries",
        type=int,
        default=DEFAULTS["max_retries"],
        choices=range(0, 6),
        metavar="{0..5}",
        help="retries of a failed request: 429, 5xx, timeouts (default: %(default)s)",
    )
    g.add_argument(
        "--cache",
        default=DEFAULTS["cache"],
        choices=CHOICES["cache"],
        help="record/replay cache of LLM calls (default: %(default)s)",
    )
    g.add_argument(
        "--cache-path",
        default=None,
        help="SQLite file of the cache (default: .parley/cache.sqlite)",
    )
    g.add_argument(
        "--max-tokens-total",
        type=positive_int,
        default=None,
        help="stop a run cleanly once it has used this many tokens",
    )


def model_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """NegotiationModel keyword arguments from parsed flags: every parameter that has a flag
    (a parameter without one keeps its default)."""
    kwargs = {name: getattr(args, name) for name in PARAMETERS if hasattr(args, name)}
    if isinstance(kwargs.get("backend"), str):
        kwargs["model"] = kwargs.get("model") or default_model(kwargs["backend"])
    return kwargs


def run_config(args: argparse.Namespace) -> RunConfig:
    """The run configuration of a single-run command's flags; a bad value is one line."""
    try:
        return RunConfig.from_kwargs(model_kwargs(args))
    except ValueError as err:
        raise UserError(str(err)) from None


def default_model(backend: str) -> str:
    """The backend's default model (:data:`parley.config.DEFAULT_MODELS`); one line if unknown."""
    try:
        return model_of({"backend": backend})
    except KeyError:
        raise UserError(
            f"unknown backend '{backend}' (one of: {', '.join(CHOICES['backend'])})"
        ) from None
