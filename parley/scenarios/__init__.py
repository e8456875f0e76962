"""Scenarios: the schema, the loader and the built-in YAML files."""

from parley.scenarios.loader import ScenarioError, builtin_names, load_scenario
from parley.scenarios.schema import Authority, Belief, Body, Issue, Party, Protocol, Scenario

__all__ = [
    "Authority",
    "Belief",
    "Body",
    "Issue",
    "Party",
    "Protocol",
    "Scenario",
    "ScenarioError",
    "builtin_names",
    "load_scenario",
]
