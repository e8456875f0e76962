"""The OpenAI-compatible backend: OpenAI, DeepSeek, Gemini, vLLM, Ollama, llama.cpp, any URL.

What differs between servers (the output-token field, the structured-output dialect, how
reasoning is turned on and off, where reasoning text comes back, which temperatures a model
accepts) is read from the server's provider profile (:mod:`parley.llm.profiles`), never
from ``if``s here.

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
from parley.llm.profiles import get_profile, infer_profile, plan
from parley.llm.ratelimit import note_headers
from parley.llm.replies import parse_content
from parley.llm.structured import format_kwargs, resolve_mode

# Local servers ignore the key, but the client insists on one.
PLACEHOLDER_KEY = "not-needed"
DEFAULT_KEY_ENV = "OPENAI_API_KEY"

_ClientsByLoop = weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, openai.AsyncOpenAI]


class OpenAIBackend:
    """A chat model behind an OpenAI-compatible HTTP API.

    Args:
        model: the model name the server knows (also this object's ``name``).
        base_url: the server's ``/v1`` URL; None means the profile's own endpoint (OpenAI's
            API for ``openai``, DeepSeek's for ``deepseek``, Google's for ``gemini``).
        api_key_env: NAME of the environment variable holding the key (read when a client is
            made, never stored in a file or message); unset means a placeholder key. Left at
            its default (``OPENAI_API_KEY``), a provider profile with a variable of its own
            (``DEEPSEEK_API_KEY``, ``GEMINI_API_KEY``) reads that one instead, so an OpenAI
            key is never sent to another provider.
        timeout: seconds before one request times out.
        structured: structured-output mode (see :data:`parley.llm.structured.MODES`);
            None picks the server kind's default.
        server: the provider profile (``openai``, ``deepseek``, ``gemini``, ``vllm``,
            ``ollama``, ``llamacpp``, ``generic``); None infers it from ``base_url`` or an
            unambiguous model name.
        reasoning: the served model has a reasoning mode; only read for models the
            profile cannot know (vLLM, Ollama, llama.cpp, generic servers), the profile's
            model families decide for OpenAI, DeepSeek and Gemini models.

    Raises:
        ValueError: an unknown profile or structured mode.
        CapabilityError: a structured mode the server refuses.
    """

    backend = "openai"
    serialize_calls = False  # a server answers concurrent requests independently

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        *,
        api_key_env: str = DEFAULT_KEY_ENV,
        timeout: float = 60.0,
        structured: str | None = None,
        server: str | None = None,
        reasoning: bool = False,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self.name = model
        self.server = server or infer_profile(base_url, model)
        spec = get_profile(self.server)
        self.spec = spec
        # OpenAI's endpoint stays the client's default (which honours OPENAI_BASE_URL).
        self.base_url = base_url or (spec.base_url if spec.name != "openai" else None)
        own = spec.api_key_env if api_key_env == DEFAULT_KEY_ENV else None
        self.api_key_env = own or api_key_env
        self.timeout = timeout
        self.structured = resolve_mode(structured, spec)
        self.reasoning_plan = plan(spec, model, reasoning)
        self.supports_reasoning = self.reasoning_plan.supports
        #: Why this model cannot run with reasoning off (None: it can).
        self.reasoning_refusal = self.reasoning_plan.refusal
        self._clients: _ClientsByLoop = weakref.WeakKeyDictionary()
        self._closers: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return (
            f"OpenAIBackend(model={self.name!r}, base_url={self.base_url!r}, "
            f"profile={self.server!r}, structured={self.structured!r}, "
            f"reasoning={self.supports_reasoning})"
        )

    @property
    def profile(self) -> str:
        """The provider profile's name (recorded with every call)."""
        return self.server

    def check_temperature(self, temperature: float) -> None:
        """Refuse, at construction, a temperature this model does not accept."""
        self.reasoning_plan.check_temperature(self.name, temperature)

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
            raw = await client.chat.completions.with_raw_response.create(**self._kwargs(request))
            note_headers(raw.headers)  # the endpoint's rate limiter reads its budget here
            response = raw.parse()
        except (openai.OpenAIError, ValueError) as err:
            note_headers(getattr(getattr(err, "response", None), "headers", None))
            raise to_llm_error(err, self.where, os.environ.get(self.api_key_env)) from None
        return self._completion(response, time.perf_counter() - start)

    async def aclose(self) -> None:
        """Close the client of the running loop (also done when the loop shuts down)."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()

    def _kwargs(self, request: Request) -> dict[str, Any]:
        """The ``chat.completions.create`` arguments for ``request``, in the profile's terms."""
        spec, family = self.spec, self.reasoning_plan.family
        effort = request.reasoning_effort
        kwargs: dict[str, Any] = {
            "model": self.name,
            "messages": request.chat(),
            **format_kwargs(self.structured, request.schema),
        }
        kwargs[spec.token_param] = request.max_tokens
        # A model with one accepted temperature was checked at construction (it equals the
        # run's): leave the field out, the server's default is that value.
        omit = family.temperature is not None or (
            effort is not None and family.omit_temperature_while_reasoning
        )
        if not omit:
            kwargs["temperature"] = request.temperature
        if request.seed is not None:
            kwargs["seed"] = request.seed
        switch = self.reasoning_plan.fields(effort)
        if switch:
            kwargs["extra_body"] = {**kwargs.get("extra_body", {}), **switch}
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
            reasoning=self._reasoning(message),
            latency_s=latency_s,
            model=response.model or self.name,
            system_fingerprint=response.system_fingerprint,
            finish_reason=choice.finish_reason,
        )

    def _reasoning(self, message: Any) -> str | None:
        # The profile names the field: DeepSeek, llama.cpp say reasoning_content, Ollama says
        # reasoning, vLLM said reasoning_content and says reasoning since 0.10.
        for field in self.spec.reasoning_text:
            value = getattr(message, field, None)
            if value is None:
                value = (getattr(message, "model_extra", None) or {}).get(field)
            if isinstance(value, str) and value:
                return value
        return None

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
