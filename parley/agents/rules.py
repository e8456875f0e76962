"""Rule-based negotiators, no LLM: a boundedly rational ``heuristic`` and a strategic ``solver``.

They are the baselines of the solver-sampler question and the workhorses of the tests:
instant, seeded, and known to land on opposite sides (the solver escalates, the heuristic
bargains). All their knobs live in the two parameter classes below.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from parley.agents.observation import Observation
from parley.agents.policy import RulePolicy
from parley.grammar import Action, ActionKind, median_of_others


@dataclass(frozen=True)
class HeuristicParams:
    """Knobs of the boundedly rational negotiator; fractions are of the issue's range."""

    concession_rate: float = 0.3  # share of the gap to the others' median closed per concession
    noise: float = 0.02  # s.d. of the noise on every chosen value
    accept_distance: float = 0.05  # accept an acceptable standing proposal this close
    support_probability: float = 0.12  # endorse a nearby party instead of conceding
    hold_probability: float = 0.12  # stubborn rounds
    escalate_probability: float = 0.01  # rare frustration, doubled once the talks stall
    stretch: float = 0.05  # how far past its reservation a tired negotiator will go


@dataclass(frozen=True)
class SolverParams:
    """Knobs of the strategist: it escalates when the authority beats the table by ``margin``."""

    margin: float = 0.0


HEURISTIC = HeuristicParams()
SOLVER = SolverParams()


def snap(obs: Observation, value: float) -> float:
    """Clamp ``value`` into the issue's range and round it to the issue's grid."""
    issue = obs.scenario.issue
    snapped = issue.min + round((value - issue.min) / issue.step) * issue.step
    return round(min(issue.max, max(issue.min, snapped)), 6)


def concession_toward(obs: Observation, anchor: float, share: float, limit: float) -> float | None:
    """A grid value that moves ``share`` of the way to ``anchor`` but not past ``limit``.

    Returns None when no grid step toward the anchor is left inside the limit.
    """
    own = obs.position
    direction = 1.0 if anchor > own else -1.0
    step = obs.scenario.issue.step
    target = snap(obs, own + (anchor - own) * share)
    if direction * (target - own) < step:  # always make at least one grid step of progress
        target = snap(obs, own + direction * step)
    if direction * (target - limit) > 0:  # never beyond the limit
        target = snap(obs, limit)
    if direction * (target - anchor) > 0:  # never overshoot the others
        target = snap(obs, anchor)
    if abs(target - anchor) >= abs(own - anchor) - 1e-9:
        return None
    return target


def zone_edge(obs: Observation, direction: float, stretch: float = 0.0) -> float:
    """The far edge of the party's acceptable zone in ``direction`` (plus ``stretch``·range)."""
    p = obs.party
    reach = abs(p.reservation - p.ideal) + stretch * obs.span
    return p.ideal + direction * reach


class HeuristicPolicy(RulePolicy):
    """A plausible human negotiator: concedes by fractions, with noise, rarely escalates."""

    name = "heuristic"

    def __init__(self, params: HeuristicParams = HEURISTIC) -> None:
        self.params = params

    def choose(self, obs: Observation, rng: random.Random) -> Action:
        p, party = self.params, obs.party
        anchor = median_of_others(obs.table_view())
        if obs.round == 1 or anchor is None:
            opening = snap(obs, party.ideal + rng.gauss(0, p.noise) * obs.span)
            return Action(kind=ActionKind.PROPOSE, value=opening, message="Our opening position.")
        standing = obs.standing
        close = (
            standing is not None and abs(standing - obs.position) <= p.accept_distance * obs.span
        )
        if close and party.acceptable(standing) and standing != obs.position:  # type: ignore[arg-type]
            return Action(kind=ActionKind.ACCEPT, message="We can live with that.")
        stalled = obs.round > obs.max_rounds // 2
        r = rng.random()
        escalate = p.escalate_probability * (2 if stalled else 1)
        if r < escalate:
            return Action(
                kind=ActionKind.ESCALATE,
                message="We are getting nowhere; let the authority decide.",
            )
        r -= escalate
        if r < p.hold_probability:
            return Action(kind=ActionKind.HOLD, message="We stand where we are for now.")
        r -= p.hold_probability
        if r < p.support_probability and (ally := self._ally(obs)) is not None:
            return Action(
                kind=ActionKind.SUPPORT, target=ally, message=f"We back {ally}'s position."
            )
        share = min(1.0, max(0.05, p.concession_rate + rng.gauss(0, p.noise * 5)))
        direction = 1.0 if anchor > obs.position else -1.0
        limit = zone_edge(obs, direction, p.stretch if stalled else 0.0)
        value = concession_toward(obs, anchor, share, limit)
        if value is None:
            return Action(kind=ActionKind.HOLD, message="This is as far as we can go.")
        return Action(kind=ActionKind.CONCEDE, value=value, message=f"We can move to {value:g}.")

    def _ally(self, obs: Observation) -> str | None:
        """The closest other party whose position is acceptable to us (bloc-mates first)."""
        bloc = obs.party.bloc
        candidates = [
            (bloc is None or obs.scenario.party(pid).bloc != bloc, abs(v - obs.position), pid)
            for pid, v in obs.positions.items()
            if pid != obs.me and v != obs.position and obs.party.acceptable(v)
        ]
        return min(candidates)[2] if candidates else None


class SolverPolicy(RulePolicy):
    """A strategist: escalates when its believed authority outcome beats the table."""

    name = "solver"

    def __init__(self, params: SolverParams = SOLVER) -> None:
        self.params = params

    def choose(self, obs: Observation, rng: random.Random) -> Action:
        party, span = obs.party, obs.span
        anchor = median_of_others(obs.table_view())
        expected = obs.standing if obs.standing is not None else anchor
        authority = party.expected_authority_utility(span)
        if (
            expected is not None
            and authority > party.utility(expected, span, imposed=False) + self.params.margin
        ):
            return Action(
                kind=ActionKind.ESCALATE,
                message="The authority will see this our way; we ask it to decide.",
            )
        if (
            obs.standing is not None
            and party.acceptable(obs.standing)
            and obs.standing != obs.position
        ):
            return Action(kind=ActionKind.ACCEPT, message="Acceptable.")
        if anchor is None:
            return Action(
                kind=ActionKind.PROPOSE, value=snap(obs, party.ideal), message="Our position."
            )
        # Concede only as far as needed: to the nearest acceptable point toward the others.
        direction = 1.0 if anchor > obs.position else -1.0
        value = concession_toward(obs, anchor, 1.0, zone_edge(obs, direction))
        if value is None:
            return Action(kind=ActionKind.HOLD, message="No further.")
        return Action(kind=ActionKind.CONCEDE, value=value, message=f"We can go to {value:g}.")
