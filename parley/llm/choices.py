"""The LLM settings' choices and defaults, each in one place (and nothing heavy imported).

:mod:`parley.config` reads these into a run's configuration; the backends and the cache
read them too, so a backend, a cache mode or a default model is declared once.
"""

from __future__ import annotations

from parley.llm.weights import DEFAULT_MODEL

BACKENDS = ("embedded", "openai")
CACHE_MODES = ("off", "record", "replay", "auto")
#: The model a run uses when none is named, per backend.
DEFAULT_MODELS = {"embedded": DEFAULT_MODEL, "openai": "gpt-4o-mini"}


def default_model(backend: str) -> str:
    """The default model of ``backend``; a one-line ValueError for an unknown backend."""
    try:
        return DEFAULT_MODELS[backend]
    except KeyError:
        raise ValueError(f"unknown backend '{backend}' (one of: {', '.join(BACKENDS)})") from None
