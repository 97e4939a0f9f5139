"""Command-line entry point: argument parsing only; each subcommand lives in commands/."""

from __future__ import annotations

import argparse
import atexit
import importlib
import os
import re
import sys
import threading
import warnings

from energybench import __version__
from energybench.commands.interrupt import SigtermAsInterrupt
from energybench.commands.options import Deprecated, add_renamed
from energybench.commands.supervise import note
from energybench.errors import RunStopped, Terminated, UserCodeFailed, UserError, did_you_mean, error_line

# Each module defines register(subparsers) and sets `handler` on its parser.
COMMANDS = ("run", "cost", "energy_table", "power", "report", "compare", "rtl")
SIGPIPE_STATUS = 141  # 128 + SIGPIPE: what a shell reports for a reader that went away


class Parser(argparse.ArgumentParser):
    """argparse with the CLI's error format: one line, exit 2, and the closest valid choice or
    option for a misspelt one (argparse prints its whole usage block before the error)."""

    def parse_known_args(self, args=None, namespace=None):
        self._given = list(sys.argv[1:] if args is None else args)  # for error(): which options were typed
        return super().parse_known_args(args, namespace)

    def error(self, message: str):
        # a required option with an old spelling is a group of the two, the old one hidden; argparse
        # checks such groups only once every plain required option is given: name them all at once
        message = re.sub(r"^one of the arguments (\S+) is required$", r"the following arguments are required: \1",
                         message)
        head = "the following arguments are required: "
        if message.startswith(head):
            names = message[len(head):].split(", ")
            names += [g._group_actions[0].option_strings[0] for g in self._mutually_exclusive_groups
                      if g.required and not self._typed(g._group_actions)]
            order = {s: k for k, a in enumerate(self._actions) for s in [a.dest, a.metavar, *a.option_strings]}
            message = head + ", ".join(sorted(dict.fromkeys(names), key=lambda n: order.get(n, len(order))))
        self.exit(2, f"{self.prog}: error: {message}{self._hint(message)}; see '{self.prog} --help'\n")

    def _typed(self, actions: list[argparse.Action]) -> bool:
        """Whether any of `actions` was typed on the command line (as argparse matches: whole, with
        '=value', or as an unambiguous prefix)."""
        flags = {s for a in actions for s in a.option_strings}
        for word in getattr(self, "_given", []):
            if not word.startswith("--"):
                continue
            word = word.split("=", 1)[0]
            hits = {s for s in self._option_string_actions if s.startswith(word)}
            if word in flags or (len(hits) == 1 and hits <= flags):
                return True
        return False

    def _hint(self, message: str) -> str:
        m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)$", message)
        if m:
            return did_you_mean(m.group(1), re.findall(r"'([^']*)'", m.group(2)))
        m = re.match(r"unrecognized arguments: (\S+)", message)
        if m and m.group(1).startswith("-"):
            flags = [s for a in self._actions if a.help != argparse.SUPPRESS  # not the old spellings
                     for s in a.option_strings if s.startswith("--")]
            return did_you_mean(m.group(1).split("=")[0], flags)
        return ""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="energybench",
        description=(
            "Benchmark class-incremental learning methods together with their hardware cost: "
            "counted MACs, modelled compute and memory-access energy (45 nm by default; 90-7 nm and memory "
            "hierarchies selectable), storage, training "
            "time and (where a sensor exists) measured energy."
        ),
        epilog="Run 'energybench COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"energybench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"energybench.commands.{name}").register(sub)
    _add_debug(sub)
    add_renamed(sub)
    return parser


def _add_debug(sub: argparse._SubParsersAction) -> None:
    """--debug on `run`, the command that runs users' methods and networks: their tracebacks (the
    other commands say what failed in one line and run no user code whose traceback would help)."""
    sub.choices["run"].add_argument("--debug", action="store_true",
                                    help="print the full traceback when a user's method or network raises")


