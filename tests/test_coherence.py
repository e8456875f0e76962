"""The coherence screen (parley.coherence): each measure on constructed moves, the whole screen
against a hand-labelled set of real moves of the embedded 0.5B model, and the rule-based
baselines.

``tests/data/coherence_labels.csv`` holds the 75 moves of the notebook recording made with
the first prompts (grid_curtailment, seed 7, five conditions, ``qwen2.5-0.5b``; exported by
``scripts/export_label_moves.py``; the shipped recording was re-made with the coherent
prompts, whose messages the screen rarely flags), each labelled by a person reading it
against the party's brief. The labels are the meaning of the measures, the functions are
mechanical approximations: precision and recall are printed (``pytest -s``) and bounded
below here."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from parley import coherence as c
from parley.experiments.records import run_frames
from parley.model.model import NegotiationModel
from parley.scenarios.loader import load_scenario

LABELS = Path(__file__).parent / "data" / "coherence_labels.csv"
GRID = load_scenario("grid_curtailment")
PARTY = {p.id: p for p in GRID.parties}
SCENARIOS = ("grid_curtailment", "trading_limits_fragmented", "trading_limits_unified")
#: What the measures reach on the labelled set (see docs/concepts.md); a change to a measure
#: that lowers one of these is a regression.
FLOORS = {
    "leak": (0.95, 0.75),
    "recite": (0.95, 0.95),
    "self_harm": (0.95, 0.95),
    "mismatch": (0.6, 0.95),
    "incoherent": (0.9, 0.9),
}


def screened_labels() -> tuple[pd.DataFrame, pd.DataFrame]:
    labels = pd.read_csv(LABELS)
    moves = labels.drop(columns=list(c.MEASURES))
    screened = pd.concat(
        [c.move_coherence(g, GRID).set_index(g.index) for _, g in moves.groupby("condition")]
    ).loc[labels.index]
    labels["incoherent"] = labels[list(c.MEASURES)].any(axis=1).astype(int)
    return labels, screened


def precision_recall(truth: pd.Series, found: pd.Series) -> tuple[float, float, int, int, int]:
    tp = int((found & truth).sum())
    fp = int((found & ~truth).sum())
    fn = int((~found & truth).sum())
    return tp / max(1, tp + fp), tp / max(1, tp + fn), tp, fp, fn


def test_the_labelled_set_is_real_moves_and_large_enough():
    labels = pd.read_csv(LABELS)
    assert len(labels) >= 60
    assert set(labels.condition) == {
        "none",
        "none_budget",
        "bounded",
        "private_memo",
        "private_persona",
    }
    for measure in c.MEASURES:
        assert set(labels[measure]) <= {0, 1}
        assert labels[measure].sum() > 0, f"no positive example of {measure}"


def test_measures_against_the_hand_labels():
    labels, screened = screened_labels()
    lines = [f"coherence screen vs {len(labels)} hand-labelled moves:"]
    for measure, (min_p, min_r) in FLOORS.items():
        truth = labels[measure].astype(bool)
        p, r, tp, fp, fn = precision_recall(truth, screened[measure].astype(bool))
        lines.append(
            f"  {measure:<10} positives {int(truth.sum()):>2}  precision {p:.2f}  "
            f"recall {r:.2f}  (tp {tp}, fp {fp}, fn {fn})"
        )
        assert p >= min_p and r >= min_r, "\n".join(lines)
    print("\n".join(lines))


# -- each measure on constructed moves --------------------------------------------------------
def test_numbers_are_read_with_their_unit():
    found = c.numbers_in("We propose 55% (825 MW), 18:00-22:00, cost 1,500 and 0.8")
    assert [(n.value, n.unit) for n in found] == [
        (55.0, "%"),
        (825.0, "mw"),
        (1500.0, "and"),
        (0.8, ""),
    ]


def test_leak_needs_a_private_number_not_yet_public():
    retail, texts = PARTY["retail"], c.public_text_numbers(GRID)
    table = {65.0, 55.0, 20.0, 80.0, 50.0, 40.0}
    assert c.leaks("We can accept anything from 45% upward.", retail, table, texts, 100)
    assert c.leaks("The Regulator will impose 50 (70%).", retail, table, texts, 100)
    assert not c.leaks("We propose 55: fair to all.", retail, table, texts, 100)
    # 45 is on the table once retail stands there; "45 minutes" in the public brief does not
    # make 45% public, but "45 minutes" itself is public
    assert not c.leaks("We accept 45%.", retail, table | {45.0}, texts, 100)
    assert not c.leaks("Outages of about 45 minutes per feeder.", retail, table, texts, 100)
    # the ideal is public from round 1 (everyone opens at it)
    assert not c.leaks("We want 65.", retail, table, texts, 100)


def test_recitation_is_eight_consecutive_words_of_a_brief():
    briefs = c.seen_briefs(GRID, PARTY["city"])
    seven = "Your crews are thin tonight; each extra"
    assert not c.recites(f"Sadly {seven} matters.", briefs)
    assert c.recites(f"{seven} 100 MW hurts.", briefs)  # eight words, punctuation ignored
    assert c.recites("Load must be shed. The issue is the share of the 1,500 MW", briefs)
    assert not c.recites("Every party should move toward the middle so we settle now.", briefs)


def test_self_harm_cases():
    industry = PARTY["industry"]  # ideal 20, reservation 50, fears at worst 40 (+5)
    # over-reach: proposing 10 when everyone else wants more than 20
    assert c.self_harm("propose", 20, 10, 55, industry, 100, tolerance=4)
    assert not c.self_harm("propose", 20, 17, 55, industry, 100, tolerance=4)  # an anchor
    # past the reservation with no threat to justify it
    assert c.self_harm("concede", 45, 60, 55, industry, 100)
    assert c.self_harm("accept", 25, 55, 55, industry, 100)
    assert not c.self_harm("accept", 80, 55, 55, industry, 100)  # back toward its ideal
    # a concession away from the others: farther from its ideal, no closer to them
    assert c.self_harm("propose", 52, 40, 47, PARTY["operator"], 100)
    assert not c.self_harm("concede", 20, 30, 55, industry, 100)  # a real concession
    critical = PARTY["critical"]  # ideal 80, reservation 45, fears 40 (+5): worst 45 away
    assert not c.self_harm("concede", 50, 40, 40, critical, 100)  # feared order justifies 40
    assert c.self_harm("concede", 50, 30, 20, critical, 100)  # past even the feared order


def test_mismatch_needs_the_message_to_state_its_own_value():
    assert c.mismatch("propose", 55, "We propose 60 as a fair split.", 0, 100)
    assert not c.mismatch("propose", 55, "We propose 55; industry's 20 is too low.", 0, 100)
    assert not c.mismatch("concede", 50, "The Regulator will impose 80%.", 0, 100)
    assert c.mismatch("hold", 80, "I will hold the share at 20% tonight.", 0, 100)
    assert not c.mismatch("propose", 55, "We can shed 600 MW.", 0, 100)  # another quantity
    assert not c.mismatch("escalate", None, "We want 30.", 0, 100)


def test_move_coherence_marks_each_move():
    moves = pd.DataFrame(
        {
            "round": [1, 1, 2, 2],
            "party": ["operator", "industry", "operator", "industry"],
            "action": ["propose", "hold", "propose", "hold"],
            "value": [55.0, None, 52.0, None],
            "message": [
                "We propose 55, fast to execute.",
                "We could live with 50 at most.",
                "We propose 58.",
                "Each 100 MW of curtailment costs your members roughly EUR 1.2 million",
            ],
            "position_before": [55.0, 20.0, 55.0, 20.0],
            "position_after": [55.0, 20.0, 52.0, 20.0],
        }
    )
    out = c.move_coherence(moves, GRID)
    assert out.leak.tolist() == [False, True, False, True]
    assert out.mismatch.tolist() == [False, False, True, False]
    assert out.recite.tolist() == [False, False, False, True]
    assert out.incoherent.tolist() == [False, True, True, True]


# -- the baselines --------------------------------------------------------------------------
@pytest.mark.parametrize("policy", ["heuristic", "solver"])
def test_rule_based_baselines_are_coherent(policy):
    screened = []
    for name in SCENARIOS:
        spec = load_scenario(name)
        for seed in range(15):
            model = NegotiationModel(scenario=name, policy=policy, rng=seed)
            model.run()
            screened.append(c.move_coherence(run_frames(model)["moves"], spec))
    moves = pd.concat(screened)
    assert moves.leak.sum() == 0 and moves.recite.sum() == 0 and moves.mismatch.sum() == 0
    assert moves.self_harm.mean() <= 0.05, f"self-harm {moves.self_harm.mean():.1%}"
