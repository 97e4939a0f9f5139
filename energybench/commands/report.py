"""`energybench report`: build the HTML and PDF reports of a run or sweep directory."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="build HTML and PDF reports (accuracy, energy, memory, time, storage vs sharing) of a run",
        description=(
            "Build the reports of a run directory written by 'energybench run' (a single run or a sharing "
            "sweep): accuracy vs sharing with the optimal sharing point, computation and memory-access energy, "
            "memory accesses, training time and storage vs sharing (normalised to sharing 0 and absolute), "
            "accuracy per phase, a cost breakdown per method, accuracy vs training energy with its Pareto front, "
            "the measured power trace and the last phase's confusion matrices, with summary tables and the "
            "run's metadata. The HTML report is one self-contained file (inline SVG, no external requests); "
            "the PDF holds the same figures and tables. Figures whose data the run lacks are left out with a "
            "note. By default the reports are written into the run directory as report.html and report.pdf."
        ),
    )
    p.add_argument("run_dir", type=Path, metavar="RUN_OR_SWEEP_DIR",
                   help="run directory (holds metrics.csv, summary.json, config.yaml, manifest.json)")
    p.add_argument("--format", dest="formats", default="html,pdf",
                   help="comma-separated report formats: html, pdf (default: html,pdf)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="write the reports into DIR (created if needed) instead of the run directory")
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from energybench.report import build_reports, parse_formats

    formats = parse_formats(args.formats)  # a bad format fails before any work
    for path in build_reports(args.run_dir, formats=formats, out_dir=args.out):
        print(f"report: {path}")
    return 0
