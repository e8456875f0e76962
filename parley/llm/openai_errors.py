"""Map ``openai`` client exceptions to :class:`LLMError` with a fault kind.

Transient kinds (:data:`~parley.llm.interface.TRANSIENT_FAULTS`, retried by
:class:`parley.llm.wrappers.RetryingLLM`): ``rate_limit`` (429, and 408/409 as the openai
client treats them), ``server_error`` (5xx), ``timeout``, ``connection`` (refused, reset,
DNS) and ``empty`` (an empty body or no choices: a server or proxy that died mid-answer).
Configuration kinds (:data:`~parley.llm.interface.CONFIG_FAULTS`, never retried, they stop
the run): ``auth`` (401/403), ``not_found`` (404), ``quota`` (429 ``insufficient_quota``),
``unsupported`` (an unsupported parameter or value), ``context_length`` and
``bad_request`` (any other 400/422). ``bad_response`` (a body that is not a chat
completion) is final but not a configuration fault. A server's ``x-should-retry`` header
overrides the kind's default, as in the openai client's own ``_should_retry``.
Messages name the server and the model and quote the server's own message on one line,
but never the API key.
"""

from __future__ import annotations

import json
import time
from email.utils import parsedate_to_datetime
from typing import Any

import openai
import pydantic

from parley.llm.interface import LLMError

#: Words in a 400's code or message that name the fault (checked in this order).
_BAD_REQUEST_KINDS = (
    ("context_length", ("context_length", "context length", "maximum context", "too many tokens")),
    ("unsupported", ("unsupported", "not supported", "unavailable", "does not support")),
)


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
    code, detail = _server_message(err)
    detail = _scrub(detail, secret)
    if status == 429:
        fault = "quota" if code == "insufficient_quota" else "rate_limit"
    elif status in (408, 409):
        fault = "rate_limit"  # the openai client retries request and lock timeouts too
    elif status >= 500:
        fault = "server_error"
    elif status == 404:
        fault = "not_found"
    else:
        text = f"{code} {detail}".lower()
        kinds = (kind for kind, words in _BAD_REQUEST_KINDS if any(w in text for w in words))
        fault = next(kinds, "bad_request")
    headers = err.response.headers
    should = headers.get("x-should-retry")
    retryable = {"true": True, "false": False}.get(should) if should else None
    return LLMError(
        f"{where} answered HTTP {status}: {detail}",
        fault,
        retry_after=retry_after_s(headers),
        retryable=retryable,
    )


def _server_message(err: openai.APIStatusError) -> tuple[str, str]:
    """The error ``code`` and the server's own message, on one line."""
    body = err.body
    error = body.get("error", body) if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = str(error.get("code") or error.get("type") or "")
        message = error.get("message")
        if message:
            return code, " ".join(str(message).split())
    elif isinstance(error, str) and error:
        return "", " ".join(error.split())
    return "", " ".join(str(err).split())


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
    """``err`` as text without the API key."""
    text = str(err)
    if secret and len(secret) >= 4:
        text = text.replace(secret, "***")
    return text
