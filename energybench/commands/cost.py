"""`energybench cost`: the counted ops, memory accesses and modelled energy of one training step."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from energybench.commands.arguments import finite_float, seed
from energybench.errors import UserError, canonical

# Backbones built from torchvision take --cifar-stem; the others are scaled by --width.
TORCHVISION_BACKBONES = ("resnet18", "resnet34", "resnet101", "vgg19")

DESCRIPTION = (
    "Count one training step of a backbone with a linear head: forward MACs, backward MACs split "
    "into backward-to-input and backward-to-weights, and the optimizer's element-wise update ops "
    "(SGD, momentum 0.9, weight decay 5e-4), all from the operations PyTorch really dispatches; "
    "then the step's memory accesses, its compute and memory energy under an energy table, and "
    "the network's storage. The first --sharing fraction of the backbone's parameters (from the "
    "input side, cut at a block boundary) is frozen, as in an incremental phase. Inputs and "
    "labels are random (seeded): counts depend on shapes only."
)
EPILOG = (
    "Forward MACs equal torchvision's published figures, e.g. 'energybench cost --model resnet18 "
    "--input 3x224x224 --classes 1000' reports 1,814,073,344. Use --device meta to count large "
    "inputs without computing (same dispatched ops, shapes only). See 'energybench energy-table' "
    "for the per-op and SRAM energies in use."
)


def register(subparsers) -> None:
    p = subparsers.add_parser("cost", help="count the MACs, memory accesses and energy of one training step",
                              description=DESCRIPTION, epilog=EPILOG)
    p.add_argument("--model", required=True, metavar="NAME",
                   help="backbone: tiny_cnn, lenet, nin, resnet20, resnet32, resnet18, resnet34, resnet101, vgg19")
    p.add_argument("--input", required=True, metavar="CxHxW", help="input shape of one sample, e.g. 3x32x32")
    p.add_argument("--classes", type=int, default=10, metavar="N", help="output classes of the head (default: 10)")
    p.add_argument("--batch", type=int, default=1, metavar="B", help="samples per training step (default: 1)")
    p.add_argument("--sharing", type=finite_float, default=0.0, metavar="S",
                   help="fraction of backbone parameters frozen and shared, in [0, 1) (default: 0)")
    p.add_argument("--width", type=finite_float, default=1.0, metavar="W",
                   help="channel width multiplier of the small and CIFAR backbones (default: 1)")
    p.add_argument("--cifar-stem", action="store_true",
                   help="torchvision backbones: the 32x32 stem (3x3 stride-1 first conv, no max-pool)")
    p.add_argument("--precision", default="fp32", metavar="P",
                   help="word size and per-op energies: fp32, fp16, bf16, int8, int16, int32 (default: fp32)")
    p.add_argument("--energy-table", metavar="FILE",
                   help="energy table: a built-in name (horowitz45, the default; aladdin45) or a YAML file "
                        "merged over the default")
    p.add_argument("--sram-cell", metavar="CELL",
                   help="CACTI cell type: itrs-lstp (default), itrs-hp, itrs-lop")
    p.add_argument("--sram-bytes", type=int, metavar="N",
                   help="fix every layer's SRAM buffer at N bytes instead of sizing it to the layer's working set")
    p.add_argument("--device", default="cpu", choices=("cpu", "meta"),
                   help="cpu runs the step for real; meta dispatches the same ops on shapes only (default: cpu)")
    p.add_argument("--seed", type=seed, default=0, help="seed for weights, inputs and labels (default: 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.set_defaults(handler=main)


def parse_shape(text: str) -> tuple[int, int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*[xX]\s*(\d+)\s*", text or "")
    if not m or min(int(g) for g in m.groups()) < 1:
        raise UserError(f"--input must be CxHxW with positive integers (e.g. 3x32x32), got {text!r}")
    return tuple(int(g) for g in m.groups())  # type: ignore[return-value]


def _check(args: argparse.Namespace) -> tuple[int, int, int]:
    from energybench.cost.tables import builtin_tables, sram_cells
    from energybench.models import BACKBONES
    from energybench.models.surgery import check_sharing

    # Built-in names match in any case, as in `energybench run`.
    args.model = canonical(args.model, BACKBONES)
    args.precision = args.precision.lower()
    args.sram_cell = canonical(args.sram_cell, sram_cells())
    if args.energy_table is not None and not Path(args.energy_table).exists():
        args.energy_table = canonical(args.energy_table, builtin_tables())
    shape = parse_shape(args.input)
    if args.classes < 1:
        raise UserError(f"--classes must be 1 or more, got {args.classes}")
    if args.batch < 1:
        raise UserError(f"--batch must be 1 or more, got {args.batch}")
    if args.sram_bytes is not None and args.sram_bytes < 1:
        raise UserError(f"--sram-bytes must be a positive number of bytes, got {args.sram_bytes}")
    if not args.width > 0:
        raise UserError(f"--width must be more than 0, got {args.width}")
    torchvision = args.model in TORCHVISION_BACKBONES
    if args.width != 1.0 and torchvision:
        raise UserError(f"--width does not apply to '{args.model}' (torchvision's fixed widths); backbones that "
                        f"take --width: tiny_cnn, lenet, nin, resnet20, resnet32")
    if args.cifar_stem and not torchvision:
        raise UserError(f"--cifar-stem does not apply to '{args.model}'; backbones that take it: "
                        f"{', '.join(TORCHVISION_BACKBONES)} (the others are built for their input size already)")
    check_sharing(args.sharing)
    return shape


def main(args: argparse.Namespace) -> int:
    from energybench.cost.energy import rounded
    from energybench.cost.profile import profile_training_step, step_cost
    from energybench.cost.tables import load_energy_table

    shape = _check(args)
    table = load_energy_table(args.energy_table)
    cell = args.sram_cell or table.sram_cell
    table.mac_pj(args.precision)  # a precision the table lacks fails here, before the step runs
    table.sram_rows_for(cell, 32)
    try:
        net, cut, profile = profile_training_step(args.model, shape, args.classes, args.batch, args.sharing,
                                                  width=args.width, cifar_stem=args.cifar_stem, device=args.device,
                                                  seed=args.seed)
    except (MemoryError, RuntimeError) as exc:  # torch reports a failed allocation as a RuntimeError
        if not isinstance(exc, MemoryError) and "allocate" not in str(exc) and "out of memory" not in str(exc):
            raise
        wanted = re.search(r"allocate (\d+) bytes", str(exc))
        size = f" (one tensor of {int(wanted.group(1)) / 2**30:,.1f} GiB)" if wanted else ""
        raise UserError(f"one training step of {args.model} at batch {args.batch} on {args.input} with "
                        f"{args.classes} classes needs more memory than this machine has{size}; "
                        "--device meta counts the same operations on shapes only") from None
    out = step_cost(net, cut, profile, table, args.precision, cell, args.sram_bytes)
    out = rounded({"model": args.model, "input": list(shape), "batch": args.batch, "classes": args.classes,
                   "cifar_stem": args.cifar_stem, "device": args.device, **out})
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    _print_text(out)
    return 0


def _print_text(out: dict) -> None:
    shape = "x".join(map(str, out["input"]))
    print(f"{out['model']} on {out['batch']}x{shape}, {out['classes']} classes: one training step "
          f"(SGD momentum 0.9, weight decay), sharing {out['sharing_requested']:g} requested, "
          f"{out['sharing_achieved']:.3f} achieved ({out['shared_blocks']} "
          f"{'block' if out['shared_blocks'] == 1 else 'blocks'} frozen)")
    head = f"{'layer':<34} {'kind':<12} {'fwd MACs':>15} {'bwd-in MACs':>15} {'bwd-w MACs':>15} " \
           f"{'params':>11} {'train':>5} {'reads':>12} {'writes':>12} {'SRAM KB':>8}"
    print(head)
    print("-" * len(head))
    for r in out["layers"]:
        print(f"{r['name'][-34:]:<34} {r['kind'][:12]:<12} {r['fwd_macs']:>15,} {r['bwd_input_macs']:>15,} "
              f"{r['bwd_weight_macs']:>15,} {r['weight_elems']:>11,} {'yes' if r['trainable_elems'] else 'no':>5} "
              f"{r['mem_reads']:>12,} {r['mem_writes']:>12,} {r['sram_bytes'] / 1024:>8g}")
    print("-" * len(head))
    rows = [
        ("forward MACs", f"{out['forward_macs']:,}"),
        ("backward-to-input MACs", f"{out['backward_input_macs']:,}"),
        ("backward-to-weights MACs", f"{out['backward_weight_macs']:,}"),
        ("training step MACs", f"{out['train_step_macs']:,}"),
        ("update ops", f"{out['update_ops']:,} ({out['optimizer']}; {out['update_source']})"),
        ("memory reads / writes", f"{out['mem_reads']:,} / {out['mem_writes']:,} words of {out['precision']}"),
        ("compute energy", f"{out['compute_energy_j']:.6g} J"),
        ("memory energy", f"{out['memory_energy_j']:.6g} J ({_memory_where(out)})"),
        ("energy table", f"{out['energy_table']} at {out['precision']} ({out['energy_table_origin']})"),
        ("storage", f"{out['storage_bytes']:,} bytes ({out['total_params']:,} parameters, "
                    f"{out['trainable_params']:,} trainable)"),
    ]
    for k, v in rows:
        print(f"{k:<26} {v}")
    if out["sram_extrapolated"]:
        print("note: the SRAM size is outside CACTI's 4 KB-8 MB table; its energy is extrapolated")
    for note in out["notes"]:
        print(f"note: {note}")
    ops = ", ".join(f"{k} x{v}" for k, v in out["uncounted_ops"].items())
    print(f"ops seen but not counted as MACs: {ops}")


def _memory_where(out: dict) -> str:
    """Where the step's memory accesses are served: the SRAM, and the DRAM share of working
    sets larger than it."""
    sram = (f"SRAM {out['sram_cell']}, " + (f"{out['sram_bytes']:,} B fixed" if out["sram_bytes"] else
            f"sized per layer up to {out['sram_largest_bytes'] / 2**20:g} MB"))
    if not out["dram_access_fraction"]:
        return f"{sram}; no DRAM"
    share = out["dram_energy_j"] / out["memory_energy_j"] if out["memory_energy_j"] else 0.0
    return (f"{sram}; working sets beyond it from DRAM: {out['dram_access_fraction']:.1%} of accesses, "
            f"{share:.1%} of this energy")
