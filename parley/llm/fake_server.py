"""A loopback OpenAI-compatible chat server for tests and benchmarks.

Tests exercise the real ``openai`` client over real HTTP against this server instead of
mocking the client (``respx`` cannot intercept openai 3.x's httpx2). Each request is served
in its own thread, so a fixed ``latency_s`` overlaps across concurrent calls exactly as a
real server's would. Usage::

    with FakeOpenAIServer(latency_s=0.2) as server:
        server.fail("rate_limit", times=2, retry_after=1)
        llm = OpenAIBackend("fake-model", base_url=server.base_url)
        ...
        assert len(server.requests) == 3

Answers come from a queue of scripted :class:`Reply` objects, then from ``plan`` (faults
drawn by request, e.g. :class:`parley.llm.fake_replies.FaultPlan`), then from ``responder``
(default: :func:`parley.llm.fake_replies.default_responder`).
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import socket
import struct
import sys
import threading
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from parley.llm.emulation import Emulator
from parley.llm.fake_limits import EndpointLimits, add_limit_options, limits_from_args
from parley.llm.fake_replies import (
    CONTENT_FAULTS,
    FAKE_REASONING,
    Reply,
    Responder,
    completion_body,
    default_responder,
    fault_content,
)
from parley.llm.profiles import profile_names

__all__ = ["FakeOpenAIServer", "Reply"]


class FakeOpenAIServer:
    """An OpenAI-compatible server on 127.0.0.1 with scripted answers and faults.

    Args:
        responder: ``(request_json) -> content`` for unscripted requests.
        latency_s: fixed delay before every answer.
        reasoning: answer requests that carry ``reasoning_effort`` with reasoning text and
            reasoning tokens (a reasoning model).
        model: the id listed at ``/v1/models``.
        hang_s: how long a ``hang`` fault stalls (cut short by :meth:`stop`).
        port: 0 picks a free port.
        plan: ``(request_json) -> Reply`` for unscripted requests (faults by request, so
            concurrent calls get the same faults in any arrival order); None: normal replies.
        emulate: a provider profile to emulate (:mod:`parley.llm.emulation`): refuse what
            it refuses, with its error text; reason where it reasons. None: accept all.
        limits: a real endpoint's latency distribution, concurrency cap and RPM/TPM budget
            (:mod:`parley.llm.fake_limits`); its latency replaces ``latency_s``.
    """

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        latency_s: float = 0.0,
        reasoning: bool = False,
        model: str = "fake-model",
        hang_s: float = 30.0,
        port: int = 0,
        plan: Callable[[dict[str, Any]], Reply] | None = None,
        emulate: str | None = None,
        limits: EndpointLimits | None = None,
    ) -> None:
        self.responder = responder or default_responder
        self.latency_s = latency_s
        self.reasoning = reasoning
        self.model = model
        self.hang_s = hang_s
        self.requests: list[dict[str, Any]] = []
        self._port = port
        self.plan = plan
        self.emulator = Emulator(emulate) if emulate else None
        self.limits = limits
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The ``/v1`` URL to give an OpenAI client."""
        if self._httpd is None:
            raise RuntimeError("the fake server is not running; call start() first")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> FakeOpenAIServer:
        """Bind and serve in a background thread; returns self."""
        self._stopping.clear()
        self._httpd = _Server(("127.0.0.1", self._port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="parley-fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake hanging handlers and release the port."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def script(self, *replies: Reply | str) -> None:
        """Queue answers (a string is a reply with that content), served first in order."""
        with self._lock:
            self._queue.extend(r if isinstance(r, Reply) else Reply(content=r) for r in replies)

    def fail(self, fault: str, times: int = 1, **reply: Any) -> None:
        """Queue ``times`` replies with ``fault`` (see :data:`parley.llm.fake_replies.FAULTS`)."""
        self.script(*(Reply(fault=fault, **reply) for _ in range(times)))

    def _take(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(body)
            if self._queue:
                return self._queue.popleft()
        return self.plan(body) if self.plan is not None else Reply()

    def answer(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        """The completion object for a request that gets an HTTP-200 answer."""
        if reply.fault in CONTENT_FAULTS:
            content = fault_content(reply.fault, body, self.responder)
        else:
            content = reply.content if reply.content is not None else self.responder(body)
        if self.emulator is not None and reply.fault is None and reply.reasoning is None:
            return self.emulator.answer(body, content, self.model)
        reasoning = reply.reasoning
        if reasoning is None and (
            reply.fault == "reasoning_only" or (self.reasoning and body.get("reasoning_effort"))
        ):
            reasoning = FAKE_REASONING
        return completion_body(body, content, reasoning, self.model)


class _Server(ThreadingHTTPServer):
    # Hundreds of clients may connect at once (a sweep with --concurrency): a backlog of
    # 5 (the default) would refuse them, which no real server does.
    request_queue_size = 1024

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (a timeout, a run stopped mid-round) is normal here: say
        # nothing, instead of a traceback on the stderr of the process hosting the server.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """One HTTP request; keep-alive HTTP/1.1 like a real server."""

    protocol_version = "HTTP/1.1"
    server: Any

    def setup(self) -> None:
        super().setup()
        # Without TCP_NODELAY, headers and body leave in two segments and the client's
        # delayed ACK adds ~40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Silent: tests and benchmarks read ``requests`` instead of a log."""

    def do_GET(self) -> None:
        fake: FakeOpenAIServer = self.server.fake
        if self.path.rstrip("/").endswith("/models"):
            data = [{"id": fake.model, "object": "model", "owned_by": "parley-fake"}]
            self._json(200, {"object": "list", "data": data})
        else:
            self._json(404, _error("not found", "not_found"))

    def do_POST(self) -> None:
        fake: FakeOpenAIServer = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._json(404, _error("not found", "not_found"))
            return
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._json(400, _error("request body is not JSON", "invalid_request_error"))
            return
        limits = fake.limits
        rate_headers: dict[str, str] = {}
        if limits is not None:
            retry_after, rate_headers = limits.admit(body)
            if retry_after is not None:  # over the RPM/TPM budget
                rate_headers["Retry-After"] = f"{math.ceil(retry_after * 1000) / 1000:g}"
                self._json(429, _error("rate limit reached", "rate_limit_exceeded"), rate_headers)
                return
            limits.enter()
        try:
            reply = fake._take(body)
            latency = fake.latency_s if limits is None else limits.draw_latency()
            if fake._stopping.wait(latency + reply.delay_s):
                return
            refusal = fake.emulator.refusal(body) if fake.emulator and not reply.fault else None
            if refusal is not None:
                self._json(*refusal)
                return
            self._serve(fake, body, reply, rate_headers)
        finally:
            if limits is not None:
                limits.leave()

    def _serve(
        self,
        fake: FakeOpenAIServer,
        body: dict[str, Any],
        reply: Reply,
        rate_headers: dict[str, str] | None = None,
    ) -> None:
        headers = {**(rate_headers or {}), **dict(reply.headers)}
        if reply.retry_after is not None:
            headers["Retry-After"] = f"{reply.retry_after:g}"
        match reply.fault:
            case "hang":
                fake._stopping.wait(fake.hang_s)
                self._reset()
            case "reset":
                self._reset()
            case "rate_limit":
                self._json(429, _error("rate limit reached", "rate_limit_exceeded"), headers)
            case "server_error":
                self._json(500, _error("internal error", "server_error"), headers)
            case "unavailable":
                self._json(503, _error("overloaded", "server_error"), headers)
            case "auth":
                # Like OpenAI, echo the rejected key: callers must not repeat server text.
                key = self.headers.get("Authorization", "").removeprefix("Bearer ")
                self._json(401, _error(f"Incorrect API key provided: {key}", "invalid_api_key"))
            case "empty_body":
                self._send(200, b"", {"Content-Type": "application/json"})
            case "bad_request":
                message = "Invalid 'messages[0].content': string too long."
                self._json(400, _error(message, "invalid_request_error"), headers)
            case "quota":
                message = "You exceeded your current quota, please check your plan and billing."
                self._json(429, _error(message, "insufficient_quota"))
            case "length":
                done = completion_body(body, "", None, fake.model)
                done["choices"][0]["finish_reason"] = "length"
                self._json(200, done)
            case _:
                self._json(200, fake.answer(body, reply), headers)

    def _json(
        self, status: int, obj: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        self._send(
            status,
            json.dumps(obj).encode(),
            {"Content-Type": "application/json", **(headers or {})},
        )

    def _send(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _reset(self) -> None:
        # SO_LINGER 0 makes close() send a TCP RST: the client sees a reset connection.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()


def _error(message: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": code, "code": code, "param": None}}


def main(argv: list[str] | None = None) -> None:
    """Serve in the foreground: ``python -m parley.llm.fake_server --port 8011``."""
    parser = argparse.ArgumentParser(description="A loopback fake OpenAI-compatible server.")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--reasoning", action="store_true", help="act as a reasoning model")
    parser.add_argument(
        "--emulate",
        default=None,
        choices=profile_names(),
        help="answer like this provider: refuse what it refuses (its error text), reason "
        "where it reasons (see parley/llm/emulation.py)",
    )
    add_limit_options(parser)
    args = parser.parse_args(argv)
    server = FakeOpenAIServer(
        latency_s=args.latency,
        reasoning=args.reasoning,
        port=args.port,
        emulate=args.emulate,
        limits=limits_from_args(args),
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with server:
        print(server.base_url, flush=True)  # the first line of output: where to connect
        stop.wait()


if __name__ == "__main__":
    main()
