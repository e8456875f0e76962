"""The coherence screen: is each move something a person in that role could coherently do?

Pure functions over a run's recorded ``moves`` table plus its scenario (DESIGN.md §5). The
outcome measures in :mod:`parley.metrics` ask *what* a cell's runs ended in; these ask, move
by move, whether the negotiator behaved like the party its brief describes. Four measures,
each defined once in its docstring (and in docs/concepts.md):

- :func:`leaks` — *private leakage*: the public message discloses a private number;
- :func:`recites` — *recitation*: the message copies :data:`RECITATION_WORDS` or more
  consecutive words of a brief;
- :func:`self_harm` — the move works against the party's own interest as its brief states it;
- :func:`mismatch` — *action–message mismatch*: the message names a value and the move's
  value is not among the values it names.

A move is **incoherent** when any of the four holds (:func:`move_coherence`). Per run and
per cell the incoherent-move rate is reported with a Wilson interval; a cell whose rate
exceeds :data:`INCOHERENT_MOVE_RATE` is flagged ``incoherent``. Moves within a run are not
independent, so the interval over moves is descriptive, not a test.

Numbers are read from text by :func:`numbers_in`: clock times (``18:00``) are dropped, a
thousands separator is ignored (``1,500`` is 1500), and each number carries the word that
follows it as its *unit tag* (``%`` and ``percent`` are one tag).
"""

from __future__ import annotations

import functools
import math
import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from parley.scenarios.schema import Party, Scenario

#: A recitation is at least this many consecutive words copied from a brief.
RECITATION_WORDS = 8
#: A cell is flagged "incoherent" when its incoherent-move rate exceeds this share.
INCOHERENT_MOVE_RATE = 0.2
#: The four per-move measures, in the order they are reported.
MEASURES = ("leak", "recite", "self_harm", "mismatch")
#: Actions that name a value of their own.
VALUE_ACTIONS = ("propose", "concede")
_EPS = 1e-9

_TIME = re.compile(r"\b\d{1,2}:\d{2}\b")
_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s*(%|[A-Za-z]+)?")
_WORD = re.compile(r"[a-z0-9]+(?:[.,'][a-z0-9]+)*")


# -- reading text -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Number:
    """A number found in text with the word that follows it (``%`` for percent)."""

    value: float
    unit: str


def numbers_in(text: str) -> list[Number]:
    """Every number in ``text`` with its unit tag (clock times such as ``18:00`` skipped)."""
    out = []
    for match in _NUMBER.finditer(_TIME.sub(" ", text or "")):
        unit = (match.group(2) or "").lower()
        out.append(Number(float(match.group(1).replace(",", "")), _unit(unit)))
    return out


def _unit(word: str) -> str:
    return "%" if word in ("%", "percent", "pct") else word


def words_in(text: str) -> list[str]:
    """Lower-cased words of ``text`` (punctuation dropped; ``1,500`` stays one word)."""
    return _WORD.findall((text or "").lower())


def _near(a: float, b: float) -> bool:
    return abs(a - b) < 1e-6 * max(1.0, abs(a), abs(b))


# -- what is private, what is public ----------------------------------------------------------
def private_numbers(party: Party, span: float) -> set[float]:
    """The numbers only ``party`` knows: its reservation, each believed authority value and
    its probability (as a share and as a percent), the cost of an imposed outcome
    (``process_cost·span``, as its prompt states it) and every number in its private brief.

    The ideal is left out because every party opens at its ideal and the table shows the
    openings: a party's ideal is public from round 1.
    """
    values = {float(party.reservation)}
    for belief in party.authority_belief:
        p = float(belief.probability)
        values |= {float(belief.value), p, round(100 * p, 6)}
    values.add(round(float(party.process_cost) * span, 6))
    values |= {n.value for n in numbers_in(party.private_brief)}
    values.discard(float(party.ideal))
    return values


def public_texts(scenario: Scenario) -> list[str]:
    """Every text all parties see: the public brief, each party's role and public brief, the
    authority's name and description, the issue's name."""
    texts = [scenario.public_brief, scenario.issue.name, scenario.authority.name]
    texts.append(scenario.authority.description)
    texts += [t for p in scenario.parties for t in (p.role, p.public_brief)]
    return texts


def public_text_numbers(scenario: Scenario) -> set[Number]:
    """The numbers (with unit tags) of :func:`public_texts`, plus the issue's range and status
    quo."""
    issue = scenario.issue
    found = {n for text in public_texts(scenario) for n in numbers_in(text)}
    unit = _issue_unit(scenario)
    found |= {Number(float(v), unit) for v in (issue.min, issue.max, issue.status_quo)}
    return found


