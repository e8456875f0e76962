"""The manifest written beside every result: parameters, versions, git revision."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import platform
import subprocess
from pathlib import Path
from typing import Any

_PACKAGES = (
    "parley",
    "mesa",
    "numpy",
    "pandas",
    "pyarrow",
    "networkx",
    "pydantic",
    "openai",
    "llama_cpp_python",
    "solara",
)


def versions() -> dict[str, str | None]:
    """Installed versions of parley and the packages its results depend on."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name.replace("_", "-"))
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_revision() -> str | None:
    """The git revision of the parley checkout, with ``-dirty`` if it has local changes."""
    root = Path(__file__).resolve().parents[2]
    try:
        rev = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev + ("-dirty" if dirty else "")


def build_manifest(kind: str, parameters: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A JSON-ready manifest; ``parameters`` must hold no secrets (keys are never passed)."""
    return {
        "kind": kind,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "parameters": parameters,
        "versions": versions(),
        "git_revision": git_revision(),
        **extra,
    }
