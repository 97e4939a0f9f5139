"""Command-line entry point: argument parsing only; each subcommand lives in commands/."""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from energybench import __version__
from energybench.errors import UserError

# Each module defines register(subparsers) and sets `handler` on its parser.
COMMANDS = ("run", "cost", "energy_table", "power", "report", "compare", "rtl")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="energybench",
        description=(
            "Benchmark class-incremental learning methods together with their hardware cost: "
            "counted MACs, modelled 45nm compute and memory-access energy, storage, training "
            "time and (where a sensor exists) measured energy."
        ),
        epilog="Run 'energybench COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"energybench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"energybench.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    warnings.showwarning = _one_line_warning
    try:
        return int(args.handler(args) or 0)
    except UserError as exc:
        print(f"energybench {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"energybench {args.command}: interrupted", file=sys.stderr)
        return 130


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings meant for users (missing power sensor, ...) as one line, without source code."""
    print(f"energybench: warning: {message}", file=file or sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
