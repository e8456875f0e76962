"""A human seat's turn as a page draws it, for both pages that seat people.

The classroom room (:mod:`parley.viz.room`) and the main page's live run
(:mod:`parley.viz.runner`) both get a person's turn as a
:class:`~parley.agents.human.MoveRequest` from the seat's
:class:`~parley.agents.human.MoveQueue`; :func:`turn_state` turns it into the
:class:`SeatState` that :func:`parley.viz.seat.MoveForm` draws. No Solara import here.
"""

from __future__ import annotations

from dataclasses import dataclass

from parley.agents.human import MoveRequest, private_brief
from parley.agents.prompting import history_text, observation_grid, table_text
from parley.scenarios.schema import Issue, Scenario


@dataclass(frozen=True)
class SeatState:
    """What one seat's page shows: its turn (if it is one), the table, the last rounds.

    ``grid`` holds the coarse values an LLM negotiator is offered (quick choices); a person
    may choose any value of ``issue``'s own grid (``issue.min..issue.max`` by ``issue.step``).
    """

    party: str
    brief: str
    round: int
    turn: bool
    table: str
    history: str
    error: str | None
    grid: tuple[float, ...]
    others: tuple[str, ...]
    ended: str | None  # the outcome text once the run has ended
    failed: bool = False  # ... and ``ended`` is why the run failed
    issue: Issue | None = None  # the issue's range and step (None: no turn to play)
    position: float | None = None  # the seat's own position at this turn


def turn_state(
    spec: Scenario,
    request: MoveRequest,
    *,
    turn: bool = True,
    ended: str | None = None,
    failed: bool = False,
) -> SeatState:
    """The page's snapshot of ``request``, a human seat's turn (``turn``: still waiting)."""
    obs, party = request.observation, request.party
    return SeatState(
        party=party,
        brief=private_brief(spec, party),
        round=obs.round,
        turn=turn,
        table=table_text(obs),
        history=history_text(obs),
        error=request.error,
        grid=tuple(float(v) for v in observation_grid(obs)),
        others=tuple(p for p in spec.party_ids if p != party),
        ended=ended,
        failed=failed,
        issue=spec.issue,
        position=obs.positions.get(party),
    )
