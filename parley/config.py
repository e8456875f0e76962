"""One run's configuration: every NegotiationModel parameter, its choices, default and check.

:class:`RunConfig` is the one source of a run's parameters. ``NegotiationModel(**kwargs)``
builds one from its keyword arguments; the CLI flags, the app's controls, sweep grids,
preflight checks, the runs table and replay all read it. It is frozen and holds plain
picklable values only (``policy`` may also be a :class:`~parley.agents.policy.Policy`
object, for tests and notebooks).

Adding a parameter is one line: a field below with its default (and ``llm=True`` if only
an LLM reads it, ``operational=True`` if it never changes a run's result). It is then a
model keyword, a grid key, a manifest entry and, unless operational, a runs-table column;
give it a flag in :mod:`parley.cli.options` or a control in :mod:`parley.viz.params` where a
user should set it.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from parley.agents.factory import AUTHORITIES, CONDITIONS, POLICIES
from parley.agents.seating import canonical_seats, parse_seats
from parley.llm.choices import BACKENDS, CACHE_MODES, DEFAULT_MODELS
from parley.llm.profiles import profile_names
from parley.llm.structured import MODES

TURN_ORDERS = ("simultaneous", "sequential")
SERVERS = profile_names()

#: The allowed values of every parameter that has a fixed set of them.
CHOICES: dict[str, tuple[str, ...]] = {
    "policy": POLICIES,
    "condition": CONDITIONS,
    "authority": AUTHORITIES,
    "turn_order": TURN_ORDERS,
    "backend": BACKENDS,
    "cache": CACHE_MODES,
    "server": SERVERS,
    "structured": MODES,
}
_LABELS = {"cache": "cache mode", "structured": "structured mode", "server": "server kind"}
#: Value of the ``backend`` and ``model`` columns of a run that calls no LLM.
NO_LLM = "none"


def _param(default: Any, *, llm: bool = False, operational: bool = False) -> Any:
    return field(default=default, metadata={"llm": llm, "operational": operational})


def uses_llm(params: Mapping[str, Any]) -> bool:
    """Whether a run with ``params`` (all or some parameters, e.g. a sweep cell) calls a
    language model: LLM negotiators (table-wide or in one seat) or an LLM authority."""
    return params.get("authority") == "llm" or negotiates_with_llm(params)


def negotiates_with_llm(params: Mapping[str, Any]) -> bool:
    """Whether LLM negotiators (table-wide or in one seat) sit at a run with ``params``: the
    runs a reflection condition applies to."""
    return params.get("policy") == "llm" or "llm" in parse_seats(params.get("seats")).values()


def model_of(params: Mapping[str, Any]) -> str:
    """The model a run with ``params`` uses: ``model``, else its backend's default."""
    return params.get("model") or DEFAULT_MODELS[params.get("backend") or "embedded"]


def check_choice(name: str, value: Any) -> None:
    """Raise a one-line ValueError if ``value`` is not one of parameter ``name``'s choices."""
    allowed = CHOICES[name]
    if value not in allowed:
        label = _LABELS.get(name, name.replace("_", " "))
        raise ValueError(f"unknown {label} '{value}' (one of: {', '.join(allowed)})")


