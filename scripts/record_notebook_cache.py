"""Record the LLM replay cache that notebooks 02 and 03 ship with.

Runs one short negotiation per reflection condition with the default embedded offline model
(``parley.llm.weights.DEFAULT_MODEL``), recording every call into
``notebooks/data/reflection_cache.sqlite``, then replays each run from the cache alone and
checks that the frames are identical. The parameters are written next to the cache in
``reflection_cache.json``; the notebooks read them from there, because a replay only hits
when every parameter that reaches a request (scenario, seed, rounds, temperature, model, the
prompts themselves) is the one recorded.

Re-record after changing a prompt template or the grammar (the notebook test then fails
with a cache miss)::

    .venv/bin/python scripts/record_notebook_cache.py          # ~20 min on 2 cores

On a busy machine, record the conditions in parallel processes and then assemble the
manifest (every answer is then replayed from the cache)::

    for c in none none_budget bounded private_memo private_persona; do
        .venv/bin/python scripts/record_notebook_cache.py --resume --conditions $c &
    done; wait
    .venv/bin/python scripts/record_notebook_cache.py --resume

``native`` is skipped: the embedded model has no reasoning mode (CapabilityError).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from parley.experiments.records import run_frames
from parley.llm.interface import CapabilityError
from parley.llm.weights import DEFAULT_MODEL
from parley.model.model import NegotiationModel

DATA = Path(__file__).resolve().parent.parent / "notebooks" / "data"
CACHE = DATA / "reflection_cache.sqlite"
MANIFEST = DATA / "reflection_cache.json"
CONDITIONS = ("none", "none_budget", "bounded", "private_memo", "private_persona", "native")
PARAMS: dict[str, Any] = {
    "scenario": "grid_curtailment",
    "policy": "llm",
    "backend": "embedded",
    "model": DEFAULT_MODEL,
    "max_rounds": 3,
    "temperature": 0.8,
    "turn_order": "simultaneous",
    "authority": "rule",
}
SEED = 7


def model_for(condition: str, cache: str, cache_path: Path, params: dict[str, Any]):
    return NegotiationModel(
        **params, condition=condition, cache=cache, cache_path=str(cache_path), rng=SEED
    )


def comparable(model: NegotiationModel) -> dict[str, pd.DataFrame]:
    """The run's frames without the columns that legitimately differ on replay."""
    frames = run_frames(model)
    out = {}
    for name, frame in frames.items():
        drop = [c for c in ("cached", "cached_calls") if c in frame.columns]
        out[name] = frame.drop(columns=drop).reset_index(drop=True)
    return out


def record(condition: str, params: dict[str, Any], mode: str = "record") -> dict[str, Any]:
    start = time.perf_counter()
    model = model_for(condition, mode, CACHE, params)
    model.run(on_round=lambda m: print(f"  {condition}: round {m.round} done", flush=True))
    seconds = time.perf_counter() - start
    replayed = model_for(condition, "replay", CACHE, params)
    replayed.run()
    recorded_frames, replay_frames = comparable(model), comparable(replayed)
    for name, frame in recorded_frames.items():
        pd.testing.assert_frame_equal(frame, replay_frames[name], obj=f"{condition}/{name}")
    outcome = model.outcome
    return {
        "condition": condition,
        "rounds": model.round,
        "outcome": outcome.kind if outcome else None,
        "trigger": outcome.trigger if outcome else None,
        "value": outcome.value if outcome else None,
        "seconds": round(seconds, 1),
    }


def finish(path: Path) -> None:
    """Fold the write-ahead log into the file, so the shipped cache is one file."""
    conn = sqlite3.connect(path, timeout=120)  # parallel recorders may be writing
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("VACUUM")
    conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=CONDITIONS)
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the answers already recorded (an interrupted recording, or conditions "
        "recorded by parallel processes) and add the runs to the manifest",
    )
    args = parser.parse_args(argv)
    DATA.mkdir(parents=True, exist_ok=True)
    if set(args.conditions) == set(CONDITIONS) and not args.resume:
        CACHE.unlink(missing_ok=True)  # a full re-record starts clean: no stale entries
    runs, refused = [], {}
    for condition in args.conditions:
        print(f"recording {condition} ...", flush=True)
        try:
            runs.append(record(condition, PARAMS, "auto" if args.resume else "record"))
        except CapabilityError as err:
            refused[condition] = str(err)
            print(f"  {condition}: refused ({err})", flush=True)
    finish(CACHE)
    if args.resume and MANIFEST.exists():  # read last: parallel processes finish in turn
        old = json.loads(MANIFEST.read_text())
        if old.get("params") == PARAMS and old.get("seed") == SEED:
            runs += [r for r in old["runs"] if r["condition"] not in args.conditions]
            refused |= {c: r for c, r in old["refused"].items() if c not in args.conditions}
    runs.sort(key=lambda r: CONDITIONS.index(r["condition"]))
    manifest = {
        "params": PARAMS,
        "seed": SEED,
        "cache": CACHE.name,
        "conditions": [r["condition"] for r in runs],
        "refused": refused,
        "runs": runs,
    }
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
    print(json.dumps(runs, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
