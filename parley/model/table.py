"""The table: the standing proposal and the spread of positions."""

from __future__ import annotations

import statistics
from collections.abc import Mapping

_EPS = 1e-6


def standing_proposal(positions: Mapping[str, float]) -> tuple[float | None, tuple[str, ...]]:
    """The value on the table with the most backing, and the parties backing it.

    Every party backs its own position (a proposer, or a supporter/accepter who adopted
    it). Ties are broken by closeness to the median of positions, then by the lower value.
    """
    if not positions:
        return None, ()
    groups: dict[float, list[str]] = {}
    for party, value in positions.items():
        key = next((k for k in groups if abs(k - value) <= _EPS), value)
        groups.setdefault(key, []).append(party)
    median = statistics.median(positions.values())
    value = min(groups, key=lambda v: (-len(groups[v]), abs(v - median), v))
    return value, tuple(sorted(groups[value]))


def spread(positions: Mapping[str, float]) -> float:
    """Max minus min of positions (0 for fewer than two parties)."""
    values = list(positions.values())
    return max(values) - min(values) if len(values) > 1 else 0.0
