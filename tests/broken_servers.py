"""Loopback servers that answer every chat call the same broken way (for the validity tests).

Each one is how a misconfigured or starved real provider looks from the client: HTTP 400
for a parameter it refuses, 429 ``insufficient_quota`` for an account with no credit, or
HTTP 200 with empty content and ``finish_reason: "length"`` (a reasoning model that spent
its whole token budget thinking). Usage::

    with BrokenServer("length") as server:
        main(["run", "--backend", "openai", "--base-url", server.base_url, ...])
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BAD_REQUEST_TEXT = "This response_format type is unavailable now"
QUOTA_TEXT = "You exceeded your current quota, please check your plan and billing details."

#: kind -> (HTTP status, JSON body or None for a truncated completion)
ANSWERS: dict[str, tuple[int, dict[str, Any] | None]] = {
    "bad_request": (
        400,
        {
            "error": {
                "message": BAD_REQUEST_TEXT,
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_request_error",
            }
        },
    ),
    "quota": (
        429,
        {
            "error": {
                "message": QUOTA_TEXT,
                "type": "insufficient_quota",
                "param": None,
                "code": "insufficient_quota",
            }
        },
    ),
    "length": (200, None),
}


def truncated_completion(body: dict[str, Any]) -> dict[str, Any]:
    """A chat completion with empty content, cut by the token limit (all budget spent)."""
    budget = int(body.get("max_completion_tokens") or body.get("max_tokens") or 256)
    return {
        "id": "chatcmpl-broken",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model", "broken-model"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": ""},
                "finish_reason": "length",
            }
        ],
        "usage": {
            "prompt_tokens": 100,
            "completion_tokens": budget,
            "total_tokens": 100 + budget,
            "completion_tokens_details": {"reasoning_tokens": budget},
        },
    }


class BrokenServer:
    """An OpenAI-compatible server on 127.0.0.1 answering every chat call as ``kind``."""

    def __init__(self, kind: str) -> None:
        if kind not in ANSWERS:
            raise ValueError(f"unknown kind {kind!r} (one of: {', '.join(ANSWERS)})")
        self.kind = kind
        self.requests: list[dict[str, Any]] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "start() the server first"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> BrokenServer:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.broken = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,))
        self._thread.daemon = True
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Silent."""

    def do_POST(self) -> None:
        broken: BrokenServer = self.server.broken
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.loads(raw or b"{}")
        broken.requests.append(body)
        status, answer = ANSWERS[broken.kind]
        payload = json.dumps(answer if answer is not None else truncated_completion(body))
        data = payload.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
