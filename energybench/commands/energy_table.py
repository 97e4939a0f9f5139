"""`energybench energy-table`: the energy table in use, its sources, and SRAM energy per access."""

from __future__ import annotations

import argparse
from pathlib import Path

from energybench.commands import options
from energybench.commands.arguments import check_output, finite_float, whole
from energybench.errors import UserError, canonical
from energybench.files import json_text

DESCRIPTION = (
    "Show the energy table the cost model uses: per-op energies (add, mult, and a MAC = mult + add) "
    "by precision with their sources and notes, the DRAM energy per bit, and the SRAM energy per "
    "access from CACTI 7 at 45nm. With --sram-bytes, the read and write energy per access of an SRAM "
    "of that size, interpolated in log-log space between the CACTI capacities (4 KB-8 MB) and "
    "extrapolated, with a flag, outside them."
)
EPILOG = (
    "Examples: 'energybench energy-table', 'energybench energy-table --energy-table aladdin45', "
    "'energybench energy-table --sram-bytes 100000 --word-bits 32 --json', 'energybench energy-table --node 7 "
    "--arch tpu_like --export-ert tpu7.yaml'. A table file is YAML with name, description, sources and ops_pj: "
    "{fp32: {add: pJ, mult: pJ}, ...}, optionally dram_pj_per_bit, register_pj_per_bit, sram: {cell: ...}, notes, "
    "node_nm and vdd; it is merged over horowitz45 (whose op energies it does not set are moved to its node_nm and "
    "vdd). A file with a top-level ERT key is an Accelergy energy reference table, used as given, at the node, "
    "supply and architecture its ERT.attributes record (--export-ert writes them). Each precision's row names "
    "where its figures come from."
)


def register(subparsers) -> None:
    p = subparsers.add_parser("energy-table", help="show the energy table in use and SRAM energy per access",
                              description=DESCRIPTION, epilog=EPILOG)
    options.add(p, "energy_table")
    options.add(p, "precision", default_text="every precision of the table; the word size of --word-bits: fp32")
    options.add(p, "sram_cell")
    p.add_argument("--sram-bytes", type=finite_float, metavar="N", help="SRAM capacity in bytes to interpolate at")
    p.add_argument("--word-bits", type=whole(1), metavar="W",
                   help="bits per access (32 and 64 are CACTI rows; narrower words are packed into 32-bit "
                        "accesses, 33-63 bits priced linearly between the two rows, wider ones scaled from the "
                        "64-bit row and flagged); default: the precision's width, else 32")
    options.add(p, "node")
    options.add(p, "vdd", default_text=options.VDD_DEFAULT)
    options.add(p, "arch")
    p.add_argument("--export-ert", metavar="FILE",
                   help="write the table in use (compute, each level's read/write, DRAM) as an Accelergy energy "
                        "reference table (ERT) YAML, at --precision (default fp32)")
    options.add(p, "json")
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from energybench.cost.energy import rounded
    from energybench.cost.hardware import build_hardware
    from energybench.cost.tables import precision_bits

    if args.word_bits is not None and args.word_bits < 1:
        raise UserError(f"--word-bits must be 1 or more, got {args.word_bits}")
    if args.word_bits is not None and args.word_bits > 2**53:  # priced in floats, exact to 2**53
        raise UserError(f"--word-bits must be at most 2**53 ({2**53:,}), got {args.word_bits}")
    if args.sram_bytes is not None and not args.sram_bytes > 0:
        raise UserError(f"--sram-bytes must be a positive number of bytes, got {args.sram_bytes:g}")
    if args.export_ert:
        check_output("--export-ert", args.export_ert, "ert.yaml")
    from energybench.cost.tables import builtin_tables, sram_cells

    # Built-in names match in any case, as in `energybench run`.
    if args.energy_table is not None and not Path(args.energy_table).exists():
        args.energy_table = canonical(args.energy_table, builtin_tables())
    args.sram_cell = canonical(args.sram_cell, sram_cells())
    args.precision = args.precision.lower() if args.precision else None
    hw = build_hardware(args.energy_table, args.node, args.vdd, args.arch, args.precision or "fp32", args.sram_cell)
    table = hw.table
    if args.export_ert:
        _export(args.export_ert, hw)
    cell = args.sram_cell or table.sram_cell
    precisions = table.precisions
    if args.precision:
        table.mac_pj(args.precision)  # clear error for a precision the table lacks
        precisions = [args.precision]
    bits = args.word_bits if args.word_bits is not None else (precision_bits(args.precision) if args.precision else 32)
    rows, width = table.sram_rows_for(cell, bits) if table.sram_rows else ([], 32)
    wide = bits > width  # no CACTI row this wide: scaled linearly from the widest
    out = {
        "name": table.name, "origin": table.origin, "description": table.description,
        "sources": list(table.sources), "notes": list(table.notes),
        "labels": {p: table.label(p) for p in precisions},
        "op_sources": {p: table.op_source(p) for p in precisions},
        "ops_pj": {p: table.ops_pj[p] for p in precisions},
        "mac_pj": {p: table.mac_pj(p) for p in precisions},
        "dram_pj_per_bit": table.dram_pj_per_bit, "register_pj_per_bit": table.register_pj_per_bit,
        "node_nm": table.node_nm, "vdd": table.own_vdd, "scaling": list(table.scaling),
        "sram_source": table.sram_source,
        "architecture": hw.describe()["architecture"]["name"], "levels": hw.describe()["levels"],
        "sram_cell": cell, "word_bits": bits, "word_bits_extrapolated": wide,
        "sram_table": [dict(zip(("bytes", "read_pj", "write_pj"), (c, *table.sram_access_pj(c, bits, cell)[:2])))
                       for c, _, _ in rows],
    }
    if args.sram_bytes is not None and rows:
        read, write, extrapolated = table.sram_access_pj(args.sram_bytes, bits, cell)
        out.update(sram_bytes=args.sram_bytes, sram_read_pj=read, sram_write_pj=write, extrapolated=extrapolated)
    if table.extra:
        out["ignored_keys"] = sorted(table.extra)
    out = rounded(out)
    if args.json:
        print(json_text(out))  # strict JSON: null, never NaN
        return 0
    _print_text(out, table, args, precisions, (rows, bits, width))
    return 0


