"""The teaching notebooks run top to bottom, offline, fast, and leave the repository clean.

They execute in a fresh kernel of this interpreter (the venv's ipykernel registers the
``python3`` kernel, whose ``python`` jupyter_client resolves to ``sys.executable``), with
``notebooks/`` as the working directory, as Jupyter would run them. Notebook 02 replays the
shipped LLM cache (``notebooks/data``); if a prompt template or the grammar changed since it
was recorded, the replay misses and this test says how to re-record.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
DATA = NOTEBOOKS / "data"
BUDGET_S = 120  # each notebook must run in under two minutes
NAMES = [
    "01_first_negotiation.ipynb",
    "02_reflection_conditions.ipynb",
    "03_solver_vs_sampler.ipynb",
]


def fingerprint(folder: Path) -> dict[str, str]:
    """Hashes of the shipped files (SQLite's -wal/-shm side files live only while open)."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if not p.name.endswith(("-wal", "-shm"))
    }


def side_files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.name.endswith(("-wal", "-shm"))}


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_offline_and_fast(name, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "agg")
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    before, open_before = fingerprint(DATA), side_files(DATA)
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=BUDGET_S,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as err:
        hint = ""
        if "cache replay miss" in str(err):
            hint = (
                "\nThe prompts changed since notebooks/data was recorded: re-record with "
                ".venv/bin/python scripts/record_notebook_cache.py"
            )
        pytest.fail(f"{name} failed:\n{err}{hint}")
    seconds = time.perf_counter() - start
    assert seconds < BUDGET_S, f"{name} took {seconds:.0f} s"
    assert fingerprint(DATA) == before, "running a notebook changed notebooks/data"
    assert side_files(DATA) <= open_before, "the notebook left the shipped cache open"
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]


@pytest.mark.parametrize("name", NAMES)
def test_notebook_teaches_then_sets_exercises(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    first, last = nb.cells[0], nb.cells[-1]
    assert first.cell_type == "markdown" and "What this notebook teaches" in first.source
    assert last.cell_type == "markdown" and "## Exercises" in last.source
    # Shipped clean: outputs belong to whoever runs it, not to the repository.
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert nb.metadata["kernelspec"]["name"] == "python3"


def test_recorded_cache_matches_its_manifest():
    import json
    import sqlite3

    manifest = json.loads((DATA / "reflection_cache.json").read_text())
    assert "native" not in manifest["conditions"] and "native" in manifest["refused"]
    assert set(manifest["conditions"]) == {
        "none",
        "none_budget",
        "bounded",
        "private_memo",
        "private_persona",
    }
    cache = DATA / manifest["cache"]
    assert cache.stat().st_size < 2_000_000, "keep the shipped cache small"
    conn = sqlite3.connect(f"file:{cache}?immutable=1", uri=True)
    try:
        models = {row[0] for row in conn.execute("SELECT DISTINCT model FROM completions")}
        count = conn.execute("SELECT COUNT(*) FROM completions").fetchone()[0]
    finally:
        conn.close()
    assert models == {manifest["params"]["model"]}
    assert count >= 5 * len(manifest["conditions"])  # one call per negotiator and run, at least
