"""Fixtures for the LLM-layer tests: a loopback fake server and a recognizable fake key.

Import the fixture functions in a test module (``from llm_fixtures import
fake_server_fixture``); tests then ask for ``fake_server`` and ``fake_key`` by name.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from parley.grammar import action_schema
from parley.llm.fake_server import FakeOpenAIServer
from parley.llm.interface import Request
from parley.llm.openai_backend import OpenAIBackend

KEY_ENV = "PARLEY_TEST_API_KEY"
FAKE_KEY = "sk-parley-test-DO-NOT-LEAK-7f3a9c1e5b"
SCHEMA = action_schema(["risk", "desk", "audit"], [40.0, 60.0, 80.0])


@pytest.fixture(name="fake_server")
def fake_server_fixture() -> Iterator[FakeOpenAIServer]:
    """A running fake server (short hangs, so a stopped test never waits long)."""
    with FakeOpenAIServer(hang_s=5.0) as server:
        yield server


@pytest.fixture(name="fake_key")
def fake_key_fixture(monkeypatch: pytest.MonkeyPatch) -> str:
    """Set a recognizable fake API key in :data:`KEY_ENV` and return it."""
    monkeypatch.setenv(KEY_ENV, FAKE_KEY)
    return FAKE_KEY


def backend(fake: FakeOpenAIServer, /, **kwargs: object) -> OpenAIBackend:
    """An :class:`OpenAIBackend` on ``fake`` reading its key from :data:`KEY_ENV`."""
    kwargs.setdefault("timeout", 5.0)
    return OpenAIBackend("fake-model", base_url=fake.base_url, api_key_env=KEY_ENV, **kwargs)


def ask(text: str = "Your move?", **knobs: object) -> Request:
    """A one-message request for the negotiation schema (knobs override)."""
    knobs.setdefault("schema", SCHEMA)
    return Request.of([{"role": "user", "content": text}], **knobs)


def files_containing(root: Path, secret: str) -> list[Path]:
    """Every file under ``root`` whose bytes contain ``secret``."""
    return [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


NO_KEY_ENV = "PARLEY_TEST_NO_KEY"  # never set: the fake server needs no key


def server_flags(url: str, *extra: str) -> list[str]:
    """CLI flags for the fake server at ``url``: no key, short timeout, no retries."""
    return [
        *("--backend", "openai", "--model", "fake-model", "--base-url", url),
        *("--api-key-env", NO_KEY_ENV, "--timeout", "5", "--max-retries", "0"),
        *extra,
    ]
