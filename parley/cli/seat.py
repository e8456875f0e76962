"""A human seat in the terminal: ``parley run --seat operator=human``.

The person sees their private brief once, then at each turn the table, the coalitions and
the last rounds -- the same table and history text an LLM negotiator is given
(:mod:`parley.agents.prompting`), so people and models decide on one observation -- and
types a move. Lines come from stdin,
typed or piped (``printf 'propose 55\\naccept\\n' | parley run ...``); the end of input stops
the run, which keeps what was played.
"""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from parley.agents.human import MOVE_HELP, MoveQueue, MoveRequest, private_brief
from parley.agents.prompting import history_text, num, table_text


class TerminalSeats:
    """Move sources for the human seats of one terminal, reading one line per move.

    One reader thread feeds a queue from ``stdin`` (so a per-turn time limit can expire
    while a person is still typing); prompts go to ``out``.
    """

    def __init__(self, stdin: TextIO | None = None, out: TextIO | None = None) -> None:
        self.stdin = stdin if stdin is not None else sys.stdin
        self.out = out if out is not None else sys.stdout
        self.queue = MoveQueue(on_request=self.show)
        self.briefed: set[str] = set()
        self._reader: threading.Thread | None = None

    def __call__(self, request: MoveRequest) -> str | None:
        if self._reader is None:
            self._reader = threading.Thread(target=self._read, name="parley-stdin", daemon=True)
            self._reader.start()
        reply = self.queue(request)
        if reply is None:
            self.write(f"  (time is up: {request.party} holds)\n")
            return None
        if not self.stdin.isatty():  # echo piped moves, so the transcript reads whole
            self.write(f"{reply}\n")
        return str(reply)

    def _read(self) -> None:
        for line in self.stdin:
            if line.strip():
                self.queue.put(line.strip())
        self.queue.close()

    def show(self, request: MoveRequest) -> None:
        """Print what the person needs before typing: brief once, then table and history."""
        obs, me = request.observation, request.party
        if request.error is not None:
            hint = "" if MOVE_HELP in request.error else f"\n  {MOVE_HELP}"
            self.write(f"  ✗ {request.error}{hint}\n{me}> ")
            return
        parts = []
        table = table_text(obs).strip()
        if me not in self.briefed:
            self.briefed.add(me)
            parts.append(f"=== You are {me}: your private brief (only you see this) ===")
            parts.append(private_brief(obs.scenario, me))
        else:  # the public brief was shown with the private one
            table = table.replace(obs.scenario.public_brief.strip(), "").strip()
        parts.append(f"=== {me}, your move in round {obs.round} of {obs.max_rounds} ===")
        parts.append(table)
        parts.append(history_text(obs).strip())
        parts.append(f"Your position: {num(obs.position)}. {MOVE_HELP}")
        if request.time_left is not None:
            parts.append(f"You have {request.time_left:.0f} s.")
        self.write("\n".join(parts) + f"\n{me}> ")

    def write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()
