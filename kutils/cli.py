"""The `kutils` command line: `kutils demo` (also `python -m kutils demo`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the `kutils` command line.

    Args:
        argv: The arguments after the program name; `sys.argv[1:]` if None.

    Returns:
        The process exit status: 0 if the command succeeded, 1 if a demo step
        failed.

    Raises:
        SystemExit: With status 2 on a usage error (no command, an unknown
            `--only` step), after argparse printed what was wrong.

    Example:
        >>> main(["--version"])  # doctest: +SKIP
        kutils 0.1.0
    """
    from .demo import list_steps, run_tour

    steps = list_steps()
    parser = argparse.ArgumentParser(
        prog="kutils",
        description="The Keras 2.2.4 keras.utils namespace on TensorFlow 2.21 / Keras 3.",
    )
    parser.add_argument("--version", action="version", version=f"kutils {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="a short tour that runs every utility on small real data")
    demo.add_argument(
        "--only",
        metavar="STEP",
        action="append",
        choices=[name for name, _ in steps],
        help="run only this tour step (repeatable); see --list",
    )
    demo.add_argument("--list", action="store_true", help="list the tour steps and exit")
    args = parser.parse_args(argv)

    if args.list:
        for name, summary in steps:
            print(f"{name:16} {summary}")
        return 0
    return run_tour(only=args.only, out=sys.stdout)
