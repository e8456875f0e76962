"""One LLM exchange: send a request, read and validate the reply, repair once, record calls.

:func:`exchange` is the one path every LLM caller takes (the negotiator policy and the LLM
authority alike), on the caller's event loop. What it guarantees:

- every call made yields one call record (:func:`parley.llm.records.call_record`);
- a reply that fails ``read`` gets ONE repair call (``repair`` builds it from the reply text
  and the error); still invalid -> the result carries the error (an invalid turn);
- a reply cut by the token limit (``finish_reason == "length"`` and unusable, empty content
  included) is repaired with :data:`ROOM_FACTOR` times the room; cut again ->
  :class:`LLMError` ``truncated``, a configuration fault: the run fails, it never holds;
- a configuration fault (:data:`~parley.llm.interface.CONFIG_FAULTS`) is raised with the
  exchange's call records attached (``err.calls``); any other :class:`LLMError` (a server
  down after its retries) comes back as ``failure``; a budget cap as ``stop_reason``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from parley.llm.interface import (
    CONFIG_FAULTS,
    BudgetExceeded,
    Completion,
    LanguageModel,
    LLMError,
    Request,
)
from parley.llm.records import call_record
from parley.llm.replies import ReplyError, extract_json

#: A reply cut by the token limit is asked again with this many times the room.
ROOM_FACTOR = 2


@dataclass
class Exchanged[T]:
    """What an exchange produced: the value, or why there is none, and every call made."""

    value: T | None = None
    error: str | None = None  # the last reply's validation error
    failure: LLMError | None = None  # a call that failed for good (not a config fault)
    stop_reason: str | None = None  # a budget cap was reached
    repaired: bool = False
    calls: list[dict[str, Any]] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)


async def exchange[T](
    llm: LanguageModel,
    request: Request,
    read: Callable[[dict[str, Any]], T],
    *,
    purpose: str = "decide",
    repair: Callable[[str, str], Request] | None = None,
) -> Exchanged[T]:
    """Ask ``llm``, validate the reply with ``read`` (raise :class:`ReplyError` to reject it).

    Args:
        llm: the language model.
        request: the first request.
        read: the reply's JSON object -> the value; raises ``ReplyError`` (e.g.
            ``InvalidAction``) with a message fit for a repair request.
        purpose: the first call's ``purpose`` in its record (the repair's is ``repair``).
        repair: ``(reply text, error) -> request`` for the one repair of an invalid reply;
            None: an invalid reply is final, only a truncated one is asked again.
    """
    out: Exchanged[T] = Exchanged()
    done = await _call(llm, request, purpose, out)
    if done is None:
        return out
    truncated = _read(llm, request, done, read, purpose, out)
    if out.error is None:
        return out
    if repair is None and not truncated:
        return out
    if truncated:
        out.error = (
            f"the reply was cut off at the token limit ({request.max_tokens} tokens, "
            f"finish_reason 'length'): {out.error}"
        )
    second = repair(_text(done), out.error) if repair is not None else request
    if truncated:
        second = replace(second, max_tokens=request.max_tokens * ROOM_FACTOR)
    done = await _call(llm, second, "repair", out)
    if done is None:
        return out
    out.repaired = True
    if _read(llm, second, done, read, "repair", out):
        err = LLMError(
            f"{llm.name}: the reply was cut off at the token limit even with "
            f"{second.max_tokens} tokens (finish_reason 'length'); raise the budget "
            "(--reasoning-budget for native) or use a model that answers within it",
            fault="truncated",
        )
        err.calls = out.calls
        raise err
    return out


async def _call(
    llm: LanguageModel, request: Request, purpose: str, out: Exchanged[Any]
) -> Completion | None:
    try:
        done = await llm.acomplete(request)
    except LLMError as err:
        out.calls.append(call_record(llm, request, None, purpose=purpose, valid=False, failure=err))
        if err.fault in CONFIG_FAULTS:
            err.calls = out.calls
            raise  # a misconfigured run stops; it must not finish as invalid turns
        out.failure = err
        return None
    except BudgetExceeded as err:
        out.stop_reason = str(err)
        return None
    if done.reasoning:
        out.reasoning.append(done.reasoning)
    return done


def _read[T](
    llm: LanguageModel,
    request: Request,
    done: Completion,
    read: Callable[[dict[str, Any]], T],
    purpose: str,
    out: Exchanged[T],
) -> bool:
    """Validate ``done`` into ``out``; record the call; True if it was unusable and truncated."""
    out.value, out.error = None, None
    try:
        obj = done.parsed if done.parsed is not None else extract_json(done.text)
        out.value = read(obj)
    except ReplyError as err:
        out.error = str(err)
    out.calls.append(
        call_record(llm, request, done, purpose=purpose, valid=out.error is None, error=out.error)
    )
    return out.error is not None and done.finish_reason == "length"


def _text(completion: Completion) -> str:
    if completion.text:
        return completion.text
    return json.dumps(completion.parsed) if completion.parsed is not None else ""
