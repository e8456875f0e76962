"""The documentation tells the truth: commands parse, the CLI reference is current, the
scenario walk-through validates and runs.

``docs/cli.md`` is generated from the parsers' ``--help``; after changing a flag, rewrite it
with ``.venv/bin/python tests/test_docs.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from parley.cli import COMMANDS, build_parser, main

ROOT = Path(__file__).resolve().parent.parent
CLI_MD = ROOT / "docs" / "cli.md"
# cli.md is --help itself (checked against the parsers below), not a page of examples.
DOCS = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").glob("*.md") if p != CLI_MD)]
HELP_COLUMNS = "100"  # argparse wraps to the terminal; the reference is written at this width

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`(parley [^`]+)`")
SHELL = {"bash", "sh", "shell"}


# -- commands shown in the docs ----------------------------------------------------------------
def shell_lines(block: str) -> list[str]:
    """Logical lines of a shell block (backslash continuations joined, comments dropped)."""
    joined = block.replace("\\\n", " ")
    return [" ".join(line.split(" #")[0].split()) for line in joined.splitlines()]


def commands_in(text: str) -> list[str]:
    """Every ``parley ...`` command shown in a Markdown text.

    Taken from shell blocks (every line), console blocks (lines after a ``$`` prompt) and
    inline code spans; output lines and plain blocks are not commands.
    """
    found: list[str] = []
    for lang, body in FENCE.findall(text):
        if lang in SHELL:
            lines = shell_lines(body)
        elif lang == "console":
            lines = [line[2:] for line in shell_lines(body) if line.startswith("$ ")]
        else:
            continue
        found += [line for line in lines if re.match(r"(\S*/)?parley\s", line)]
    prose = FENCE.sub("", text)
    found += INLINE.findall(prose)
    return [re.sub(r"^\S*/parley\s", "parley ", c) for c in found]


def documented_commands() -> list[tuple[str, str]]:
    out = []
    for path in DOCS:
        for command in commands_in(path.read_text()):
            out.append((path.name, command))
    return out


def test_the_docs_show_commands():
    names = {doc for doc, _ in documented_commands()}
    assert {"README.md", "scenarios.md", "backends.md", "extending.md"} <= names
    shown = {shlex.split(c)[1] for _, c in documented_commands()}
    assert {"run", "sweep", "report", "app", "protocol", "scenarios", "model"} <= shown


@pytest.mark.parametrize(("doc", "command"), documented_commands())
def test_documented_command_parses(doc, command):
    argv = shlex.split(command)[1:]
    parser = build_parser()
    if len(argv) == 1 and not argv[0].startswith("-"):  # prose naming a command: it exists
        assert argv[0] in subparsers(parser), f"{doc}: no command `{command}`"
        return
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse refuses (2) or has answered --help/--version (0)
        assert stop.code == 0, f"{doc}: `{command}` does not parse (exit {stop.code})"
        return
    assert callable(args.func)


def test_command_extraction():
    text = (
        "Run `parley run --seed 3` or `make run`.\n"
        "```bash\nparley sweep --policy solver \\\n  --seeds 2 --out r  # comment\n```\n"
        "```console\n$ .venv/bin/parley report r\nparley report: wrote r/report.md\n```\n"
        "```\nparley scenarios: error: x.yaml: issue.max: bad\n```\n"
    )
    assert commands_in(text) == [
        "parley sweep --policy solver --seeds 2 --out r",
        "parley report r",
        "parley run --seed 3",
    ]


# -- the CLI reference -------------------------------------------------------------------------
def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def cli_reference() -> str:
    """docs/cli.md: every command's ``--help``, in the order of ``parley --help``."""
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_COLUMNS
    try:
        parser = build_parser()
        parts = [
            "# CLI reference\n",
            "Generated from `parley COMMAND --help` by `tests/test_docs.py` (which also checks "
            "it is current;\nregenerate with `.venv/bin/python tests/test_docs.py`). "
            "Concepts are explained in\n[concepts.md](concepts.md), backends in "
            "[backends.md](backends.md).\n",
            section("parley", parser),
        ]
        for name, sub in subparsers(parser).items():
            parts.append(section(f"parley {name}", sub))
            for child, subsub in subparsers(sub).items():
                parts.append(section(f"parley {name} {child}", subsub, level=3))
        return "\n".join(parts)
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous


def section(title: str, parser: argparse.ArgumentParser, level: int = 2) -> str:
    text = parser.format_help().rstrip()
    return f"{'#' * level} `{title}`\n\n```text\n{text}\n```\n"


