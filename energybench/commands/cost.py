"""`energybench cost`: the counted ops, memory accesses and modelled energy of one training step."""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

from energybench.commands import options
from energybench.commands.arguments import check_output, seed, whole
from energybench.config import MAX_WIDTH
from energybench.errors import UserError, canonical
from energybench.files import json_text

DESCRIPTION = (
    "Count one training step of a backbone with a linear head: forward MACs, backward MACs split "
    "into backward-to-input and backward-to-weights, and the optimizer's element-wise update ops "
    "(SGD, momentum 0.9, weight decay 5e-4), all from the operations PyTorch really dispatches; "
    "then the step's memory accesses, its compute and memory energy under an energy table, and "
    "the network's storage. The first --sharing fraction of the backbone's parameters (from the "
    "input side, cut at a block boundary) is frozen, as in an incremental phase. Inputs and "
    "labels are random (seeded): counts depend on shapes only. Element-wise work (norms, softmax, activations, "
    "adds) is counted and priced apart, with its unfused memory accesses."
)
EPILOG = (
    "Forward MACs equal torchvision's published figures, e.g. 'energybench cost --backbone resnet18 "
    "--input 3x224x224 --num-classes 1000' reports 1,814,073,344. Use --device meta to count large "
    "inputs without computing (same dispatched ops, shapes only; for attention the meta device runs the "
    "unfused math kernel, so its memory accesses are those of the scores written out). 'energybench cost "
    "--backbone vit_b_16 --input 3x224x224 --num-classes 1000 --device meta' reports torchvision's 17,563,828,224. "
    "See 'energybench energy-table' for the per-op and SRAM energies in use. With several --sharing, --node or "
    "--arch values it prints one table of the same step: each level's energy, and the energy of the first "
    "sharing level over each other's per node and architecture, e.g. 'energybench cost --backbone resnet101 "
    "--input 3x32x32 --cifar-stem --num-classes 100 --batch-size 128 --sharing 0,0.8 --node 45,7 --arch tpu_like'."
)


def register(subparsers) -> None:
    p = subparsers.add_parser("cost", help="count the MACs, memory accesses and energy of one training step",
                              description=DESCRIPTION, epilog=EPILOG)
    _add_step_options(p)
    _add_hardware_options(p)
    p.add_argument("--device", default="cpu", choices=("cpu", "meta"), type=str.lower,  # any case, like other names
                   help="cpu runs the step for real; meta dispatches the same ops on shapes only (default: cpu)")
    p.add_argument("--seed", type=seed, default=0, help="seed for weights, inputs and labels (default: 0)")
    options.add(p, "json")
    p.set_defaults(handler=main)


def _add_step_options(p: argparse.ArgumentParser) -> None:
    """The training step counted: network, input, head and batch."""
    options.add(p, "backbone", required=True)
    p.add_argument("--input", required=True, metavar="CxHxW", help="input shape of one sample, e.g. 3x32x32")
    p.add_argument("--num-classes", type=whole(1), default=10, metavar="N",
                   help="output classes of the head (default: 10)")
    options.add(p, "batch_size", default=1, default_text="1",
                limit="up to what the machine's memory holds; --device meta counts shapes only, while every tensor "
                      "stays under 2**63 elements")
    p.add_argument("--sharing", default="0", metavar="S",
                   help="fraction of backbone parameters frozen and shared, in [0, 1); comma-separated to compare "
                        "levels (default: 0)")
    options.add(p, "width", default=1.0, default_text="1")
    options.add(p, "cifar_stem", default=False)


