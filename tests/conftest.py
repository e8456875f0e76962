"""Shared fixtures, and the rule that heavy tests fail instead of skipping in CI.

Tests marked ``embedded`` or ``browser`` skip locally when the model or the browser is
absent; with ``PARLEY_REQUIRE_HEAVY=1`` (set by ``.ci/run``) such a skip becomes a failure,
so CI can never pass by skipping the tests that matter.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from parley.agents.observation import Decision, Observation
from parley.agents.policy import Policy
from parley.grammar import Action
from parley.model.model import TURN_ORDERS
from parley.scenarios import builtin_names
from parley.scenarios.loader import BUILTIN_DIR

HEAVY_MARKERS = ("embedded", "browser")
SCENARIOS = builtin_names()


def require_heavy() -> bool:
    """Whether heavy tests must run (CI) rather than skip when their resource is absent."""
    return os.environ.get("PARLEY_REQUIRE_HEAVY") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    heavy = [m for m in HEAVY_MARKERS if item.get_closest_marker(m)]
    if report.skipped and heavy and require_heavy():
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"PARLEY_REQUIRE_HEAVY=1 but this {heavy[0]} test skipped: {reason}"


@pytest.fixture(params=SCENARIOS)
def scenario_name(request: pytest.FixtureRequest) -> str:
    """Every built-in scenario, by name."""
    return request.param


@pytest.fixture(params=TURN_ORDERS)
def turn_order(request: pytest.FixtureRequest) -> str:
    """Both turn orders."""
    return request.param


@pytest.fixture
def scenario_data() -> dict:
    """A fresh, mutable copy of a valid scenario (grid_curtailment) as plain YAML data."""
    return yaml.safe_load((BUILTIN_DIR / "grid_curtailment.yaml").read_text(encoding="utf-8"))


@pytest.fixture
def write_scenario(tmp_path: Path):
    """Write scenario data (a mapping, or raw YAML text) to ``tmp_path/<name>.yaml``."""

    def write(data: dict | str, name: str = "scenario") -> Path:
        path = tmp_path / f"{name}.yaml"
        text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        return path

    return write


class ScriptedPolicy:
    """A puppet policy: a scripted action per round, else ``fallback`` (or hold).

    Actions are returned unvalidated, like a buggy or adversarial policy would.
    """

    name = "scripted"

    def __init__(self, script: dict[int, Action], fallback: Policy | None = None) -> None:
        self.script = script
        self.fallback = fallback

    def decide(self, obs: Observation) -> Decision:
        if obs.round in self.script:
            return Decision(action=self.script[obs.round])
        if self.fallback is not None:
            return self.fallback.decide(obs)
        return Decision(action=Action.hold())

    async def adecide(self, obs: Observation) -> Decision:
        return self.decide(obs)


@pytest.fixture
def scripted():
    """``scripted({party: {round: action}}, fallback=None)`` -> a ``policy=`` for the model.

    The key ``"*"`` scripts every party not named; others get an empty script (fallback or
    hold every round).
    """

    def make(scripts: dict[str, dict[int, Action]], fallback: Policy | None = None):
        return lambda party: ScriptedPolicy(scripts.get(party.id, scripts.get("*", {})), fallback)

    return make


def tiny_scenario(ideals: dict[str, float], *, rule: str = "status_quo", **protocol: float) -> dict:
    """A minimal valid scenario on a 0-100 issue with the given parties and protocol."""
    parties = [
        {
            "id": pid,
            "role": pid.title(),
            "public_brief": f"{pid} public brief.",
            "private_brief": f"{pid} private brief.",
            "ideal": ideal,
            "reservation": ideal,
            "process_cost": 0.1,
            "authority_belief": [{"value": 40, "probability": 1.0}],
        }
        for pid, ideal in ideals.items()
    ]
    authority = {"name": "Judge", "description": "Decides.", "rule": rule, "preference": 70}
    if rule == "ambiguous":
        authority["bodies"] = [
            {"id": "low", "name": "Low court", "value": 20, "probability": 0.25},
            {"id": "high", "name": "High court", "value": 80, "probability": 0.75},
        ]
    return {
        "name": "tiny",
        "title": "Tiny",
        "description": "A tiny test scenario.",
        "public_brief": "Test.",
        "issue": {"name": "share", "unit": "%", "min": 0, "max": 100, "status_quo": 40},
        "parties": parties,
        "authority": authority,
        "protocol": protocol,
    }


@pytest.fixture
def tiny(write_scenario):
    """``tiny({party: ideal}, rule=..., **protocol)`` -> path of a written tiny scenario."""

    def make(ideals: dict[str, float], **kw) -> str:
        return str(write_scenario(tiny_scenario(ideals, **kw), name="tiny"))

    return make
