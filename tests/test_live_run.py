"""The live run in front of a class: Pause, Stop, Reset and a closed tab take effect at once.

:class:`~parley.viz.runner.LiveRun` is driven directly (no browser): LLM rounds use an
in-process fake with latency, so an LLM call in flight can be observed being cancelled.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import ipyvuetify
import pytest
import solara

from parley.concurrency import LoopThread, RunCancelled
from parley.llm.fakes import PuppetLLM, negotiator_responder
from parley.llm.interface import Completion, Request
from parley.model.model import NegotiationModel
from parley.viz.live import LivePanel
from parley.viz.live_state import LiveState
from parley.viz.params import initial_values, model_params
from parley.viz.runner import LiveRun
from parley.viz.view import RunView


class TrackedLLM(PuppetLLM):
    """A slow fake LLM that counts the calls started, finished and cancelled."""

    def __init__(self, latency: float) -> None:
        super().__init__(negotiator_responder, latency=latency)
        self.started = self.finished = self.cancelled = 0

    async def acomplete(self, request: Request) -> Completion:
        self.started += 1
        try:
            done = await super().acomplete(request)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        self.finished += 1
        return done


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> float:
    """Poll ``check`` until it holds; the seconds it took."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)
    return time.monotonic() - start


class Page:
    """What a page does with a LiveRun: keep the latest state, confirm each view it draws."""

    def __init__(
        self, llm=None, play_seconds: float = 0.05, confirm: bool = True, out_dir=None
    ) -> None:
        self.states: list[LiveState] = []
        self.views: list[tuple[float, RunView]] = []  # (when published, view)
        self.confirm = confirm

        def factory(**kwargs) -> NegotiationModel:
            return (
                NegotiationModel(**kwargs, llm=llm)
                if llm is not None
                else NegotiationModel(**kwargs)
            )

        self.run = LiveRun(factory, self.publish, play_seconds=play_seconds, out_dir=out_dir)

    def publish(self, state: LiveState) -> None:
        self.states.append(state)
        if state.view is not None and (not self.views or self.views[-1][1] is not state.view):
            self.views.append((time.monotonic(), state.view))
            if self.confirm:
                self.run.shown(state.view)

    @property
    def state(self) -> LiveState:
        return self.run.state


def llm_page(latency: float, **model) -> tuple[Page, TrackedLLM]:
    llm = TrackedLLM(latency)
    page = Page(llm)
    page.run.reset({"policy": "llm", "rng": 0, "max_concurrency": 1, **model})
    return page, llm


# -- Pause -----------------------------------------------------------------------------------
def test_pause_stops_after_the_current_turn_and_step_finishes_the_round():
    page, llm = llm_page(0.3)
    page.run.play()
    wait_for(lambda: page.state.progress is not None and len(page.state.progress.decided) >= 1)
    assert page.state.can_pause and page.state.turns
    page.run.pause()
    assert not page.state.playing and page.state.progress.paused
    assert page.state.paused and not page.state.can_pause
    started = llm.started
    time.sleep(1.0)  # three turns' worth: none starts
    assert llm.started == started and llm.cancelled == 0
    assert page.state.busy == 1 and page.state.view.round == 0
    assert "paused after this turn" in page.state.progress.text()
    assert page.state.can_step
    page.run.step()  # finishes the paused round, then stops
    wait_for(lambda: page.state.view.round == 1)
    time.sleep(0.5)
    assert page.state.view.round == 1 and page.state.busy is None and not page.state.playing
    assert llm.cancelled == 0 and llm.finished == llm.started  # nothing was lost by pausing


def test_a_stepped_llm_round_can_be_paused_too():
    page, llm = llm_page(0.3)
    page.run.step()
    wait_for(lambda: page.state.progress is not None and len(page.state.progress.decided) >= 1)
    assert page.state.can_pause and not page.state.can_step
    page.run.pause()
    started = llm.started
    time.sleep(0.8)
    assert llm.started == started and page.state.can_step
    page.run.play()  # Play resumes the round and goes on
    wait_for(lambda: page.state.view.round >= 2, timeout=20)
    page.run.close()


def test_pause_during_play_of_rule_based_rounds_stops_after_the_round():
    page = Page(play_seconds=0.3)
    page.run.reset({"policy": "heuristic", "rng": 0})
    page.run.play()
    wait_for(lambda: page.state.view.round >= 1)
    page.run.pause()
    wait_for(lambda: page.state.busy is None)
    held = page.state.view.round
    time.sleep(0.8)
    assert page.state.view.round == held and not page.state.playing