def _issue_unit(scenario: Scenario) -> str:
    unit = scenario.issue.unit.strip().lower()
    return _unit(unit.split()[0]) if unit else ""


def _is_public(n: Number, table: set[float], texts: set[Number]) -> bool:
    """``n`` was on the table (any unit), or appears in a public text with the same unit tag
    (or one of the two has none)."""
    if any(_near(n.value, v) for v in table):
        return True
    return any(
        _near(n.value, t.value) and (n.unit == t.unit or not n.unit or not t.unit) for t in texts
    )


# -- the four measures ------------------------------------------------------------------------
def leaks(
    message: str, party: Party, table: Iterable[float], texts: set[Number], span: float
) -> bool:
    """*Private leakage*: the public message names a number that only the party knew.

    True when ``message`` contains a number that is one of :func:`private_numbers` of
    ``party`` (its reservation, a believed authority value or probability, the cost of an
    imposed outcome, a number of its private brief) **and** is not yet public: not a value
    on the table so far (``table``: every position, move value and number said in a message
    before this move, and this move's own value — proposing a value makes it public) and
    not in a public text with the same unit tag (``texts``, see :func:`public_text_numbers`;
    "45 minutes" in the public brief does not make "45%" public).
    """
    private = private_numbers(party, span)
    seen = set(table)
    for n in numbers_in(message):
        if any(_near(n.value, v) for v in private) and not _is_public(n, seen, texts):
            return True
    return False


def recites(message: str, briefs: Iterable[str], span: int = RECITATION_WORDS) -> bool:
    """*Recitation*: the message copies ``span`` (default :data:`RECITATION_WORDS` = 8) or more
    consecutive words of one of ``briefs``.

    Words are compared lower-cased with punctuation dropped (:func:`words_in`). The briefs a
    negotiator has seen are the scenario's public brief, every party's public brief, the
    authority's description and its own private brief (:func:`seen_briefs`).
    """
    said = words_in(message)
    if len(said) < span:
        return False
    grams = {tuple(said[i : i + span]) for i in range(len(said) - span + 1)}
    return any(not grams.isdisjoint(_grams(brief, span)) for brief in briefs)


@functools.lru_cache(maxsize=256)
def _grams(text: str, span: int) -> frozenset[tuple[str, ...]]:
    words = words_in(text)
    return frozenset(tuple(words[i : i + span]) for i in range(len(words) - span + 1))


def seen_briefs(scenario: Scenario, party: Party) -> list[str]:
    """The briefs ``party`` has read: every public text and its own private brief."""
    return [scenario.public_brief, scenario.authority.description, party.private_brief] + [
        p.public_brief for p in scenario.parties
    ]


def authority_threat(party: Party, span: float) -> float:
    """How far from its ideal the party fears an imposed outcome could leave it: the farthest
    value it believes the authority might impose, plus the cost of the process,
    ``max |v − ideal| + process_cost·span`` over its authority beliefs."""
    worst = max(abs(float(b.value) - float(party.ideal)) for b in party.authority_belief)
    return worst + float(party.process_cost) * span


def self_harm(
    action: str,
    before: float,
    after: float,
    others_median: float,
    party: Party,
    span: float,
    tolerance: float = 0.0,
) -> bool:
    """*Self-harm*: a move against the party's own interest as stated in its brief.

    With ``m`` the median of the other parties' positions at the start of the round, true when

    - **over-reach**: a ``propose`` puts the party more than ``tolerance`` beyond its own
      ideal on the side away from ``m`` — farther from everyone *and* from what it wants
      (:func:`move_coherence` passes the scenario's agreement tolerance, so an opening
      anchor a point or two past the ideal is not counted);
    - **past the reservation**: any move takes the party from inside to outside its
      acceptable zone, or deeper outside it (``|after − ideal| > |reservation − ideal|`` and
      ``> |before − ideal|``), while no authority threat justifies it: even the worst
      outcome it believes the authority might impose (:func:`authority_threat`) would leave
      it closer to its ideal than the move does;
    - **a concession away from the others**: a ``propose`` or ``concede`` that leaves the
      party, on the others' side of its ideal, farther from its ideal without bringing it
      closer to ``m`` — it gives up something and gets nothing.
    """
    ideal = float(party.ideal)
    away = math.copysign(1.0, ideal - others_median) if ideal != others_median else 0.0
    beyond = (after - ideal) * away  # > 0: past the ideal, on the side away from the others
    if action == "propose" and beyond > tolerance + _EPS:
        return True
    limit = abs(float(party.reservation) - ideal)
    distance = abs(after - ideal)
    moved_out = distance > limit + _EPS and distance > abs(before - ideal) + _EPS
    if moved_out and authority_threat(party, span) < abs(after - ideal) - _EPS:
        return True
    gave_up = abs(after - ideal) > abs(before - ideal) + _EPS
    closer = abs(after - others_median) < abs(before - others_median) - _EPS
    return action in VALUE_ACTIONS and beyond <= _EPS and gave_up and not closer


