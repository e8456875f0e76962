"""Seating: which policy plays each party of a table.

The table-wide ``policy`` seats every party; the ``seats`` parameter overrides it party by
party (a mixed table: one LLM among rule-based negotiators, people among agents). ``seats``
stays a plain picklable value for ``batch_run`` and sweeps: a mapping
``{"industry": "heuristic", "city": "human"}`` or its canonical string
``"city=human,industry=heuristic"`` (parties sorted, no spaces), which is how it is
recorded and how sweeps group runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Every policy a seat can take. ``human`` waits for a person's move (see
#: :mod:`parley.agents.human`); it only exists per seat, never table-wide.
SEAT_POLICIES = ("heuristic", "solver", "llm", "human")


def parse_seats(seats: str | Mapping[str, str] | None) -> dict[str, str]:
    """``seats`` as a party -> policy dict; raise ValueError naming a malformed entry.

    Accepts a mapping, a string ``"party=policy,party=policy"`` (spaces allowed around the
    separators), or None / ``""`` (no overrides).
    """
    if seats is None:
        return {}
    if isinstance(seats, Mapping):
        pairs = [(str(k).strip(), str(v).strip()) for k, v in seats.items()]
    elif isinstance(seats, str):
        pairs = []
        for entry in (e.strip() for e in seats.split(",")):
            if not entry:
                continue
            party, sep, policy = entry.partition("=")
            if not sep or not party.strip() or not policy.strip():
                raise ValueError(f"seat '{entry}' is not PARTY=POLICY")
            pairs.append((party.strip(), policy.strip()))
    else:
        raise ValueError(f"seats must be a mapping or a 'PARTY=POLICY,...' string, got {seats!r}")
    out: dict[str, str] = {}
    for party, policy in pairs:
        if policy not in SEAT_POLICIES:
            raise ValueError(
                f"unknown seat policy '{policy}' for '{party}' (one of: {', '.join(SEAT_POLICIES)})"
            )
        if party in out and out[party] != policy:
            raise ValueError(f"party '{party}' is seated twice ({out[party]} and {policy})")
        out[party] = policy
    return out


def canonical_seats(seats: str | Mapping[str, str] | None) -> str:
    """The canonical string of ``seats``: ``party=policy`` pairs sorted by party, ``""`` if none."""
    return format_seating(parse_seats(seats))


def format_seating(seating: Mapping[str, str]) -> str:
    """``party=policy`` pairs sorted by party and joined by commas."""
    return ",".join(f"{p}={seating[p]}" for p in sorted(seating))


def seating(
    parties: list[str], policy: str, seats: str | Mapping[str, str] | None
) -> dict[str, str]:
    """The whole seating of a table: each party (in scenario order) with its policy.

    Raises ValueError for a seat naming a party the scenario does not have.
    """
    overrides = parse_seats(seats)
    unknown = [p for p in overrides if p not in parties]
    if unknown:
        raise ValueError(f"unknown seat party '{unknown[0]}' (parties: {', '.join(parties)})")
    return {p: overrides.get(p, policy) for p in parties}


def uses_llm(policy: Any, seats: str | Mapping[str, str] | None) -> bool:
    """Whether any seat of the table is played by the LLM (table-wide or by a seat)."""
    return policy == "llm" or "llm" in parse_seats(seats).values()


def humans(seats: str | Mapping[str, str] | None) -> list[str]:
    """The parties seated as ``human`` (sorted)."""
    return sorted(p for p, policy in parse_seats(seats).items() if policy == "human")