def _add_hardware_options(p: argparse.ArgumentParser) -> None:
    """How the step is priced, and the files it can be exported as."""
    options.add(p, "precision", default="fp32", default_text="fp32")
    options.add(p, "energy_table")
    options.add(p, "sram_cell")
    p.add_argument("--sram-bytes", type=whole(1), metavar="N",
                   help="fix every layer's SRAM buffer at N bytes instead of sizing it to the layer's working set")
    options.add(p, "node", sweep=True)
    options.add(p, "vdd", default_text=options.VDD_DEFAULT + "; with one --node only")
    options.add(p, "arch", sweep=True)
    options.add(p, "mapper", default="analytic")
    p.add_argument("--export-actions", metavar="FILE",
                   help="write the step's action counts (whole step and per layer) in Accelergy's format; price them "
                        "with 'energybench energy-table --export-ert' (one sharing level, node and architecture)")
    p.add_argument("--export-workload", metavar="FILE",
                   help="write every (layer, pass) of the step at the given sharing level (frozen layers: no backward "
                        "passes) in another tool's input format, --workload-format (one sharing level, node and "
                        "architecture)")
    p.add_argument("--workload-format", metavar="FORMAT", type=str.lower,
                   help="format of --export-workload: zigzag (a workload YAML), timeloop (a folder of CNN-layer "
                        "problems), scalesim (a topology CSV) (default: zigzag)")


