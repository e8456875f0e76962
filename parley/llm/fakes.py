"""In-process test doubles of :class:`~parley.llm.interface.LanguageModel`, shipped in the package.

They need no server, no key and no network, so tests, notebooks and teaching examples can
run LLM negotiators instantly:

- :class:`ScriptedLLM` answers with queued replies, in order, and records every request.
- :class:`PuppetLLM` answers with a callable ``(Request) -> reply``; an optional per-request
  latency lets tests make concurrent calls complete in a different order than they start.
- :class:`FakeReasoningLLM` is a puppet with a reasoning mode (for the ``native`` condition):
  when a request sets ``reasoning_effort`` it adds reasoning text and reasoning tokens.
- :func:`negotiator_responder` (from :mod:`parley.llm.fake_replies`) is the one ready
  puppeteer: a reply that fits the requested schema, drawn from the request's seed, so a
  whole negotiation runs offline and reproducibly (``PuppetLLM(negotiator_responder)``).
  The loopback server of :mod:`parley.llm.fake_server` answers with the same responder by
  default; :func:`as_server_responder` serves any other puppeteer from it.

A reply is a ``str`` (the raw text), a ``dict`` (encoded as JSON text and returned as the
parsed object when a schema was requested), a ready :class:`Completion`, or an exception
instance, which is raised (e.g. ``LLMError("down", fault="connection")``).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from parley.llm.fake_replies import count_tokens, negotiator_responder, request_of
from parley.llm.interface import Completion, Request, Usage

__all__ = [
    "FakeReasoningLLM",
    "PuppetLLM",
    "ScriptedLLM",
    "as_server_responder",
    "negotiator_responder",
    "to_completion",
]

Reply = str | dict[str, Any] | Completion | BaseException
Latency = float | Callable[[Request], float]


def to_completion(
    reply: Reply, request: Request, model: str, reasoning: str | None = None
) -> Completion:
    """Turn a scripted reply into a :class:`Completion` with plausible usage."""
    if isinstance(reply, BaseException):
        raise reply
    if isinstance(reply, Completion):
        return reply
    text = json.dumps(reply) if isinstance(reply, dict) else str(reply)
    parsed = None
    if request.schema is not None:
        parsed = reply if isinstance(reply, dict) else _json_object(text)
    prompt = sum(count_tokens(content) + 4 for _, content in request.messages)
    thought = count_tokens(reasoning) if reasoning else 0
    return Completion(
        text=text,
        parsed=parsed,
        usage=Usage(prompt, count_tokens(text) + thought, thought),
        reasoning=reasoning,
        model=model,
        system_fingerprint="fake",
        finish_reason="stop",
    )


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        return None  # like a server without schema enforcement: the caller must extract
    return obj if isinstance(obj, dict) else None


class _FakeBase:
    """Shared plumbing: request log, latency, sync and async faces."""

    backend = "fake"
    serialize_calls = False

    def __init__(self, name: str, supports_reasoning: bool, latency: Latency) -> None:
        self.name = name
        self.supports_reasoning = supports_reasoning
        self.latency = latency
        self.requests: list[Request] = []
        self._lock = threading.Lock()

    def _reply(self, request: Request) -> Reply:
        raise NotImplementedError

    def _reasoning(self, request: Request) -> str | None:
        return None

    def _answer(self, request: Request) -> Completion:
        with self._lock:
            self.requests.append(request)
            reply = self._reply(request)
        return to_completion(reply, request, self.name, self._reasoning(request))

    def _delay(self, request: Request) -> float:
        return self.latency(request) if callable(self.latency) else float(self.latency)

    async def acomplete(self, request: Request) -> Completion:
        delay = self._delay(request)
        if delay > 0:
            await asyncio.sleep(delay)
        done = self._answer(request)
        return _with_latency(done, delay)

    def complete(self, request: Request) -> Completion:
        return _with_latency(self._answer(request), 0.0)


def _with_latency(done: Completion, latency: float) -> Completion:
    return replace(done, latency_s=latency) if latency and not done.latency_s else done


class ScriptedLLM(_FakeBase):
    """Returns queued replies in order; ``default`` (if given) once the queue is empty.

    Args:
        replies: the replies, in the order calls will receive them.
        default: the reply for every call after the queue runs out (None: raise).
        name: model name reported in completions and call records.
        supports_reasoning: whether the fake claims a reasoning mode.
        latency: seconds each async call sleeps, or a function of the request.
    """

    def __init__(
        self,
        replies: Iterable[Reply] = (),
        *,
        default: Reply | None = None,
        name: str = "scripted",
        supports_reasoning: bool = False,
        latency: Latency = 0.0,
    ) -> None:
        super().__init__(name, supports_reasoning, latency)
        self.queue = list(replies)
        self.default = default

    def _reply(self, request: Request) -> Reply:
        if self.queue:
            return self.queue.pop(0)
        if self.default is None:
            raise RuntimeError(f"ScriptedLLM ran out of replies after {len(self.requests)} calls")
        return self.default


class PuppetLLM(_FakeBase):
    """Answers every request with ``fn(request)``.

    Args:
        fn: the puppeteer, ``(Request) -> str | dict | Completion | exception``.
        name: model name reported in completions and call records.
        supports_reasoning: whether the fake claims a reasoning mode.
        latency: seconds each async call sleeps, or a function of the request.
    """

    def __init__(
        self,
        fn: Callable[[Request], Reply],
        *,
        name: str = "puppet",
        supports_reasoning: bool = False,
        latency: Latency = 0.0,
    ) -> None:
        super().__init__(name, supports_reasoning, latency)
        self.fn = fn

    def _reply(self, request: Request) -> Reply:
        return self.fn(request)


class FakeReasoningLLM(PuppetLLM):
    """A puppet with a reasoning mode: requests with ``reasoning_effort`` get reasoning text."""

    def __init__(
        self,
        fn: Callable[[Request], Reply],
        *,
        name: str = "fake-reasoner",
        latency: Latency = 0.0,
        thought: str = "Weighing the table against what the authority would impose.",
    ) -> None:
        super().__init__(fn, name=name, supports_reasoning=True, latency=latency)
        self.thought = thought

    def _reasoning(self, request: Request) -> str | None:
        if request.reasoning_effort is None:
            return None
        return f"[{request.reasoning_effort}] {self.thought}"


def as_server_responder(fn: Callable[[Request], Reply]) -> Callable[[dict[str, Any]], str]:
    """Adapt a puppeteer to the fake server's ``(request_json) -> content`` responder."""

    def respond(body: dict[str, Any]) -> str:
        reply = fn(request_of(body))
        return reply if isinstance(reply, str) else json.dumps(reply)

    return respond
