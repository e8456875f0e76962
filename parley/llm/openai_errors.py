"""Map ``openai`` client exceptions to :class:`LLMError` with a fault kind.

Fault kinds: ``rate_limit`` (429), ``server_error`` (5xx), ``timeout``, ``connection``
(refused, reset, DNS) and ``empty`` (an empty body or no choices: a server or proxy that
died mid-answer) — the transient ones :class:`parley.llm.wrappers.RetryingLLM` retries —
and ``auth``, ``not_found``, ``bad_request`` and ``bad_response`` (a body that is not a chat
completion), which are final.
Messages name the server and the model but never the API key.
"""

from __future__ import annotations

import json
import time
from email.utils import parsedate_to_datetime
from typing import Any

import openai
import pydantic

from parley.llm.interface import LLMError

TRANSIENT_FAULTS = frozenset({"rate_limit", "server_error", "timeout", "connection", "empty"})


def to_llm_error(err: Exception, where: str, secret: str | None) -> LLMError:
    """The :class:`LLMError` for ``err`` raised by a call to ``where`` (URL and model).

    ``secret`` (the API key) is scrubbed from any server text that is quoted.
    """
    match err:
        case openai.APITimeoutError():
            return LLMError(f"request to {where} timed out", fault="timeout")
        case openai.APIConnectionError():
            cause = err.__cause__ or err
            reason = _scrub(cause, secret) or type(cause).__name__
            return LLMError(f"cannot connect to {where}: {reason}", fault="connection")
        case openai.AuthenticationError() | openai.PermissionDeniedError():
            # Servers echo (part of) a rejected key in their message: quote none of it.
            return LLMError(
                f"authentication failed at {where} (HTTP {err.status_code}); "
                "check the API key environment variable",
                fault="auth",
            )
        case openai.APIStatusError():
            return _status_error(err, where, secret)
        case json.JSONDecodeError() if not err.doc.strip():
            return LLMError(f"{where} answered with an empty body", fault="empty")
        case (
            json.JSONDecodeError()
            | openai.APIResponseValidationError()
            | pydantic.ValidationError()
        ):
            return LLMError(f"{where} answered with a malformed body: {err}", "bad_response")
        case _:
            return LLMError(f"call to {where} failed: {_scrub(err, secret)}", fault="error")


def _status_error(err: openai.APIStatusError, where: str, secret: str | None) -> LLMError:
    status = err.status_code
    detail = _scrub(err, secret)
    if status == 429:
        fault = "rate_limit"
    elif status >= 500:
        fault = "server_error"
    elif status == 404:
        fault = "not_found"
    else:
        fault = "bad_request"
    retry_after = retry_after_s(err.response.headers)
    return LLMError(f"{where} answered HTTP {status}: {detail}", fault, retry_after=retry_after)


def retry_after_s(headers: Any) -> float | None:
    """Seconds asked for by ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(raw).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _scrub(err: object, secret: str | None) -> str:
    text = str(err)
    if secret and len(secret) >= 4:
        text = text.replace(secret, "***")
    return text
