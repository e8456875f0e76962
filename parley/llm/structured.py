"""Structured output over the OpenAI chat API, in each server's dialect.

Servers disagree on how to ask for JSON that follows a schema: OpenAI, vLLM and Ollama take
the standard ``{"type": "json_schema", ...}``; the llama.cpp server answers that with HTTP
500 but accepts ``{"type": "json_object", "schema": ...}`` or a GBNF ``grammar``; some
servers only know plain JSON mode or nothing at all. The mode is chosen per server kind
here and can be overridden. Whatever the mode, the reply is parsed the same robust way,
and a reply that is not a JSON object gives ``parsed=None`` (the policy validates and
repairs; nothing is dropped).
"""

from __future__ import annotations

import json
from typing import Any

from parley.grammar import InvalidAction, extract_json
from parley.llm.interface import CapabilityError

MODES = ("json_schema", "json_object_schema", "json_object", "grammar", "text")

# Server kind -> default structured mode (see EMBEDDED-LLM.md for the llama.cpp facts).
SERVER_MODES = {
    "openai": "json_schema",
    "vllm": "json_schema",
    "ollama": "json_schema",
    "llamacpp": "json_object_schema",
    "generic": "json_schema",
}


def infer_server(base_url: str | None) -> str:
    """The server kind of a base URL: ``openai`` for OpenAI's API, else ``generic``."""
    if base_url is None or "api.openai.com" in base_url:
        return "openai"
    return "generic"


def resolve_mode(structured: str | None, server: str) -> str:
    """The structured mode to use: the override if given, else the server's default."""
    if server not in SERVER_MODES:
        raise ValueError(f"unknown server kind '{server}' (one of: {', '.join(SERVER_MODES)})")
    mode = structured or SERVER_MODES[server]
    if mode not in MODES:
        raise ValueError(f"unknown structured mode '{mode}' (one of: {', '.join(MODES)})")
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


def parse_content(text: str) -> dict[str, Any] | None:
    """The JSON object in a reply (plain, fenced or inside prose), or None if there is none."""
    if not text.strip():
        return None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        try:
            return extract_json(text)
        except InvalidAction:
            return None
    return obj if isinstance(obj, dict) else None
