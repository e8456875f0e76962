"""Execute the teaching notebooks and save them WITH their outputs (one command).

    .venv/bin/python scripts/execute_notebooks.py            # every notebook
    .venv/bin/python scripts/execute_notebooks.py 04_play_a_seat.ipynb

The notebooks are committed with outputs so their figures and tables show on the
repository page without running anything; ``tests/test_notebooks.py`` re-executes them and
checks the committed outputs are current. Run this after changing a notebook, the prompts,
the shipped recordings, or anything a notebook prints. Offline: notebook 02/03 replay the
shipped LLM cache (``notebooks/data``), nothing calls a model.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
TIMEOUT_S = 300
#: Figures are shown inline, as in Jupyter, so the saved notebook carries them.
INLINE = "module://matplotlib_inline.backend_inline"


def execute(path: Path) -> nbformat.NotebookNode:
    """The notebook at ``path`` executed in a fresh kernel, with ``notebooks/`` as its cwd."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=TIMEOUT_S,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()
    for cell in nb.cells:  # execution metadata (timestamps) would churn every commit
        cell.metadata.pop("execution", None)
    return nb


def main(names: list[str]) -> int:
    os.environ["MPLBACKEND"] = INLINE
    paths = [NOTEBOOKS / n for n in names] if names else sorted(NOTEBOOKS.glob("*.ipynb"))
    for path in paths:
        start = time.perf_counter()
        nb = execute(path)
        nbformat.write(nb, path)
        print(f"{path.relative_to(ROOT)}: executed in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
