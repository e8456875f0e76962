"""What the fake OpenAI-compatible server answers: scripted replies, faults, default answers.

Kept apart from the HTTP plumbing in :mod:`parley.llm.fake_server` so the answers can be
read (and tested) without a socket. Every answer is deterministic: the default responder
draws from ``random.Random(seed)`` of the request, and without a seed it holds.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Faults the server can inject, by name. The first group fails at the HTTP level, the second
# answers HTTP 200 with content a policy must reject (or repair).
HTTP_FAULTS = ("rate_limit", "server_error", "unavailable", "reset", "hang", "empty_body", "auth")
CONTENT_FAULTS = ("truncated_json", "wrong_shape", "bad_action", "out_of_range", "reasoning_only")
# Faults no retry cures (a misconfigured run): HTTP 400, 429 ``insufficient_quota``, and an
# empty answer cut by the token limit (``finish_reason: "length"``).
CONFIG_FAULT_REPLIES = ("bad_request", "quota", "length")
FAULTS = HTTP_FAULTS + CONTENT_FAULTS + CONFIG_FAULT_REPLIES

FAKE_REASONING = "Weighing my reservation against the standing proposal before I move."

Responder = Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class Reply:
    """One scripted answer of the fake server.

    Args:
        content: the message content; None means "ask the responder".
        fault: one of :data:`FAULTS`, or None for a normal answer.
        retry_after: seconds sent in a ``Retry-After`` header (``rate_limit`` /
            ``unavailable`` only); None sends no header.
        reasoning: reasoning text returned as ``reasoning_content`` (with reasoning tokens).
        delay_s: extra latency of this reply on top of the server's fixed latency.
        headers: extra response headers (e.g. ``x-should-retry``).
    """

    content: str | None = None
    fault: str | None = None
    retry_after: float | None = None
    reasoning: str | None = None
    delay_s: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.fault is not None and self.fault not in FAULTS:
            raise ValueError(f"unknown fault '{self.fault}' (one of: {', '.join(FAULTS)})")


class FaultPlan:
    """Faults injected by request: ``rate`` of the attempts, whatever their arrival order.

    Give it to :class:`~parley.llm.fake_server.FakeOpenAIServer` as ``plan``. Whether an
    attempt fails, and how, is drawn from a hash of the request (messages and seed), the
    attempt's number for that request, and ``seed``: concurrent calls get the same faults
    in any order, so a faulty sweep is as reproducible as a clean one. The kinds are every
    fault the server injects but ``auth`` (a wrong key is a configuration error, not a
    fault to recover from): 429 with and without ``Retry-After``, 500, 503 with
    ``Retry-After``, a connection reset, a hang, an empty body, and each content fault.
    Faults are transient: attempts after the first ``burst`` of one request always succeed,
    so a client with ``max_retries >= burst`` recovers from every HTTP fault.
    ``injected`` counts the faults served, by kind (``rate_limit+retry_after`` for a 429
    with the header).
    """

    def __init__(
        self, rate: float = 0.3, seed: int = 0, retry_after: float = 0.1, burst: int = 2
    ) -> None:
        self.rate, self.seed, self.burst = rate, seed, burst
        self.kinds = [
            Reply(fault="rate_limit", retry_after=retry_after),
            Reply(fault="rate_limit"),
            Reply(fault="server_error"),
            Reply(fault="unavailable", retry_after=retry_after),
            Reply(fault="reset"),
            Reply(fault="hang"),
            Reply(fault="empty_body"),
            *(Reply(fault=f) for f in CONTENT_FAULTS),
        ]
        self.injected: Counter[str] = Counter()
        self._attempts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> Reply:
        key = json.dumps([body.get("messages"), body.get("seed")], sort_keys=True)
        with self._lock:
            attempt = self._attempts[key]
            self._attempts[key] += 1
        draw = random.Random(f"{self.seed}:{attempt}:{key}")
        if attempt >= self.burst or draw.random() >= self.rate:
            return Reply()
        reply = draw.choice(self.kinds)
        label = str(reply.fault) + ("+retry_after" if reply.retry_after is not None else "")
        with self._lock:
            self.injected[label] += 1
        return reply


def schema_of(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema a chat request asks for, in any of the structured-output dialects."""
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return (fmt.get("json_schema") or {}).get("schema")
    if fmt.get("type") == "json_object":
        return fmt.get("schema")
    return None


