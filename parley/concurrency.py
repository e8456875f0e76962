"""Run coroutines from sync code, bounded, in submission order (never completion order)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Coroutine, Sequence
from typing import Any


async def gather_bounded[T](coros: Sequence[Awaitable[T]], limit: int) -> list[T]:
    """Await ``coros`` with at most ``limit`` in flight; results keep the input order."""
    semaphore = asyncio.Semaphore(max(1, limit))

    async def one(coro: Awaitable[T]) -> T:
        async with semaphore:
            return await coro

    return list(await asyncio.gather(*(one(c) for c in coros)))


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