def test_cli_reference_is_current():
    assert CLI_MD.exists(), "docs/cli.md is missing: run .venv/bin/python tests/test_docs.py"
    assert CLI_MD.read_text() == cli_reference(), (
        "docs/cli.md is out of date with --help: run .venv/bin/python tests/test_docs.py"
    )


def test_cli_reference_covers_every_command():
    text = cli_reference()
    for name in COMMANDS:
        assert f"## `parley {name}`" in text


# -- the scenario walk-through -----------------------------------------------------------------
def walkthrough() -> tuple[dict, dict]:
    """The scenario built in docs/scenarios.md, and its ambiguous-authority variant."""
    blocks = [
        yaml.safe_load(body)
        for lang, body in FENCE.findall((ROOT / "docs" / "scenarios.md").read_text())
        if lang == "yaml"
    ]
    assert len(blocks) == 4, "the walk-through has four YAML blocks"
    issue, parties, authority, ambiguous = blocks
    scenario = {**issue, **parties, **authority}
    return scenario, {**scenario, **ambiguous}


@pytest.fixture
def water_plant(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scenario, variant = walkthrough()
    Path("water_plant.yaml").write_text(yaml.safe_dump(scenario, sort_keys=False))
    Path("water_plant_ambiguous.yaml").write_text(yaml.safe_dump(variant, sort_keys=False))
    return tmp_path


def test_walkthrough_validates(water_plant, capsys):
    assert main(["scenarios", "--check", "water_plant.yaml", "water_plant_ambiguous.yaml"]) == 0
    out = capsys.readouterr().out
    assert "ok  water_plant.yaml: water_plant (3 parties, authority rule status_quo)" in out
    assert "authority rule ambiguous" in out


def test_walkthrough_runs_as_shown(water_plant, capsys):
    text = (ROOT / "docs" / "scenarios.md").read_text()
    shown = [c for c in commands_in(text) if "water_plant.yaml" in c and " run " in f" {c} "]
    assert len(shown) == 2
    for command in shown:
        assert main(shlex.split(command)[1:] + ["--quiet"]) == 0
    assert capsys.readouterr().out.count("Outcome:") == 2


def test_walkthrough_error_example(water_plant, capsys):
    scenario, _ = walkthrough()
    scenario["parties"][1]["ideal"] = 85
    Path("water_plant.yaml").write_text(yaml.safe_dump(scenario, sort_keys=False))
    assert main(["scenarios", "--check", "water_plant.yaml"]) == 2
    err = capsys.readouterr().err.strip().replace(f"{water_plant}/", "")
    assert err in (ROOT / "docs" / "scenarios.md").read_text(), err


if __name__ == "__main__":
    CLI_MD.write_text(cli_reference())
    print(f"wrote {CLI_MD.relative_to(ROOT)}", file=sys.stderr)


# -- the extension guide -----------------------------------------------------------------------
def extending_blocks(lang: str) -> list[str]:
    text = (ROOT / "docs" / "extending.md").read_text()
    return [body for fence_lang, body in FENCE.findall(text) if fence_lang == lang]


def test_extending_condition_example_works(monkeypatch):
    from parley import config
    from parley.agents import factory, prompting, reflection
    from parley.llm.fakes import PuppetLLM, negotiator_responder
    from parley.model.model import NegotiationModel

    condition_class, registration, *_ = extending_blocks("python")
    template_text = extending_blocks("text")[0]
    namespace: dict = {}
    exec(condition_class, namespace)
    namespace.update(vars(reflection))
    namespace["LAYERS"] = layers = dict(reflection.LAYERS)
    exec(registration, namespace)
    monkeypatch.setattr(reflection, "LAYERS", layers)
    monkeypatch.setattr(factory, "CONDITIONS", (*factory.CONDITIONS, "premortem"))
    monkeypatch.setitem(config.CHOICES, "condition", factory.CONDITIONS)  # what an edit gives
    real_template = prompting.template

    def template(name):
        if name == "condition_premortem":
            return prompting.Template(template_text.rstrip("\n"))
        return real_template(name)

    monkeypatch.setattr(prompting, "template", template)
    llm = PuppetLLM(negotiator_responder)
    model = NegotiationModel(policy="llm", condition="premortem", llm=llm, max_rounds=2, rng=3)
    model.run()
    moves = model.datacollector.get_table_dataframe("moves")
    assert moves["private_state"].notna().all()
    system = llm.requests[0].messages[0][1]
    assert "private pre-mortem" in system
    assert "premortem" in llm.requests[0].schema["properties"]


class _OllamaStub:
    """A loopback stand-in for Ollama's /api/chat, answering with schema-fitting replies."""

    def __init__(self):
        import http.server
        import threading

        from parley.llm.fakes import negotiator_responder
        from parley.llm.interface import Request

        bodies = self.bodies = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                bodies.append((self.path, body))
                seed = body["options"]["seed"]
                request = Request(messages=(), schema=body.get("format"), seed=seed)
                reply = negotiator_responder(request)
                payload = {
                    "message": {"role": "assistant", "content": json.dumps(reply)},
                    "prompt_eval_count": 100,
                    "eval_count": 20,
                    "done_reason": "stop",
                }
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_extending_backend_example_works():
    from parley.llm.interface import LanguageModel
    from parley.model.model import NegotiationModel

    backend_class, _factory_case, wrapping = extending_blocks("python")[2:]
    namespace: dict = {}
    exec(backend_class, namespace)
    backend_cls = namespace["OllamaChatBackend"]
    exec(wrapping, namespace)  # builds a model around the backend; no call is made yet
    assert isinstance(namespace["model"], NegotiationModel)
    stub = _OllamaStub()
    try:
        backend = backend_cls("qwen2.5:7b", base_url=stub.url)
        assert isinstance(backend, LanguageModel)
        model = NegotiationModel(
            policy="llm", condition="bounded", llm=backend, max_rounds=2, rng=0
        )
        model.run()
    finally:
        stub.close()
    path, body = stub.bodies[0]
    assert path == "/api/chat" and body["format"]["properties"]["ledger"]
    moves = model.datacollector.get_table_dataframe("moves")
    assert len(moves) == 5 * model.round and moves["private_state"].notna().all()
    assert model.round == 2 or model.outcome.trigger == "escalation"


# -- the backends page -------------------------------------------------------------------------
def backends_python() -> list[str]:
    text = (ROOT / "docs" / "backends.md").read_text()
    return [body for lang, body in FENCE.findall(text) if lang == "python"]


def test_backends_llamacpp_example_runs(tmp_path, monkeypatch):
    from parley.llm.fake_server import FakeOpenAIServer

    monkeypatch.chdir(tmp_path)  # the example records into .parley/cache.sqlite
    example = backends_python()[0]
    with FakeOpenAIServer() as server:
        namespace: dict = {}
        exec(example.replace("http://127.0.0.1:8080/v1", server.base_url), namespace)
        sent = server.requests[0]
    assert sent["response_format"]["type"] == "json_object" and "schema" in sent["response_format"]
    assert namespace["model"].outcome is not None
    assert (tmp_path / ".parley" / "cache.sqlite").exists()


def test_backends_native_example_builds():
    from parley.model.model import NegotiationModel

    namespace: dict = {"NegotiationModel": NegotiationModel}
    exec(backends_python()[1], namespace)  # builds only: no call before the first step
    assert namespace["model"].condition == "native"
    assert namespace["model"].llm.supports_reasoning


def test_backends_native_refusal_is_shown(capsys):
    code = main(["run", "--backend", "openai", "--model", "gpt-4o-mini", "--condition", "native"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err in (ROOT / "docs" / "backends.md").read_text(), err


# -- pasted output ----------------------------------------------------------------------------
def console_sessions(text: str) -> list[tuple[str, list[str]]]:
    """(command, output lines) for every ``$ parley ...`` prompt of the console blocks."""
    sessions: list[tuple[str, list[str]]] = []
    for lang, body in FENCE.findall(text):
        if lang != "console":
            continue
        for line in body.splitlines():
            if line.startswith("$ "):
                sessions.append((line[2:], []))
            elif sessions:
                sessions[-1][1].append(line)
    return sessions


def pasted_runs() -> list[tuple[str, list[str]]]:
    """README sessions of ``parley run`` (deterministic: rule-based or replayed)."""
    return [s for s in console_sessions((ROOT / "README.md").read_text()) if " run " in s[0]]


def test_readme_shows_runs():
    assert len(pasted_runs()) >= 3


@pytest.mark.parametrize(("command", "shown"), pasted_runs())
def test_readme_run_output_is_real(command, shown, tmp_path, monkeypatch, capsys):
    # The replayed run names the shipped cache by a relative path: give it a copy there, so
    # this process never holds the repository's file open.
    data = tmp_path / "notebooks" / "data"
    shutil.copytree(ROOT / "notebooks" / "data", data)
    monkeypatch.chdir(tmp_path)
    assert main(shlex.split(command)[1:]) == 0
    printed = capsys.readouterr().out.splitlines()
    lines = iter(printed)
    for line in shown:
        if line.startswith("[") and line.endswith("cut]"):
            continue  # the README cuts long transcripts where it says so
        assert any(line == out for out in lines), f"`{command}`: not printed: {line!r}"
