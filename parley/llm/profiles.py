"""Provider profiles: what each kind of OpenAI-compatible server accepts, as data.

The table is ``profiles.yaml`` beside this module (validated here with pydantic). A
:class:`Profile` says which field caps output tokens, which structured-output dialect the
server speaks, where reasoning text comes back, and, per model family, whether reasoning can
be turned on and off and with which request fields. :func:`infer_profile` picks a profile
from a provider's own base URL or an unambiguous model name; :meth:`Profile.family` picks
the family of a model. See docs/backends.md for the facts and their sources.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from parley.llm.interface import CapabilityError

ReasoningKind = Literal["none", "switchable", "always", "flag"]


class Family(BaseModel):
    """A family of models of one provider, matched by a regex on the model name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    match: str
    reasoning: ReasoningKind
    enable: dict[str, Any] = Field(default_factory=dict)
    disable: dict[str, Any] | None = None
    efforts: tuple[str, ...] | None = None
    temperature: float | None = None
    omit_temperature_while_reasoning: bool = False
    why: str | None = None

    def matches(self, model: str) -> bool:
        return re.search(self.match, model, re.IGNORECASE) is not None


class Profile(BaseModel):
    """How one kind of server is asked for a chat turn (see ``profiles.yaml``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    base_url: str | None = None
    api_key_env: str | None = None
    hosts: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    token_param: Literal["max_tokens", "max_completion_tokens"]
    structured: str
    structured_ok: tuple[str, ...]
    json_word: bool = False
    reasoning_text: tuple[str, ...] = ()
    reasoning_tokens: bool = False
    families: tuple[Family, ...]

    def family(self, model: str) -> Family:
        """The first family whose pattern matches ``model`` (the table ends with a catch-all)."""
        for family in self.families:
            if family.matches(model):
                return family
        raise ValueError(f"profile {self.name!r} has no family for model {model!r}")


class ReasoningPlan(BaseModel):
    """What a profile does with one model's reasoning, resolved once at construction.

    ``supports``: the model has a reasoning mode (``native`` can run). ``refusal``: why the
    non-native conditions cannot run with reasoning off (None: they can).
    """

    model_config = ConfigDict(frozen=True)

    profile: str
    family: Family
    supports: bool
    refusal: str | None

    def fields(self, effort: str | None) -> dict[str, Any]:
        """Request fields that turn reasoning on at ``effort``, or off when ``effort`` is None."""
        if effort is None:
            return dict(self.family.disable or {})
        return _fill(self.family.enable, effort)

    def check_temperature(self, model: str, temperature: float) -> None:
        """Refuse a temperature the model does not accept (one line)."""
        fixed = self.family.temperature
        if fixed is not None and temperature != fixed:
            raise CapabilityError(
                f"model {model!r} ({self.profile}) accepts only temperature {fixed:g}; "
                f"run it with --temperature {fixed:g}"
            )


def plan(profile: Profile, model: str, flagged: bool) -> ReasoningPlan:
    """How ``profile`` handles reasoning for ``model``; ``flagged`` is the --reasoning flag."""
    family = profile.family(model)
    kind = family.reasoning
    supports = kind in ("switchable", "always") or (kind == "flag" and flagged)
    refusal = None
    if kind == "always" or (kind == "flag" and flagged and family.disable is None):
        reason = family.why or "it has no setting that turns reasoning off"
        refusal = f"model {model!r} on {profile.name} cannot turn reasoning off: {reason}"
    return ReasoningPlan(profile=profile.name, family=family, supports=supports, refusal=refusal)


def _fill(value: Any, effort: str) -> Any:
    if isinstance(value, str):
        return value.replace("{effort}", effort)
    if isinstance(value, dict):
        return {k: _fill(v, effort) for k, v in value.items()}
    return value


@functools.cache
def profiles() -> dict[str, Profile]:
    """Every profile by name, from ``profiles.yaml`` (read and validated once)."""
    text = resources.files("parley.llm").joinpath("profiles.yaml").read_text()
    data = yaml.safe_load(text)
    return {name: Profile(name=name, **spec) for name, spec in data.items()}


def profile_names() -> tuple[str, ...]:
    """The names ``--server`` accepts."""
    return tuple(profiles())


def get_profile(name: str) -> Profile:
    """The profile called ``name``; a one-line ValueError names the choices otherwise."""
    table = profiles()
    if name not in table:
        raise ValueError(f"unknown server kind '{name}' (one of: {', '.join(table)})")
    return table[name]


def infer_profile(base_url: str | None, model: str | None = None) -> str:
    """The profile of a provider's own base URL, else of an unambiguous model name.

    No base URL means the openai client's default, OpenAI's API. A URL of no known provider
    with a model name only one profile claims (``deepseek-chat``, ``gemini-...``) is not
    inferred from the name: a local server may serve a model of that name, so it stays
    ``generic`` unless the URL is the provider's.
    """
    table = profiles()
    if base_url is None:
        # No URL: the client goes to OpenAI, unless the model name is another provider's.
        claims = [p.name for p in table.values() if _claims(p, model)]
        return claims[0] if len(claims) == 1 else "openai"
    for profile in table.values():
        if any(host in base_url for host in profile.hosts):
            return profile.name
    return "generic"


def _claims(profile: Profile, model: str | None) -> bool:
    return bool(model) and any(re.search(p, model or "", re.IGNORECASE) for p in profile.models)
