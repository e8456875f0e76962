"""A sweep's grid: cells of NegotiationModel parameters × seeds, each run with a stable id.

A grid comes from command-line flags or from a YAML file whose keys are
:class:`~parley.config.RunConfig` parameters plus ``seeds``; a list value
is an axis of the grid (all combinations are run), a scalar is fixed::

    scenario: [grid_curtailment, trading_limits_unified]
    condition: [none, bounded, native]
    policy: llm
    backend: openai
    model: [gpt-4o-mini, gpt-5.2]
    base_url: http://127.0.0.1:8000/v1
    seeds: 15            # or an explicit list: [0, 1, 7]

The run id is a hash of the parameters that shape a run's result plus its seed, so a
restarted sweep recognizes finished runs whatever order they ran in.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from parley.config import (
    CHOICES,
    LLM_KEYS,
    OPERATIONAL_KEYS,
    PARAMETERS,
    RunConfig,
    check_choice,
    uses_llm,
)
from parley.scenarios import load_scenario

DEFAULT_SEEDS = 15
#: The most seeds a grid may have (a typo like ``--seeds 10000000`` is refused, not run).
MAX_SEEDS = 10_000
# LLM_KEYS (dropped from cells whose runs use no LLM) and OPERATIONAL_KEYS (left out of the
# run id, so a restart with another timeout, port or cache mode still finds its finished
# runs) are declared with the parameters in parley.config.


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: its cell's parameters (a canonical JSON string) and its seed."""

    cell: str
    seed: int
    run_id: str

    @property
    def params(self) -> dict[str, Any]:
        return json.loads(self.cell)


@dataclass(frozen=True)
class Grid:
    """Axes (parameter -> values, all combinations) and fixed parameters, over seeds."""

    axes: dict[str, list[Any]]
    fixed: dict[str, Any] = field(default_factory=dict)
    seeds: tuple[int, ...] = tuple(range(DEFAULT_SEEDS))

    def cells(self) -> list[str]:
        """Distinct cells as canonical JSON strings, in axis order."""
        names = list(self.axes)
        seen: dict[str, None] = {}
        for combo in itertools.product(*(self.axes[n] for n in names)):
            seen.setdefault(canonical_cell({**self.fixed, **dict(zip(names, combo, strict=True))}))
        return list(seen)

    def runs(self) -> list[RunSpec]:
        """Every run of the grid: each cell with each seed."""
        return [RunSpec(c, s, run_id(c, s)) for c in self.cells() for s in self.seeds]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (for the manifest)."""
        return {"axes": self.axes, "fixed": self.fixed, "seeds": list(self.seeds)}


def canonical_cell(params: Mapping[str, Any]) -> str:
    """A cell's parameters as sorted JSON; LLM knobs are dropped when no LLM is involved."""
    cell = {k: v for k, v in params.items() if v is not None}
    if not uses_llm(cell):
        cell = {k: v for k, v in cell.items() if k not in LLM_KEYS}
    return json.dumps(cell, sort_keys=True)


def run_id(cell: str, seed: int) -> str:
    """A stable 16-hex id of a run: the result-shaping parameters of its cell and its seed."""
    identity = {k: v for k, v in json.loads(cell).items() if k not in OPERATIONAL_KEYS}
    text = json.dumps({"params": identity, "seed": int(seed)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_grid(
    axes: Mapping[str, Sequence[Any]], fixed: Mapping[str, Any], seeds: Sequence[int]
) -> Grid:
    """Validate a grid and normalize its values; raise ValueError naming the problem."""
    unknown = [k for k in (*axes, *fixed) if k not in PARAMETERS]
    if unknown:
        raise ValueError(f"unknown grid parameter '{unknown[0]}' (one of: {', '.join(PARAMETERS)})")
    for name, values in axes.items():
        if not values:
            raise ValueError(f"grid axis '{name}' has no values")
    if not seeds:
        raise ValueError("the grid has no seeds")
    if any(int(s) < 0 for s in seeds):
        raise ValueError("seeds must be non-negative")
    if len(seeds) > MAX_SEEDS:
        raise ValueError(f"at most {MAX_SEEDS} seeds per grid, got {len(seeds)}")
    checked = {k: [_normalize(k, v) for v in vs] for k, vs in axes.items()}
    constants = {k: _normalize(k, v) for k, v in fixed.items()}
    grid = Grid(checked, constants, tuple(dict.fromkeys(int(s) for s in seeds)))
    for cell in grid.cells():  # every cell is a valid run: a bad value is one line, now
        RunConfig.from_kwargs(json.loads(cell))
    return grid


def _normalize(name: str, value: Any) -> Any:
    """Check one value; a scenario file path becomes absolute (workers may run elsewhere)."""
    if name in CHOICES and value is not None:
        check_choice(name, str(value))
    if name == "scenario":
        load_scenario(str(value))  # a ScenarioError names the file and the field
        path = Path(str(value))
        return str(path.resolve()) if path.suffix in {".yaml", ".yml"} else str(value)
    return value


def load_grid_file(path: str | Path) -> tuple[dict[str, list[Any]], dict[str, Any], Any]:
    """Read a YAML grid file into (axes, fixed, seeds-or-None); ValueError names the file."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as err:
        raise ValueError(f"{p}: cannot read grid file ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise ValueError(f"{p}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{p}: a grid file is a mapping of parameter: value(s)")
    seeds = data.pop("seeds", None)
    if seeds is not None and not (
        isinstance(seeds, int)
        or (isinstance(seeds, list) and all(isinstance(s, int) for s in seeds))
    ):
        raise ValueError(f"{p}: 'seeds' must be a count or a list of integers")
    unknown = [k for k in data if k not in PARAMETERS]
    if unknown:
        raise ValueError(f"{p}: unknown parameter '{unknown[0]}'")
    axes = {k: list(v) for k, v in data.items() if isinstance(v, list)}
    fixed = {k: v for k, v in data.items() if not isinstance(v, list)}
    return axes, fixed, seeds


def seed_list(seeds: int | Sequence[int] | None) -> list[int]:
    """``None`` -> the default 15 seeds; a count ``n`` -> ``0..n-1``; a list as given."""
    if seeds is None:
        return list(range(DEFAULT_SEEDS))
    if isinstance(seeds, int):
        if seeds < 1:
            raise ValueError(f"the number of seeds must be at least 1, got {seeds}")
        if seeds > MAX_SEEDS:
            raise ValueError(f"the number of seeds must be at most {MAX_SEEDS}, got {seeds}")
        return list(range(seeds))
    return [int(s) for s in seeds]
