"""Reading a model's reply: the one place that finds the JSON object in reply text.

Every path that reads a reply (backends filling ``Completion.parsed``, the exchange helper,
the negotiation grammar) uses :func:`extract_json`. It accepts plain JSON, a fenced block
or an object inside prose, and raises :class:`ReplyError` (a ``ValueError`` whose message is
fit to quote in a repair request) when there is none.
"""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


class ReplyError(ValueError):
    """A reply that cannot be used; the message says why (it is shown to the model)."""


def extract_json(text: str) -> dict[str, Any]:
    """The first JSON object in model text (plain, fenced, or embedded in prose)."""
    text = text.strip()
    candidates = [text, *(m.group(1) for m in _FENCE.finditer(text))]
    start = text.find("{")
    if start >= 0:
        candidates.append(text[start:])
    decoder = json.JSONDecoder()
    for cand in candidates:
        cand = cand.strip()
        i = cand.find("{")
        if i < 0:
            continue
        try:
            obj, _ = decoder.raw_decode(cand[i:])
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            return obj
    raise ReplyError("no JSON object found in the reply")


def parse_content(text: str) -> dict[str, Any] | None:
    """The JSON object in a reply, or None if there is none (for ``Completion.parsed``)."""
    if not text.strip():
        return None
    try:
        return extract_json(text)
    except ReplyError:
        return None
