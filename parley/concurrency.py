"""Run coroutines from sync code, bounded, in submission order (never completion order)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import threading
from collections.abc import Awaitable, Coroutine, Sequence
from typing import Any


class RunCancelled(Exception):
    """The run was cancelled (:meth:`LoopThread.cancel`): its rounds stop, nothing is recorded."""


async def gather_bounded[T](coros: Sequence[Awaitable[T]], limit: int) -> list[T]:
    """Await ``coros`` with at most ``limit`` in flight; results keep the input order.

    The first failure cancels the others (those still queued are closed unstarted) and is
    raised as itself, so a configuration fault stops a round without leaving calls running
    or coroutines never awaited.
    """
    semaphore = asyncio.Semaphore(max(1, limit))

    async def one(coro: Awaitable[T]) -> T:
        async with semaphore:
            return await coro

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(c)) for c in coros]
    except* BaseException as failed:
        raise failed.exceptions[0] from None
    finally:  # cancelled while queued, or before its task ever ran: closed, never awaited
        for coro in coros:
            if not isinstance(coro, Coroutine):
                continue
            if inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
                coro.close()
    return [task.result() for task in tasks]


def run_sync[T](coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code.

    Works inside a running event loop too (Jupyter, Solara) by running the coroutine on a
    private loop in a helper thread, so a model can be stepped from anywhere.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as err:  # re-raised in the caller's thread
            box["error"] = err

    thread = threading.Thread(target=target, name="parley-run-sync")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


class LoopThread:
    """A persistent event loop on a daemon thread, for a model's LLM rounds.

    One loop for a whole run (instead of ``asyncio.run`` per round) keeps the HTTP clients
    and their connections alive across rounds and costs nothing per round; it works the
    same from plain scripts, Jupyter and Solara, whose threads may already run a loop.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._cancelled = False

    def run[T](self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait for its result (exceptions propagate).

        Raises:
            RunCancelled: :meth:`cancel` was called before or while ``coro`` ran.
        """
        with self._lock:  # a cancel() never misses a coroutine submitted meanwhile
            if self._cancelled:
                coro.close()
                raise RunCancelled("the run was cancelled")
            future = asyncio.run_coroutine_threadsafe(coro, self._ensure_locked())
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise RunCancelled("the run was cancelled") from None

    def cancel(self) -> None:
        """Cancel the coroutines in flight at once, from any thread, and refuse new ones.

        What waits on them (:meth:`run`) raises :class:`RunCancelled`; an LLM call in flight
        is cancelled with its task (the embedded model stops generating at its next token).
        """
        with self._lock:
            self._cancelled = True
        self.close()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def _ensure_locked(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(
                target=self._loop.run_forever, name="parley-llm-loop", daemon=True
            )
            self._thread.start()
        return self._loop

    def close(self) -> None:
        """Cancel what is pending (clients close themselves then) and stop the loop."""
        with self._lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is None or thread is None:
            return
        if thread is threading.current_thread():  # e.g. garbage-collected on the loop itself
            loop.create_task(_cancel_pending()).add_done_callback(lambda _: loop.stop())
            return
        asyncio.run_coroutine_threadsafe(_cancel_pending(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        if not loop.is_running():
            loop.close()


async def _cancel_pending() -> None:
    # What asyncio.run does before closing its loop: cancel the tasks still pending.
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_asyncgens()
