"""``parley check``: one real turn per condition against a loopback server, a table, exit 2
on any problem; `parley sweep` and `parley protocol` run the same probe first."""

from __future__ import annotations

from pathlib import Path

from broken_servers import SERVER_TEXT, broken_server
from llm_fixtures import NO_KEY_ENV, server_flags

from parley.cli import main
from parley.experiments.probe import needs_probe, probe, probe_configs, table_text
from parley.llm.fake_server import FakeOpenAIServer

flags = server_flags


def params(url: str, **extra) -> dict:
    return {
        "scenario": "grid_curtailment",
        "policy": "llm",
        "backend": "openai",
        "model": "fake-model",
        "base_url": url,
        "api_key_env": NO_KEY_ENV,
        "timeout": 5.0,
        "max_retries": 0,
        **extra,
    }


def test_a_healthy_endpoint_passes_every_condition(capsys) -> None:
    conditions = ["none", "none_budget", "bounded", "private_memo", "private_persona"]
    with FakeOpenAIServer() as server:
        code = main(["check", *flags(server.base_url), "--condition", *conditions])
        sent = list(server.requests)
    err = capsys.readouterr().err
    assert code == 0, err
    lines = err.splitlines()
    assert lines[0].split()[:4] == ["model", "condition", "accepted", "valid"]
    rows = lines[2:]
    assert [r.split()[1] for r in rows] == conditions and "problem" not in err
    assert all(r.split()[2] == "yes" for r in rows)
    # One turn per condition, through the run's own path: the condition's schema was sent.
    assert len(sent) >= len(conditions)
    memo = [r for r in sent if "memo" in str(r.get("response_format"))]
    assert memo, "private_memo's schema (with its memo field) was not what the probe sent"


def test_native_needs_a_reasoning_model_and_gets_reasoning(capsys) -> None:
    with FakeOpenAIServer(reasoning=True) as server:
        assert main(["check", *flags(server.base_url), "--condition", "native"]) == 2
        refused = capsys.readouterr().err
        assert "cannot run" in refused and "native" in refused
        argv = ["check", *flags(server.base_url, "--reasoning"), "--condition", "native"]
        assert main(argv) == 0
    row = capsys.readouterr().err.splitlines()[2]
    assert row.split()[1] == "native" and "+text" in row


def test_a_refused_request_is_a_problem_with_the_servers_message(capsys) -> None:
    with broken_server("bad_request") as server:
        code = main(["check", *flags(server.base_url), "--condition", "none", "bounded"])
    err = capsys.readouterr().err
    assert code == 2
    problems = [line for line in err.splitlines() if line.startswith("problem:")]
    assert len(problems) == 2 and all(SERVER_TEXT["bad_request"] in p for p in problems)
    assert [r.split()[2] for r in err.splitlines()[2:4]] == ["no", "no"]


def test_an_answer_cut_off_by_the_token_limit_is_a_problem() -> None:
    with broken_server("length") as server:
        result = probe(params(server.base_url))
    assert not result.ok and not result.valid
    assert result.problem is not None
    # An invalid answer, or (when the LLM layer stops truncated replies) a 'truncated' fault.
    assert any(w in result.problem for w in ("cut off", "no valid action", "truncated"))
    assert "problem: fake-model · none:" in table_text([result])


def test_probe_configs_one_per_distinct_request() -> None:
    cells = [
        params("http://x/v1", condition=c, scenario=s, cache=cache)
        for c in ("none", "bounded")
        for s in ("grid_curtailment", "trading_limits_unified")
        for cache in ("off", "auto")
    ]
    configs = probe_configs(cells)
    assert [c["condition"] for c in configs] == ["none", "bounded"]
    assert not needs_probe(params("http://x/v1", cache="replay"))
    assert not needs_probe({"policy": "llm", "backend": "embedded"})
    assert not needs_probe({"policy": "heuristic"})


def test_check_refuses_what_it_cannot_probe(capsys) -> None:
    assert main(["check", "--policy", "heuristic", "--backend", "openai"]) == 2
    assert "probes LLM negotiators" in capsys.readouterr().err
    assert main(["check"]) == 2
    assert "probes a server" in capsys.readouterr().err


def test_sweep_probes_first_and_refuses_to_start_on_a_problem(tmp_path: Path, capsys) -> None:
    out = tmp_path / "sweep"
    with broken_server("bad_request") as server:
        argv = ["sweep", "--policy", "llm", *flags(server.base_url), "--condition", "none"]
        argv += ["--scenario", "grid_curtailment", "--seeds", "3", "--out", str(out)]
        code = main(argv)
        probed = len(server.requests)
    err = capsys.readouterr().err
    assert code == 2 and "the endpoint check failed" in err and "--no-check" in err
    assert probed == 1 and not out.exists()  # no run started


def test_protocol_probes_first_too(tmp_path: Path, capsys) -> None:
    with broken_server("bad_request") as server:
        argv = ["protocol", "--policy", "llm", *flags(server.base_url), "--condition", "none"]
        argv += ["--scenario", "grid_curtailment", "--seeds", "2", "--out", str(tmp_path / "p")]
        assert main(argv) == 2
    assert "the endpoint check failed" in capsys.readouterr().err


def test_sweep_with_a_healthy_endpoint_probes_then_runs(tmp_path: Path, capsys) -> None:
    with FakeOpenAIServer() as server:
        argv = ["sweep", "--policy", "llm", *flags(server.base_url), "--condition", "none"]
        argv += ["--scenario", "grid_curtailment", "--seeds", "1", "--out", str(tmp_path / "s")]
        assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "accepted" in err and "1 runs (0 already done, 1 run now)" in out
