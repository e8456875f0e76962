"""``parley app``: serve the Solara app on loopback and print its URL."""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import sys
from pathlib import Path

from parley.cli import UserError
from parley.viz.env import FACILITATOR_ENV, OUT_ENV, REPLAY_ENV, ROOM_ENV, SCENARIOS_ENV

DEFAULT_PORT = 8765


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "app",
        help="serve the interactive app (coalitions and positions, round by round)",
        description="Serve the Solara app: step, play or reset a negotiation and watch its "
        "coalition network, positions, feed, outcome and metrics change every round; or "
        "replay a recorded run. The server listens on 127.0.0.1 unless --host says otherwise.",
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    p.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help="port to listen on (default: %(default)s)"
    )
    p.add_argument(
        "--scenario",
        action="append",
        default=[],
        metavar="PATH",
        help="a scenario YAML file to offer besides the built-in ones (repeatable)",
    )
    p.add_argument(
        "--replay",
        metavar="DIR",
        default=None,
        help="start on the replay of this results directory (parley run --out DIR, or a sweep, "
        "whose runs are listed to choose from)",
    )
    p.add_argument(
        "--room",
        metavar="DIR",
        default=None,
        help="classroom mode: one negotiation several people join from their own browsers "
        "through per-seat links, each seeing only their own private brief; the facilitator "
        "link (printed) opens rooms and shows everything; finished rooms are saved in DIR "
        "(a folder for `parley report ... --reference DIR`); unfinished rooms are kept there "
        "as they play and reopen, same seat links, when the app starts again on DIR",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="save every negotiation the live page finishes (people's seats included) into "
        "DIR as a results directory, one per run, for `parley report` and --replay "
        "(default: nothing is saved)",
    )
    p.set_defaults(func=run)


def _port(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"a port is 1-65535, got {value}")
    return value


def app_path() -> Path:
    """The Solara app module file."""
    return Path(__file__).resolve().parents[1] / "viz" / "app.py"


def check_free(host: str, port: int) -> None:
    """Raise UserError if ``host:port`` cannot be bound (in use, or not an address here).

    Binds as the server will (uvicorn sets ``SO_REUSEADDR``): the connections of a server
    stopped a moment ago linger in TIME_WAIT for up to a minute, and must not block a restart.
    """
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as err:
        raise UserError(f"cannot listen on {host}:{port} ({err.strerror}); try --port") from None


def server_command(host: str, port: int) -> list[str]:
    """The ``solara run`` command line (production mode: no reload when files change)."""
    return [
        sys.executable, "-m", "solara", "run", str(app_path()),
        "--host", host, "--port", str(port), "--no-open", "--production",
    ]  # fmt: skip


def run(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    facilitator = ""
    scenarios = [str(Path(s).expanduser().resolve()) for s in args.scenario]
    for path in scenarios:
        if not Path(path).is_file():
            raise UserError(f"{path}: no such scenario file")
    if scenarios:
        env[SCENARIOS_ENV] = os.pathsep.join(scenarios)
    if args.replay:
        from parley.experiments.storage import ResultsError, check_results_dir

        replay = Path(args.replay).expanduser().resolve()
        try:
            check_results_dir(replay)  # before a server starts, not as a page error later
        except ResultsError as err:
            raise UserError(str(err)) from None
        env[REPLAY_ENV] = str(replay)
    if args.room:
        room_dir = Path(args.room).expanduser().resolve()
        if room_dir.exists() and not room_dir.is_dir():
            raise UserError(f"{room_dir}: exists and is not a directory")
        env[ROOM_ENV] = str(room_dir)
        key = env.setdefault(FACILITATOR_ENV, secrets.token_urlsafe(12))
        facilitator = (
            f"facilitator link (keep it to yourself): "
            f"http://{args.host}:{args.port}/?facilitator={key}\nrooms are kept in {room_dir} "
            "(finished ones as results directories; unfinished ones reopen at the next start)"
        )
    if args.out:
        out_dir = Path(args.out).expanduser().resolve()
        if out_dir.exists() and not out_dir.is_dir():
            raise UserError(f"{out_dir}: exists and is not a directory")
        env[OUT_ENV] = str(out_dir)
    check_free(args.host, args.port)
    print(f"parley app: serving on http://{args.host}:{args.port}/ (Ctrl-C to stop)", flush=True)
    if facilitator:
        print(facilitator, flush=True)
    # Become the server (one process): Ctrl-C and SIGTERM reach it directly, no orphan.
    cmd = server_command(args.host, args.port)
    os.execve(cmd[0], cmd, env)
    return 0  # not reached
