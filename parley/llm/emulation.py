"""Provider emulation for the fake server: refuse what a provider refuses, reason where it reasons.

``FakeOpenAIServer(emulate="deepseek")`` (or ``python -m parley.llm.fake_server --emulate
deepseek``) answers like that provider, by the rules of its profile in ``profiles.yaml``
plus the provider's own error texts below:

- a request the provider refuses gets its HTTP 400 and its error text (a ``json_schema``
  response format on DeepSeek, JSON mode without the word "json", ``max_tokens`` or a
  temperature other than 1 on an OpenAI reasoning model, a ``reasoning_effort`` value the
  model does not accept, a reasoning effort for a model without reasoning);
- a model that reasons (always, or by default unless the profile's switch turned it off)
  spends :data:`THINKING_TOKENS` reasoning tokens INSIDE the output cap, as OpenAI, Gemini
  and DeepSeek count them: a cap too small for thinking plus the answer gives empty content
  and ``finish_reason: "length"``;
- reasoning text comes back in the provider's field (none on OpenAI's or Gemini's chat
  API), and reasoning tokens in ``usage.completion_tokens_details`` where the provider
  reports them.

The emulated model is a reasoning model of the profile's family for the request's model
name; on servers whose profile cannot know the model (vLLM, Ollama, llama.cpp) it is a
thinking model that thinks unless switched off, like Qwen3; on ``generic`` it reasons only
when asked. Content comes from the server's responder, as without emulation.
"""

from __future__ import annotations

from typing import Any

from parley.llm.fake_replies import FAKE_REASONING, completion_body, count_tokens
from parley.llm.profiles import Family, Profile, get_profile

#: Reasoning tokens an emulated reasoning model spends on every answer.
THINKING_TOKENS = 600

#: Each provider's own error texts (from its docs and users' reports; see docs/backends.md).
ERRORS: dict[str, dict[str, str]] = {
    "openai": {
        "token_param": "Unsupported parameter: 'max_tokens' is not supported with this model. "
        "Use 'max_completion_tokens' instead.",
        "temperature": "Unsupported value: 'temperature' does not support {value} with this "
        "model. Only the default (1) value is supported.",
        "effort": "Unsupported value: '{value}' is not supported with the '{model}' model. "
        "Supported values are: {allowed}.",
        "no_reasoning": "Unsupported parameter: 'reasoning_effort' is not supported with "
        "this model.",
        "structured": "Invalid parameter: 'response_format' of type '{value}' is not "
        "supported with this model.",
    },
    "deepseek": {
        "structured": "This response_format type is unavailable now",
        "json_word": "Prompt must contain the word 'json' in some form to use "
        "'response_format' of type 'json_object'.",
    },
}
_DEFAULT_ERRORS = {
    "token_param": "Unsupported parameter: '{value}'.",
    "temperature": "Unsupported value: 'temperature' does not support {value}.",
    "effort": "Unsupported value: reasoning_effort '{value}'. Supported values are: {allowed}.",
    "no_reasoning": "This model does not support reasoning_effort.",
    "structured": "Unsupported response_format type '{value}'.",
    "json_word": "The prompt must mention JSON to use JSON mode.",
}
_CODES = {
    "token_param": "unsupported_parameter",
    "temperature": "unsupported_value",
    "effort": "unsupported_value",
    "no_reasoning": "unsupported_parameter",
    "structured": "invalid_request_error",
    "json_word": "invalid_request_error",
}


class Emulator:
    """The rules of one provider profile, applied to raw chat-completion request bodies."""

    def __init__(self, profile: str) -> None:
        self.profile: Profile = get_profile(profile)
        self.own_errors = ERRORS.get(profile, {})
        self.errors = {**_DEFAULT_ERRORS, **self.own_errors}

    def refusal(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        """The (status, error body) the provider answers ``body`` with, or None if accepted."""
        for check in (self._token_param, self._structured, self._temperature, self._effort):
            found = check(body)
            if found is not None:
                kind, values = found
                message = self.errors[kind].format(**values)
                return 400, {
                    "error": {
                        "message": message,
                        "type": "invalid_request_error",
                        "param": None,
                        "code": _CODES[kind],
                    }
                }
        return None

    def answer(self, body: dict[str, Any], content: str, model: str) -> dict[str, Any]:
        """The completion body: reasoning inside the output cap, in the provider's fields."""
        thinking = self.reasons(body)
        raw_cap = body.get(self.profile.token_param)
        cap = int(raw_cap) if raw_cap is not None else None
        answer_tokens = count_tokens(content)
        spent = THINKING_TOKENS if thinking else 0
        cut = cap is not None and spent + answer_tokens > cap
        if cap is not None and cut:
            spent = min(spent, cap)
            content = ""
        reply = completion_body(body, content, None, model)
        usage = reply["usage"]
        usage["completion_tokens"] = spent + (0 if cut else answer_tokens)
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        usage["completion_tokens_details"] = (
            {"reasoning_tokens": spent} if self.profile.reasoning_tokens else None
        )
        if usage["completion_tokens_details"] is None:
            del usage["completion_tokens_details"]
        choice = reply["choices"][0]
        choice["finish_reason"] = "length" if cut else "stop"
        fields = self.profile.reasoning_text
        if thinking and fields:
            choice["message"][fields[0]] = FAKE_REASONING
        return reply

    def reasons(self, body: dict[str, Any]) -> bool:
        """Whether the emulated model thinks for this request."""
        family = self._family(body)
        match family.reasoning:
            case "none":
                return False
            case "always":
                return True
            case "flag" if family.disable is None:
                return "reasoning_effort" in body  # a generic model reasons when asked
            case _:
                return not _contains(body, family.disable or {})

    # -- the checks ----------------------------------------------------------------------
    def _family(self, body: dict[str, Any]) -> Family:
        return self.profile.family(str(body.get("model", "")))

    def _token_param(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        wanted = self.profile.token_param
        other = "max_tokens" if wanted == "max_completion_tokens" else None
        if other is not None and other in body:
            return "token_param", {"value": other}
        return None

    def _structured(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        fmt = body.get("response_format")
        if not fmt:
            return None
        mode = fmt.get("type")
        if mode == "json_object" and "schema" in fmt:
            mode = "json_object_schema"
        if mode not in self.profile.structured_ok:
            return "structured", {"value": fmt.get("type")}
        if self.profile.json_word and mode == "json_object":
            text = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
            if "json" not in text.lower():
                return "json_word", {}
        return None

    def _temperature(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        fixed = self._family(body).temperature
        if fixed is not None and "temperature" in body and body["temperature"] != fixed:
            return "temperature", {"value": body["temperature"]}
        return None

    def _effort(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        if "reasoning_effort" not in body:
            return None
        family, effort = self._family(body), body["reasoning_effort"]
        if family.reasoning == "none" and "no_reasoning" in self.own_errors:
            return "no_reasoning", {}
        if family.efforts is not None and effort not in family.efforts:
            allowed = ", ".join(f"'{e}'" for e in family.efforts)
            return "effort", {"value": effort, "model": body.get("model"), "allowed": allowed}
        return None


def _contains(body: dict[str, Any], fields: dict[str, Any]) -> bool:
    """Whether ``body`` carries every field of ``fields`` (nested dicts compared by key)."""
    for key, value in fields.items():
        if isinstance(value, dict):
            if not isinstance(body.get(key), dict) or not _contains(body[key], value):
                return False
        elif body.get(key) != value:
            return False
    return True
