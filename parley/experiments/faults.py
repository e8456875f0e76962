"""What went wrong with the LLM calls of a set of runs, and what was recovered, from ``calls``.

Every fault leaves a trace in the ``calls`` table: a transient fault that a retry cured
adds one to ``retries``; a call that failed for good (after its bounded retries) has its
kind in ``fault``; an answer that broke the grammar is ``valid == False`` with the
validation ``error`` (and gets one ``repair`` call). :class:`FaultCounts` adds these up
for the line a sweep prints at its end, and for ``benchmarks/faults.py``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class FaultCounts:
    """Fault totals of a ``calls`` table.

    Attributes:
        calls: calls made (rows).
        retries: retries made; each one answered a transient fault (429, 5xx, timeout,
            connection, empty body).
        retries_recovered: retries of calls that then succeeded.
        failed: calls that failed for good, by fault kind.
        invalid: answers that broke the grammar or the schema (excluding failed calls).
        repaired: repair calls whose answer was valid.
    """

    calls: int = 0
    retries: int = 0
    retries_recovered: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    invalid: int = 0
    repaired: int = 0

    @property
    def faults(self) -> int:
        """Every fault seen: retried ones, final failures and invalid answers."""
        return self.retries + sum(self.failed.values()) + self.invalid

    @property
    def recovered(self) -> int:
        """Faults cured within the call (a retry) or the turn (a valid repair)."""
        return self.retries_recovered + self.repaired

    def text(self) -> str:
        """One line, e.g. ``LLM calls: 278; faults: 88 (46 retried, 42 invalid answers, ...)``."""
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.failed.items()))
        failed = sum(self.failed.values())
        return (
            f"LLM calls: {self.calls}; faults: {self.faults} ({self.retries} retried, "
            f"{self.retries_recovered} of them recovered; {self.invalid} invalid answers, "
            f"{self.repaired} repaired; {failed} failed for good"
            + (f": {kinds})" if kinds else ")")
        )


def count_faults(calls: pd.DataFrame) -> FaultCounts:
    """The :class:`FaultCounts` of a ``calls`` table (any subset of its rows)."""
    if calls.empty:
        return FaultCounts()
    retries = calls["retries"].fillna(0).astype(int)
    failed = calls["fault"].notna()
    valid = calls["valid"].fillna(False).astype(bool)
    repair = calls["purpose"].eq("repair")
    return FaultCounts(
        calls=len(calls),
        retries=int(retries.sum()),
        retries_recovered=int(retries[~failed].sum()),
        failed=Counter(str(f) for f in calls.loc[failed, "fault"]),
        invalid=int((~valid & ~failed).sum()),
        repaired=int((valid & repair).sum()),
    )