def parse_shape(text: str) -> tuple[int, int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*[xX]\s*(\d+)\s*", text or "")
    if not m or min(int(g) for g in m.groups()) < 1:
        raise UserError(f"--input must be CxHxW with positive integers (e.g. 3x32x32), got {text!r}")
    return tuple(int(g) for g in m.groups())  # type: ignore[return-value]


def _list(text: str | None, what: str, kind) -> list:
    if text is not None and not str(text).strip():
        raise UserError(f"{what} is empty; give a value, or leave the option out for its default")
    items = [t.strip() for t in str(text).split(",")] if text is not None else []
    if "" in items:  # `0,,0.5`: a value left out, not one to skip silently
        raise UserError(f"{what}: item {items.index('') + 1} of {text!r} is empty; give a value between every two "
                        "commas")
    try:
        values = [kind(t) for t in items]
    except ValueError:
        raise UserError(f"{what} must be comma-separated {kind.__name__ if kind is not str else 'names'}, "
                        f"got {text!r}") from None
    bad = next((t for t, v in zip(items, values) if isinstance(v, float) and not math.isfinite(v)), None)
    if bad is not None:
        raise UserError(f"argument {what}: must be a finite number, got {bad!r}")
    keys = [v.lower() if isinstance(v, str) else v for v in values]  # names match in any case
    if len(set(keys)) < len(keys):  # as run refuses them: a repeated value would print the same row twice
        raise UserError(f"{what}: values repeat: {', '.join(items)}")
    return values


def _check(args: argparse.Namespace) -> tuple[int, int, int]:
    from energybench.cost.tables import builtin_tables, sram_cells
    from energybench.models import BACKBONES, CIFAR_STEM_BACKBONES, WIDTH_BACKBONES, check_backbone_name
    from energybench.models.surgery import check_sharing

    # Built-in names match in any case, as in `energybench run`.
    args.backbone = canonical(args.backbone, BACKBONES)
    args.precision = args.precision.lower()
    args.sram_cell = canonical(args.sram_cell, sram_cells())
    if args.energy_table is not None and not Path(args.energy_table).exists():
        args.energy_table = canonical(args.energy_table, builtin_tables())
    shape = parse_shape(args.input)
    if args.num_classes < 1:
        raise UserError(f"--num-classes must be 1 or more, got {args.num_classes}")
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be 1 or more, got {args.batch_size}")
    for what, value in (("--num-classes", args.num_classes), ("--batch-size", args.batch_size),
                        ("--input", max(shape))):
        if value > 2**62:  # torch's sizes are 64-bit: past that it raises TypeError, not a memory error
            raise UserError(f"{what} {value} is beyond any machine's memory; sizes are at most 2**62")
    if args.sram_bytes is not None and args.sram_bytes < 1:
        raise UserError(f"--sram-bytes must be a positive number of bytes, got {args.sram_bytes}")
    if not args.width > 0:
        raise UserError(f"--width must be more than 0, got {args.width}")
    if args.width > MAX_WIDTH:
        raise UserError(f"--width must be at most {MAX_WIDTH:g}, got {args.width:.17g}")
    check_backbone_name(args.backbone)
    if args.width != 1.0 and args.backbone in BACKBONES and args.backbone not in WIDTH_BACKBONES:
        raise UserError(f"--width does not apply to '{args.backbone}' (torchvision's fixed widths); backbones that "
                        f"take --width: {', '.join(WIDTH_BACKBONES)}, and factories with a 'width' parameter")
    if args.cifar_stem and args.backbone not in CIFAR_STEM_BACKBONES:
        raise UserError(f"--cifar-stem does not apply to '{args.backbone}'; backbones that take it: "
                        f"{', '.join(CIFAR_STEM_BACKBONES)} (the others are built for their input size already)")
    args.sharings = _list(args.sharing, "--sharing", float) or [0.0]
    for s in args.sharings:
        check_sharing(s)
    args.nodes = _list(args.node, "--node", float) or [None]
    args.archs = _list(args.arch, "--arch", str) or [None]
    if args.vdd is not None and len(args.nodes) > 1:  # as run's pre-flight says it
        raise UserError(f"one supply ({args.vdd:g} V) cannot apply to several nodes "
                        f"({', '.join(f'{n:g}' for n in args.nodes)} nm): give one --node with --vdd, or leave --vdd "
                        "out (each node's own supply)")
    one_step = len(args.sharings) * len(args.nodes) * len(args.archs) == 1
    for flag, given in (("--export-actions", args.export_actions), ("--export-workload", args.export_workload)):
        if given and not one_step:
            raise UserError(f"{flag} writes one step: give one --sharing level, one --node and one --arch")
    from energybench.cost.export import FORMATS

    if args.workload_format is not None and args.workload_format not in FORMATS:
        raise UserError(f"unknown --workload-format '{args.workload_format}'; valid formats: {', '.join(FORMATS)}")
    if args.workload_format is not None and not args.export_workload:
        raise UserError(f"--workload-format {args.workload_format} is the format of --export-workload; give "
                        "--export-workload FILE too")
    args.workload_format = args.workload_format or "zigzag"
    if args.export_actions:
        check_output("--export-actions", args.export_actions, "actions.yaml")
    if args.export_workload:
        check_output("--export-workload", args.export_workload, "workload.yaml",
                     folder=args.workload_format == "timeloop")  # (timeloop: a folder of problem files)
    return shape


def main(args: argparse.Namespace) -> int:
    from energybench.cost.energy import rounded
    from energybench.cost.hardware import build_hardware
    from energybench.cost.profile import step_cost
    from energybench.training.step_profile import profile_training_step

    shape = _check(args)
    # every (architecture, node) priced, before any step runs: bad options fail first
    models = {(a, n): build_hardware(args.energy_table, n, args.vdd, a, args.precision, args.sram_cell,
                                     args.sram_bytes, args.mapper) for a in args.archs for n in args.nodes}
    for hw in models.values():
        if hw.table.sram_rows:
            hw.table.sram_rows_for(hw.sram_cell, 32)  # an unknown --sram-cell fails here
    try:
        steps = {s: profile_training_step(args.backbone, shape, args.num_classes, args.batch_size, s,
                                          width=args.width, cifar_stem=args.cifar_stem, device=args.device,
                                          seed=args.seed)
                 for s in args.sharings}
    except (MemoryError, RuntimeError) as exc:  # torch reports a failed allocation as a RuntimeError
        overflow = "overflow" in str(exc).lower()  # a size past 2**63 bytes (or elements), even on meta
        if not isinstance(exc, MemoryError) and "allocate" not in str(exc) and "out of memory" not in str(exc) \
                and not overflow:
            raise
        wanted = re.search(r"allocate (\d+) bytes", str(exc))
        size = f" (one tensor of {int(wanted.group(1)) / 2**30:,.1f} GiB)" if wanted else \
            " (a tensor of more than 2**63 bytes)" if overflow else ""
        if args.device == "meta" or overflow:  # no machine holds it: even its shapes overflow 64-bit sizes
            raise UserError(f"one training step of {args.backbone} at batch {args.batch_size} on {args.input} has a "
                            f"tensor of more than 2**63 elements or bytes, past what even --device meta can describe; "
                            "give a smaller --batch-size (the counts scale with it)") from None
        raise UserError(f"one training step of {args.backbone} at batch {args.batch_size} on {args.input} with "
                        f"{args.num_classes} classes needs more memory than this machine has{size}; "
                        "--device meta counts the same operations on shapes only") from None
    from energybench.models.surgery import distinct_cuts

    cuts = [round(c, 6) for c in distinct_cuts(next(iter(steps.values()))[0].backbone)]
    head = {"model": args.backbone, "input": list(shape), "batch": args.batch_size, "classes": args.num_classes,
            "cifar_stem": args.cifar_stem, "device": args.device, "achievable_sharing": cuts}
    if len(models) == 1 and len(steps) == 1:
        hw = next(iter(models.values()))
        net, cut, profile = steps[args.sharings[0]]
        out = rounded({**head, **step_cost(net, cut, profile, hw.table, args.precision, hw.sram_cell,
                                           args.sram_bytes, hw)})
        if args.export_actions:
            _write_actions(args.export_actions, hw, profile)
        if args.export_workload:
            from energybench.cost.export import write_workload
            from energybench.cost.tables import precision_bits

            write_workload(profile, args.workload_format, args.export_workload, precision_bits(args.precision))
        if args.json:
            print(json_text(out))
            return 0
        _print_text(out)
        _print_cuts(cuts)
        return 0
    rows = compare(steps, models, args)
    if args.json:
        print(json_text(rounded({**head, "comparison": rows})))
        return 0
    _print_comparison(head, rows)
    _print_cuts(cuts)
    return 0


def _print_cuts(cuts: list[float]) -> None:
    """The sharing fractions this backbone can achieve: cuts fall on block boundaries, so a sweep
    asks for levels that exist (a request goes to the nearest)."""
    print("achievable sharing (cuts fall between blocks; a block without parameters adds none): "
          + ", ".join(f"{c:.3f}" for c in cuts))


def _write_actions(path: str, hw, profile) -> None:
    from energybench.cost.accelergy import export_action_counts
    from energybench.files import atomic_write

    try:
        atomic_write(Path(path), export_action_counts(hw, profile))
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None


def compare(steps: dict, models: dict, args: argparse.Namespace) -> list[dict]:
    """One row per (architecture, node, sharing level): the step's energy by level, and the
    first sharing level's total dynamic energy over this one's (per architecture and node)."""
    from energybench.cost.profile import hierarchy_summary

    rows = []
    for (arch, node), hw in models.items():
        first = None
        for s, (net, cut, profile) in steps.items():
            h = hierarchy_summary(hw, hw.step(profile))
            total = h["dynamic_energy_j"]
            first = total if first is None else first
            rows.append({"architecture": h["architecture"], "node_nm": h["node_nm"], "vdd": h["vdd"],
                         "sharing": s, "sharing_achieved": cut.achieved, "compute_energy_j": h["compute_energy_j"],
                         "levels": {lv["name"]: lv["energy_j"] for lv in h["levels"]},
                         "memory_energy_j": h["memory_energy_j"], "dynamic_energy_j": total,
                         "leakage_energy_j": h["leakage_energy_j"], "ratio_to_first_sharing": first / total})
    return rows


def _print_comparison(head: dict, rows: list[dict]) -> None:
    shape = "x".join(map(str, head["input"]))
    print(f"{head['model']} on {head['batch']}x{shape}, {head['classes']} classes: one training step (SGD momentum "
          f"0.9, weight decay) per architecture, node and sharing level; energies in J; ratio = the first sharing "
          "level's dynamic energy over this one's")
    for arch in dict.fromkeys(r["architecture"] for r in rows):
        sub = [r for r in rows if r["architecture"] == arch]
        widths = {n: max(10, len(n)) for n in sub[0]["levels"]}  # a level's whole name heads its column
        head_line = (f"{'node':>5} {'Vdd':>5} {'sharing':>14} {'compute':>10} "
                     + " ".join(f"{n:>{w}}" for n, w in widths.items())
                     + f" {'dynamic':>10} {'ratio':>6} {'leakage':>10}")
        print(f"\narchitecture {arch}")
        print(head_line)
        print("-" * len(head_line))
        for r in sub:
            leak = f"{r['leakage_energy_j']:10.4g}" if r["leakage_energy_j"] is not None else f"{'-':>10}"
            node = f"{r['node_nm']}nm" if r["node_nm"] is not None else "?"  # an ERT that does not record it
            vdd = f"{r['vdd']:.3g}" if r["vdd"] is not None else "?"
            print(f"{node:>5} {vdd:>5} {r['sharing']:>6g} ({r['sharing_achieved']:.3f}) "
                  f"{r['compute_energy_j']:>10.4g} " + " ".join(f"{r['levels'][n]:>{w}.4g}" for n, w in widths.items())
                  + f" {r['dynamic_energy_j']:>10.4g} {r['ratio_to_first_sharing']:>6.3f} {leak}")
def _print_text(out: dict) -> None:
    shape = "x".join(map(str, out["input"]))
    print(f"{out['model']} on {out['batch']}x{shape}, {out['classes']} classes: one training step "
          f"(SGD momentum 0.9, weight decay), sharing {out['sharing_requested']:g} requested, "
          f"{out['sharing_achieved']:.3f} achieved ({out['shared_blocks']} "
          f"{'block' if out['shared_blocks'] == 1 else 'blocks'} frozen)")
    head = f"{'layer':<34} {'kind':<12} {'fwd MACs':>15} {'bwd-in MACs':>15} {'bwd-w MACs':>15} " \
           f"{'params':>11} {'train':>5} {'reads':>12} {'writes':>12} {'SRAM KB':>8} {'elem. ops':>12}"
    print(head)
    print("-" * len(head))
    for r in out["layers"]:
        print(f"{r['name'][-34:]:<34} {r['kind'][:12]:<12} {r['fwd_macs']:>15,} {r['bwd_input_macs']:>15,} "
              f"{r['bwd_weight_macs']:>15,} {r['weight_elems']:>11,} {'yes' if r['trainable_elems'] else 'no':>5} "
              f"{r['mem_reads']:>12,} {r['mem_writes']:>12,} "
              + (f"{r['sram_bytes'] / 1024:>8g}" if r["sram_bytes"] is not None else f"{'-':>8}")
              + f" {r['elementwise_fwd_ops'] + r['elementwise_bwd_ops']:>12,}")
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
        ("element-wise ops", f"{out['elementwise_fwd_ops']:,} forward + {out['elementwise_bwd_ops']:,} backward "
                             f"({out['elementwise_mults']:,} multiplies, {out['elementwise_adds']:,} adds)"),
        ("element-wise accesses", f"{out['elementwise_mem_reads']:,} / {out['elementwise_mem_writes']:,} words read / "
                                  "written (unfused)"),
        ("element-wise energy", f"{out['elementwise_compute_energy_j']:.6g} J compute + "
                                + (f"{out['elementwise_memory_energy_j']:.6g} J memory"
                                   if out["elementwise_memory_energy_j"] is not None else
                                   "memory not modelled (the table has no SRAM sized per capacity)")
                                + " (not in the two lines above)"),
        ("energy table", f"{out['energy_table']} at {out['precision']} ({out['energy_table_origin']})"),
        ("storage", f"{out['storage_bytes']:,} bytes ({out['total_params']:,} parameters, "
                    f"{out['trainable_params']:,} trainable)"),
    ]
    for k, v in rows:
        print(f"{k:<26} {v}")
    _print_levels(out["hierarchy"], out["sram_bytes"])
    if out["latency_cycles"] is not None:
        area = f"{out['area_mm2']:.4g} mm^2" if out["area_mm2"] is not None else "area not modelled"
        # cycles need only the array; seconds, EDP and TOPS/W need the file's clock_mhz too
        timed = (f"{out['latency_s']:.4g} s" if out["latency_s"] is not None else
                 "time not modelled (the architecture gives no clock_mhz)")
        print(f"  modelled step ({out['mapper']} mapper): {out['latency_cycles']:,.0f} cycles = {timed}, "
              f"utilisation {out['utilisation']:.3f}; {area}"
              + (f"; EDP {out['edp_js']:.4g} J s" if out["edp_js"] is not None else "")
              + f"; {out['energy_per_mac_j'] * 1e12:.4g} pJ/MAC"
              + (f"; {out['tops_per_w']:.4g} TOPS/W" if out["tops_per_w"] is not None else "")
              + (f"; {out['tops_per_mm2']:.4g} TOPS/mm^2" if out["tops_per_mm2"] is not None else ""))
    if out["sram_extrapolated"]:
        print("note: the SRAM size is outside CACTI's 4 KB-8 MB table; its energy is extrapolated")
    for note in out["notes"]:
        print(f"note: {note}")
    layout = out["layout_ops"]
    print(f"layout ops (views, copies, concatenation; no arithmetic, not costed): {sum(layout.values()):,} calls of "
          f"{len(layout)} ops")
    ops = ", ".join(f"{k} x{v}" for k, v in out["uncounted_ops"].items()) or "none"
    print(f"ops seen but neither counted nor priced: {ops}")


