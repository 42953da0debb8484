"""The `kutils` command line (also `python -m kutils`).

Commands: `demo` (a tour of the utilities), `summary` and `plot` (look into a
saved model, even one today's Keras cannot load), `fetch` (`get_file` for
shells), `cache` (what the download cache holds), `h5` (the tree of an HDF5
file, with how `HDF5Matrix` reads each dataset), `migrate` (move a Keras 2
code base's keras.utils uses to kutils, report what else Keras 3 breaks).

Every command exits 0 on success, 1 on a failure (one line on stderr, the
traceback only with `--debug`) and 2 on a usage error. Each command lives in
its own module that registers its parser here through a `register(commands)`
function; nothing heavy is imported until a command runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from . import __version__

__all__ = ["main"]

# Modules whose `register(commands)` adds their sub-commands, in `--help` order.
_COMMAND_MODULES = ("demo", "_cli_models", "_cli_cache", "_cli_h5", "migrate")


def build_parser() -> argparse.ArgumentParser:
    """Builds the `kutils` argument parser with every command registered.

    Returns:
        The `argparse.ArgumentParser`; each command's parser sets `handler`,
        a function `(args) -> int` giving the exit status.
    """
    import importlib

    parser = argparse.ArgumentParser(
        prog="kutils",
        description="The Keras 2.2.4 keras.utils namespace on today's Keras: tools for the shell.",
        epilog="Run `kutils COMMAND --help` for a command's options and an example.",
    )
    parser.add_argument("--version", action="version", version=f"kutils {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback when a command fails")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _COMMAND_MODULES:
        importlib.import_module(f".{module}", "kutils").register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the `kutils` command line.

    Args:
        argv: The arguments after the program name; `sys.argv[1:]` if None.

    Returns:
        The process exit status: 0 on success, 1 if the command failed.

    Raises:
        SystemExit: With status 2 on a usage error (no command, an unknown
            option or choice), after argparse printed what was wrong.

    Example:
        >>> main(["--version"])  # doctest: +SKIP
        kutils 0.1.0
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter is not our output
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except BrokenPipeError:  # the reader went away (`kutils h5 f.h5 | head`): not worth a message
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print(f"kutils {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if args.debug:
            raise
        message = " ".join(str(error).split()) or "(no message)"
        print(
            f"kutils {args.command}: error: {type(error).__name__}: {message} (--debug shows the traceback)",
            file=sys.stderr,
        )
        return 1
