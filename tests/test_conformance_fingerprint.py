"""The recorded frames of every built-in scenario × turn order × policy match a fingerprint.

The fingerprint (``tests/data/conformance_fingerprint.json``) was recorded before the round
was restructured into agent phases (issue 14); a refactor of the engine must leave every
recorded value unchanged. The fingerprint is over values, not dtypes: each table is written
as JSON with numbers as floats and missing values as null, then hashed.

Regenerate (only when a change is *meant* to alter results, and say so in the commit)::

    .venv/bin/python tests/test_conformance_fingerprint.py --write
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

from parley.experiments.records import run_columns
from parley.llm.fakes import FakeReasoningLLM, PuppetLLM, negotiator_responder
from parley.model.model import TURN_ORDERS, NegotiationModel
from parley.scenarios import builtin_names

FINGERPRINT = Path(__file__).parent / "data" / "conformance_fingerprint.json"
# Columns of the runs row that describe the run's setting rather than its result; a
# configuration change may legitimately add or correct them (e.g. which backend an
# injected LLM is), so they are left out of the fingerprint.
SETTING_COLUMNS = {"backend", "model"}
LLM_CONDITIONS = ("none", "none_budget", "bounded", "private_memo", "private_persona", "native")


def cases() -> dict[str, dict[str, Any]]:
    """Every case: name -> keyword arguments of NegotiationModel (an LLM built per run)."""
    out: dict[str, dict[str, Any]] = {}
    for scenario in builtin_names():
        for order in TURN_ORDERS:
            base = {"scenario": scenario, "turn_order": order}
            for policy in ("heuristic", "solver"):
                for seed in (0, 1):
                    out[f"{scenario}/{order}/{policy}/{seed}"] = {
                        **base,
                        "policy": policy,
                        "rng": seed,
                    }
            out[f"{scenario}/{order}/solver+llm-authority/2"] = {
                **base,
                "policy": "solver",
                "authority": "llm",
                "rng": 2,
            }
            for i, condition in enumerate(LLM_CONDITIONS):
                out[f"{scenario}/{order}/llm-{condition}/{i}"] = {
                    **base,
                    "policy": "llm",
                    "condition": condition,
                    "authority": "llm" if i % 2 else "rule",
                    "rng": i,
                }
    return out


def build(params: dict[str, Any]) -> NegotiationModel:
    uses_llm = params.get("policy") == "llm" or params.get("authority") == "llm"
    llm = None
    if uses_llm:
        native = params.get("condition") == "native"
        llm = (FakeReasoningLLM if native else PuppetLLM)(negotiator_responder)
    return NegotiationModel(**params, llm=llm)


def _value(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, bool) or type(v).__name__ == "bool_":
        return bool(v)
    if isinstance(v, (int, float)) or hasattr(v, "dtype"):
        f = float(v)
        return None if math.isnan(f) else repr(f)
    return str(v)


def fingerprint(
    model: NegotiationModel, columns: dict[str, list[str]] | None = None
) -> dict[str, str]:
    """A hash per recorded table (the runs row without setting columns, rounds, agents, moves,
    calls without wall-clock latency) and the outcome.

    ``columns`` (table -> names) restricts each table to the columns recorded with the
    fingerprint: a table may gain columns (a new measurement) without changing the values
    it had; a recorded column that disappeared hashes as ``<missing>``.
    """
    tables = run_columns(model)
    tables["runs"] = {c: v for c, v in tables["runs"].items() if c not in SETTING_COLUMNS}
    tables["calls"] = {k: v for k, v in tables["calls"].items() if k != "latency_s"}
    out = {}
    for name, cols in tables.items():
        if columns is not None and name in columns:
            wanted = [*columns[name], *(c for c in cols if c.startswith("utility_"))]
            cols = {c: cols.get(c, ["<missing>"]) for c in dict.fromkeys(wanted)}
        canon = {c: [_value(v) for v in values] for c, values in cols.items()}
        text = json.dumps(canon, sort_keys=True)
        out[name] = hashlib.sha256(text.encode()).hexdigest()[:16]
    out["outcome"] = repr(model.outcome)
    return out


def run_case(params: dict[str, Any], columns: dict[str, list[str]] | None = None) -> dict[str, str]:
    model = build(params)
    model.run()
    return fingerprint(model, columns)


def recorded() -> dict[str, Any]:
    return json.loads(FINGERPRINT.read_text(encoding="utf-8"))


CASES = cases()


@pytest.mark.parametrize("name", sorted(CASES))
def test_frames_match_the_recorded_fingerprint(name: str) -> None:
    data = recorded()
    expected = data["cases"][name]
    # tables may gain columns: each is compared over the columns recorded then
    got = run_case(CASES[name], data["columns"])
    assert got == expected, f"{name}: recorded frames changed"


def test_every_case_is_recorded() -> None:
    assert sorted(recorded()["cases"]) == sorted(CASES)


if __name__ == "__main__":
    if "--write" not in sys.argv:
        sys.exit("usage: test_conformance_fingerprint.py --write")
    FINGERPRINT.parent.mkdir(exist_ok=True)
    probe = build(next(iter(CASES.values())))
    probe.run()
    columns = {
        name: [c for c in cols if not c.startswith("utility_")]
        for name, cols in run_columns(probe).items()
    }
    cases_ = {name: run_case(params, columns) for name, params in sorted(CASES.items())}
    data = {"columns": columns, "cases": cases_}
    FINGERPRINT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {len(data['cases'])} cases to {FINGERPRINT}")
