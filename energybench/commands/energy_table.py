"""`energybench energy-table`: the energy table in use, its sources, and SRAM energy per access."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from energybench.commands.arguments import finite_float
from energybench.errors import UserError, canonical

DESCRIPTION = (
    "Show the energy table the cost model uses: per-op energies (add, mult, and a MAC = mult + add) "
    "by precision with their sources and notes, the DRAM energy per bit, and the SRAM energy per "
    "access from CACTI 7 at 45nm. With --sram-bytes, the read and write energy per access of an SRAM "
    "of that size, interpolated in log-log space between the CACTI capacities (4 KB-8 MB) and "
    "extrapolated, with a flag, outside them."
)
EPILOG = (
    "Examples: 'energybench energy-table', 'energybench energy-table --energy-table aladdin45', "
    "'energybench energy-table --sram-bytes 100000 --word-bits 32 --json'. A table file is YAML with "
    "name, description, sources and ops_pj: {fp32: {add: pJ, mult: pJ}, ...}, optionally "
    "dram_pj_per_bit, register_pj_per_bit, sram: {cell: ...} and notes; it is merged over horowitz45."
)


def register(subparsers) -> None:
    p = subparsers.add_parser("energy-table", help="show the energy table in use and SRAM energy per access",
                              description=DESCRIPTION, epilog=EPILOG)
    p.add_argument("--energy-table", metavar="FILE",
                   help="a built-in name (horowitz45, the default; aladdin45) or a YAML file merged over the default")
    p.add_argument("--precision", metavar="P",
                   help="show only this precision (fp32, fp16, bf16, int8, int16, int32); also the default "
                        "--word-bits")
    p.add_argument("--sram-cell", metavar="CELL", help="CACTI cell type: itrs-lstp (default), itrs-hp, itrs-lop")
    p.add_argument("--sram-bytes", type=finite_float, metavar="N", help="SRAM capacity in bytes to interpolate at")
    p.add_argument("--word-bits", type=int, metavar="W",
                   help="bits per access (32 and 64 are CACTI rows; narrower words are packed into 32-bit "
                        "accesses); default: the precision's width, else 32")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from energybench.cost.energy import rounded
    from energybench.cost.tables import CACTI_WIDTHS, load_energy_table, precision_bits

    if args.word_bits is not None and args.word_bits < 1:
        raise UserError(f"--word-bits must be 1 or more, got {args.word_bits}")
    if args.sram_bytes is not None and not args.sram_bytes > 0:
        raise UserError(f"--sram-bytes must be a positive number of bytes, got {args.sram_bytes:g}")
    from energybench.cost.tables import builtin_tables, sram_cells

    # Built-in names match in any case, as in `energybench run`.
    if args.energy_table is not None and not Path(args.energy_table).exists():
        args.energy_table = canonical(args.energy_table, builtin_tables())
    args.sram_cell = canonical(args.sram_cell, sram_cells())
    args.precision = args.precision.lower() if args.precision else None
    table = load_energy_table(args.energy_table)
    cell = args.sram_cell or table.sram_cell
    precisions = table.precisions
    if args.precision:
        table.mac_pj(args.precision)  # clear error for a precision the table lacks
        precisions = [args.precision]
    bits = args.word_bits if args.word_bits is not None else (precision_bits(args.precision) if args.precision else 32)
    rows, width = table.sram_rows_for(cell, bits)
    wide = bits > width  # no CACTI row this wide: scaled linearly from the widest
    out = {
        "name": table.name, "origin": table.origin, "description": table.description,
        "sources": list(table.sources), "notes": list(table.notes),
        "labels": {p: table.label(p) for p in precisions},
        "ops_pj": {p: table.ops_pj[p] for p in precisions},
        "mac_pj": {p: table.mac_pj(p) for p in precisions},
        "dram_pj_per_bit": table.dram_pj_per_bit, "register_pj_per_bit": table.register_pj_per_bit,
        "sram_cell": cell, "word_bits": bits, "word_bits_extrapolated": wide,
        "sram_table": [{"bytes": c, "read_pj": r * bits / width, "write_pj": w * bits / width} for c, r, w in rows],
    }
    if args.sram_bytes is not None:
        read, write, extrapolated = table.sram_access_pj(args.sram_bytes, bits, cell)
        out.update(sram_bytes=args.sram_bytes, sram_read_pj=read, sram_write_pj=write, extrapolated=extrapolated)
    if table.extra:
        out["ignored_keys"] = sorted(table.extra)
    out = rounded(out)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"energy table {out['name']} ({out['origin']})")
    print(f"  {out['description']}")
    print("sources:")
    for s in out["sources"]:
        print(f"  - {s}")
    print(f"{'precision':<10} {'add pJ':>10} {'mult pJ':>10} {'MAC pJ':>10}")
    for p in precisions:
        source = f"  (from {table.base})" if out["labels"][p] != table.name else ""
        print(f"{p:<10} {table.op_pj(p, 'add'):>10.4g} {table.op_pj(p, 'mult'):>10.4g} {table.mac_pj(p):>10.4g}"
              f"{source}")
    print(f"DRAM: {table.dram_pj_per_bit:g} pJ/bit ({table.dram_access_pj(bits):.4g} pJ per {bits}-bit word)")
    if table.register_pj_per_bit is not None:
        print(f"register: {table.register_pj_per_bit:g} pJ/bit")
    print(f"SRAM ({cell}, CACTI 7 45nm, per {bits}-bit access):")
    if wide:
        print(f"  EXTRAPOLATED: CACTI has {'- and '.join(map(str, CACTI_WIDTHS))}-bit rows only; "
              f"{bits}-bit accesses are the {width}-bit figures x {bits / width:g}")
    for r in out["sram_table"]:
        print(f"  {r['bytes']:>9,} B  read {r['read_pj']:8.3f} pJ  write {r['write_pj']:8.3f} pJ")
    if args.sram_bytes is not None:
        if out["extrapolated"]:
            beyond = [f"{bits}-bit words" if wide else "",
                      "" if rows[0][0] <= args.sram_bytes <= rows[-1][0] else "4 KB-8 MB"]
            flag = f" (EXTRAPOLATED outside {' and '.join(b for b in beyond if b)})"
        else:
            flag = " (interpolated, log-log)"
        print(f"SRAM of {args.sram_bytes:,g} B: read {out['sram_read_pj']:.4f} pJ, write "
              f"{out['sram_write_pj']:.4f} pJ per access{flag}")
    for n in out["notes"]:
        print(f"note: {n}")
    if table.extra:
        print(f"kept, not used: {', '.join(out['ignored_keys'])}")
    return 0
