"""The OpenAI-compatible backend: OpenAI, vLLM, Ollama, llama.cpp servers, any compatible URL.

One ``openai.AsyncOpenAI`` client per event loop: an httpx client is bound to the loop that
created it, and :func:`parley.concurrency.run_sync` runs each batch of calls on a fresh
loop, so a client is created lazily in the loop that uses it and closed when that loop
shuts down. The client never retries by itself (``max_retries=0``):
:class:`parley.llm.wrappers.RetryingLLM` does, boundedly.
"""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
import time
import weakref
from typing import Any

import openai

from parley.concurrency import run_sync
from parley.llm.interface import CapabilityError, Completion, LLMError, Request, Usage
from parley.llm.openai_errors import to_llm_error
from parley.llm.structured import format_kwargs, infer_server, parse_content, resolve_mode

# Local servers ignore the key, but the client insists on one.
PLACEHOLDER_KEY = "not-needed"

_ClientsByLoop = weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, openai.AsyncOpenAI]


class OpenAIBackend:
    """A chat model behind an OpenAI-compatible HTTP API.

    Args:
        model: the model name the server knows (also this object's ``name``).
        base_url: the server's ``/v1`` URL; None means OpenAI's API.
        api_key_env: NAME of the environment variable holding the key (read when a client is
            made, never stored in a file or message); unset means a placeholder key.
        timeout: seconds before one request times out.
        structured: structured-output mode (see :data:`parley.llm.structured.MODES`);
            None picks the server kind's default.
        server: ``openai``, ``vllm``, ``ollama``, ``llamacpp`` or ``generic``; None infers
            it from ``base_url``.
        reasoning: the served model has a reasoning mode (o-series, gpt-5, DeepSeek-R1...).
    """

    backend = "openai"
    serialize_calls = False  # a server answers concurrent requests independently

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        *,
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 60.0,
        structured: str | None = None,
        server: str | None = None,
        reasoning: bool = False,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self.name = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.timeout = timeout
        self.server = server or infer_server(base_url)
        self.structured = resolve_mode(structured, self.server)
        self.supports_reasoning = reasoning
        self._clients: _ClientsByLoop = weakref.WeakKeyDictionary()
        self._closers: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return (
            f"OpenAIBackend(model={self.name!r}, base_url={self.base_url!r}, "
            f"structured={self.structured!r}, reasoning={self.supports_reasoning})"
        )

    @property
    def where(self) -> str:
        """The server and model, for messages."""
        return f"{self.base_url or 'https://api.openai.com/v1'} (model {self.name})"

    def complete(self, request: Request) -> Completion:
        """Sync call (runs :meth:`acomplete` on a private loop if needed)."""
        return run_sync(self.acomplete(request))

    async def acomplete(self, request: Request) -> Completion:
        """One chat call; raises :class:`LLMError` with a fault kind when it fails."""
        if request.reasoning_effort and not self.supports_reasoning:
            raise CapabilityError(
                f"model {self.name!r} has no reasoning mode here; construct the backend with "
                "reasoning=True if the served model has one"
            )
        client = self._client()
        start = time.perf_counter()
        try:
            response = await client.chat.completions.create(**self._kwargs(request))
        except (openai.OpenAIError, ValueError) as err:
            raise to_llm_error(err, self.where, os.environ.get(self.api_key_env)) from None
        return self._completion(response, time.perf_counter() - start)

    async def aclose(self) -> None:
        """Close the client of the running loop (also done when the loop shuts down)."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()

    def _kwargs(self, request: Request) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.name,
            "messages": request.chat(),
            "temperature": request.temperature,
            **format_kwargs(self.structured, request.schema),
        }
        # OpenAI's own API wants max_completion_tokens (reasoning models reject max_tokens);
        # compatible servers all know max_tokens.
        kwargs["max_completion_tokens" if self.server == "openai" else "max_tokens"] = (
            request.max_tokens
        )
        if request.seed is not None:
            kwargs["seed"] = request.seed
        if request.reasoning_effort:
            kwargs["reasoning_effort"] = request.reasoning_effort
            if self.server == "openai":
                del kwargs["temperature"]  # OpenAI reasoning models accept only the default
        return kwargs

    def _completion(self, response: Any, latency_s: float) -> Completion:
        if not getattr(response, "choices", None):
            raise LLMError(f"{self.where} returned no choices", fault="empty")
        choice = response.choices[0]
        message = choice.message
        text = message.content or ""
        return Completion(
            text=text,
            parsed=parse_content(text),
            usage=_usage(response.usage),
            reasoning=_reasoning(message),
            latency_s=latency_s,
            model=response.model or self.name,
            system_fingerprint=response.system_fingerprint,
            finish_reason=choice.finish_reason,
        )

    def _client(self) -> openai.AsyncOpenAI:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = openai.AsyncOpenAI(
                base_url=self.base_url,
                api_key=os.environ.get(self.api_key_env) or PLACEHOLDER_KEY,
                timeout=self.timeout,
                max_retries=0,
                http_client=openai.DefaultAsyncHttpxClient(verify=_ssl_context()),
            )
            _preset_platform(client)
            self._clients[loop] = client
            closer = loop.create_task(_close_when_loop_ends(client))
            self._closers.add(closer)
            closer.add_done_callback(self._closers.discard)
        return client


@functools.cache
def _platform() -> Any:
    from openai._base_client import get_platform

    return get_platform()


def _preset_platform(client: openai.AsyncOpenAI) -> None:
    # A new client looks up its platform headers in the loop's default executor on its first
    # request; with a fresh loop per round (run_sync) that starts and joins executor threads
    # every round. Look it up once per process instead (skipped if openai renames the field).
    if getattr(client, "_platform", "absent") is None:
        client._platform = _platform()


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle takes ~50 ms; a fresh loop per sync call would pay it each time.
    return ssl.create_default_context()


async def _close_when_loop_ends(client: openai.AsyncOpenAI) -> None:
    # asyncio.run cancels pending tasks before closing its loop: close the client then,
    # while the loop still runs, instead of leaking its connections.
    try:
        await asyncio.Event().wait()
    finally:
        await client.close()


def _usage(usage: Any) -> Usage:
    if usage is None:
        return Usage()
    details = getattr(usage, "completion_tokens_details", None)
    return Usage(
        prompt_tokens=usage.prompt_tokens or 0,
        completion_tokens=usage.completion_tokens or 0,
        reasoning_tokens=(getattr(details, "reasoning_tokens", None) or 0) if details else 0,
    )


def _reasoning(message: Any) -> str | None:
    # vLLM and DeepSeek say reasoning_content, Ollama and OpenRouter say reasoning.
    for field in ("reasoning_content", "reasoning"):
        value = getattr(message, field, None)
        if isinstance(value, str) and value:
            return value
    return None
