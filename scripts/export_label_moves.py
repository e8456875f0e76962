"""Export the moves of the shipped recording for hand-labelling the coherence screen.

Replays ``notebooks/data/reflection_cache.sqlite`` (grid_curtailment, seed 7, every recorded
condition) and writes one row per move to ``tests/data/coherence_labels.csv``, keeping any
labels already in that file for the same moves. Labels are never carried over to moves of
another recording (after the prompts changed, say): then it refuses and names the file, and
you write the new recording's moves to another ``--out``. The labels — ``leak``,
``recite``, ``self_harm``, ``mismatch``, 0 or 1 — are filled in by a person reading each move
against the party's brief; ``tests/test_coherence.py`` compares :mod:`parley.coherence` with
them::

    .venv/bin/python scripts/export_label_moves.py [--cache PATH] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from parley.experiments.records import run_frames
from parley.model.model import NegotiationModel

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "notebooks" / "data"
OUT = ROOT / "tests" / "data" / "coherence_labels.csv"
KEY = ["condition", "round", "party"]
COLUMNS = [*KEY, "action", "value", "position_before", "position_after", "message"]
LABELS = ["leak", "recite", "self_harm", "mismatch"]


def replayed_moves(cache: Path, manifest: dict) -> pd.DataFrame:
    frames = []
    for condition in manifest["conditions"]:
        model = NegotiationModel(
            **manifest["params"],
            condition=condition,
            cache="replay",
            cache_path=str(cache),
            rng=manifest["seed"],
        )
        model.run()
        moves = run_frames(model)["moves"].assign(condition=condition)
        frames.append(moves[COLUMNS])
    return pd.concat(frames, ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=DATA / "reflection_cache.sqlite")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    manifest = json.loads((args.cache.parent / "reflection_cache.json").read_text())
    moves = replayed_moves(args.cache, manifest)
    if args.out.exists():
        old = pd.read_csv(args.out)
        same = moves[COLUMNS].astype(str).equals(old[COLUMNS].astype(str))
        if not same:
            sys.exit(
                f"{args.out} labels the moves of another recording (the moves differ): "
                "write these to another --out"
            )
        moves = moves.merge(old[KEY + LABELS], on=KEY, how="left")
    for label in LABELS:
        if label not in moves.columns:
            moves[label] = pd.NA
    moves.to_csv(args.out, index=False)
    print(f"{len(moves)} moves -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