def _print_text(out: dict, table, args: argparse.Namespace, precisions: list[str], sram: tuple) -> None:
    from energybench.cost.tables import CACTI_WIDTHS

    rows, bits, width = sram
    cell, wide = out["sram_cell"], out["word_bits_extrapolated"]
    print(f"energy table {out['name']} ({out['origin']})")
    print(f"  {out['description']}")
    print("sources:")
    for s in out["sources"]:
        print(f"  - {s}")
    print(f"{'precision':<10} {'add pJ':>10} {'mult pJ':>10} {'MAC pJ':>10}")
    for p in precisions:
        print(f"{p:<10} {table.op_pj(p, 'add'):>10.4g} {table.op_pj(p, 'mult'):>10.4g} {table.mac_pj(p):>10.4g}"
              f"  (from {out['op_sources'][p]})")
    if table.dram_pj_per_bit is not None:
        print(f"DRAM: {table.dram_pj_per_bit:g} pJ/bit ({table.dram_access_pj(bits):.4g} pJ per {bits}-bit word)")
    else:  # an ERT without a DRAM component: the architecture's DRAM level prices itself (levels below)
        print("DRAM: none in this ERT (no component named DRAM); an architecture's DRAM level takes its own "
              "component or type")
    if table.register_pj_per_bit is not None:
        print(f"register: {table.register_pj_per_bit:g} pJ/bit")
    at = (f"node {out['node_nm']} nm, logic supply {out['vdd']:g} V" if out["node_nm"] is not None else
          "node and logic supply unknown: the ERT does not record them (ERT.attributes node_nm, vdd)")
    print(at + "".join(f"\n  {x}" for x in out["scaling"]))
    print(f"SRAM ({cell}, {table.sram_source}, per {bits}-bit access):" if rows else
          f"SRAM: no per-capacity figures in {table.origin}")
    if wide:
        print(f"  EXTRAPOLATED: CACTI has {'- and '.join(map(str, CACTI_WIDTHS))}-bit rows only; "
              f"{bits}-bit accesses are the {width}-bit figures x {bits / width:g}")
    for r in out["sram_table"]:
        print(f"  {r['bytes']:>9,} B  read {r['read_pj']:8.3f} pJ  write {r['write_pj']:8.3f} pJ")
    size = None if args.sram_bytes is None else (
        f"{int(args.sram_bytes):,}" if float(args.sram_bytes).is_integer() else f"{args.sram_bytes:,g}")
    if args.sram_bytes is not None and rows:
        if out["extrapolated"]:
            beyond = [f"CACTI's {'- and '.join(map(str, CACTI_WIDTHS))}-bit words" if wide else "",
                      "" if rows[0][0] <= args.sram_bytes <= rows[-1][0] else "4 KB-8 MB"]
            flag = f" (EXTRAPOLATED outside {' and '.join(b for b in beyond if b)})"
        else:
            flag = " (interpolated, log-log)"
        print(f"SRAM of {size} B: read {out['sram_read_pj']:.4f} pJ, write "
              f"{out['sram_write_pj']:.4f} pJ per access{flag}")
    print(f"architecture {out['architecture']}, per access of one {args.precision or 'fp32'} word:")
    for lv in out["levels"]:
        pj = (f"read {lv['read_pj']:.4g} pJ, write {lv['write_pj']:.4g} pJ" if lv["read_pj"] is not None
              else "sized per layer (the SRAM table above)" if size is None else
              f"{size} B for every layer (--sram-bytes, the SRAM line above)")
        print(f"  {lv['name']:<16} {pj}; {lv['source']}")
    for n in out["notes"]:
        print(f"note: {n}")
    if table.extra:
        print(f"kept, not used: {', '.join(out['ignored_keys'])}")


def _export(path: str, hw) -> None:
    from pathlib import Path

    from energybench.cost.accelergy import export_ert
    from energybench.files import atomic_write

    try:
        atomic_write(Path(path), export_ert(hw))
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
