"""A record/replay cache of LLM calls in SQLite.

The key is the sha256 of the model's name and backend, every field of the
:class:`~parley.llm.interface.Request` (messages, max_tokens, temperature, seed, schema,
reasoning effort, sample index) and the sampler settings the backend fixes (the embedded
model's min_p). The whole :class:`Completion` is stored, so a replayed run is bit-identical
to the recorded one; replayed completions carry ``cached=True``.

The file uses SQLite's write-ahead log and one statement per write, so several processes
of a sweep can share it safely. Only successful calls are stored: a failure is not an
answer worth replaying.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import asdict, replace
from pathlib import Path

from parley.llm.choices import CACHE_MODES
from parley.llm.interface import Completion, LanguageModel, LLMError, Request, Usage
from parley.llm.wrappers import LLMWrapper

DEFAULT_CACHE_PATH = ".parley/cache.sqlite"

_SCHEMA = """CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    backend TEXT NOT NULL,
    request TEXT NOT NULL,
    completion TEXT NOT NULL,
    created_at REAL NOT NULL
)"""


def cache_key(
    model: str, backend: str, request: Request, sampling: dict[str, float] | None = None
) -> str:
    """The sha256 hex digest identifying a call (every request field takes part).

    ``sampling`` holds the sampler settings a backend fixes beyond the request (the embedded
    model's min_p): an answer sampled otherwise is another answer. Empty, it leaves the key
    as it was before backends had any.
    """
    # Shallow on purpose: asdict() would deep-copy the schema on every call.
    fields = {f.name: getattr(request, f.name) for f in dataclasses.fields(request)}
    payload: dict[str, object] = {"model": model, "backend": backend, "request": fields}
    if sampling:
        payload["sampling"] = sampling
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class CacheStore:
    """The SQLite file: ``get`` and ``put`` completions by key (thread-safe)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit: every write is one atomic statement; timeout waits for other writers.
            self._conn = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(_SCHEMA)
            self._conn.execute("SELECT key, completion FROM completions LIMIT 1").fetchall()
        except (sqlite3.Error, OSError) as err:
            raise self._broken(err) from None

    def get(self, key: str) -> Completion | None:
        """The stored completion for ``key``, or None."""
        try:
            with self._lock:
                row = self._conn.execute(
                    "SELECT completion FROM completions WHERE key = ?", (key,)
                ).fetchone()
            return None if row is None else _load(row[0])
        except (sqlite3.Error, ValueError, TypeError, KeyError) as err:
            raise self._broken(err) from None

    def put(self, key: str, model: str, backend: str, request: Request, done: Completion) -> None:
        """Store ``done`` under ``key`` (replacing an older recording)."""
        row = (key, model, backend, json.dumps(asdict(request)), _dump(done), time.time())
        try:
            with self._lock:
                self._conn.execute("INSERT OR REPLACE INTO completions VALUES (?,?,?,?,?,?)", row)
        except sqlite3.Error as err:
            raise self._broken(err) from None

    def __len__(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM completions").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _broken(self, err: Exception) -> LLMError:
        return LLMError(
            f"cache file {self.path} is unusable ({err}); delete it or choose another cache_path",
            fault="cache_corrupt",
        )


def _dump(done: Completion) -> str:
    return json.dumps(asdict(replace(done, cached=False)), sort_keys=True)


def _load(text: str) -> Completion:
    data = json.loads(text)
    data["usage"] = Usage(**data["usage"])
    return Completion(**data)


class CachedLLM(LLMWrapper):
    """Records completions to, and replays them from, a :class:`CacheStore`.

    Modes: ``off`` (pass through), ``record`` (always call, store the answer), ``replay``
    (answer only from the cache; a miss is ``LLMError(fault="cache_miss")``, the inner
    model is never called) and ``auto`` (replay when recorded, otherwise call and record).

    Args:
        inner: the model to call on a miss (not called in ``replay`` mode).
        path: the SQLite file (created with its folder if missing).
        mode: one of :data:`CACHE_MODES`.
        own_run: the file is this run's own recording, replayed to bring the run back after
            a restart (a classroom room, :mod:`parley.viz.room`): a replayed answer is one
            this run paid for, so it comes back exactly as recorded (``cached=False``) and
            the run's calls and cost stay what they were.
    """

    def __init__(
        self,
        inner: LanguageModel,
        path: str | Path = DEFAULT_CACHE_PATH,
        mode: str = "auto",
        *,
        own_run: bool = False,
    ) -> None:
        super().__init__(inner)
        if mode not in CACHE_MODES:
            raise ValueError(f"unknown cache mode '{mode}' (one of: {', '.join(CACHE_MODES)})")
        self.mode = mode
        self.own_run = own_run
        self.store = CacheStore(path) if mode != "off" else None
        self.hits = 0
        self.recorded = 0

    async def acomplete(self, request: Request) -> Completion:
        if self.store is None:
            return await self.inner.acomplete(request)
        key = cache_key(self.name, self.backend, request, self.sampling)
        if self.mode in ("replay", "auto"):
            found = self.store.get(key)
            if found is not None:
                self.hits += 1
                return found if self.own_run else replace(found, cached=True)
            if self.mode == "replay":
                raise LLMError(self._miss_message(request), fault="cache_miss")
        done = await self.inner.acomplete(request)
        self.store.put(key, self.name, self.backend, request, done)
        self.recorded += 1
        return done

    def _miss_message(self, request: Request) -> str:
        where = self.store.path if self.store is not None else "-"
        return (
            f"cache replay miss in {where}: no recorded answer for model {self.name!r} "
            f"({self.backend}), seed {request.seed}, sample {request.sample_index}; "
            "record it first with cache='record' or 'auto'"
        )