def _command_parser(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.ArgumentParser:
    """The (sub)parser the words of argv select: `rtl characterize` -> its parser."""
    for word in argv:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if subs and word in subs[0].choices:
            parser = subs[0].choices[word]
    return parser


def _attach_dash_values(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """`--scenario -4,3,3` as `--scenario=-4,3,3` (and `--lr -inf`): argparse takes a value that
    starts with one '-' and is not a plain negative number for an option, and says only "expected
    one argument"; attached, the value reaches the option's own check, which names it and what is
    valid. A word with two dashes, or an option of the command (-h), stays an option."""
    actions = _command_parser(parser, argv)._actions
    options = {s for a in actions for s in a.option_strings}
    takes_value = {s for a in actions if isinstance(a, (argparse._StoreAction, Deprecated)) and a.nargs is None
                   for s in a.option_strings}
    out, i = [], 0
    while i < len(argv):
        if argv[i] == "--":
            return out + argv[i:]
        value = argv[i + 1] if i + 1 < len(argv) else ""
        if argv[i] in takes_value and re.match(r"-(?!-)", value) and value not in options:
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = _attach_dash_values(parser, sys.argv[1:] if argv is None else list(argv))
    args, extra = parser.parse_known_args(argv)
    if extra:  # named by the subcommand that was given them, with its closest option
        _command_parser(parser, argv).error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command is None:
        parser.print_help()
        return 0
    warnings.showwarning = _one_line_warning
    args.argv = argv  # (a Ray sweep's driver runs as a watched child with the same command line)
    code = _handle(args)
    note(handled=True)  # (for the watcher of a Ray sweep's driver: it ended through energybench's handling)
    return code


def entry() -> None:
    """The `energybench` command: main(), then the process ends without tearing the interpreter
    down. Everything is written by then; what Python would still do is free every module's objects
    one by one (torch's, Ray's: 0.3-1 s of a command's wall time, measured). What exit handlers
    and threads still have to do is done first, as at a normal exit."""
    try:
        code = main()
    except SystemExit as exc:  # argparse's --help and errors
        if not (exc.code is None or isinstance(exc.code, int)):
            raise
        code = exc.code or 0
    exit_now(code)


def exit_now(code: int) -> None:
    """os._exit(code) after what a normal interpreter exit does that matters: waiting for
    non-daemon threads, the exit handlers (a tracker's last writes, temporary folders, a Ray
    cluster), and flushing the standard streams."""
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that went away, or a stream closed
            if stream is sys.stdout and not code:
                code = SIGPIPE_STATUS
    os._exit(code)


def _handle(args: argparse.Namespace) -> int:
    try:
        with SigtermAsInterrupt():  # every command stops on SIGTERM as on Ctrl-C, with a message
            code = int(args.handler(args) or 0)
        sys.stdout.flush()  # here, so a closed pipe is caught below and not at interpreter exit
        return code
    except UserError as exc:
        if isinstance(exc, UserCodeFailed) and exc.details and getattr(args, "debug", False):
            print(exc.details.rstrip(), file=sys.stderr)
        print(error_line(args.command, exc), file=sys.stderr)
        return 2
    except RunStopped as exc:
        print(f"energybench {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        how = " by SIGTERM" if isinstance(exc, Terminated) else ""
        if getattr(exc, "said", False):  # again, while the command stopped: what it said still holds
            print(f"energybench {args.command}: interrupted again{how} while stopping; the above still holds",
                  file=sys.stderr)
        else:
            print(f"energybench {args.command}: interrupted{how}; every file it writes is written whole or not at "
                  "all, so nothing is half-written: run the same command again", file=sys.stderr)
        return exc.status if isinstance(exc, Terminated) else 130
    except BrokenPipeError:  # `energybench cost --json | head`: the reader has all it wanted
        _discard_stdout()
        return SIGPIPE_STATUS


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so Python's final flush of what is still buffered for the
    closed pipe does not print a second BrokenPipeError."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings meant for users (missing power sensor, ...) as one line, without source code."""
    print(f"energybench: warning: {message}", file=file or sys.stderr)


if __name__ == "__main__":
    entry()
