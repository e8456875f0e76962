"""The embedded offline backend: a small instruct model run in-process by llama.cpp.

Constructing an :class:`EmbeddedLLM` is cheap (the Solara app and ``batch_run`` rebuild
models freely); the weights are joined, verified and loaded on the first call, once per
process per model configuration. llama.cpp is not re-entrant, so calls on one loaded model
are serialized by a lock; :meth:`EmbeddedLLM.acomplete` runs the blocking call in a worker
thread so the event loop stays free.

llama-cpp-python reuses the KV cache for the longest common token prefix with the previous
call. Prompts put what all negotiators of a round share first, so most of a prompt is
processed once per round; nothing here resets the cache between calls.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from parley.llm.interface import CapabilityError, Completion, LLMError, Request, Usage
from parley.llm.replies import parse_content
from parley.llm.weights import DEFAULT_MODEL, WeightsError, get_model, prepare

DEFAULT_N_CTX = 4096  # history is windowed: prompts stay ~0.4-1.5k tokens, plus the output budget
DEFAULT_THREADS = 2
SCHEMA_MIN_TOKENS = 192  # a JSON reply cut by max_tokens is unparseable: keep slack
# Min-p sampling: drop every token less likely than MIN_P times the likeliest one (llama.cpp's
# default is 0.05). At 0.2 the sampling tails of a small model are cut, where its incoherent
# moves live (the 0.5B proposing its own reservation, accepting past it), while temperature
# still varies the moves: benchmarks/README.md, *coherence*. The same for every condition.
MIN_P = 0.2
#: Sampler settings the backend fixes beyond the request's temperature and seed: part of the
#: cache key (an answer sampled otherwise is not this backend's answer) and of every call's
#: fingerprint.
SAMPLING: dict[str, float] = {"min_p": MIN_P}


@dataclass
class _Loaded:
    llama: Any  # llama_cpp.Llama
    lock: threading.Lock
    fingerprint: str
    cancel: threading.Event | None = None  # set: the call holding ``lock`` was cancelled


# -- cancellation: a cancelled call stops generating at its next token -----------------------
class _Cancelled(Exception):
    """The call's task was cancelled; generation stopped between two tokens."""


def _stop_when_cancelled(loaded: _Loaded) -> None:
    """Wrap ``Llama.generate`` (the token loop every completion runs) to check the cancel flag
    of the call in progress between tokens; the tokens themselves are unchanged."""
    generate = loaded.llama.generate

    def generate_until_cancelled(*args: Any, **kwargs: Any) -> Any:
        tokens = generate(*args, **kwargs)
        try:
            for token in tokens:
                if loaded.cancel is not None and loaded.cancel.is_set():
                    raise _Cancelled
                yield token
        finally:
            tokens.close()

    loaded.llama.generate = generate_until_cancelled


_LOADED: dict[tuple[str, int, int, int], _Loaded] = {}
_LOAD_LOCK = threading.Lock()


@atexit.register
def _close_all() -> None:
    # Close while the interpreter is whole: Llama.__del__ at shutdown finds its modules
    # already torn down and prints a traceback.
    with _LOAD_LOCK:
        for loaded in _LOADED.values():
            loaded.llama.close()
        _LOADED.clear()


def _load(model_name: str, n_ctx: int, n_threads: int, n_batch: int) -> _Loaded:
    """The process-wide instance for this configuration, loading it on first use."""
    key = (model_name, n_ctx, n_threads, n_batch)
    with _LOAD_LOCK:
        if key in _LOADED:
            return _LOADED[key]
        spec = get_model(model_name)
        if importlib.util.find_spec("llama_cpp") is None:
            raise WeightsError(
                f"llama-cpp-python is not installed; {spec.install_hint()}", "not_installed"
            )
        import llama_cpp

        path = prepare(model_name)
        llama = llama_cpp.Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            n_batch=n_batch,
            verbose=False,  # llama.cpp's load chatter would drown the transcript
        )
        sampler = ",".join(f"{k}={v}" for k, v in sorted(SAMPLING.items()))
        fingerprint = f"llama-cpp-python-{llama_cpp.__version__}:{spec.sha256[:12]}:{sampler}"
        _LOADED[key] = _Loaded(llama, threading.Lock(), fingerprint)
        _stop_when_cancelled(_LOADED[key])
        return _LOADED[key]


def _env_threads() -> int:
    raw = os.environ.get("PARLEY_EMBEDDED_THREADS", "").strip()
    if not raw:
        return DEFAULT_THREADS
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"PARLEY_EMBEDDED_THREADS must be an integer, got {raw!r}") from None