@dataclass(frozen=True)
class RunConfig:
    """Every parameter of one negotiation (see :class:`~parley.model.model.NegotiationModel`).

    Attributes:
        scenario: built-in scenario name or path to a YAML file.
        policy: ``heuristic``, ``solver`` or ``llm`` (or a Policy / ``party -> Policy``):
            every party's policy unless ``seats`` says otherwise.
        seats: per-party policies on top of ``policy`` (a mixed table): a mapping
            ``{"industry": "llm", "operator": "human"}`` or its canonical string
            ``"industry=llm,operator=human"``, stored canonical (see
            :mod:`parley.agents.seating`); None: every party plays ``policy``.
        condition: reflection condition (``none``, ``none_budget``, ``bounded``,
            ``private_memo``, ``private_persona``, ``native``).
        backend: LLM backend, ``embedded`` or ``openai``.
        model: LLM model name; None means the backend's default (:data:`DEFAULT_MODELS`).
        base_url: OpenAI-compatible server URL (``openai`` backend).
        api_key_env: name of the environment variable holding the API key.
        server: provider profile of the server (``parley/llm/profiles.yaml``); None infers it
            from ``base_url`` or an unambiguous model name.
        structured: structured-output mode override; None picks the profile's default.
        reasoning: the served model has a reasoning mode (needed by ``native``; read for
            models the profile cannot know).
        reasoning_budget: tokens for ``native``'s reasoning on top of the action's budget
            (None: :data:`parley.agents.reflection.REASONING_BUDGET`).
        turn_order: ``simultaneous`` (all decide on one observation) or ``sequential``.
        max_rounds: deadline in rounds (None: the scenario's).
        history_window: rounds of history each negotiator sees (None: the scenario's).
        temperature: sampling temperature of LLM calls.
        max_concurrency: LLM calls in flight at once in a simultaneous round.
        authority: ``rule`` (the scenario's rule) or ``llm`` (an LLM writes the ruling).
        cache: record/replay cache mode, ``off``, ``record``, ``replay`` or ``auto``.
        cache_path: SQLite file of the cache (None: ``.parley/cache.sqlite``).
        max_tokens_total: budget cap on tokens for the run (None: no cap).
        timeout: seconds before one LLM request times out.
        max_retries: retries of a failed LLM request (429, 5xx, timeouts).
        human_time_limit: seconds a human seat has for one turn; when they run out the move
            is a recorded ``hold`` (None: no limit).
    """

    scenario: str = _param("grid_curtailment")
    policy: Any = _param("heuristic")
    seats: str | None = _param(None)
    condition: str = _param("none")
    backend: str = _param("embedded", llm=True)
    model: str | None = _param(None, llm=True)
    base_url: str | None = _param(None, llm=True, operational=True)
    api_key_env: str = _param("OPENAI_API_KEY", llm=True, operational=True)
    server: str | None = _param(None, llm=True)
    structured: str | None = _param(None, llm=True)
    reasoning: bool = _param(False, llm=True)
    reasoning_budget: int | None = _param(None, llm=True)
    turn_order: str = _param("simultaneous")
    max_rounds: int | None = _param(None)
    history_window: int | None = _param(None)
    temperature: float = _param(0.8, llm=True)
    max_concurrency: int = _param(5, llm=True, operational=True)
    authority: str = _param("rule")
    cache: str = _param("off", llm=True, operational=True)
    cache_path: str | None = _param(None, llm=True, operational=True)
    max_tokens_total: int | None = _param(None, llm=True)
    timeout: float = _param(60.0, llm=True, operational=True)
    max_retries: int = _param(2, llm=True, operational=True)
    human_time_limit: float | None = _param(None)

    def __post_init__(self) -> None:
        for name in CHOICES:
            value = getattr(self, name)
            if value is None and name in ("server", "structured"):
                continue
            if name == "policy" and not isinstance(value, str):
                continue  # a Policy object or factory (tests, notebooks)
            check_choice(name, value)
        if not self.model:
            object.__setattr__(self, "model", DEFAULT_MODELS[self.backend])
        # a plain canonical string (picklable, sweepable, one spelling per seating)
        object.__setattr__(self, "seats", canonical_seats(self.seats) or None)
        limit = self.human_time_limit
        if limit is not None and not (isinstance(limit, numbers.Real) and limit > 0):
            raise ValueError(f"human_time_limit must be a positive number of seconds, got {limit}")
        _at_least("max_rounds", self.max_rounds, 1, optional=True)
        _at_least("history_window", self.history_window, 0, optional=True)
        _at_least("max_concurrency", self.max_concurrency, 1)
        _at_least("max_tokens_total", self.max_tokens_total, 1, optional=True)
        _at_least("reasoning_budget", self.reasoning_budget, 0, optional=True)
        _at_least("max_retries", self.max_retries, 0)
        if not (isinstance(self.timeout, numbers.Real) and self.timeout > 0):
            raise ValueError(f"timeout must be a positive number of seconds, got {self.timeout}")
        t = self.temperature
        if not (isinstance(t, numbers.Real) and not math.isnan(t) and 0 <= t <= 5):
            raise ValueError(f"temperature must be between 0 and 5, got {t}")

    # -- building ----------------------------------------------------------------------------
    @classmethod
    def from_kwargs(cls, params: Mapping[str, Any]) -> RunConfig:
        """A configuration from keyword arguments; one-line ValueError for an unknown one."""
        unknown = [k for k in params if k not in PARAMETERS]
        if unknown:
            raise ValueError(f"unknown parameter '{unknown[0]}' (one of: {', '.join(PARAMETERS)})")
        return cls(**params)

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with ``changes`` (checked like a new configuration)."""
        return dataclasses.replace(self, **changes)

    # -- reading ---------------------------------------------------------------------------
    @property
    def uses_llm(self) -> bool:
        """Whether the run calls a language model (LLM negotiators or an LLM authority)."""
        return uses_llm({"policy": self.policy, "authority": self.authority, "seats": self.seats})

    def kwargs(self) -> dict[str, Any]:
        """The configuration as NegotiationModel keyword arguments (every parameter)."""
        return {name: getattr(self, name) for name in PARAMETERS}

    def scenario_file(self) -> str | None:
        """The absolute path of the scenario file, or None for a built-in scenario name."""
        path = Path(self.scenario)
        return str(path.resolve()) if path.suffix in {".yaml", ".yml"} else None

    # -- runs table and manifest ---------------------------------------------------------
    def to_row(self) -> dict[str, Any]:
        """The result-shaping parameters as runs-table columns.

        ``scenario`` becomes ``scenario_file`` (the file's absolute path, None for a built-in
        scenario: the runs table's ``scenario`` column holds the scenario's name); a run that
        calls no LLM has ``backend`` and ``model`` ``"none"`` and no other LLM setting.
        """
        row: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.metadata["operational"]:
                continue
            value = getattr(self, f.name)
            if f.name == "scenario":
                row["scenario_file"] = self.scenario_file()
                continue
            if f.metadata["llm"] and not self.uses_llm:
                value = NO_LLM if f.name in ("backend", "model") else None
            row[f.name] = value if f.name != "policy" else str(value)
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> RunConfig:
        """The configuration a runs-table row was made with (operational settings at their
        defaults; columns a row lacks, e.g. from an older parley, at theirs)."""
        params: dict[str, Any] = {}
        for name in ROW_COLUMNS:
            value = _plain(row.get(name))
            if value is None or (name in ("backend", "model") and value == NO_LLM):
                continue
            params[name] = value
        scenario = _plain(row.get("scenario_file")) or _plain(row.get("scenario"))
        if scenario is not None:
            params["scenario"] = str(scenario)
        for name in ("max_rounds", "history_window", "max_tokens_total"):
            if name in params:
                params[name] = int(params[name])
        if "reasoning" in params:
            params["reasoning"] = bool(params["reasoning"])
        return cls(**params)

    def to_manifest(self) -> dict[str, Any]:
        """Every parameter as JSON-ready values (the ``parameters`` of a manifest)."""
        out = self.kwargs()
        out["policy"] = str(out["policy"])
        return out

    @classmethod
    def from_manifest(cls, parameters: Mapping[str, Any]) -> RunConfig:
        """The configuration of a manifest's ``parameters`` (``rng`` and unknown keys, e.g.
        from another parley version, are ignored)."""
        return cls(**{k: v for k, v in parameters.items() if k in PARAMETERS})


def _at_least(name: str, value: Any, low: int, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be at least {low}, got {value}")


def _plain(value: Any) -> Any:
    """A table cell as a plain value, NaN/NA as None."""
    if value is None or value is pd.NA:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


#: Every parameter, in declaration order.
PARAMETERS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(RunConfig))
#: Parameters only an LLM reads (dropped from a sweep cell whose runs call none).
LLM_KEYS = frozenset(f.name for f in dataclasses.fields(RunConfig) if f.metadata["llm"])
#: Parameters that never change a run's result (left out of run ids and the runs table).
OPERATIONAL_KEYS = frozenset(
    f.name for f in dataclasses.fields(RunConfig) if f.metadata["operational"]
)
#: The runs-table columns :meth:`RunConfig.to_row` writes, besides ``scenario_file``.
ROW_COLUMNS = tuple(p for p in PARAMETERS if p not in OPERATIONAL_KEYS and p != "scenario")
