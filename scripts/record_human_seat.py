"""Record the human-seat runs notebook 04 ships with (``notebooks/data/human_seat/``).

A *scripted stand-in* for a person plays the grid operator's seat against heuristic
negotiators, through the same :class:`~parley.agents.human.HumanPolicy` and grammar a
person at ``parley run --seat operator=human`` uses (its entries are typed lines, and a
refused entry is asked again). Its habits are those of a cautious operator: open near its
ideal with a reason, give ground in small steps toward the table, back a party whose
position it can live with, accept a standing proposal inside its acceptable zone, never
escalate. It is NOT human data: it only shows the workflow. Replace it with your own
sessions (``parley run --seat operator=human --out human/<you>``) to measure a model
against people.

    .venv/bin/python scripts/record_human_seat.py      # a few seconds

Each session is a results directory ``notebooks/data/human_seat/seed-<n>``; notebook 04
replays one exactly and compares them all with the models' runs.
"""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path

from parley.agents.human import MoveRequest
from parley.experiments.manifest import build_manifest
from parley.experiments.records import run_frames
from parley.experiments.storage import write_results
from parley.model.model import NegotiationModel

DATA = Path(__file__).resolve().parent.parent / "notebooks" / "data" / "human_seat"
PARAMS = {"scenario": "grid_curtailment", "policy": "heuristic", "seats": "operator=human"}
SEEDS = (7, 8, 9)
SEAT = "operator"


def cautious_operator(request: MoveRequest) -> str:
    """One typed line per request, like a person reading the table."""
    obs = request.observation
    me, lo, hi = obs.position, obs.party.reservation, 70.0
    others = statistics.median(v for p, v in obs.positions.items() if p != obs.me)
    if request.error is not None:  # refused (e.g. a concession that does not concede)
        return "hold Let me think about where the others are."
    if obs.round == 1:
        return "propose 60 Industrial sites can be dropped in minutes; 60% keeps the plan callable."
    if obs.standing is not None and abs(obs.standing - me) < 0.5 and obs.round >= 3:
        return "hold We are where the table is; the others should join."
    if obs.standing is not None and lo <= obs.standing <= hi and obs.round >= 3:
        return f"accept {obs.standing:g} works for the control room; let us lock it in."
    close = [p for p, v in obs.positions.items() if p != obs.me and lo <= v <= hi]
    if obs.round == 2 and close:
        target = min(close, key=lambda p: abs(obs.positions[p] - me))
        return f"support {target} Their number is one we can dispatch tonight."
    step = round(me + (others - me) * 0.4)
    if step == round(me):
        return "hold We have moved; now it is your turn."
    return f"concede {step} We can move toward you to get a plan out in time."


def record(seed: int) -> Path:
    model = NegotiationModel(**PARAMS, rng=seed, human={SEAT: cautious_operator})
    model.run()
    folder = DATA / f"seed-{seed}"
    if folder.exists():
        shutil.rmtree(folder)
    manifest = build_manifest(
        "run",
        {**PARAMS, "rng": seed},
        recording="scripted stand-in for a person (scripts/record_human_seat.py)",
    )
    write_results(folder, run_frames(model), manifest)
    out = model.outcome
    print(
        f"seed {seed}: {out.kind if out else None} at {out.value if out else None} "
        f"after {model.round} rounds -> {folder}"
    )
    return folder


if __name__ == "__main__":
    for s in SEEDS:
        record(s)