def default_responder(body: dict[str, Any]) -> str:
    """A valid answer for the requested schema, chosen deterministically from the seed.

    For the negotiation grammar (a schema with an ``action`` property, or no schema at all)
    it holds, or, with a seed and a ``value`` enum, proposes one of the allowed values.
    """
    schema = schema_of(body)
    seed = body.get("seed")
    rng = random.Random(seed) if seed is not None else None
    if schema is None or "action" in schema.get("properties", {}):
        return json.dumps(_action(schema, rng))
    return json.dumps(instance_for(schema, rng or random.Random(0)))


def _action(schema: dict[str, Any] | None, rng: random.Random | None) -> dict[str, Any]:
    value_schema = ((schema or {}).get("properties") or {}).get("value") or {}
    grid = [v for v in value_schema.get("enum", []) if isinstance(v, int | float)]
    if rng is None or not grid or rng.random() < 0.5:
        return {"action": "hold", "value": None, "target": None, "message": "I hold for now."}
    value = rng.choice(grid)
    return {"action": "propose", "value": value, "target": None, "message": f"I propose {value}."}


def instance_for(schema: dict[str, Any], rng: random.Random) -> Any:
    """A small instance of a JSON schema (enums by ``rng``, numbers at their minimum)."""
    if "enum" in schema:
        choices = [v for v in schema["enum"] if v is not None] or schema["enum"]
        return rng.choice(choices)
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    match kind:
        case "object":
            props = schema.get("properties", {})
            return {k: instance_for(props[k], rng) for k in schema.get("required", props)}
        case "string":
            return "ok"[: schema.get("maxLength", 2)]
        case "number" | "integer":
            return schema.get("minimum", schema.get("maximum", 0))
        case "boolean":
            return True
        case "array":
            return []
        case _:
            return None


def fault_content(fault: str, body: dict[str, Any], responder: Responder) -> str:
    """The HTTP-200 content of a content fault."""
    match fault:
        case "truncated_json":
            full = responder(body)
            return full[: max(1, len(full) // 2)]
        case "wrong_shape":
            return json.dumps({"move": "hold", "note": "keys the grammar does not know"})
        case "bad_action":
            return json.dumps(
                {"action": "surrender", "value": None, "target": None, "message": "I give up."}
            )
        case "out_of_range":
            return json.dumps(
                {"action": "propose", "value": 1e6, "target": None, "message": "A bold ask."}
            )
        case "reasoning_only":
            return ""
        case _:
            raise ValueError(f"'{fault}' is not a content fault")


def count_tokens(text: str) -> int:
    """A crude, deterministic token count (about four characters a token)."""
    return (len(text) + 3) // 4


def completion_body(
    body: dict[str, Any], content: str, reasoning: str | None, model: str
) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` object for ``content`` (and optional reasoning)."""
    prompt = sum(count_tokens(str(m.get("content", ""))) + 3 for m in body.get("messages", []))
    reasoning_tokens = count_tokens(reasoning) if reasoning else 0
    completion = count_tokens(content) + reasoning_tokens
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning:
        message["reasoning_content"] = reasoning
    return {
        "id": f"chatcmpl-fake-{body.get('seed')}",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model") or model,
        "system_fingerprint": "fp_parley_fake",
        "choices": [
            {
                "index": 0,
                "finish_reason": "length" if reasoning and not content else "stop",
                "message": message,
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "completion_tokens_details": {"reasoning_tokens": reasoning_tokens},
        },
    }
