"""What the live panel shows of a page's run: plain snapshots, drawn by the page and published
by :class:`~parley.viz.runner.LiveRun` after every change."""

from __future__ import annotations

from dataclasses import dataclass

from parley.viz.turn import SeatState
from parley.viz.view import RunView, plural


@dataclass(frozen=True)
class Progress:
    """The round in progress, turn by turn (LLM rounds; a rule-based round is instant)."""

    round: int
    total: int  # negotiators
    started: float  # time.monotonic() at the round's start
    decided: tuple[str, ...] = ()  # in the order their decisions arrived
    last: str = ""  # the latest decision, e.g. "industry hold"
    elapsed_s: float = 0.0
    calls: int = 0
    tokens: int = 0
    paused: bool = False  # Pause was pressed: no further turn starts

    def text(self) -> str:
        """``Round 1 · 4/5 decided · industry hold · 24.0 s · 4 LLM calls, 3,120 tokens``."""
        parts = [f"Round {self.round}", f"{len(self.decided)}/{self.total} decided"]
        if self.last:
            parts.append(self.last)
        parts.append(f"{self.elapsed_s:.1f} s")
        if self.calls:
            parts.append(f"{plural(self.calls, 'LLM call')}, {self.tokens:,} tokens")
        if self.paused:
            parts.append("paused after this turn: Step finishes the round, Play goes on")
        return " · ".join(parts)


@dataclass(frozen=True)
class LiveState:
    """What the live panel shows."""

    view: RunView | None = None
    progress: Progress | None = None  # an LLM round in progress
    busy: int | None = None  # the round being computed (LLM or rule-based)
    playing: bool = False
    stopped: str | None = None  # why the run was stopped by the presenter
    error: str | None = None
    # Kept apart from ``progress`` (which changes every turn and second) for the controls:
    turns: bool = False  # an LLM round is in progress (it can be paused between turns)
    paused: bool = False  # ... and it waits paused between two turns
    humans: tuple[str, ...] = ()  # the parties a person at this screen plays
    seats: tuple[SeatState, ...] = ()  # their latest turns (``turn``: waiting for a move)
    saved: str | None = None  # where the finished run was saved (``parley app --out``)

    @property
    def waiting(self) -> tuple[str, ...]:
        """The human seats whose move the round in progress waits for."""
        return tuple(s.party for s in self.seats if s.turn)

    @property
    def can_step(self) -> bool:
        """Step is possible: the model runs and no round runs, or one waits paused."""
        if self.view is None or not self.view.running or self.stopped or self.playing:
            return False
        if self.error:
            return False
        return self.busy is None or self.paused

    @property
    def can_pause(self) -> bool:
        """Pause does something: playing, or an LLM round runs (it stops after this turn)."""
        return self.playing or (self.turns and not self.paused)
