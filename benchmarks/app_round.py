"""Issue 15 benchmark: does the app slow an LLM round down, and where would the time go?

An LLM round took 238 s in the app against 141 s from the CLI (1.7x, embedded model on a
2-core machine). The suspects were the browser, the page's polling, and threads competing
for the model. This script measures each:

(a) **rounds**: one LLM round played by ``model.step()`` as the CLI does, and the same
    round played by the app's :class:`~parley.viz.runner.LiveRun` inside a rendered
    ``LivePanel`` (per-turn progress, the clock ticking every second, the views redrawn at
    the end), both with the same LLM. ``--llm fake`` (default) is an in-process fake with a
    fixed latency per call, one call at a time as the embedded model runs; ``--llm
    embedded`` is the real model (slow: use ``nice`` and few repeats).
(b) **browser** (``--browser``, needs Chromium and Playwright): the CPU time headless
    Chromium burns while a page shows an LLM round in progress: the page as it is (a
    progress line that changes once a second and a determinate bar), and the same page
    with one indeterminate Vuetify progress bar added, as the old page showed for the whole
    round. On 2 cores, every core-second Chromium takes is one llama.cpp cannot use.

    nice -n 10 .venv/bin/python benchmarks/app_round.py [--llm fake|embedded] [--repeats 3]
        [--latency 2.0] [--browser]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import solara

from parley.llm.fakes import PuppetLLM, negotiator_responder
from parley.model.model import NegotiationModel
from parley.viz.live import LivePanel
from parley.viz.params import initial_values, model_params

SCENARIO = "grid_curtailment"


def make_llm(kind: str, latency: float) -> Any:
    if kind == "fake":
        return PuppetLLM(negotiator_responder, latency=latency)
    from parley.llm.factory import make_llm as build

    llm = build({"backend": "embedded"})
    return llm


def cli_round(llm: Any, seed: int) -> float:
    """One round as ``parley run`` plays it: ``model.step()`` in the calling thread."""
    model = NegotiationModel(scenario=SCENARIO, policy="llm", llm=llm, rng=seed, max_concurrency=1)
    start = time.perf_counter()
    model.step()
    return time.perf_counter() - start


class _TimedModel(NegotiationModel):
    """Notes when its round's computation ended (before the page draws it)."""

    stepped_at = 0.0

    def step(self) -> None:
        super().step()
        self.stepped_at = time.perf_counter()


def app_round(llm: Any, seed: int) -> tuple[float, float]:
    """The same round from the app's Step button, with the panel rendered server-side:
    (seconds until the round was computed, seconds until the page had drawn it)."""
    import ipyvuetify as v

    models: list[_TimedModel] = []

    def factory(**kwargs: Any) -> NegotiationModel:
        models.append(_TimedModel(**{**kwargs, "max_concurrency": 1}, llm=llm))
        return models[-1]

    values = {**initial_values(model_params()), "policy": "llm", "rng": str(seed)}
    box, rc = solara.render(LivePanel(solara.reactive(values), factory), handle_error=False)
    step = rc.find(v.Btn, children=["Step"]).widget
    start = time.perf_counter()
    step.click()
    while "Round 1 of" not in _text(box):
        time.sleep(0.05)
    drawn = time.perf_counter() - start
    rc.close()
    return models[-1].stepped_at - start, drawn


def _text(widget: Any) -> str:
    """The text of a rendered widget tree (HTML strings and children)."""
    out = [getattr(widget, "unsafe_innerHTML", None) or ""]
    for child in getattr(widget, "children", None) or []:
        out.append(child if isinstance(child, str) else _text(child))
    return "\n".join(out)


def measure(name: str, fn: Callable[[], float], repeats: int) -> list[float]:
    return report(name, [fn() for _ in range(repeats)])


def report(name: str, times: list[float]) -> list[float]:
    each = ", ".join(f"{t:.2f}" for t in times)
    print(f"  {name:<34} median {statistics.median(times):7.2f} s   ({each})")
    return times


