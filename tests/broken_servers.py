"""Loopback servers that answer every chat call the same broken way (for the validity tests).

Each is how a misconfigured or starved real provider looks from the client: HTTP 400 for a
request it refuses (``bad_request``), 429 ``insufficient_quota`` for an account with no
credit (``quota``), or HTTP 200 with empty content and ``finish_reason: "length"`` (a
reasoning model that spent its whole budget thinking; ``length``) — the fake server's own
configuration-fault replies, served for every request. Usage::

    with broken_server("length") as server:
        main(["run", "--backend", "openai", "--base-url", server.base_url, ...])
"""

from __future__ import annotations

from parley.llm.fake_replies import CONFIG_FAULT_REPLIES, Reply
from parley.llm.fake_server import FakeOpenAIServer

#: Words of the server's own message for each kind (the CLI must show them).
SERVER_TEXT = {
    "bad_request": "string too long",
    "quota": "You exceeded your current quota",
    "length": "cut off",
}


def broken_server(kind: str) -> FakeOpenAIServer:
    """A fake server (not started) answering every chat call with the fault ``kind``."""
    if kind not in CONFIG_FAULT_REPLIES:
        raise ValueError(f"unknown kind {kind!r} (one of: {', '.join(CONFIG_FAULT_REPLIES)})")
    return FakeOpenAIServer(plan=lambda body: Reply(fault=kind))
