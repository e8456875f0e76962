"""What the app's views show: one immutable snapshot of a run at one round.

Every view component takes a :class:`RunView`, never a model, for two reasons: a live model
is stepped in a worker thread (a render must not read it half-way through a round), and a
recorded run (see :mod:`parley.viz.replay`) has no model at all. :func:`live_view` snapshots
a :class:`~parley.model.model.NegotiationModel` after a round; the replay builds the same
object from Parquet tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import networkx as nx
import pandas as pd

from parley.agents.policy import RulePolicy
from parley.llm.records import CALL_COLUMNS
from parley.model.model import NegotiationModel, Outcome
from parley.model.reporters import MOVE_COLUMNS
from parley.scenarios.schema import Scenario

_SAME_VALUE = 1e-6  # positions this close back the same value (as in parley.model.table)
# Call faults that mean the server could not be reached at all (not a bad reply).
UNREACHABLE_FAULTS = frozenset({"connection", "timeout"})


@dataclass(frozen=True, eq=False)  # compared by identity: a new round is a new view
class RunView:
    """A run at one round, as the views draw it.

    Attributes:
        spec: the scenario.
        source: a one-line description (``live · heuristic · seed 0`` or the replayed run).
        round: the round shown (0 = the openings).
        max_rounds: the deadline.
        running: whether more rounds follow (live: the model still runs).
        trajectory: positions, a row per round ``0..round`` and a column per party.
        standing: the standing proposal per round (same index as ``trajectory``).
        moves: the ``moves`` table up to ``round``.
        calls: the ``calls`` table up to ``round``.
        graph: the coalition graph at ``round`` (``support=True`` on support edges).
        coalition: party -> coalition id at ``round``.
        outcome: how the run ended, once it has (None before its last round).
        rationale: the authority's stated reason, when it ruled and it is known.
        notice: a warning for the page (e.g. an unreachable backend), else None.
        llm: whether LLM negotiators play (rule-based ones and people make no calls, keep
            no ledgers).
    """

    spec: Scenario
    source: str
    round: int
    max_rounds: int
    running: bool
    trajectory: pd.DataFrame
    standing: pd.Series
    moves: pd.DataFrame
    calls: pd.DataFrame
    graph: nx.Graph
    coalition: dict[str, int]
    outcome: Outcome | None = None
    rationale: str = ""
    notice: str | None = field(default=None)
    llm: bool = False

    @property
    def parties(self) -> list[str]:
        """Party ids in the scenario's order."""
        return [p.id for p in self.spec.parties]

    @property
    def positions(self) -> dict[str, float]:
        """Each party's position at the round shown."""
        last = self.trajectory.iloc[-1]
        return {p: float(last[p]) for p in self.parties if p in last.index}

    def backing(self) -> dict[str, int]:
        """How many parties (itself included) hold each party's value: its influence."""
        pos = self.positions
        return {p: sum(abs(v - pos[p]) <= _SAME_VALUE for v in pos.values()) for p in pos}

    def utilities(self) -> dict[str, float]:
        """Each party's utility of the outcome (empty before the end or if stopped)."""
        out = self.outcome
        if out is None or out.value is None:
            return {}
        imposed = out.kind == "authority_decision"
        span = self.spec.issue.span
        return {p.id: p.utility(out.value, span, imposed) for p in self.spec.parties}


def live_view(model: NegotiationModel, source: str | None = None) -> RunView:
    """Snapshot ``model`` now (call it between rounds, from the thread that steps it)."""
    tables = model.datacollector.tables
    moves = _frame(tables["moves"], MOVE_COLUMNS)
    calls = _frame(tables["calls"], CALL_COLUMNS)
    rounds = model.datacollector.model_vars
    standing = pd.Series(list(rounds["standing_proposal"]), dtype=float)
    view = RunView(
        spec=model.spec,
        source=source or live_source(model),
        round=model.round,
        max_rounds=model.max_rounds,
        running=bool(model.running),
        trajectory=trajectory(
            {a.party_id: a.opening for a in model.negotiators},
            moves,
            [p.id for p in model.spec.parties],
            model.round,
        ),
        standing=standing.iloc[: model.round + 1],
        moves=moves,
        calls=calls,
        graph=model.graph.copy(),
        coalition={a.party_id: int(a.coalition or 0) for a in model.negotiators},
        outcome=model.outcome,
        rationale=model.ruling.rationale if model.ruling else "",
        llm=any(_llm_seat(a.policy) for a in model.negotiators),
    )
    notice = backend_failure(calls, model.round)
    return view if notice is None else replace(view, notice=notice)


def _llm_seat(policy: object) -> bool:
    """Whether a negotiator's policy calls an LLM (neither rule-based nor a person)."""
    return not isinstance(policy, RulePolicy) and getattr(policy, "name", "") != "human"


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 round``, ``2 rounds`` (``many``: an irregular plural, e.g. ``parties``)."""
    return f"{n} {word if n == 1 else many or word + 's'}"


def live_source(model: NegotiationModel) -> str:
    """``live · <policy> [(<backend>: <model>)] [· seats <seats>] · <condition> · seed <rng>``."""
    p = model.params
    who = str(p["policy"])
    if who == "llm":
        who += f" ({p['backend']}: {p['model']})"
    if p.get("seats"):
        who += f" · seats {p['seats']}"
    return f"live · {who} · condition {model.condition} · seed {p.get('rng')}"


def trajectory(
    openings: dict[str, float], moves: pd.DataFrame, order: list[str], upto: int
) -> pd.DataFrame:
    """Positions per round ``0..upto``: the openings, then each round's ``position_after``."""
    frame = pd.DataFrame([openings], index=[0], columns=order, dtype=float)
    done = moves[moves["round"] <= upto]
    if not done.empty:
        after = done.pivot_table(
            index="round", columns="party", values="position_after", aggfunc="last"
        )
        frame = pd.concat([frame, after.reindex(columns=order).astype(float)])
    return frame.reindex(range(upto + 1)).ffill()


def backend_failure(calls: pd.DataFrame, round_no: int) -> str | None:
    """A page notice when every LLM call of ``round_no`` failed (after its retries).

    A single bad reply is an invalid turn like any other; a round where *no* call got an
    answer means the backend itself is down or misconfigured, which the page must say.
    """
    if calls.empty or round_no < 1:
        return None
    these = calls[calls["round"] == round_no]
    if these.empty or these["fault"].isna().any():
        return None
    what = "unreachable" if these["fault"].isin(UNREACHABLE_FAULTS).all() else "failing"
    return (
        f"LLM backend {what}: {these['error'].iloc[0]}. Every call of round {round_no} "
        "failed, so every negotiator held. Check the backend, model and base URL, then Reset."
    )


def _frame(table: dict[str, list], columns: list[str]) -> pd.DataFrame:
    """A DataCollector table as a frame with every declared column (copies the lists)."""
    return pd.DataFrame({c: list(table.get(c, [])) for c in columns}, columns=columns)