def _print_levels(h: dict, sram_bytes: int | None = None) -> None:
    """The step on its architecture: node, supply, and each level's accesses and energy (an SRAM
    without one per-access energy is sized per layer, or fixed for every layer by --sram-bytes)."""
    at = (f"{h['node_nm']} nm, {h['vdd']:g} V" if h["node_nm"] is not None else
          "an unknown node and supply (the ERT does not record them)")
    print(f"architecture {h['architecture']} ({h['dataflow']}) at {at}"
          + (f"; {'; '.join(h['scaling'])}" if h["scaling"] else ""))
    print(f"  {'level':<16} {'reads':>16} {'writes':>16} {'energy J':>12}  per access (pJ) and source")
    for lv in h["levels"]:
        pj = (f"read {lv['read_pj']:.4g}, write {lv['write_pj']:.4g}" if lv["read_pj"] is not None
              else "sized per layer" if not sram_bytes else f"{sram_bytes:,} B for every layer (--sram-bytes)")
        print(f"  {lv['name']:<16} {lv['reads']:>16,.0f} {lv['writes']:>16,.0f} {lv['energy_j']:>12.5g}  {pj}; "
              f"{lv['source']}" + (" (EXTRAPOLATED)" if lv["extrapolated"] else ""))
    print(f"  {'compute':<16} {'':>16} {'':>16} {h['compute_energy_j']:>12.5g}")
    if h["leakage_energy_j"] is not None:
        odd = [lv["name"] for lv in h["levels"] if lv["leakage_extrapolated"]]
        print(f"  leakage (not in the dynamic energy): {h['leakage_w']:.4g} W x {h['step_time_s']:.4g} s modelled "
              f"latency = {h['leakage_energy_j']:.4g} J"
              + (f" (CACTI leakage EXTRAPOLATED outside 4 KB-8 MB for {', '.join(odd)})" if odd else ""))
    elif h["leakage"] != "off":
        print(f"  leakage: {h['leakage']}")


def _memory_where(out: dict) -> str:
    """Where the step's memory accesses are served: the SRAM, and the DRAM share of working
    sets larger than it."""
    if out["hierarchy"]["dataflow"] != "layer_buffer":
        return f"the {out['hierarchy']['architecture']} architecture's levels, below"
    sram = (f"SRAM {out['sram_cell']}, " + (f"{out['sram_bytes']:,} B fixed" if out["sram_bytes"] else
            f"sized per layer up to {out['sram_largest_bytes'] / 2**20:g} MB"))
    if not out["dram_access_fraction"]:
        return f"{sram}; no DRAM"
    share = out["dram_energy_j"] / out["memory_energy_j"] if out["memory_energy_j"] else 0.0
    return (f"{sram}; working sets beyond it from DRAM: {out['dram_access_fraction']:.1%} of accesses, "
            f"{share:.1%} of this energy")