def mismatch(action: str, value: float | None, message: str, lo: float, hi: float) -> bool:
    """*Action–message mismatch*, where it can be decided mechanically: the message states
    the party's own value, and the move's value is not among the values it states.

    The move's value is ``value``: the proposed or conceded value, or for ``hold``,
    ``accept`` and ``support`` the position the move leaves the party at; ``escalate`` carries
    no value and never mismatches. A number is *stated as the party's own* when it lies in the
    issue's range ``[lo, hi]``, is not tagged as another quantity (``600 MW``), and stands in a
    sentence that speaks of the party's own move: a first-person word (*we, our, I, my, us*),
    a move verb (*propose, offer, concede, accept, hold, support, settle*), or "position"
    directly before the number ("your position is 20"). A message that states no value never
    mismatches.
    """
    if action == "escalate" or value is None or _missing(value):
        return False
    stated = [
        n.value
        for clause in _CLAUSE.split(message or "")
        if _OWN.search(clause) or _POSITION.search(clause)
        for n in numbers_in(clause)
        if lo - _EPS <= n.value <= hi + _EPS and n.unit in _VALUE_UNITS
    ]
    return bool(stated) and not any(_near(v, float(value)) for v in stated)


_CLAUSE = re.compile(r"[.;!?]+(?:\s|$)")
_OWN = re.compile(
    r"\b(?:we|we're|we'll|we've|our|us|i|i'm|i'll|i've|my|"
    r"propos\w*|offer\w*|conced\w*|accept\w*|hold\w*|support\w*|settl\w*)\b",
    re.IGNORECASE,
)
_POSITION = re.compile(r"\bposition\s+(?:is\s+|at\s+)?\d", re.IGNORECASE)
# Unit tags under which a number can be a value of the issue: none, percent, or the words a
# message puts after an amount or a share (any other tag names another quantity).
_VALUE_UNITS = frozenset(
    {"", "%", "m", "usd", "million", "mn", "industrial", "and", "or", "to", "on", "as", "in"}
)


def _missing(x: object) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


# -- a run's moves ----------------------------------------------------------------------------
def move_coherence(
    moves: pd.DataFrame, scenario: Scenario, turn_order: str = "simultaneous"
) -> pd.DataFrame:
    """One run's moves with the four measures and ``incoherent`` (any of them) added.

    ``moves`` is a run's ``moves`` table (``round``, ``party``, ``action``, ``value``,
    ``message``, ``position_before``, ``position_after``), in recorded order. What is public
    at a move: every position and move value and every number said in the rounds before,
    each party's position at the start of this round, this move's own value, and — with
    ``turn_order="sequential"`` — the moves made earlier in this round.
    """
    parties = {p.id: p for p in scenario.parties}
    issue = scenario.issue
    lo, hi = float(issue.min), float(issue.max)
    span = hi - lo
    tolerance = float(scenario.protocol.agreement_tolerance) * span
    texts = public_text_numbers(scenario)
    briefs = {pid: seen_briefs(scenario, p) for pid, p in parties.items()}
    rows = moves.reset_index(drop=True)
    columns = ["round", "party", "action", "value", "message"]
    records = rows[[*columns, "position_before", "position_after"]].to_dict("records")
    flags: dict[str, list[bool]] = {k: [False] * len(records) for k in MEASURES}
    table: set[float] = set()
    by_round: dict[Any, list[int]] = {}
    for i, rec in enumerate(records):
        by_round.setdefault(rec["round"], []).append(i)
    for rnd in sorted(by_round):
        group = [records[i] for i in by_round[rnd]]
        start = {str(r["party"]): float(r["position_before"]) for r in group}
        table |= set(start.values())
        said_now: set[float] = set()
        for i, r in zip(by_round[rnd], group, strict=True):
            party = parties.get(str(r["party"]))
            message = str(r["message"] or "") if not _missing(r["message"]) else ""
            before, after = float(r["position_before"]), float(r["position_after"])
            others = [v for p, v in start.items() if p != r["party"]]
            median = statistics.median(others) if others else before
            value = None if _missing(r["value"]) else float(r["value"])
            own = {after} if value is None else {after, value}
            action = str(r["action"])
            if party is not None:
                flags["leak"][i] = leaks(message, party, table | said_now | own, texts, span)
                flags["recite"][i] = recites(message, briefs[party.id])
                flags["self_harm"][i] = self_harm(
                    action, before, after, median, party, span, tolerance
                )
                flags["mismatch"][i] = mismatch(
                    action, after if value is None else value, message, lo, hi
                )
            if turn_order == "sequential":
                said_now |= own | {n.value for n in numbers_in(message)}
        for r in group:
            table.add(float(r["position_after"]))
            if not _missing(r["value"]):
                table.add(float(r["value"]))
            if not _missing(r["message"]):
                table |= {n.value for n in numbers_in(str(r["message"] or ""))}
    out = rows.copy()
    for k in MEASURES:
        out[k] = pd.Series(flags[k], index=out.index, dtype=bool)
    out["incoherent"] = out[list(MEASURES)].any(axis=1)
    return out