# -- Saving (parley app --out) ---------------------------------------------------------------
def test_a_finished_live_run_is_saved_as_a_results_directory_and_a_stopped_one_is_not(
    tmp_path,
):
    from parley.experiments.storage import load_results

    page = Page(play_seconds=0.0, out_dir=tmp_path)
    page.run.reset({"policy": "heuristic", "rng": 3, "max_rounds": 4})
    page.run.play()
    wait_for(lambda: page.state.saved is not None)
    (saved,) = tmp_path.iterdir()
    assert str(saved) == page.state.saved and "grid_curtailment-seed3" in saved.name
    results = load_results(saved)
    assert results.manifest["parameters"]["rng"] == 3 and results.manifest["app"] is True
    assert results["runs"]["status"].iloc[0] == "ok"
    assert results["rounds"]["round"].max() == page.state.view.round  # with round 0
    # a run stopped mid-way is not a finished run: nothing more is saved
    page.run.reset({"policy": "heuristic", "rng": 4})
    page.run.step()
    wait_for(lambda: page.state.view.round == 1)
    page.run.stop()
    time.sleep(0.3)
    assert len(list(tmp_path.iterdir())) == 1 and page.state.saved is None


# -- Stop, Reset, a closed tab ---------------------------------------------------------------
def test_stop_cancels_the_llm_calls_in_flight_at_once():
    page, llm = llm_page(30.0, max_concurrency=5)  # five calls of 30 s each in flight
    page.run.step()
    wait_for(lambda: llm.started == 5)
    model, runner = page.run.model, page.run._runner
    took = time.monotonic()
    page.run.stop()
    wait_for(lambda: llm.cancelled == 5, timeout=2.0)
    assert time.monotonic() - took < 2.0
    assert page.state.stopped.startswith("Stopped during round 1: that round was discarded")
    assert page.state.view.round == 0 and not page.state.view.running
    assert not page.state.can_step and llm.finished == 0
    wait_for(lambda: not runner.thread.is_alive(), timeout=2.0)  # its thread has ended
    assert model.loop.cancelled


def test_reset_cancels_the_round_and_the_next_step_never_waits_for_it():
    page, llm = llm_page(30.0)
    page.run.step()
    wait_for(lambda: llm.started == 1)
    page.run.reset({"policy": "heuristic", "rng": 0})  # a rule-based run next
    wait_for(lambda: llm.cancelled == 1, timeout=2.0)
    assert page.state.view.round == 0 and page.state.busy is None
    page.run.step()
    assert wait_for(lambda: page.state.view.round == 1, timeout=5.0) < 5.0


def test_reset_then_an_llm_step_starts_its_calls_at_once():
    page, llm = llm_page(30.0)
    page.run.step()
    wait_for(lambda: llm.started == 1)
    page.run.reset({"policy": "llm", "rng": 0, "max_concurrency": 1})
    page.run.step()
    wait_for(lambda: llm.started == 2, timeout=2.0)  # the new round's first call is under way
    assert llm.cancelled == 1 and page.state.busy == 1 and page.state.view.round == 0
    page.run.close()
    wait_for(lambda: llm.cancelled == 2, timeout=2.0)


def test_an_abandoned_round_never_publishes_into_the_new_run():
    page, llm = llm_page(0.4)
    page.run.step()
    wait_for(lambda: llm.started == 1)
    page.run.reset({"policy": "heuristic", "rng": 5, "max_rounds": 3})
    new_view = page.state.view
    time.sleep(1.0)
    assert page.state.view is new_view and page.state.error is None


def test_closing_the_page_cancels_the_sessions_run():
    llm = TrackedLLM(30.0)

    def factory(**kwargs) -> NegotiationModel:
        return NegotiationModel(**kwargs, llm=llm)

    values = {**initial_values(model_params()), "policy": "llm"}
    box, rc = solara.render(LivePanel(solara.reactive(values), factory), handle_error=False)
    step = rc.find(ipyvuetify.Btn, children=["Step"]).widget
    step.click()
    wait_for(lambda: llm.started >= 1)
    rc.close()  # what Solara does when the tab is closed (the page's kernel shuts down)
    wait_for(lambda: llm.cancelled == llm.started, timeout=2.0)
    assert llm.finished == 0


def test_loop_thread_cancel_refuses_later_coroutines():
    loop = LoopThread()

    async def slow() -> int:
        await asyncio.sleep(30)
        return 1

    box: dict[str, BaseException] = {}

    def run() -> None:
        try:
            loop.run(slow())
        except BaseException as err:
            box["error"] = err

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.2)
    loop.cancel()
    t.join(timeout=2)
    assert isinstance(box.get("error"), RunCancelled)

    async def quick() -> int:
        return 2

    with pytest.raises(RunCancelled):
        loop.run(quick())


# -- Play ------------------------------------------------------------------------------------
def test_play_shows_every_round_each_for_the_set_time():
    page = Page(play_seconds=0.25)
    page.run.reset({"policy": "heuristic", "rng": 0, "scenario": "trading_limits_fragmented"})
    page.run.play()
    wait_for(lambda: not page.state.view.running, timeout=60)
    rounds = [v.round for _, v in page.views]
    assert rounds == list(range(rounds[-1] + 1)) and rounds[-1] >= 5  # none skipped
    gaps = [b - a for (a, _), (b, _) in zip(page.views[1:], page.views[2:], strict=False)]
    assert min(gaps) >= 0.25  # each round stayed up for the presenter's time
    assert not page.state.playing


