"""RunConfig: the one source of a run's parameters (choices, defaults, checks, rows, manifest)."""

from __future__ import annotations

import dataclasses
import inspect
import pickle

import pytest

from parley.config import (
    CHOICES,
    DEFAULT_MODELS,
    LLM_KEYS,
    OPERATIONAL_KEYS,
    PARAMETERS,
    RunConfig,
    uses_llm,
)
from parley.experiments.records import run_summary
from parley.model.model import NegotiationModel


def test_the_model_takes_exactly_the_configs_parameters() -> None:
    model = NegotiationModel(scenario="trading_limits_unified", max_rounds=4, rng=1)
    assert model.config == RunConfig(scenario="trading_limits_unified", max_rounds=4)
    assert set(model.params) == {*PARAMETERS, "rng"}
    assert set(OPERATIONAL_KEYS) <= set(LLM_KEYS) | {"base_url"}
    with pytest.raises(ValueError, match=r"^unknown parameter 'max_round' \(one of: scenario"):
        NegotiationModel(max_round=4)
    # a ready configuration, with keyword overrides
    again = NegotiationModel(RunConfig(policy="solver"), max_rounds=2, rng=0)
    assert (again.config.policy, again.max_rounds) == ("solver", 2)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"policy": "oracle"}, "unknown policy 'oracle' (one of: heuristic, solver, llm)"),
        ({"condition": "calm"}, "unknown condition 'calm'"),
        ({"turn_order": "random"}, "unknown turn order 'random'"),
        ({"backend": "gemini"}, "unknown backend 'gemini' (one of: embedded, openai)"),
        ({"cache": "sometimes"}, "unknown cache mode 'sometimes'"),
        ({"server": "tgi"}, "unknown server kind 'tgi'"),
        ({"max_rounds": 0}, "max_rounds must be at least 1, got 0"),
        ({"max_concurrency": 0}, "max_concurrency must be at least 1, got 0"),
        ({"history_window": -1}, "history_window must be at least 0, got -1"),
        ({"temperature": float("nan")}, "temperature must be between 0 and 5"),
        ({"timeout": 0}, "timeout must be a positive number of seconds"),
    ],
)
def test_bad_values_are_one_line(params: dict, message: str) -> None:
    with pytest.raises(ValueError) as err:
        RunConfig(**params)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_the_default_model_depends_on_the_backend() -> None:
    assert RunConfig().model == DEFAULT_MODELS["embedded"]
    assert RunConfig(backend="openai").model == DEFAULT_MODELS["openai"]
    assert RunConfig(backend="openai", model="m").model == "m"


def test_uses_llm_is_one_answer_everywhere() -> None:
    assert not RunConfig().uses_llm and not uses_llm({"policy": "solver"})
    assert RunConfig(policy="llm").uses_llm and RunConfig(authority="llm").uses_llm
    assert uses_llm({"authority": "llm"})
    # records agree: a run whose only LLM is the authority reports its backend and model
    from parley.llm.fakes import ScriptedLLM

    llm = ScriptedLLM(default={"ruling": "Fifty.", "value": 50})
    model = NegotiationModel(policy="solver", authority="llm", llm=llm, max_rounds=1, rng=0)
    model.run()
    row = run_summary(model)
    assert (row["backend"], row["model"]) == ("embedded", DEFAULT_MODELS["embedded"])
    plain = NegotiationModel(policy="solver", max_rounds=1, rng=0)
    plain.run()
    assert (run_summary(plain)["backend"], run_summary(plain)["model"]) == ("none", "none")


def test_a_runs_row_rebuilds_the_configuration(tmp_path) -> None:
    scenario = tmp_path / "mine.yaml"
    from parley.scenarios.loader import BUILTIN_DIR

    scenario.write_text((BUILTIN_DIR / "grid_curtailment.yaml").read_text())
    config = RunConfig(
        scenario=str(scenario), policy="heuristic", turn_order="sequential", max_rounds=4
    )
    model = NegotiationModel(config, rng=3)
    model.run()
    row = run_summary(model)
    assert row["scenario"] == model.spec.name and row["scenario_file"] == str(scenario)
    assert row["max_rounds"] == 4 and row["history_window"] == model.history_window
    back = RunConfig.from_row(row)
    assert back.replace(history_window=None) == config.replace(scenario=str(scenario.resolve()))
    rerun = NegotiationModel(back, rng=3)
    rerun.run()
    assert rerun.outcome == model.outcome


def test_manifest_round_trip_and_pickle() -> None:
    config = RunConfig(policy="llm", backend="openai", base_url="http://127.0.0.1:9/v1")
    assert RunConfig.from_manifest({**config.to_manifest(), "rng": 4, "future": 1}) == config
    assert pickle.loads(pickle.dumps(config)) == config
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.policy = "solver"  # type: ignore[misc]


def test_every_choice_list_is_declared_once() -> None:
    from parley.agents import factory
    from parley.cli import options
    from parley.experiments import grid
    from parley.llm import cache, choices
    from parley.viz import params

    assert CHOICES["policy"] is factory.POLICIES and CHOICES["backend"] is choices.BACKENDS
    assert CHOICES["cache"] is cache.CACHE_MODES
    for module in (options, grid, params):
        source = inspect.getsource(module)
        assert '("embedded", "openai")' not in source and "qwen2.5-0.5b" not in source
