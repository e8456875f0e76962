"""What the fake OpenAI-compatible server answers: scripted replies, faults, default answers.

Kept apart from the HTTP plumbing in :mod:`parley.llm.fake_server` so the answers can be
read (and tested) without a socket. :func:`negotiator_responder` is the ONE fake responder,
behind both the in-process fakes (:mod:`parley.llm.fakes`) and the fake server; every answer
is deterministic (drawn from ``random.Random(seed)`` of the request), and one token count
(:func:`count_tokens`) serves both.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from parley.llm.interface import Request

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


def request_of(body: dict[str, Any]) -> Request:
    """The :class:`Request` a raw chat-completion body carries (for the shared responder)."""
    return Request(
        messages=tuple((m["role"], m["content"]) for m in body.get("messages", [])),
        max_tokens=int(body.get("max_tokens") or body.get("max_completion_tokens") or 0),
        seed=body.get("seed"),
        schema=schema_of(body),
        reasoning_effort=body.get("reasoning_effort"),
    )


def default_responder(body: dict[str, Any]) -> str:
    """The fake server's answer: :func:`negotiator_responder` on the request, as JSON text,
    playing only the moves that are always valid (:data:`SAFE_MOVES`), so that every invalid
    answer of the server is an injected fault."""
    return json.dumps(negotiator_responder(request_of(body), moves=SAFE_MOVES))


#: Every move, weighted (some will be invalid on the table: they exercise the repair path).
ALL_MOVES: dict[str, float] = {
    "propose": 3,
    "concede": 2,
    "hold": 2,
    "accept": 1,
    "support": 1,
    "escalate": 0.4,
}
#: The moves that are valid on any table.
SAFE_MOVES: dict[str, float] = {"propose": 1.0, "hold": 1.0}
_LINES = (
    "We can move a little if the others move too.",
    "This is close to our limit.",
    "Let us settle before the deadline.",
    "We need a fairer split than this.",
    "We could back a value near the middle.",
)


def negotiator_responder(request: Request, moves: dict[str, float] = ALL_MOVES) -> dict[str, Any]:
    """A negotiator reply that fits ``request.schema``, drawn with ``request.seed``.

    It uses every move of the schema's ``action`` enum (some moves will be invalid on the
    table, e.g. a concession away from the others, which exercises the repair path), picks
    values and targets from the schema's enums, and fills private-state fields with short text.
    A schema without ``action`` (e.g. the authority's ruling) is simply filled in.
    """
    rng = random.Random(request.seed if request.seed is not None else 0)
    if request.schema is None:  # JSON mode without a schema (DeepSeek): a plain hold
        return {"action": "hold", "value": None, "target": None, "message": rng.choice(_LINES)}
    props = request.schema.get("properties", {})
    if "action" not in props:  # another schema (e.g. the authority's ruling): just fill it
        return {key: _filler(sub, rng) for key, sub in props.items()}
    reply: dict[str, Any] = {}
    for key, sub in props.items():  # private fields first, as the schema orders them
        if key not in ("action", "value", "target", "message"):
            reply[key] = _filler(sub, rng)
    kinds = [k for k in (props.get("action") or {}).get("enum", list(moves)) if k in moves]
    kind = rng.choices(kinds, weights=[moves[k] for k in kinds], k=1)[0]
    values = [v for v in (props.get("value") or {}).get("enum", []) if v is not None] or [0]
    targets = [t for t in (props.get("target") or {}).get("enum", []) if t is not None] or [None]
    reply.update(
        action=kind,
        value=rng.choice(values) if kind in ("propose", "concede") else None,
        target=rng.choice(targets) if kind == "support" else None,
        message=rng.choice(_LINES),
    )
    return reply


def _filler(schema: dict[str, Any], rng: random.Random) -> Any:
    if "enum" in schema:
        return rng.choice([v for v in schema["enum"] if v is not None] or schema["enum"])
    if schema.get("type") == "object":
        return {k: _filler(v, rng) for k, v in schema.get("properties", {}).items()}
    words = " ".join(rng.choice(_LINES) for _ in range(3))
    return words[: schema.get("maxLength", len(words))]


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
                "finish_reason": "stop",
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
