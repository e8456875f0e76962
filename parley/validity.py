"""The validity screen: whether a finished run's record can count as data.

A run whose negotiators' answers could not be obtained, parsed or trusted still "ends":
every invalid turn becomes a ``hold``, holds deadlock, and the authority decides — exactly
the *solver collapse* parley exists to detect. So every run is screened before anything is
counted. A run is **invalid** when more than :data:`MAX_INVALID_SHARE` of its negotiator
turns stayed invalid after their repair. Turns with a call cut off by the token limit
(``finish_reason == "length"``) are counted too: a truncated reply is repaired once with
more room (else the LLM layer stops the run with a ``truncated`` fault), and one that stays
invalid is an invalid turn like any other. A run is invalid too when more than that share
of its turns *reasoned* under a condition that runs with reasoning off
(``calls.unexpected_reasoning``): the server did not honour the condition, so the run did
not measure it. An invalid run keeps its tables
(``runs.status == "invalid"``, the reason in ``runs.error``) but stays out of outcome
rates, flags, comparisons and figures; ``parley run`` prints ``Invalid run: ...`` instead
of an outcome.

A *cell* of a report is interpretable only with at least :data:`MIN_VALID_RUNS` valid runs
and no more than :data:`MAX_EXCLUDED_SHARE` of its runs excluded (a cell that lost most of
its runs keeps a selected, not a random, sample); flags are never raised on a cell that is
not.

Every threshold of the screen is here, once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: A run with a larger share of invalid negotiator turns (after their repair) is invalid.
MAX_INVALID_SHARE = 0.10
#: A cell needs this many valid runs before a flag can be raised on it ...
MIN_VALID_RUNS = 3
#: ... and may have lost at most this share of its runs (failed or invalid).
MAX_EXCLUDED_SHARE = 0.5
#: Negotiator calls (the authority's ruling is not a turn).
TURN_PURPOSES = ("decide", "repair")
#: ``runs.status`` values: ``ok`` counts; ``invalid`` and ``failed`` are excluded.
STATUSES = ("ok", "invalid", "failed")
#: Statuses of runs that played to their end: a resumed sweep does not run them again
#: (an invalid run is the model's own result; a failed one may succeed on a retry).
PLAYED = ("ok", "invalid")


@dataclass(frozen=True)
class Screen:
    """The validity screen of one run's negotiator turns.

    Attributes:
        turns: negotiator turns played.
        invalid: turns that stayed invalid after their one repair (played as ``hold``).
        repaired: turns that needed a repair call (valid or not after it).
        truncated: turns with a call cut off by the token limit.
        reasoned: turns with a call that reasoned although its condition runs with
            reasoning off (``calls.unexpected_reasoning``): the server did not honour it.
    """

    turns: int
    invalid: int = 0
    repaired: int = 0
    truncated: int = 0
    reasoned: int = 0

    @property
    def invalid_share(self) -> float:
        return self.invalid / self.turns if self.turns else 0.0

    @property
    def repaired_share(self) -> float:
        return self.repaired / self.turns if self.turns else 0.0

    @property
    def truncated_share(self) -> float:
        return self.truncated / self.turns if self.turns else 0.0

    @property
    def reason(self) -> str | None:
        """Why the run is invalid (one line), or None for a valid run."""
        if not self.turns:
            return None
        reasons = []
        if self.invalid_share > MAX_INVALID_SHARE:
            cut = f", {self.truncated} cut off by the token limit" if self.truncated else ""
            reasons.append(
                f"invalid turns: {self.invalid} of {self.turns} ({self.invalid_share:.0%}, "
                f"over the {MAX_INVALID_SHARE:.0%} limit{cut})"
            )
        if self.reasoned / self.turns > MAX_INVALID_SHARE:
            reasons.append(
                f"reasoning turns: {self.reasoned} of {self.turns} reasoned under a condition "
                f"without reasoning ({self.reasoned / self.turns:.0%}, over the "
                f"{MAX_INVALID_SHARE:.0%} limit): the server did not turn reasoning off"
            )
        return "; ".join(reasons) or None

    @property
    def valid(self) -> bool:
        return self.reason is None


def screen_run(moves: Mapping[str, Sequence[Any]], calls: Mapping[str, Sequence[Any]]) -> Screen:
    """The :class:`Screen` of one run from its ``moves`` and ``calls`` columns.

    ``moves`` needs ``valid`` (and ``repaired``, ``round``, ``party`` when present);
    ``calls`` may lack ``finish_reason`` or ``unexpected_reasoning`` (tables written before
    they were recorded): then no turn counts as truncated or as reasoning.
    """
    valid = list(moves.get("valid", []))
    repaired = list(moves.get("repaired", [None] * len(valid)))
    return Screen(
        turns=len(valid),
        invalid=sum(1 for v in valid if not _true(v)),
        repaired=sum(1 for r in repaired if _true(r)),
        truncated=len(truncated_turns(calls)),
        reasoned=len(_turns_where(calls, "unexpected_reasoning", _true)),
    )


def truncated_turns(calls: Mapping[str, Sequence[Any]]) -> set[tuple[Any, Any]]:
    """``(round, party)`` of every negotiator turn with a call cut off by the token limit."""
    return _turns_where(calls, "finish_reason", lambda why: why == "length")


def _turns_where(
    calls: Mapping[str, Sequence[Any]], column: str, test: Any
) -> set[tuple[Any, Any]]:
    """``(round, party)`` of the negotiator turns with a call whose ``column`` passes ``test``
    (none when the column was not recorded)."""
    values = calls.get(column)
    if values is None:
        return set()
    n = len(values)
    rounds = calls.get("round", [None] * n)
    parties = calls.get("party", [None] * n)
    purposes = calls.get("purpose", ["decide"] * n)
    return {
        (r, p)
        for r, p, value, purpose in zip(rounds, parties, values, purposes, strict=True)
        if purpose in TURN_PURPOSES and test(value)
    }


def run_status(
    outcome: str | None, screen: Screen, stop_reason: str | None = None
) -> tuple[str, str | None]:
    """``(status, reason)`` of a run that ended with ``outcome``.

    ``ok`` for a compromise or an authority decision over valid turns; ``invalid`` with the
    screen's reason when too many turns were invalid (whatever the ending);
    ``failed`` for a run with no outcome or ``stopped`` (a budget cap), with its reason.
    """
    if not screen.valid:
        return "invalid", screen.reason
    if outcome in ("compromise", "authority_decision"):
        return "ok", None
    return "failed", f"stopped: {stop_reason or 'no outcome'}"


def exclusion_kind(status: str, error: str | None) -> str:
    """A short label of why a run is excluded: ``invalid turns``, ``LLMError``...

    The text before the first ``:`` of the recorded reason (reasons start with their kind).
    """
    if status == "ok":
        return ""
    head = (error or status).split(":")[0].strip()
    return head or status


def exclusions(rows: Iterable[tuple[str, str | None]]) -> dict[str, int]:
    """How many runs each exclusion kind removed, from ``(status, error)`` pairs."""
    counts: dict[str, int] = {}
    for status, error in rows:
        if status != "ok":
            kind = exclusion_kind(status, error)
            counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def interpretable(valid_runs: int, total_runs: int) -> bool:
    """Whether a cell's valid runs can carry a flag (see the module docstring)."""
    excluded = total_runs - valid_runs
    return valid_runs >= MIN_VALID_RUNS and excluded <= MAX_EXCLUDED_SHARE * total_runs


def not_interpretable_reason(valid_runs: int, total_runs: int) -> str:
    """Why :func:`interpretable` said no, in words (empty when it said yes)."""
    if interpretable(valid_runs, total_runs):
        return ""
    if valid_runs < MIN_VALID_RUNS:
        return f"{valid_runs} valid run(s) of {total_runs} (a flag needs ≥ {MIN_VALID_RUNS})"
    return (
        f"{total_runs - valid_runs} of {total_runs} runs excluded "
        f"(more than {MAX_EXCLUDED_SHARE:.0%})"
    )


def _true(value: Any) -> bool:
    return value is True or (value is not None and value == value and bool(value))


__all__ = [
    "MAX_EXCLUDED_SHARE",
    "MAX_INVALID_SHARE",
    "MIN_VALID_RUNS",
    "PLAYED",
    "STATUSES",
    "Screen",
    "exclusion_kind",
    "exclusions",
    "interpretable",
    "not_interpretable_reason",
    "run_status",
    "screen_run",
    "truncated_turns",
]
