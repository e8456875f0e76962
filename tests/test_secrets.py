"""Secrets: a recognizable fake API key never lands in a file, a log, a page or an error.

Each test sets the key in the environment variable the runs read, drives a user-facing
path (run, sweep, report, the app's views) against the loopback fake server — including a
server that rejects the key and echoes it back, as OpenAI does — and scans everything
written, printed, logged or raised for it.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
from llm_fixtures import FAKE_KEY, KEY_ENV, fake_key_fixture, files_containing  # noqa: F401

from parley.cli import main
from parley.llm.fake_server import FakeOpenAIServer
from parley.llm.fakes import as_server_responder, negotiator_responder
from parley.llm.interface import LLMError
from parley.llm.openai_backend import OpenAIBackend
from parley.llm.wrappers import find_layer
from parley.model.model import NegotiationModel

LLM_FLAGS = ["--policy", "llm", "--backend", "openai", "--model", "fake-model"]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(as_server_responder(negotiator_responder), hang_s=2.0) as fake:
        yield fake


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every record any library logs, down to DEBUG (openai and httpx log requests there)."""
    caplog.set_level(logging.DEBUG)
    return caplog


def assert_nowhere(secret: str, root: Path, *texts: str) -> None:
    """Zero hits of ``secret`` in any file under ``root`` and in ``texts``."""
    assert files_containing(root, secret) == []
    for text in texts:
        assert secret not in text


def flags(server: FakeOpenAIServer, tmp_path: Path) -> list[str]:
    return [
        *LLM_FLAGS,
        "--base-url",
        server.base_url,
        "--api-key-env",
        KEY_ENV,
        "--timeout",
        "5",
        "--cache",
        "record",
        "--cache-path",
        str(tmp_path / "cache.sqlite"),
    ]


def test_the_key_reaches_the_server_and_nothing_else(
    server, fake_key, tmp_path, capsys, logs
) -> None:
    argv = ["run", *flags(server, tmp_path), "--authority", "llm", "--max-rounds", "2"]
    assert main([*argv, "--private", "--out", str(tmp_path / "run")]) == 0
    out, err = capsys.readouterr()
    assert len(server.requests) >= 10  # the calls were made, with the key...
    assert (tmp_path / "cache.sqlite").stat().st_size > 0
    assert_nowhere(fake_key, tmp_path, out, err, logs.text)  # ...and it went nowhere else
    assert any(r.name.startswith(("openai", "httpx")) for r in logs.records)  # logs were seen


def test_a_rejected_key_echoed_by_the_server_is_not_repeated(
    server, fake_key, tmp_path, capsys, logs
) -> None:
    server.fail("auth", times=100)  # 401 whose message quotes the key, like OpenAI's
    argv = ["run", *flags(server, tmp_path), "--max-rounds", "1", "--out", str(tmp_path / "r")]
    assert main(argv) == 2  # a rejected key stops the run: one line, exit 2
    out, err = capsys.readouterr()
    assert server.requests  # the server did see (and echo) the key
    assert "authentication failed" in err and len(err.strip().splitlines()) == 1
    assert_nowhere(fake_key, tmp_path, out, err, logs.text)
    model = NegotiationModel(
        policy="llm",
        backend="openai",
        model="fake-model",
        base_url=server.base_url,
        api_key_env=KEY_ENV,
        timeout=5.0,
        rng=0,
    )
    with pytest.raises(LLMError) as caught:  # raised from a step, the error says no more
        model.step()
    assert caught.value.fault == "auth"
    trace = "".join(traceback.format_exception(caught.value))
    assert fake_key not in trace and fake_key not in repr(caught.value)
    backend = find_layer(model.llm, OpenAIBackend)
    assert fake_key not in repr(backend) and fake_key not in str(model.params)
