"""The teaching notebooks run top to bottom, offline, fast, and leave the repository clean.

They execute in a fresh kernel of this interpreter (the venv's ipykernel registers the
``python3`` kernel, whose ``python`` jupyter_client resolves to ``sys.executable``), with
``notebooks/`` as the working directory, as Jupyter would run them. Notebook 02 replays the
shipped LLM cache (``notebooks/data``); if a prompt template or the grammar changed since it
was recorded, the replay misses and this test says how to re-record.

The notebooks are committed WITH their outputs (figures and tables visible on the repository
page); the execution test checks that the committed outputs are what the notebook prints
now, up to volatile bits (durations, temporary paths, dates, git revisions). Regenerate them
with ``.venv/bin/python scripts/execute_notebooks.py``.
"""

from __future__ import annotations

import hashlib
import re
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
    "04_play_a_seat.ipynb",
]
REGENERATE = "regenerate with .venv/bin/python scripts/execute_notebooks.py"
#: What legitimately changes between two executions of the same notebook.
VOLATILE = [
    (re.compile(r"\d+(?:\.\d+)? s\b"), "<seconds> s"),
    (re.compile(r"(?:/tmp|/var/folders)/\S*"), "<tmp>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d|Z)?"), "<date>"),
    (re.compile(r"git [0-9a-f]{7,40}(?:-dirty)?|git unknown"), "git <rev>"),
    (re.compile(r"0x[0-9a-f]+"), "<addr>"),
    (re.compile(r"embedded model here: .*"), "embedded model here: <this machine>"),
]


def normalized(text: str) -> str:
    for pattern, stand_in in VOLATILE:
        text = pattern.sub(stand_in, text)
    return text


def output_signature(nb: nbformat.NotebookNode) -> list[list[tuple[str, str]]]:
    """Per code cell, its outputs as (kind, normalized text): streams and text/plain results
    by content, rich displays (figures) by their MIME types."""
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outs = []
        for out in cell.get("outputs", []):
            kind = out.get("output_type")
            if kind == "stream":
                outs.append((f"stream:{out.name}", normalized(out.text)))
            elif kind in ("execute_result", "display_data"):
                data = out.get("data", {})
                text = data.get("text/plain", "") if "image/png" not in data else ""
                outs.append((",".join(sorted(data)), normalized(text)))
            else:
                outs.append((str(kind), ""))
        cells.append(_merged_streams(outs))
    return cells


def _merged_streams(outs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Consecutive chunks of one stream joined (how output is chunked is timing)."""
    merged: list[tuple[str, str]] = []
    for kind, text in outs:
        if merged and kind.startswith("stream:") and merged[-1][0] == kind:
            merged[-1] = (kind, merged[-1][1] + text)
        else:
            merged.append((kind, text))
    return merged


def fingerprint(folder: Path) -> dict[str, str]:
    """Hashes of the shipped files (SQLite's -wal/-shm side files live only while open)."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.endswith(("-wal", "-shm"))
    }


def side_files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.name.endswith(("-wal", "-shm"))}


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_offline_and_fast(name, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")  # as saved
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    committed = output_signature(nb)
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
    now = output_signature(nb)
    for i, (old, new) in enumerate(zip(committed, now, strict=True)):
        assert old == new, f"{name}: code cell {i} prints something else now; {REGENERATE}"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_teaches_then_sets_exercises(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    first, last = nb.cells[0], nb.cells[-1]
    assert first.cell_type == "markdown" and "What this notebook teaches" in first.source
    assert last.cell_type == "markdown" and "## Exercises" in last.source
    # Shipped with outputs: the figures and tables show without running anything.
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert sum(1 for c in code if c.get("outputs")) >= len(code) // 2, REGENERATE
    kinds = {o.get("output_type") for c in code for o in c.get("outputs", [])}
    assert "error" not in kinds
    if any("plt." in c.source or "fig" in c.source for c in code):  # its figures show too
        assert any("image/png" in o.get("data", {}) for c in code for o in c.get("outputs", []))
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