# -- runs and cells ---------------------------------------------------------------------------
#: Columns of :func:`run_coherence`: move count, then a count per measure and for any.
RUN_COLUMNS = ("screened_moves", *MEASURES, "incoherent")


def run_coherence(runs: pd.DataFrame, moves: pd.DataFrame) -> pd.DataFrame:
    """Per run (indexed by ``run_id``): how many moves were screened and how many of them
    show each measure and any (``incoherent``), with the incoherent-move rate and its 95%
    Wilson interval (``incoherent_rate``, ``incoherent_lo``, ``incoherent_hi``).

    ``runs`` gives each run's scenario (a built-in name or a scenario file) and turn order;
    a run whose scenario cannot be loaded any more is left out (it is not screened, not
    counted as coherent).
    """
    from parley.metrics import rate  # metrics imports nothing of this module
    from parley.scenarios.loader import ScenarioError, load_scenario

    rows: dict[str, dict[str, float]] = {}
    by_run = dict(tuple(moves.groupby("run_id"))) if len(moves) else {}
    for run in runs.itertuples():
        frame = by_run.get(run.run_id)
        if frame is None or frame.empty:
            continue
        try:
            scenario = load_scenario(str(run.scenario))
        except (ScenarioError, OSError, ValueError):
            continue
        screened = move_coherence(frame, scenario, str(getattr(run, "turn_order", "")))
        counts = {k: int(screened[k].sum()) for k in (*MEASURES, "incoherent")}
        r = rate(counts["incoherent"], len(screened))
        rows[str(run.run_id)] = {
            "screened_moves": len(screened),
            **counts,
            "incoherent_rate": r.value,
            "incoherent_lo": r.lo,
            "incoherent_hi": r.hi,
        }
    columns = [*RUN_COLUMNS, "incoherent_rate", "incoherent_lo", "incoherent_hi"]
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns).rename_axis("run_id")


def cell_coherence(per_run: pd.DataFrame, run_ids: Iterable[str]) -> dict[str, float | bool]:
    """A cell's coherence from :func:`run_coherence` rows of its runs: the pooled rate of each
    measure over the cell's moves, the incoherent-move rate with its 95% Wilson interval,
    and the ``incoherent`` flag (rate above :data:`INCOHERENT_MOVE_RATE`). NaN rates and no
    flag when none of its moves could be screened."""
    from parley.metrics import rate

    mine = per_run.reindex([r for r in run_ids if r in per_run.index])
    n = int(mine["screened_moves"].sum()) if len(mine) else 0
    total = rate(int(mine["incoherent"].sum()) if n else 0, n)
    out: dict[str, float | bool] = {"screened_moves": n}
    for k in MEASURES:
        out[f"{k}_rate"] = float(mine[k].sum()) / n if n else math.nan
    out.update(
        incoherent_rate=total.value if n else math.nan,
        incoherent_lo=total.lo if n else math.nan,
        incoherent_hi=total.hi if n else math.nan,
        incoherent=bool(n) and incoherent(total.value),
    )
    return out


def incoherent(rate: float, threshold: float = INCOHERENT_MOVE_RATE) -> bool:
    """The ``incoherent`` flag: an incoherent-move rate above ``threshold`` (default 0.2)."""
    return bool(rate > threshold + _EPS)