# -- the browser ------------------------------------------------------------------------------
def _cpu_seconds_of_descendants(name: str) -> float:
    """utime+stime of every process below this one whose command name contains ``name``."""
    parents: dict[int, int] = {}
    comms: dict[int, str] = {}
    ticks: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        pid = int(entry.name)
        parents[pid], comms[pid] = int(fields[1]), comm
        ticks[pid] = int(fields[11]) + int(fields[12])
    me = os.getpid()

    def below(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == me:
                return True
        return False

    hz = os.sysconf("SC_CLK_TCK")
    return sum(t for p, t in ticks.items() if name in comms[p] and below(p)) / hz


INDETERMINATE_BAR = """() => {
    const bar = document.createElement('div');
    bar.innerHTML = `<div class="v-progress-linear v-progress-linear--active
        v-progress-linear--rounded" role="progressbar" style="height:4px; top:0">
      <div class="v-progress-linear__background bg-primary" style="opacity:0.3"></div>
      <div class="v-progress-linear__indeterminate v-progress-linear__indeterminate--active">
        <div class="v-progress-linear__indeterminate long bg-primary"></div>
        <div class="v-progress-linear__indeterminate short bg-primary"></div>
      </div></div>`;
    document.querySelector('.parley-main').prepend(bar);
}"""


def browser_cpu(seconds: float) -> None:
    """Chromium's CPU while an LLM round is in progress, with and without an endless bar."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from test_app_browser import CHROMIUM, CHROMIUM_FLAGS, choose, counter, missing

    from parley.llm.fake_server import FakeOpenAIServer

    reason = missing()
    if reason:
        print(f"  browser: skipped ({reason})")
        return
    import socket
    import subprocess
    import urllib.request

    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = Path(__file__).resolve().parents[1] / "parley" / "viz" / "app.py"
    cmd = [sys.executable, "-m", "solara", "run", str(app), "--host", "127.0.0.1"]
    server = subprocess.Popen(
        [*cmd, "--port", str(port), "--no-open", "--production"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                time.sleep(0.5)
        with FakeOpenAIServer(latency_s=3600) as llm_server, sync_playwright() as pw:
            for label, extra in (
                ("page as it is", None),
                ("+ indeterminate bar", INDETERMINATE_BAR),
            ):
                browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
                page = browser.new_page(viewport={"width": 1500, "height": 1000})
                page.set_default_timeout(120_000)
                page.goto(url)
                counter(page, "Round 0 of 10")
                choose(page, "Policy", "llm")
                choose(page, "LLM backend", "openai")
                field = page.get_by_label("Base URL (openai backend; blank: the client's)")
                field.fill(llm_server.base_url)
                field.press("Enter")
                page.get_by_text("live · llm (openai: gpt-4o-mini)").wait_for()
                page.get_by_role("button", name="Step").click()
                page.locator(".parley-turns").wait_for()
                if extra:
                    page.evaluate(extra)
                time.sleep(2.0)  # settle
                before = _cpu_seconds_of_descendants("chrom")
                time.sleep(seconds)
                used = _cpu_seconds_of_descendants("chrom") - before
                print(
                    f"  browser, {label:<22} Chromium CPU {used:6.2f} s in {seconds:.0f} s "
                    f"= {100 * used / seconds:5.1f}% of one core"
                )
                page.get_by_role("button", name="■ Stop").click()
                browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--llm", choices=("fake", "embedded"), default="fake")
    parser.add_argument("--latency", type=float, default=2.0, help="fake: seconds per call")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--browser", action="store_true", help="also measure Chromium's CPU")
    parser.add_argument("--browser-seconds", type=float, default=20.0)
    args = parser.parse_args()
    llm = make_llm(args.llm, args.latency)
    what = f"fake LLM, {args.latency:g} s per call" if args.llm == "fake" else "embedded model"
    print(f"parley app round benchmark · {SCENARIO} · 5 negotiators, one call at a time · {what}")
    if args.llm == "embedded":
        cli_round(llm, 99)  # load the weights once, outside the figures
    cli = measure("CLI: model.step()", lambda: cli_round(llm, 0), args.repeats)
    both = [app_round(llm, 0) for _ in range(args.repeats)]
    app = report("app: Step, round computed", [c for c, _ in both])
    report("app: Step, round drawn (+ figures)", [d for _, d in both])
    ratio = statistics.median(app) / statistics.median(cli)
    print(f"  app / CLI (computed): {ratio:.3f}")
    if args.browser:
        browser_cpu(args.browser_seconds)


if __name__ == "__main__":
    main()
