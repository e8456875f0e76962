"""A real endpoint's limits for the loopback fake server: latency, concurrency, RPM/TPM.

:class:`EndpointLimits` is what a hosted API does to a client that sends too much: each
answer takes a fixed or randomly distributed time (``latency``), at most
``max_concurrent`` requests are served at once (the rest queue, as at a saturated
server), and requests beyond a requests-per-minute or tokens-per-minute budget are
answered ``429`` with ``Retry-After`` (the time until the budget has room again). Every
answer carries ``x-ratelimit-remaining-*`` and ``x-ratelimit-reset-*`` headers as
OpenAI's API does. Budgets are token buckets refilled continuously at ``rpm/60`` requests
(``tpm/60`` tokens) per second, holding at most ``burst_s`` seconds' worth; tokens are
counted as providers count them at admission: prompt characters / 4 + ``max_tokens``.

    limits = EndpointLimits(latency=Latency(1.0), max_concurrent=64, rpm=600)
    FakeOpenAIServer(limits=limits)            # in-process
    python -m parley.llm.fake_server --latency 1 --max-concurrent 64 --rpm 600
"""

from __future__ import annotations

import argparse
import math
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from parley.llm.ratelimit import estimate_tokens

LATENCY_KINDS = ("fixed", "uniform", "lognormal")


@dataclass(frozen=True)
class Latency:
    """Seconds before an answer: ``fixed`` at ``mean``, or ``uniform`` / ``lognormal``
    around it (``spread``: the uniform half-width, or the lognormal's sigma)."""

    mean: float = 0.0
    kind: str = "fixed"
    spread: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in LATENCY_KINDS:
            raise ValueError(f"unknown latency '{self.kind}' (one of: {', '.join(LATENCY_KINDS)})")
        if self.mean < 0 or self.spread < 0:
            raise ValueError("latency mean and spread must be non-negative")

    def draw(self, rng: random.Random) -> float:
        match self.kind:
            case "uniform":
                return max(0.0, rng.uniform(self.mean - self.spread, self.mean + self.spread))
            case "lognormal":
                if self.mean == 0:
                    return 0.0
                mu = math.log(self.mean) - self.spread**2 / 2  # keeps the mean at `mean`
                return rng.lognormvariate(mu, self.spread)
            case _:
                return self.mean


@dataclass
class _Bucket:
    """A token bucket: ``rate`` per second, at most ``capacity``."""

    rate: float
    capacity: float
    level: float = field(init=False)
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.level = self.capacity

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` fits (0 if it does now)."""
        return max(0.0, (min(amount, self.capacity) - self.level) / self.rate)

    def reset_s(self) -> float:
        """Seconds until the bucket is full again."""
        return (self.capacity - self.level) / self.rate


class EndpointLimits:
    """A fake endpoint's latency, concurrency cap and rate budgets (thread-safe).

    Args:
        latency: how long each answer takes.
        max_concurrent: requests served at once (None: any number); the others wait.
        rpm: requests per minute (None: no budget).
        tpm: tokens per minute (None: no budget).
        burst_s: seconds' worth of budget the buckets hold (a client pacing evenly at the
            rate never meets a 429; one that bursts meets it at once).
        seed: seed of the latency draws.
    """

    def __init__(
        self,
        latency: Latency | None = None,
        *,
        max_concurrent: int | None = None,
        rpm: float | None = None,
        tpm: float | None = None,
        burst_s: float = 2.0,
        seed: int = 0,
    ) -> None:
        self.latency = latency or Latency()
        self.max_concurrent = max_concurrent
        self._slots = threading.BoundedSemaphore(max_concurrent) if max_concurrent else None
        self._requests = _Bucket(rpm / 60, max(1.0, rpm / 60 * burst_s)) if rpm else None
        self._tokens = _Bucket(tpm / 60, max(1.0, tpm / 60 * burst_s)) if tpm else None
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.served = 0
        self.rejected = 0  # answered 429
        self.active = 0
        self.peak_active = 0

    def admit(self, body: Mapping[str, Any]) -> tuple[float | None, dict[str, str]]:
        """Take budget for one request: ``(retry_after or None, rate-limit headers)``."""
        tokens = request_tokens(body)
        with self._lock:
            now = time.monotonic()
            waits = []
            for bucket, amount in ((self._requests, 1.0), (self._tokens, float(tokens))):
                if bucket is not None:
                    bucket.refill(now)
                    waits.append(bucket.wait_for(amount))
            retry_after = max(waits, default=0.0)
            if retry_after > 0:
                self.rejected += 1
            else:
                if self._requests is not None:
                    self._requests.level -= 1
                if self._tokens is not None:
                    self._tokens.level -= tokens
            headers = self._headers()
        return (retry_after if retry_after > 0 else None), headers

    def _headers(self) -> dict[str, str]:
        headers = {}
        for kind, bucket in (("requests", self._requests), ("tokens", self._tokens)):
            if bucket is not None:
                headers[f"x-ratelimit-limit-{kind}"] = f"{bucket.rate * 60:g}"
                headers[f"x-ratelimit-remaining-{kind}"] = str(max(0, math.floor(bucket.level)))
                headers[f"x-ratelimit-reset-{kind}"] = f"{bucket.reset_s():.3f}s"
        return headers

    def draw_latency(self) -> float:
        with self._lock:
            return self.latency.draw(self._rng)

    def enter(self) -> None:
        """Wait for a serving slot (a saturated server queues the request)."""
        if self._slots is not None:
            self._slots.acquire()
        with self._lock:
            self.active += 1
            self.peak_active = max(self.peak_active, self.active)
            self.served += 1

    def leave(self) -> None:
        with self._lock:
            self.active -= 1
        if self._slots is not None:
            self._slots.release()


def request_tokens(body: Mapping[str, Any]) -> int:
    """Tokens a chat request counts against TPM at admission (prompt + max output)."""
    messages = body.get("messages") or []
    texts = [str(m.get("content") or "") for m in messages if isinstance(m, Mapping)]
    limit = body.get("max_tokens") or body.get("max_completion_tokens") or 0
    return estimate_tokens(texts, int(limit))


def add_limit_options(parser: argparse.ArgumentParser) -> None:
    """The fake server's command-line flags for its limits."""
    parser.add_argument(
        "--latency-dist",
        choices=LATENCY_KINDS,
        default="fixed",
        help="how --latency is drawn (default: fixed)",
    )
    parser.add_argument(
        "--latency-spread",
        type=float,
        default=0.0,
        help="uniform half-width (s) or lognormal sigma of the latency",
    )
    parser.add_argument("--max-concurrent", type=int, default=None, help="requests served at once")
    parser.add_argument("--rpm", type=float, default=None, help="requests per minute, then 429")
    parser.add_argument("--tpm", type=float, default=None, help="tokens per minute, then 429")
    parser.add_argument(
        "--burst", type=float, default=2.0, help="seconds' worth of budget held (default: 2)"
    )


def limits_from_args(args: argparse.Namespace) -> EndpointLimits | None:
    """The limits the flags ask for (None: a plain fixed latency and no limits)."""
    if (
        args.latency_dist == "fixed"
        and args.max_concurrent is None
        and args.rpm is None
        and args.tpm is None
    ):
        return None
    return EndpointLimits(
        Latency(args.latency, args.latency_dist, args.latency_spread),
        max_concurrent=args.max_concurrent,
        rpm=args.rpm,
        tpm=args.tpm,
        burst_s=args.burst,
    )
