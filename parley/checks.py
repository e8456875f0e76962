"""Conformance checks for any negotiation, in the spirit of PettingZoo's ``api_test``.

Each helper raises :class:`AssertionError` with a message saying what broke, so it can be
called from a test, a notebook or a new scenario's author's shell alike:

>>> from parley.checks import check_deterministic
>>> check_deterministic({"scenario": "grid_curtailment", "policy": "heuristic"}, seed=3)
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from typing import Any

import pandas as pd

from parley.agents.authority import AuthorityAgent
from parley.agents.negotiator import NegotiatorAgent
from parley.grammar import (
    ACTION_KINDS,
    MAX_MESSAGE_WORDS,
    ActionKind,
    InvalidAction,
    TableView,
    validate_action,
)
from parley.model.model import NegotiationModel
from parley.model.table import standing_proposal


def run_model(params: Mapping[str, Any], seed: Any) -> NegotiationModel:
    """Build a model from ``params`` (without ``rng``) and the seed, and run it to the end."""
    model = NegotiationModel(**{k: v for k, v in params.items() if k != "rng"}, rng=seed)
    model.run()
    return model


def frames(model: NegotiationModel) -> dict[str, pd.DataFrame]:
    """The recorded frames of a model: model and agent-type reporters, moves and calls."""
    dc = model.datacollector
    return {
        "model": dc.get_model_vars_dataframe(),
        "agents": dc.get_agenttype_vars_dataframe(NegotiatorAgent),
        "authority": dc.get_agenttype_vars_dataframe(AuthorityAgent),
        "moves": dc.get_table_dataframe("moves"),
        # Latency is wall time, the one recorded value that may differ between reruns.
        "calls": dc.get_table_dataframe("calls").drop(columns=["latency_s"], errors="ignore"),
    }


def assert_same_run(a: NegotiationModel, b: NegotiationModel) -> None:
    """Assert two finished models recorded identical frames and reached the same outcome."""
    assert a.outcome == b.outcome, f"outcomes differ: {a.outcome} vs {b.outcome}"
    fa, fb = frames(a), frames(b)
    for name in fa:
        try:
            pd.testing.assert_frame_equal(fa[name], fb[name])
        except AssertionError as err:
            raise AssertionError(f"the {name} frames differ: {err}") from None


def check_deterministic(params: Mapping[str, Any], seed: Any = 0) -> NegotiationModel:
    """Two models built from the same parameters and seed record identical runs.

    Returns the first model (finished) for further checks.
    """
    first = run_model(params, seed)
    assert_same_run(first, run_model(params, seed))
    return first


def check_picklable(params: Mapping[str, Any], seed: Any = 0) -> None:
    """The parameters survive a pickle round trip, and so do a fresh model's ``params``.

    A model built from the unpickled parameters behaves exactly like one built from the
    originals (this is what ``batch_run`` and process pools rely on).
    """
    restored = pickle.loads(pickle.dumps(dict(params)))
    assert restored == dict(params), f"parameters changed in a pickle round trip: {restored}"
    fresh = NegotiationModel(**{k: v for k, v in params.items() if k != "rng"}, rng=seed)
    model_params = pickle.loads(pickle.dumps(fresh.params))
    assert model_params == fresh.params, "the model's params changed in a pickle round trip"
    assert_same_run(run_model(params, seed), run_model(model_params, model_params["rng"]))


def check_grammar_conformance(model: NegotiationModel) -> dict[str, int]:
    """Every recorded move is a valid grammar action that was applied as the grammar says.

    Replays the history from the opening positions: each move is validated against the
    table its party saw (the round's start in simultaneous order, the running table in
    sequential order), its effect on the position is checked, and invalid turns must be
    recorded as ``hold`` and counted on the agent. Returns ``{"turns", "invalid"}``.
    """
    issue = model.spec.issue
    positions = {p.id: p.ideal for p in model.spec.parties}
    invalid: dict[str, int] = dict.fromkeys(positions, 0)
    turns = 0
    for round_no, moves in enumerate(model.history, start=1):
        parties = sorted(m.party for m in moves)
        assert parties == sorted(positions), f"round {round_no}: not one move per party"
        start = dict(positions)
        for move in moves:
            seen = start if model.turn_order == "simultaneous" else dict(positions)
            where = f"round {round_no}, {move.party}"
            assert move.round == round_no, f"{where}: recorded as round {move.round}"
            assert move.position_before == positions[move.party], f"{where}: wrong before"
            _check_move(move, seen, issue.min, issue.max, where)
            if not move.valid:
                invalid[move.party] += 1
            positions[move.party] = move.position_after
            turns += 1
    _check_recorded(model, turns, invalid)
    return {"turns": turns, "invalid": sum(invalid.values())}


def _check_move(move, seen: dict[str, float], lo: float, hi: float, where: str) -> None:
    """One move: valid against what its party saw, and applied as its kind says."""
    action = move.action
    assert action.kind.value in ACTION_KINDS, f"{where}: unknown action {action.kind!r}"
    assert len(action.message.split()) <= MAX_MESSAGE_WORDS, f"{where}: message too long"
    assert lo <= move.position_after <= hi, f"{where}: position {move.position_after} off range"
    if not move.valid:
        assert action.kind == ActionKind.HOLD, f"{where}: an invalid turn must become hold"
    standing, _ = standing_proposal(seen)
    view = TableView(lo=lo, hi=hi, me=move.party, positions=seen, standing=standing)
    try:
        validate_action(action, view)
    except InvalidAction as err:
        raise AssertionError(f"{where}: {action.describe()} breaks the grammar: {err}") from None
    match action.kind:
        case ActionKind.PROPOSE | ActionKind.CONCEDE:
            expected = action.value
        case ActionKind.ACCEPT:
            expected = standing
        case ActionKind.SUPPORT:
            expected = seen[action.target]  # type: ignore[index]
        case _:
            expected = move.position_before
    assert move.position_after == expected, f"{where}: {action.describe()} moved to the wrong value"


def _check_recorded(model: NegotiationModel, turns: int, invalid: dict[str, int]) -> None:
    """The moves table and the agents' counters agree with the replayed history."""
    table = model.datacollector.get_table_dataframe("moves")
    assert len(table) == turns, f"moves table has {len(table)} rows for {turns} turns"
    if turns:
        assert set(table["action"]) <= set(ACTION_KINDS), "moves table has unknown actions"
        counted = (~table["valid"].astype(bool)).groupby(table["party"]).sum()
        for party, n in invalid.items():
            assert int(counted.get(party, 0)) == n, f"{party}: invalid turns not in the table"
    for agent in model.negotiators:
        n = invalid[agent.party_id]
        assert agent.invalid_turns == n, f"{agent.party_id}: {agent.invalid_turns} invalid, not {n}"
