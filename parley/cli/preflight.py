"""Checks made before a command starts runs: is the LLM server reachable, the cache usable?

Without this check a run against a mistyped or stopped ``--base-url`` would not fail: every
LLM call fails, every turn becomes an invalid ``hold``, and the run "finishes" with an
authority decision nobody asked for. One TCP connection up front turns that into one clear
line and exit code 2.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from parley.cli import UserError
from parley.config import negotiates_with_llm, uses_llm

CONNECT_TIMEOUT_S = 5.0


def needs_server(params: Mapping[str, Any]) -> bool:
    """Whether a run with ``params`` calls an OpenAI-compatible server at ``base_url``."""
    return (
        uses_llm(params)
        and params.get("backend") == "openai"
        and bool(params.get("base_url"))
        and params.get("cache") != "replay"  # a replay never calls the server
    )


def check_server(base_url: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Raise :class:`UserError` unless ``base_url`` is an http(s) URL accepting connections."""
    try:
        parts = urlsplit(base_url)
    except ValueError as err:  # e.g. "Invalid IPv6 URL" for http://[::1:8000/v1
        raise UserError(f"--base-url {base_url!r} is not a valid URL ({err})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(
            f"--base-url {base_url!r} is not an http(s) URL (e.g. http://127.0.0.1:8000/v1)"
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UserError(f"--base-url {base_url!r} has an invalid port") from None
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise UserError(
            f"cannot reach the LLM server at {base_url} ({reason}); is it running?"
        ) from None


def check_servers(cells: Iterable[Mapping[str, Any]]) -> None:
    """:func:`check_server` once for every distinct server the runs of ``cells`` call."""
    checked: set[str] = set()
    for params in cells:
        url = str(params.get("base_url"))
        if needs_server(params) and url not in checked:
            timeout = min(float(params.get("timeout") or CONNECT_TIMEOUT_S), CONNECT_TIMEOUT_S)
            check_server(url, timeout)
            checked.add(url)


def check_caches(cells: Iterable[Mapping[str, Any]]) -> None:
    """Open once every cache file the runs of ``cells`` use: a corrupt one is one line.

    Otherwise each run would fail on it in turn and a sweep would "finish" with every run
    failed.
    """
    from parley.llm.cache import DEFAULT_CACHE_PATH, CacheStore
    from parley.llm.interface import LLMError

    checked: set[str] = set()
    for params in cells:
        path = str(params.get("cache_path") or DEFAULT_CACHE_PATH)
        if not uses_llm(params) or (params.get("cache") or "off") == "off" or path in checked:
            continue
        try:
            CacheStore(path).close()
        except LLMError as err:
            raise UserError(str(err)) from None
        checked.add(path)


def check_conditions(cells: Iterable[Mapping[str, Any]]) -> None:
    """Refuse, in one line, a grid whose LLM negotiators cannot run a condition as defined
    (``native`` on a model without a reasoning mode, another condition on a model that
    cannot turn reasoning off), before any run starts: otherwise each of its runs would be
    recorded as failed. Asks no server: the backend's profile says what it can do."""
    from parley.agents.factory import CONDITIONS
    from parley.agents.reflection import refusal
    from parley.llm.factory import make_backend

    refused: dict[str, tuple[int, list[str]]] = {}
    for params in cells:
        if not negotiates_with_llm(params):
            continue
        try:
            llm = make_backend(params)
        except (ValueError, LookupError):  # a bad model or server: the run says why
            continue
        reason = refusal(str(params.get("condition") or "none"), llm)
        if reason:
            runs, _ = refused.get(reason, (0, []))
            able = [c for c in CONDITIONS if refusal(c, llm) is None]
            refused[reason] = (runs + 1, able)
    if refused:
        reason, (runs, able) = next(iter(refused.items()))
        remedy = f"it can run --condition {' '.join(able)}" if able else "it can run none"
        raise UserError(f"{reason}; {runs} cells of this grid ask for it ({remedy})")
