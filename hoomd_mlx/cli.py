"""The ``hoomd-mlx`` command line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    from hoomd_mlx.demo import run_demo

    summary = run_demo(Path(args.output), n=args.n, steps=args.steps)
    print(json.dumps(summary, indent=2))
    print(f"plot: {Path(args.output) / 'energy.png'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """argparse.ArgumentParser: The ``hoomd-mlx`` parser with its subcommands."""
    parser = argparse.ArgumentParser(prog="hoomd-mlx", description="HOOMD-blue + TensorFlow for MD campaigns")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-v, -vv)")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="LJ fluid with TensorFlowForce vs HOOMD's LJ, with a plot")
    demo.add_argument("--n", type=int, default=2000, help="number of particles (default 2000)")
    demo.add_argument("--steps", type=int, default=2000, help="timesteps per run (default 2000)")
    demo.add_argument("--output", default="demo-output", help="output directory (default demo-output)")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``hoomd-mlx``."""
    args = build_parser().parse_args(argv)
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    from hoomd_mlx.errors import HoomdMlxError

    try:
        return args.func(args)
    except HoomdMlxError as err:
        print(f"hoomd-mlx: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
