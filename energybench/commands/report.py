"""`energybench report`: build the HTML and PDF reports of a run or sweep directory, or export
its figures as files for a paper."""

from __future__ import annotations

import argparse
import shlex
import sys
from contextlib import contextmanager

from energybench.commands import options
from energybench.commands.arguments import given_path
from energybench.commands.interrupt import SigtermAsInterrupt
from energybench.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="build HTML and PDF reports (accuracy, energy, memory, time, storage vs sharing) of a run, "
             "or export its figures",
        description=(
            "Build the reports of a run directory written by 'energybench run' (a single run or a sharing "
            "sweep): accuracy vs sharing with the optimal sharing point, computation and memory-access energy, "
            "memory accesses, training time and storage vs sharing (normalised to sharing 0 and absolute), "
            "accuracy per phase, the cost breakdown of every method, accuracy vs training energy with its Pareto "
            "front, the measured power trace and the last phase's confusion matrices, with summary tables and the "
            "run's metadata. The HTML report is one self-contained file (inline SVG, no external requests); "
            "the PDF is typeset on Letter or A4 pages with a linked contents page. Figures whose data the run "
            "lacks are left out with a note. By default the reports are written into the run directory as "
            "report.html and report.pdf. With --figures, every figure is written instead as its own file per "
            "format (vector PDF and SVG, 300 dpi PNG) at a paper's column or text width, with captions.md; "
            "add --report-format to write the reports as well."
        ),
    )
    p.add_argument("run_dir", type=given_path, metavar="RUN_OR_SWEEP_DIR",
                   help="run directory (holds metrics.csv, summary.json, config.yaml, manifest.json)")
    options.add(p, "report_format", default_text="html,pdf; none with --figures unless given")
    options.add(p, "out", type=given_path, default_text="the run directory")
    p.add_argument("--page-size", default="letter", help="PDF page size: letter or a4 (default: letter)")
    p.add_argument("--figures", type=given_path, metavar="OUT",
                   help="write every figure as its own file into OUT (created if needed): <figure>.<format>")
    p.add_argument("--figure-format",
                   help="comma-separated figure file formats: pdf, svg, png (default: pdf)")
    p.add_argument("--figure-width",
                   help="figure width: single (a paper's column, 3.3 in), double (its text width, 7 in) or "
                        "inches, 2 to 12 (default: double); fonts are sized for the width")
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from energybench.report import (
        build_reports,
        export_figures,
        parse_figure_formats,
        parse_formats,
        parse_page_size,
        parse_width,
    )

    # every option is checked before any work
    if args.report_format is not None:
        formats = parse_formats(args.report_format)
    else:  # the reports by default; only the figures when --figures alone is asked for
        formats = [] if args.figures is not None else parse_formats("html,pdf")
    page_size = parse_page_size(args.page_size)
    # (an empty value given is refused by the parsers, as --report-format "" is: not taken for the default)
    figure_formats = parse_figure_formats("pdf" if args.figure_format is None else args.figure_format)
    width = parse_width("double" if args.figure_width is None else args.figure_width)
    given = [flag for flag, value in (("--figure-format", args.figure_format), ("--figure-width", args.figure_width))
             if value is not None]
    if given and args.figures is None:
        raise UserError(f"{' and '.join(given)} shape the files --figures writes; give --figures DIR too (the "
                        "reports' figures take the page's width)")
    sigterm = SigtermAsInterrupt()
    try:
        with sigterm, _run_lock(args, formats):
            if args.figures is not None:
                for path in export_figures(args.run_dir, args.figures, figure_formats, width):
                    print(f"figure: {path}")
                print(f"captions: {args.figures / 'captions.md'}")
            if formats:
                for path in build_reports(args.run_dir, formats=formats, out_dir=args.out, page_size=page_size):
                    print(f"report: {path}")
    except KeyboardInterrupt:  # outside: an interruption C code turned into an error is raised as it leaves
        print(f"energybench report: interrupted{sigterm.how()}; the run directory {args.run_dir} is unchanged "
              "and every report or figure file is either complete or as it was before (each is written whole "
              f"or not at all).\nWrite them again with: energybench {' '.join(_argv(args))}", file=sys.stderr)
        return sigterm.status()
    return 0


@contextmanager
def _run_lock(args: argparse.Namespace, formats: list[str]):
    """The run's lock while the reports are written into the run directory (a run or resume
    writing there at the same time would be refused, and this one waits for no one)."""
    from energybench.engine.lock import RunLock, may_be_run

    if not formats or args.out is not None or not may_be_run(args.run_dir):  # (any other folder: refused)
        yield
        return
    hint = f"give --out DIR to write the reports elsewhere (energybench report {args.run_dir} --out DIR)"
    with RunLock(args.run_dir, read_only_hint=hint, busy_hint="or give --out DIR to write the reports elsewhere"):
        yield


def _argv(args: argparse.Namespace) -> list[str]:
    """The command line that writes the same files again."""
    words = ["report", shlex.quote(str(args.run_dir))]
    page_size = None if args.page_size == "letter" else args.page_size
    for flag, value in (("--report-format", args.report_format), ("--out", args.out), ("--page-size", page_size),
                        ("--figures", args.figures), ("--figure-format", args.figure_format if args.figures else None),
                        ("--figure-width", args.figure_width if args.figures else None)):
        if value is not None:
            words += [flag, shlex.quote(str(value))]
    return words