class EmbeddedLLM:
    """A Qwen2.5-Coder instruct model run offline by llama-cpp-python.

    Args:
        model_name: A name from :data:`parley.llm.weights.MODELS` (``qwen2.5-0.5b`` is
            the default; ``qwen2.5-1.5b`` needs its own extra).
        n_ctx: Context window in tokens (prompt + output must fit).
        n_threads: CPU threads for prompt processing and generation (default: the
            ``PARLEY_EMBEDDED_THREADS`` environment variable, else 2). Processes that run
            side by side (a parallel sweep) should share the cores out: llama.cpp slows
            down many times over when its threads outnumber the cores.
        n_batch: Prompt tokens evaluated per batch.
    """

    backend = "embedded"
    supports_reasoning = False
    # One model in this process, whose KV cache is reused from the previous call (which
    # changes the numerics): calls run one at a time, in a fixed order, so a seed
    # reproduces the run (see :func:`parley.llm.interface.serializes_calls`).
    serialize_calls = True
    sampling = SAMPLING

    def __init__(
        self,
        model_name: str = DEFAULT_MODEL,
        *,
        n_ctx: int = DEFAULT_N_CTX,
        n_threads: int | None = None,
        n_batch: int = 512,
    ) -> None:
        get_model(model_name)  # an unknown name fails now; the weights load on first call
        if n_threads is None:
            n_threads = _env_threads()
        if n_ctx < 512 or n_threads < 1 or n_batch < 1:
            raise ValueError(
                f"bad embedded settings: n_ctx={n_ctx} (>= 512), n_threads={n_threads} (>= 1), "
                f"n_batch={n_batch} (>= 1)"
            )
        self.name = model_name
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.n_batch = n_batch

    def __repr__(self) -> str:
        return f"EmbeddedLLM({self.name!r}, n_ctx={self.n_ctx}, n_threads={self.n_threads})"

    def load(self) -> None:
        """Join, verify and load the weights now rather than on the first call."""
        self._loaded()

    def _loaded(self) -> _Loaded:
        return _load(self.name, self.n_ctx, self.n_threads, self.n_batch)

    def _kwargs(self, request: Request) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "messages": request.chat(),
            "temperature": request.temperature,
            **self.sampling,
            "max_tokens": request.max_tokens,
            "seed": request.seed,
        }
        if request.schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": request.schema}
            kwargs["max_tokens"] = max(request.max_tokens, SCHEMA_MIN_TOKENS)
        return kwargs

    def complete(self, request: Request) -> Completion:
        """Answer ``request`` (blocking); schema requests are grammar-constrained."""
        return self._complete(request, None)

    def _complete(self, request: Request, cancel: threading.Event | None) -> Completion:
        if request.reasoning_effort is not None:
            raise CapabilityError(
                f"embedded model {self.name} has no reasoning mode (reasoning_effort="
                f"{request.reasoning_effort!r}); use condition 'native' with a reasoning "
                "model on an OpenAI-compatible backend"
            )
        loaded = self._loaded()
        kwargs = self._kwargs(request)
        with loaded.lock:
            if cancel is not None and cancel.is_set():  # cancelled while waiting its turn
                raise LLMError(f"embedded model {self.name}: call cancelled", "cancelled")
            start = time.perf_counter()
            loaded.cancel = cancel
            try:
                result = loaded.llama.create_chat_completion(**kwargs)
            except ValueError as err:  # the prompt does not fit the context window
                raise LLMError(f"embedded model {self.name}: {err}", "context_length") from None
            except _Cancelled:
                raise LLMError(f"embedded model {self.name}: call cancelled", "cancelled") from None
            finally:
                loaded.cancel = None
            latency = time.perf_counter() - start
        return self._completion(result, request, latency, loaded.fingerprint)

    async def acomplete(self, request: Request) -> Completion:
        """Answer ``request`` in a worker thread, keeping the event loop free.

        Cancelling the awaiting task stops the generation at its next token (and a call
        still waiting for the model never starts), so the model is free for the next call.
        """
        cancel = threading.Event()
        try:
            return await asyncio.to_thread(self._complete, request, cancel)
        except asyncio.CancelledError:
            cancel.set()
            raise

    def _completion(
        self, result: dict[str, Any], request: Request, latency: float, fingerprint: str
    ) -> Completion:
        choice = result["choices"][0]
        text = choice["message"].get("content") or ""
        # a reply cut by max_tokens parses to None: the exchange repairs it
        parsed = parse_content(text) if request.schema is not None else None
        usage = result.get("usage") or {}
        return Completion(
            text=text,
            parsed=parsed,
            usage=Usage(
                prompt_tokens=int(usage.get("prompt_tokens", 0)),
                completion_tokens=int(usage.get("completion_tokens", 0)),
            ),
            latency_s=latency,
            model=self.name,
            system_fingerprint=fingerprint,
            finish_reason=choice.get("finish_reason"),
        )
