"""``parley run --seat PARTY=human``: a person's seat played from (piped) stdin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from parley import load_results

RUN = [
    sys.executable,
    "-m",
    "parley",
    "run",
    "--scenario",
    "grid_curtailment",
    "--policy",
    "heuristic",
    "--seat",
    "operator=human",
    "--seed",
    "3",
]


def play(stdin: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RUN, *extra], input=stdin, capture_output=True, text=True, timeout=120, check=False
    )


def test_a_seat_played_from_piped_stdin_reaches_an_outcome(tmp_path: Path) -> None:
    moves = ["propose 150", "propose 60 Industry can drop faster", "concede 57"]
    moves += ["accept We can live with the table"] * 20
    done = play("\n".join(moves) + "\n", "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.count("your private brief (only you see this)") == 1
    assert "Your engineers would like about 55% industrial" in out  # the private brief
    assert "=== operator, your move in round 1 of" in out and "Coalitions" in out
    assert "✗ value 150 is outside the issue's range [0, 100]" in out  # re-asked, not invalid
    assert "Outcome: " in out and "Run stopped" not in out
    res = load_results(tmp_path / "run")
    runs, moves_table = res["runs"], res["moves"]
    assert runs.outcome[0] in ("compromise", "authority_decision")
    assert runs.seats[0] == "operator=human" and runs.invalid_turns[0] == 0
    mine = moves_table[moves_table.party == "operator"]
    assert set(mine.policy) == {"human"} and mine.action.iloc[0] == "propose"
    assert mine.message.iloc[0] == "Industry can drop faster"
    assert set(moves_table[moves_table.party != "operator"].policy) == {"heuristic"}


def test_end_of_input_stops_the_run_with_exit_2_and_keeps_what_was_played(tmp_path: Path) -> None:
    done = play("propose 60\nhold\n", "--out", str(tmp_path / "run"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "parley run: error: end of input: the human seat left after 3 rounds, the run is "
        f"stopped; what was played is in {tmp_path / 'run'}"
    )
    assert "Run stopped after 3 rounds: operator: end of input" in done.stdout
    runs = load_results(tmp_path / "run")["runs"]
    assert runs.outcome[0] == "stopped" and runs.rounds[0] == 3


def test_a_bad_seat_is_one_line_with_exit_2() -> None:
    done = play("", "--seat", "bank=human")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "parley run: error: unknown seat party 'bank' "
        "(parties: operator, industry, critical, retail, city)"
    )
