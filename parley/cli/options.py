"""Command-line options shared by the commands that build models (run, sweep, app)."""

from __future__ import annotations

import argparse
from typing import Any

from parley.agents.factory import AUTHORITIES, CONDITIONS, POLICIES
from parley.agents.seating import SEAT_POLICIES, canonical_seats
from parley.cli import UserError
from parley.llm.structured import MODES, SERVER_MODES
from parley.model.model import TURN_ORDERS

SERVERS = tuple(SERVER_MODES)

BACKENDS = ("embedded", "openai")
CACHE_MODES = ("off", "record", "replay", "auto")
DEFAULT_POLICY = "llm"  # the embedded LLM; `--policy heuristic` needs no model at all


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
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


def seat_entry(text: str) -> str:
    """One ``--seat PARTY=POLICY`` entry, checked for form and policy (parties: at build)."""
    try:
        return canonical_seats(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_model_options(p: argparse.ArgumentParser, *, sweep: bool = False) -> None:
    """The NegotiationModel's parameters as flags (lists of values when ``sweep``)."""
    many: dict[str, Any] = {"nargs": "+"} if sweep else {}
    g = p.add_argument_group("negotiation")
    g.add_argument(
        "--scenario",
        default=None if sweep else "grid_curtailment",
        **many,
        help="built-in scenario name or path to a scenario YAML file (see `parley scenarios`)",
    )
    g.add_argument(
        "--policy",
        default=None if sweep else DEFAULT_POLICY,
        **many,
        choices=POLICIES,
        help="who decides: the LLM, the rule-based 'heuristic' sampler, or the "
        "rule-based 'solver' (default: %(default)s)",
    )
    g.add_argument(
        "--seat",
        dest="seats",
        metavar="PARTY=POLICY",
        type=seat_entry,
        action="append",
        default=None,
        help="seat one party with its own policy on top of --policy (repeatable): "
        f"{', '.join(SEAT_POLICIES)}; e.g. --seat industry=llm for one LLM among "
        "rule-based negotiators"
        + ("" if sweep else ", --seat operator=human to play that party yourself"),
    )
    g.add_argument(
        "--condition",
        default=None if sweep else "none",
        choices=CONDITIONS,
        **many,
        help="reflection condition of LLM negotiators (default: %(default)s)",
    )
    g.add_argument(
        "--turn-order",
        default="simultaneous",
        choices=TURN_ORDERS,
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
        default="rule",
        choices=AUTHORITIES,
        help="'rule': the scenario's authority rule; 'llm': an LLM writes the ruling "
        "(default: %(default)s)",
    )
    g = p.add_argument_group("LLM")
    g.add_argument(
        "--backend",
        default="embedded",
        choices=BACKENDS,
        help="'embedded': the offline llama.cpp model shipped on PyPI; 'openai': "
        "any OpenAI-compatible server (default: %(default)s)",
    )
    g.add_argument(
        "--model",
        default=None,
        **many,
        help="model name: qwen2.5-0.5b (default) or qwen2.5-1.5b for the embedded "
        "backend; the server's model id for --backend openai",
    )
    g.add_argument(
        "--base-url",
        default=None,
        help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 "
        "(default: the openai client's)",
    )
    g.add_argument(
        "--api-key-env",
        default="OPENAI_API_KEY",
        help="name of the environment variable that holds the API key "
        "(default: %(default)s; the key itself is never written anywhere)",
    )
    g.add_argument(
        "--server",
        default=None,
        choices=SERVERS,
        help="kind of OpenAI-compatible server, which decides how structured output is asked "
        "for (default: inferred from --base-url; OpenAI's API when none)",
    )
    g.add_argument(
        "--structured",
        default=None,
        choices=MODES,
        help="override the structured-output mode: json_schema (OpenAI, vLLM, Ollama), "
        "json_object_schema (llama.cpp server), json_object, grammar (GBNF), text (extract "
        "JSON from prose)",
    )
    g.add_argument(
        "--reasoning",
        action="store_true",
        help="the served model has a reasoning mode (o-series, gpt-5, DeepSeek-R1, Qwen3 "
        "thinking...); required by --condition native",
    )
    g.add_argument(
        "--temperature",
        type=temperature,
        default=0.8,
        help="sampling temperature (default: %(default)s)",
    )
    g.add_argument(
        "--max-concurrency",
        type=positive_int,
        default=5,
        help="LLM calls in flight at once in a simultaneous round (default: %(default)s)",
    )
    g.add_argument(
        "--timeout",
        type=positive_float,
        default=60.0,
        help="seconds before one LLM request times out (default: %(default)s)",
    )
    g.add_argument(
        "--max-retries",
        type=int,
        default=2,
        choices=range(0, 6),
        metavar="{0..5}",
        help="retries of a failed request: 429, 5xx, timeouts (default: %(default)s)",
    )
    g.add_argument(
        "--cache",
        default="off",
        choices=CACHE_MODES,
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
    """NegotiationModel keyword arguments from parsed flags (single-run commands)."""
    return {
        "scenario": args.scenario,
        "policy": args.policy,
        "seats": joined_seats(args.seats),
        "condition": args.condition,
        "backend": args.backend,
        "model": args.model or default_model(args.backend),
        "base_url": args.base_url,
        "api_key_env": args.api_key_env,
        "server": args.server,
        "structured": args.structured,
        "reasoning": args.reasoning,
        "turn_order": args.turn_order,
        "max_rounds": args.max_rounds,
        "temperature": args.temperature,
        "max_concurrency": args.max_concurrency,
        "authority": args.authority,
        "cache": args.cache,
        "cache_path": args.cache_path,
        "max_tokens_total": args.max_tokens_total,
        "timeout": args.timeout,
        "max_retries": args.max_retries,
        **(
            {"human_time_limit": args.human_time_limit}
            if getattr(args, "human_time_limit", None) is not None
            else {}
        ),
    }


def joined_seats(entries: list[str] | None) -> str | None:
    """The repeated ``--seat`` entries as one canonical seats string (None: no seats)."""
    try:
        return canonical_seats(",".join(entries or ())) or None
    except ValueError as err:  # the same party seated twice
        raise UserError(str(err)) from None


def default_model(backend: str) -> str:
    match backend:
        case "embedded":
            return "qwen2.5-0.5b"
        case "openai":
            return "gpt-4o-mini"
        case _:
            raise UserError(f"unknown backend '{backend}' (one of: {', '.join(BACKENDS)})")
