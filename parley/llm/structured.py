"""Structured output over the OpenAI chat API, in each server's dialect.

Servers disagree on how to ask for JSON that follows a schema: OpenAI, vLLM and Ollama take
the standard ``{"type": "json_schema", ...}``; the llama.cpp server answers that with HTTP
500 but accepts ``{"type": "json_object", "schema": ...}`` or a GBNF ``grammar``; some
servers only know plain JSON mode (DeepSeek) or nothing at all. The default mode of each
server kind, and the modes it accepts, are in its provider profile
(:mod:`parley.llm.profiles`); an override the server refuses is refused here, at
construction. Whatever the mode, the reply is parsed the same way
(:func:`parley.llm.replies.parse_content`), and a reply that is not a JSON object gives
``parsed=None`` (the caller validates and repairs; nothing is dropped).
"""

from __future__ import annotations

import json
from typing import Any

from parley.llm.interface import CapabilityError
from parley.llm.profiles import Profile

MODES = ("json_schema", "json_object_schema", "json_object", "grammar", "text")


def resolve_mode(structured: str | None, profile: Profile) -> str:
    """The structured mode to use: the override if given, else the profile's default."""
    mode = structured or profile.structured
    if mode not in MODES:
        raise ValueError(f"unknown structured mode '{mode}' (one of: {', '.join(MODES)})")
    if mode not in profile.structured_ok:
        raise CapabilityError(
            f"server kind '{profile.name}' does not accept structured mode '{mode}' "
            f"(it accepts: {', '.join(profile.structured_ok)})"
        )
    return mode


def format_kwargs(mode: str, schema: dict[str, Any] | None) -> dict[str, Any]:
    """Keyword arguments for ``chat.completions.create`` that ask for ``schema`` in ``mode``."""
    if schema is None:
        return {}
    match mode:
        case "json_schema":
            # strict=False: our schemas use keywords (maxLength, untyped enums) that OpenAI's
            # strict mode rejects; replies are validated at the boundary anyway.
            spec = {"name": "response", "schema": schema, "strict": False}
            return {"response_format": {"type": "json_schema", "json_schema": spec}}
        case "json_object_schema":
            return {"response_format": {"type": "json_object", "schema": schema}}
        case "json_object":
            return {"response_format": {"type": "json_object"}}
        case "grammar":
            return {"extra_body": {"grammar": schema_to_gbnf(schema)}}
        case _:
            return {}


def schema_to_gbnf(schema: dict[str, Any]) -> str:
    """A llama.cpp GBNF grammar for ``schema`` (needs llama-cpp-python's converter)."""
    try:
        from llama_cpp.llama_grammar import json_schema_to_gbnf
    except ImportError:
        raise CapabilityError(
            "structured='grammar' needs llama-cpp-python to build the GBNF grammar "
            "(pip install 'parley[embedded]'); use structured='json_object_schema' instead"
        ) from None
    return json_schema_to_gbnf(json.dumps(schema))
