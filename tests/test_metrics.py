"""Every metric against answers worked out by hand on small hand-built trajectories."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from parley import metrics as m

SPAN = 100.0


def traj(*rows: list[float], parties: str = "abc") -> pd.DataFrame:
    """A trajectory: one row per step (0 = openings), one column per party."""
    return pd.DataFrame(list(rows), columns=list(parties[: len(rows[0])]))


# -- entropies -----------------------------------------------------------------------------------
def test_action_entropy_by_hand() -> None:
    assert m.action_entropy(["hold"] * 4) == 0.0  # all hold: one kind, no uncertainty
    assert m.action_entropy(["propose", "hold"]) == pytest.approx(1.0)  # a tie: one bit
    # p = 1/2, 1/4, 1/4: H = 1/2·1 + 1/4·2 + 1/4·2 = 1.5 bits
    assert m.action_entropy(["hold", "hold", "concede", "escalate"]) == pytest.approx(1.5)
    kinds = ["propose", "concede", "hold", "accept", "support", "escalate"]
    assert m.action_entropy(kinds) == pytest.approx(math.log2(6))  # the maximum, ≈ 2.585
    assert m.action_entropy([]) == 0.0


def test_outcome_classes_and_their_entropy() -> None:
    assert m.outcome_class("compromise", None) == "compromise"
    assert m.outcome_class("authority_decision", "deadline") == "authority_decision:deadline"
    classes = [
        "compromise",
        "compromise",
        "authority_decision:deadline",
        "authority_decision:escalation",
    ]
    assert m.outcome_entropy(classes) == pytest.approx(1.5)  # 1/2, 1/4, 1/4
    assert m.outcome_entropy(["compromise"] * 15) == 0.0


# -- concession arcs -------------------------------------------------------------------------------
def test_one_party_only_conceding_has_an_arc() -> None:
    # a moves 0 -> 20 -> 40 toward b = c = 80 (others' median 80): distances 80, 60, 40.
    t = traj([0, 80, 80], [20, 80, 80], [40, 80, 80])
    assert m.concession_moves(t).to_dict() == {"a": 2, "b": 0, "c": 0}
    # b's others are a and c: median (0+80)/2 = 40 at the start, (40+80)/2 = 60 at the end;
    # b never moves, so it ends 20 closer without conceding: gain 0.2, but no concession.
    assert m.concession_gain(t, SPAN).to_dict() == pytest.approx({"a": 0.4, "b": 0.2, "c": 0.2})
    assert m.has_concession_arc(t, SPAN)


def test_small_concessions_are_not_an_arc() -> None:
    # Two concession moves, but only 8% of the range closer (< 10%).
    t = traj([0, 80, 80], [4, 80, 80], [8, 80, 80])
    assert m.concession_moves(t)["a"] == 2
    assert m.concession_gain(t, SPAN)["a"] == pytest.approx(0.08)
    assert not m.has_concession_arc(t, SPAN)


def test_one_big_concession_is_not_an_arc() -> None:
    t = traj([0, 80, 80], [70, 80, 80], [70, 80, 80])  # one move of 70: gain 0.7, one concession
    assert m.concession_moves(t)["a"] == 1
    assert not m.has_concession_arc(t, SPAN)


def test_all_hold_and_one_round_runs_have_no_arc() -> None:
    hold = traj([10, 50, 90], [10, 50, 90], [10, 50, 90])
    assert m.concession_moves(hold).sum() == 0
    assert m.concession_gain(hold, SPAN).abs().sum() == 0.0
    assert not m.has_concession_arc(hold, SPAN)
    one_round = traj([10, 50, 90], [40, 50, 60])  # big moves, but one round: one move each
    assert m.concession_moves(one_round).to_dict() == {"a": 1, "b": 0, "c": 1}
    assert not m.has_concession_arc(one_round, SPAN)
    assert not m.has_concession_arc(traj([10, 50, 90]), SPAN)  # openings only


def test_a_move_across_the_median_at_equal_distance_is_no_concession() -> None:
    # a at 40, others' median (50+50)/2 = 50; a jumps to 60: distance 10 -> 10, a tie.
    t = traj([40, 50, 50], [60, 50, 50])
    assert m.concession_moves(t)["a"] == 0


# -- trajectory diversity --------------------------------------------------------------------------
def test_trajectory_distance_pads_the_shorter_run() -> None:
    a = traj([0, 100], [10, 90], parties="xy")
    b = traj([0, 100], parties="xy")  # padded to [[0,100],[0,100]]
    # |a - b| = [0, 0, 10, 10]: mean 5, over a span of 100 -> 0.05
    assert m.trajectory_distance(a, b, SPAN) == pytest.approx(0.05)
    assert m.trajectory_distance(a, a, SPAN) == 0.0


def test_trajectory_diversity_is_the_mean_pairwise_distance() -> None:
    a = traj([0, 100], parties="xy")
    b = traj([10, 100], parties="xy")  # d(a,b) = 5/100
    c = traj([0, 80], parties="xy")  # d(a,c) = 10/100, d(b,c) = (10+20)/2/100 = 0.15
    assert m.trajectory_diversity([a, b, c], SPAN) == pytest.approx((0.05 + 0.10 + 0.15) / 3)
    assert math.isnan(m.trajectory_diversity([a], SPAN))  # one run: no pair
    assert math.isnan(m.trajectory_diversity([], SPAN))  # empty cell
    with pytest.raises(ValueError, match="different parties"):
        m.trajectory_diversity([a, traj([0, 1], parties="xz")], SPAN)


def test_trajectories_from_an_agents_table() -> None:
    agents = pd.DataFrame(
        {
            "run_id": ["r1"] * 4 + ["r2"] * 2,
            "Step": [0.0, 0.0, 1.0, 1.0, 0.0, 0.0],
            "party": ["y", "x", "y", "x", "x", "y"],
            "position": [100, 0, 90, 10, 5, 95],
        }
    )
    out = m.trajectories(agents)
    assert out["r1"].to_numpy().tolist() == [[0, 100], [10, 90]]
    assert list(out["r1"].columns) == ["x", "y"]
    assert out["r2"].to_numpy().tolist() == [[5, 95]]
    pd.testing.assert_frame_equal(
        m.trajectory(agents[agents.run_id == "r1"]),
        out["r1"],
        check_names=False,
        check_index_type=False,
    )


# -- rates, intervals, tests -------------------------------------------------------------------
def test_wilson_interval_by_hand() -> None:
    z2 = 1.96**2
    # 5 of 10: p = 0.5; centre (0.5 + z²/20) / (1 + z²/10), half z·sqrt(0.025 + z²/400) / same
    denom = 1 + z2 / 10
    half = 1.96 * math.sqrt(0.5 * 0.5 / 10 + z2 / 400) / denom
    lo, hi = m.wilson_interval(5, 10)
    assert (lo, hi) == pytest.approx(
        ((0.5 + z2 / 20) / denom - half, (0.5 + z2 / 20) / denom + half)
    )
    assert (lo, hi) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    # 15 of 15: the upper end is 1 and the lower (1 + z²/30 - z·sqrt(z²/900)) / (1 + z²/15)
    lo, hi = m.wilson_interval(15, 15)
    assert hi == 1.0
    assert lo == pytest.approx((1 + z2 / 30 - 1.96 * math.sqrt(z2 / 900)) / (1 + z2 / 15))
    assert m.wilson_interval(0, 0) == (0.0, 1.0)  # an empty cell says nothing
    with pytest.raises(ValueError):
        m.wilson_interval(3, 2)


def test_rate_value_and_empty_cell() -> None:
    r = m.rate(3, 4)
    assert (r.k, r.n, r.value) == (3, 4, 0.75)
    assert r.lo < 0.75 < r.hi
    assert math.isnan(m.rate(0, 0).value)


def test_fisher_exact_by_hand() -> None:
    # 15/15 vs 0/15: only this table and its mirror are this extreme, each 1 / C(30, 15).
    assert m.fisher_exact_p(15, 15, 0, 15) == pytest.approx(2 / math.comb(30, 15))
    assert m.fisher_exact_p(1, 2, 1, 2) == pytest.approx(1.0)  # identical groups
    # 2/3 vs 0/3: P(table) = C(3,2)C(3,0)/C(6,2) = 3/15; tables no likelier, k = 0 and 2 of the
    # first column sum 2 -> {0: 3/15, 1: 9/15, 2: 3/15}; p = 3/15 + 3/15 = 0.4
    assert m.fisher_exact_p(2, 3, 0, 3) == pytest.approx(0.4)
    assert math.isnan(m.fisher_exact_p(0, 0, 1, 2))


@pytest.mark.parametrize("n1,n2", [(15, 15), (4, 9), (1, 3)])
def test_fisher_exact_matches_scipy(n1: int, n2: int) -> None:
    from scipy.stats import fisher_exact

    for k1 in range(n1 + 1):
        for k2 in range(n2 + 1):
            expected = fisher_exact([[k1, n1 - k1], [k2, n2 - k2]])[1]
            assert m.fisher_exact_p(k1, n1, k2, n2) == pytest.approx(expected, rel=1e-9)


def test_invalid_turn_rate() -> None:
    assert m.invalid_turn_rate(2, 8) == 0.25
    assert math.isnan(m.invalid_turn_rate(0, 0))


def test_flags_at_their_thresholds() -> None:
    assert m.authority_collapse(0.9) and m.authority_collapse(1.0)
    assert not m.authority_collapse(13 / 15)  # 0.867
    # the paper's DeepSeek-native grid cell: entropy 1.256 bits, concession arcs in 14/15
    # runs, several rounds, 15/15 authority decisions
    assert m.diversity_without_fidelity(1.256, 1.0, 14 / 15, 5.0)
    assert m.diversity_without_fidelity(1.0, 0.9, 0.5, 3.0)  # every threshold is inclusive
    assert not m.diversity_without_fidelity(0.8, 1.0, 1.0, 6.0)  # low entropy: a plain solver
    assert not m.diversity_without_fidelity(1.5, 0.85, 1.0, 6.0)  # settles often enough
    # the solver baseline: varied moves in one round, then escalation — no negotiation
    assert not m.diversity_without_fidelity(1.52, 1.0, 0.0, 1.0)
    assert not m.diversity_without_fidelity(1.52, 1.0, 0.9, 2.0)  # too few rounds
    assert not m.diversity_without_fidelity(1.52, 1.0, 0.4, 6.0)  # too few concession arcs


# -- per-run table ------------------------------------------------------------------------------
def test_run_metrics_on_hand_built_runs() -> None:
    runs = pd.DataFrame(
        {
            "run_id": ["r1", "r2", "r3"],
            "status": ["ok", "ok", "failed"],
            "outcome": ["compromise", "authority_decision", None],
            "trigger": [None, "escalation", None],
            "turns": [6, 3, 0],
            "invalid_turns": [1, 0, 0],
            "issue_min": [0.0, 0.0, 0.0],
            "issue_max": [100.0, 100.0, 100.0],
        }
    )
    moves = pd.DataFrame(
        {
            "run_id": ["r1"] * 6 + ["r2"] * 3,
            "action": ["concede", "hold", "hold", "concede", "hold", "hold"] + ["escalate"] * 3,
        }
    )
    positions = {"r1": [[0, 80, 80], [20, 80, 80], [40, 80, 80]], "r2": [[0, 80, 80]]}
    agents = pd.DataFrame(
        [
            {"run_id": rid, "Step": float(step), "party": party, "position": value}
            for rid, rows in positions.items()
            for step, row in enumerate(rows)
            for party, value in zip("abc", row, strict=True)
        ]
    )
    out = m.run_metrics(runs, moves, agents).set_index("run_id")
    assert out["completed"].to_dict() == {"r1": True, "r2": True, "r3": False}
    assert out.loc["r2", "outcome_class"] == "authority_decision:escalation"
    assert out.loc["r1", "invalid_rate"] == pytest.approx(1 / 6)
    assert math.isnan(out.loc["r3", "invalid_rate"])
    # r1: 2 concede, 4 hold -> -(1/3·log2(1/3) + 2/3·log2(2/3)) ≈ 0.918 bits
    assert out.loc["r1", "action_entropy"] == pytest.approx(
        -(1 / 3 * math.log2(1 / 3) + 2 / 3 * math.log2(2 / 3))
    )
    assert out.loc["r2", "action_entropy"] == 0.0
    assert out["concession_arc"].to_dict() == {"r1": True, "r2": False, "r3": False}