def test_play_waits_until_the_page_has_drawn_a_round():
    page = Page(play_seconds=0.0, confirm=False)
    page.run.reset({"policy": "heuristic", "rng": 0})
    page.run.play()
    wait_for(lambda: page.state.view.round == 1)
    time.sleep(0.6)
    assert page.state.view.round == 1  # round 1 is not yet drawn: no round 2
    page.run.shown(page.state.view)
    wait_for(lambda: page.state.view.round == 2)


# -- progress --------------------------------------------------------------------------------
def test_progress_says_who_decided_the_time_and_the_calls_so_far():
    page, llm = llm_page(0.3)
    page.run.step()
    wait_for(lambda: page.state.progress is not None and len(page.state.progress.decided) == 2)
    p = page.state.progress
    text = p.text()
    assert text.startswith("Round 1 · 2/5 decided · ")
    assert p.last.split()[0] == p.decided[-1] and p.calls >= 2 and p.tokens > 0
    assert f"{p.calls} LLM calls, {p.tokens:,} tokens" in text and " s · " in text
    wait_for(lambda: page.state.view.round == 1)
    assert page.state.progress is None


def test_progress_clock_ticks_while_a_turn_runs():
    page, llm = llm_page(2.5)
    page.run.step()
    wait_for(lambda: page.state.progress is not None)
    wait_for(lambda: page.state.progress.elapsed_s >= 1.0, timeout=3.0)
    assert page.state.progress.decided == ()  # ticked before any decision arrived
    page.run.close()


# -- the embedded model stops generating -----------------------------------------------------
class FakeLlama:
    """Stands in for ``llama_cpp.Llama``: its completion runs the ``generate`` token loop, as
    llama-cpp-python's does, one token every 10 ms."""

    def __init__(self, tokens: int = 1000) -> None:
        self.tokens, self.generated = tokens, 0

    def generate(self, *args, **kwargs):
        for token in range(self.tokens):
            time.sleep(0.01)
            self.generated += 1
            yield token

    def create_chat_completion(self, **kwargs) -> dict:
        n = sum(1 for _ in self.generate())
        return {
            "choices": [{"message": {"content": "x" * n}, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": n},
        }


def fake_embedded(tokens: int) -> tuple[object, object, FakeLlama]:
    from parley.llm import embedded

    fake = FakeLlama(tokens)
    loaded = embedded._Loaded(fake, threading.Lock(), "fake")
    embedded._stop_when_cancelled(loaded)
    llm = embedded.EmbeddedLLM()
    llm._loaded = lambda: loaded  # type: ignore[method-assign]
    return llm, loaded, fake


def test_a_cancelled_embedded_call_stops_generating_at_its_next_token():
    llm, loaded, fake = fake_embedded(1000)  # 10 s of tokens

    async def cancel_soon() -> float:
        task = asyncio.create_task(llm.acomplete(Request.of([{"role": "user", "content": "hi"}])))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic()

    cancelled_at = asyncio.run(cancel_soon())
    assert loaded.lock.acquire(timeout=1.0)  # the model is free for the next call at once
    assert time.monotonic() - cancelled_at < 0.5
    loaded.lock.release()
    assert 10 <= fake.generated < 100 and loaded.cancel is None


def test_an_uncancelled_embedded_call_is_untouched_by_the_hook():
    llm, _, fake = fake_embedded(20)
    done = llm.complete(Request.of([{"role": "user", "content": "hi"}]))
    assert done.text == "x" * 20 and done.usage.completion_tokens == 20 and fake.generated == 20


@pytest.mark.embedded
def test_the_real_embedded_model_stops_generating_when_its_call_is_cancelled():
    from parley.llm.embedded import EmbeddedLLM
    from parley.llm.weights import embedded_status

    ok, reason = embedded_status()
    if not ok:
        pytest.skip(f"embedded model unavailable: {reason}")
    llm = EmbeddedLLM()
    llm.load()
    long = Request.of(
        [{"role": "user", "content": "Count from 1 to 2000, one number a line."}],
        max_tokens=2000,
        temperature=0.0,
        seed=0,
    )

    async def cancel_after(seconds: float) -> float:
        task = asyncio.create_task(llm.acomplete(long))
        await asyncio.sleep(seconds)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic()

    cancelled_at = asyncio.run(cancel_after(3.0))
    loaded = llm._loaded()
    assert loaded.lock.acquire(timeout=5.0)  # generation stopped: the lock is free
    freed_after = time.monotonic() - cancelled_at
    loaded.lock.release()
    assert freed_after < 2.0, f"the model went on generating for {freed_after:.1f} s"
    short = llm.complete(Request.of([{"role": "user", "content": "Say hi."}], max_tokens=8))
    assert short.text  # and it answers the next call normally
