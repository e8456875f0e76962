"""The scenario schema: one numeric issue, the parties, the authority and the protocol.

Every number of a scenario lives in its YAML file; this module only says what a valid
file looks like. Cross-field rules (an ideal inside the range, a quorum no larger than
the party count, ...) are model validators that name the offending field.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

_PROB_TOL = 1e-6

# A YAML number: ints and floats, never a bool or a numeric string (`min: yes` is a typo).
Number = Annotated[float, Field(strict=True)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class FieldError(ValueError):
    """A cross-field rule broken at ``field`` (a dotted path inside the scenario)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class Issue(_Strict):
    """The single numeric issue under negotiation."""

    name: str = Field(min_length=1)
    unit: str = ""
    min: Number
    max: Number
    status_quo: Number
    step: Number = Field(default=1.0, gt=0, description="grid of values offered to LLMs")

    @model_validator(mode="after")
    def _check(self) -> Issue:
        for name in ("min", "max", "status_quo", "step"):
            if not math.isfinite(getattr(self, name)):
                raise FieldError(name, "must be a finite number")
        if self.max <= self.min:
            raise FieldError("max", f"must be greater than min ({self.min:g})")
        if not self.min <= self.status_quo <= self.max:
            raise FieldError(
                "status_quo", f"{self.status_quo:g} is outside [{self.min:g}, {self.max:g}]"
            )
        if self.step > self.max - self.min:
            raise FieldError("step", "is larger than the whole range")
        return self

    @property
    def span(self) -> float:
        return self.max - self.min

    def grid(self) -> list[float]:
        """The allowed values on the issue's grid, both bounds included."""
        n = int(round(self.span / self.step))
        values = [round(self.min + i * self.step, 6) for i in range(n + 1)]
        if values[-1] < self.max:
            values.append(self.max)
        return values


class Belief(_Strict):
    """One outcome a party thinks the authority may impose, with its subjective probability."""

    value: Number
    probability: Number = Field(ge=0, le=1)


class Party(_Strict):
    """A negotiating party: public face, private brief, preferences and beliefs.

    ``reservation`` is the worst value the party can accept; its acceptable zone is every
    value no farther from ``ideal`` than the reservation is (so a middle party can concede
    in either direction).
    """

    id: str = Field(min_length=1, pattern=r"^[a-z][a-z0-9_]*$")
    role: str = Field(min_length=1)
    public_brief: str = Field(min_length=1)
    private_brief: str = Field(min_length=1)
    ideal: Number
    reservation: Number
    process_cost: Number = Field(ge=0, le=1)
    authority_belief: list[Belief] = Field(min_length=1)
    bloc: str | None = None
    persona: str = ""

    def utility(self, value: float, span: float, imposed: bool) -> float:
        """``u(x) = 1 - |x - ideal| / span``, minus the process cost when imposed."""
        return 1.0 - abs(value - self.ideal) / span - (self.process_cost if imposed else 0.0)

    def acceptable(self, value: float) -> bool:
        """Whether ``value`` lies inside the party's acceptable zone."""
        return abs(value - self.ideal) <= abs(self.reservation - self.ideal) + 1e-9

    def expected_authority_utility(self, span: float) -> float:
        """Expected utility of an imposed outcome under the party's private beliefs."""
        return sum(
            b.probability * self.utility(b.value, span, imposed=True) for b in self.authority_belief
        )


class Body(_Strict):
    """A body that may claim jurisdiction when the authority is ambiguous."""

    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    value: Number
    probability: Number = Field(ge=0, le=1)


class Authority(_Strict):
    """Who decides when the parties do not agree, and by which rule."""

    name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    rule: Literal["status_quo", "preference", "ambiguous"]
    preference: Number | None = None
    bodies: list[Body] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> Authority:
        if self.rule == "preference" and self.preference is None:
            raise FieldError("preference", "is required when rule is 'preference'")
        if self.rule == "ambiguous":
            if len(self.bodies) < 2:
                raise FieldError("bodies", "an ambiguous authority needs at least two bodies")
            total = sum(b.probability for b in self.bodies)
            if abs(total - 1) > _PROB_TOL:
                raise FieldError("bodies", f"probabilities sum to {total:g}, not 1")
        ids = [b.id for b in self.bodies]
        for j, body_id in enumerate(ids):
            if body_id in ids[:j]:
                raise FieldError(f"bodies[{j}].id", f"duplicate body id '{body_id}'")
        return self


class Protocol(_Strict):
    """The round protocol's settings; tolerances are fractions of the issue's range."""

    max_rounds: int = Field(default=12, ge=1, le=1000)
    patience: int = Field(default=4, ge=1)
    progress_epsilon: Number = Field(default=0.01, ge=0, lt=1)
    escalation_quorum: int = Field(default=2, ge=1)
    agreement_tolerance: Number = Field(default=0.03, gt=0, lt=1)
    coalition_tolerance: Number = Field(default=0.05, gt=0, lt=1)
    history_window: int = Field(default=3, ge=0)


class Scenario(_Strict):
    """A complete negotiation scenario, as loaded from a YAML file."""

    name: str = Field(min_length=1, pattern=r"^[a-z][a-z0-9_]*$")
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    public_brief: str = Field(min_length=1)
    issue: Issue
    parties: list[Party] = Field(min_length=2)
    authority: Authority
    protocol: Protocol = Protocol()

    @model_validator(mode="after")
    def _check(self) -> Scenario:
        lo, hi = self.issue.min, self.issue.max
        seen: set[str] = set()
        for i, p in enumerate(self.parties):
            where = f"parties[{i}]"
            if p.id in seen:
                raise FieldError(f"{where}.id", f"duplicate party id '{p.id}'")
            seen.add(p.id)
            for name in ("ideal", "reservation"):
                v = getattr(p, name)
                if not lo <= v <= hi:
                    raise FieldError(f"{where}.{name}", f"{v:g} is outside [{lo:g}, {hi:g}]")
            total = sum(b.probability for b in p.authority_belief)
            if abs(total - 1) > _PROB_TOL:
                raise FieldError(
                    f"{where}.authority_belief", f"probabilities sum to {total:g}, not 1"
                )
            for j, b in enumerate(p.authority_belief):
                if not lo <= b.value <= hi:
                    raise FieldError(
                        f"{where}.authority_belief[{j}].value",
                        f"{b.value:g} is outside [{lo:g}, {hi:g}]",
                    )
        if self.protocol.escalation_quorum > len(self.parties):
            raise FieldError(
                "protocol.escalation_quorum",
                f"{self.protocol.escalation_quorum} is larger than the {len(self.parties)} parties",
            )
        a = self.authority
        if a.preference is not None and not lo <= a.preference <= hi:
            raise FieldError(
                "authority.preference", f"{a.preference:g} is outside [{lo:g}, {hi:g}]"
            )
        for j, body in enumerate(a.bodies):
            if not lo <= body.value <= hi:
                raise FieldError(
                    f"authority.bodies[{j}].value", f"{body.value:g} is outside [{lo:g}, {hi:g}]"
                )
        return self

    @property
    def party_ids(self) -> list[str]:
        return [p.id for p in self.parties]

    def party(self, party_id: str) -> Party:
        for p in self.parties:
            if p.id == party_id:
                return p
        raise KeyError(party_id)
