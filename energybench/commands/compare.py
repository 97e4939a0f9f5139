"""`energybench compare`: several runs side by side, as an HTML and a PDF report."""

from __future__ import annotations

import argparse

from energybench.commands import options
from energybench.commands.arguments import given_path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="compare runs (two backbones, datasets, energy tables, machines): overlaid curves, optimal points",
        description=(
            "Compare run directories written by 'energybench run': their accuracy, computation energy, memory "
            "accesses and memory-access energy, training time and storage against sharing, overlaid (normalised to "
            "each run's sharing 0 and absolute), a table of each run's optimal sharing point and savings, and what "
            "differs between their config.yaml and manifest.json. A method keeps its colour and marker; line "
            "style and marker fill tell the runs apart. The runs must have a method and, for it, a sharing level "
            "in common. Writes compare.html and compare.pdf into --out."
        ),
    )
    p.add_argument("run_dirs", type=given_path, nargs="+", metavar="RUN_DIR", help="two or more run directories")
    p.add_argument("--label", dest="labels", action="append", metavar="NAME",
                   help="a name for each run, in the order of the directories (default: their run ids)")
    options.add(p, "out", type=given_path, required=True)
    options.add(p, "report_format", default="html,pdf", default_text="html,pdf")
    p.add_argument("--page-size", default="letter", help="PDF page size: letter or a4 (default: letter)")
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from energybench.report import build_comparison, parse_formats, parse_page_size

    formats = parse_formats(args.report_format)
    page_size = parse_page_size(args.page_size)
    for path in build_comparison(args.run_dirs, args.out, labels=args.labels, formats=formats, page_size=page_size):
        print(f"compare: {path}")
    return 0
