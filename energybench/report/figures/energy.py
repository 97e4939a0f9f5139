"""Where the energy goes: per pass (forward, backward to input and weights, update,
element-wise) and per memory level of the modelled hardware."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.patches import Patch

from energybench.report.canvas import FigureResult, Panels, omitted
from energybench.report.figures.curves import (
    level_axis_label,
    level_ticks,
    means_phrase,
    modelled_phrase,
    scale_for,
    seeds_phrase,
)
from energybench.report.rundir import ENERGY, OPS, RunData
from energybench.report.style import GREY

PARTS = {"fwd_macs": "forward", "bwd_input_macs": "backward, input gradients",
         "bwd_weight_macs": "backward, weight gradients", "update_ops": "optimizer update",
         "compute_energy_j": "computation", "elementwise_compute_energy_j": "element-wise computation",
         "memory_energy_j": "memory access (MAC operands)",
         "elementwise_memory_energy_j": "memory access, element-wise (unfused)"}
# a part is told by its shade of the method's colour and its hatch (so in greyscale too);
# None: grey, "white": no fill
PART_LOOK = {"fwd_macs": (1.0, ""), "bwd_input_macs": (0.55, "///"), "bwd_weight_macs": (0.3, "\\\\\\"),
             "update_ops": (0.0, ".."), "compute_energy_j": (1.0, ""), "elementwise_compute_energy_j": (0.15, "++"),
             "memory_energy_j": (None, "xx"), "elementwise_memory_energy_j": ("white", "oo")}
EW = ("elementwise_compute_energy_j", "elementwise_memory_energy_j")


def energy_split(run: RunData, method: str, sharing: float) -> dict[str, float]:
    """Modelled training energy of the incremental phases split into forward, backward (input and
    weight gradients), update, element-wise computation, memory access of the MAC operands and
    element-wise memory access, in joules.

    The cost model prices every MAC at the table's multiply + add energy (RunData.mac_pj), so
    forward and backward energies are their MACs times that; the update's is the rest of the
    computation energy (the optimizer's multiplies and adds). Without a per-MAC energy only the
    computation / memory split is known: then the MAC parts are NaN. Element-wise work (norms,
    activations, softmax, pooling, losses) is priced apart by the cost model (its own columns)."""
    t = {c: run.incremental_total(method, sharing, c) for c in OPS + ENERGY + EW}
    mac_j = run.mac_pj * 1e-12
    out = {c: t[c] * mac_j for c in OPS[:3]}
    # CSV rounding can leave a hair below zero when an update is (nearly) free
    out["update_ops"] = max(t["compute_energy_j"] - sum(out.values()), 0.0) if not math.isnan(mac_j) else math.nan
    out["memory_energy_j"] = t["memory_energy_j"]
    out["compute_energy_j"] = t["compute_energy_j"]
    for c in EW:
        out[c] = t[c]
    return out


def total_energy(run: RunData, method: str, sharing: float) -> float:
    """Every dynamic term the run priced, incremental phases, mean over seeds: computation and
    memory access of the MACs, element-wise computation and memory access (where recorded)."""
    parts = [run.incremental_total(method, sharing, c) for c in ENERGY]
    parts += [run.incremental_total(method, sharing, c) for c in EW if run.has_column(c)]
    return float(sum(parts))


def _part_colour(colour: str, shade: float | None):
    from matplotlib.colors import to_rgb

    if shade is None:
        return GREY
    if shade == "white":
        return "white"
    rgb = np.array(to_rgb(colour))
    return tuple(shade * rgb + (1 - shade) * np.ones(3))


def fig_breakdown(run: RunData, looks) -> FigureResult:
    fid, title = "energy-breakdown", "Cost breakdown"
    split = not math.isnan(run.mac_pj)
    ew = tuple(c for c in EW if run.has_column(c))
    caption = ("Top: counted operations of the incremental phases: forward MACs, backward MACs for input "
               "gradients and for weight gradients, and optimizer update operations. Bottom: modelled training "
               "energy of the same phases" + (
                   f", split into forward, backward and update computation (every MAC at the table's "
                   f"multiply + add energy, {run.mac_pj:g} pJ at {run.precision}; the update is the rest of the "
                   "computation energy) and memory access" if split else
                   " split into computation and memory access (the energy table records no per-MAC energy, so "
                   "computation is not split further)") + (
                   ", and the element-wise work (norms, activations, softmax, pooling, losses), priced apart: its "
                   "computation and its unfused memory traffic" if ew else "") +
               ". One group of bars per sharing level, one bar per method "
               "(its colour); a part is told by shade and hatching. " + seeds_phrase(run).replace(
                   "error bars ± one standard deviation over seeds (population)", "bars are means"))
    prov = "Counted: MACs and update operations from the operations PyTorch dispatched. " + modelled_phrase(run)
    levels = run.all_levels() or [0.0]
    methods = run.methods
    energy_keys = ((*OPS, *ew[:1], "memory_energy_j", *ew[1:]) if split
                   else ("compute_energy_j", *ew[:1], "memory_energy_j", *ew[1:]))
    ops = {m: np.array([[run.incremental_total(m, s, c) if s in run.levels(m) else math.nan for c in OPS]
                        for s in levels]) for m in methods}
    energy = {m: np.array([[energy_split(run, m, s)[c] if s in run.levels(m) else math.nan for c in energy_keys]
                           for s in levels]) for m in methods}
    has_ops = any(np.isfinite(v).any() for v in ops.values())
    has_energy = any(np.isfinite(v).any() for v in energy.values())
    if not (has_ops or has_energy):
        return omitted(fid, title, caption, prov, "Omitted: this run recorded no operation counts or energies.")
    groups = [g for g, ok in (((ops, OPS, "operations ({unit})", "ops"), has_ops),
                              ((energy, energy_keys, "training energy ({unit})", "J"), has_energy)) if ok]

    def draw(axes):
        x = np.arange(len(levels))
        width = 0.8 / len(methods)
        for ax, (values_by_method, keys, ylabel, unit) in zip(axes, groups):
            div, label = scale_for(np.concatenate([v.ravel() for v in values_by_method.values()]), unit)
            for k, m in enumerate(methods):
                xm = x - 0.4 + width * (k + 0.5)
                bottom = np.zeros(len(x))
                values = values_by_method[m]
                for j, c in enumerate(keys):
                    v = np.nan_to_num(values[:, j] / div, nan=0.0)  # a missing part adds nothing; see "n/a"
                    shade, hatch = PART_LOOK[c]
                    ax.bar(xm, v, width, bottom=bottom, color=_part_colour(looks[m].colour, shade), hatch=hatch,
                           edgecolor=looks[m].colour if shade == 0.0 else "black", linewidth=0.4)
                    bottom = bottom + v
                for xi, s, row in zip(xm, levels, values):
                    if s in run.levels(m) and not np.isfinite(row).any():
                        ax.text(xi, 0, "n/a", ha="center", va="bottom", rotation=90)
            step = max(1, math.ceil(len(levels) / 12))  # at most 12 labels: more would overlap
            ax.set_xticks(x[::step], level_ticks(run, levels[::step]))
            ax.set_xlim(-0.6, len(levels) - 0.4)
            ax.set_xlabel(level_axis_label(run, levels))
            ax.set_ylabel(ylabel.replace("{unit}", label))
            ax.grid(axis="x", visible=False)

    parts = list(energy_keys) if has_energy else list(OPS)
    legend = [Patch(facecolor=looks[m].colour, edgecolor="black", linewidth=0.4, label=m) for m in methods]
    for c in parts:
        shade, hatch = PART_LOOK[c]
        name = PARTS[c] if not (c == "update_ops" and has_energy and split) else "update (rest of computation)"
        legend.append(Patch(facecolor=_part_colour("#555555", shade), hatch=hatch, edgecolor="black",
                            linewidth=0.4, label=name))
    return FigureResult(fid, title, caption, prov,
                        Panels(len(groups), draw, ncols=1, aspect=0.36 if len(levels) * len(methods) > 8 else 0.45,
                               legend=legend, bottom_em=1.2 if run.sharing_differs() else 0.0))


# ----- energy by hardware level ----------------------------------------------------------------------------
# where the modelled dynamic energy is spent, stacked from the arithmetic out to DRAM; told by the
# method's colour, a shade of it and a hatch (so in greyscale too), like the cost breakdown's parts.
# Element-wise work is priced apart (with the per-layer buffer model, whatever the architecture),
# so its computation and its traffic are stacked as their own parts.
HW_LEVELS = (("compute_energy_j", "computation (MACs, update)", 1.0, ""),
             ("elementwise_compute_energy_j", "element-wise computation", 0.15, "++"),
             ("level_rf_energy_j", "register file", 0.55, ".."),
             ("level_buffer_energy_j", "buffer (SRAM), MAC operands", 0.3, "///"),
             ("elementwise_memory_energy_j", "buffer (SRAM), element-wise traffic (unfused)", "white", "oo"),
             ("level_dram_energy_j", "DRAM", 0.0, "xx"))
LEAKAGE = ("leakage_energy_j", "leakage (static, apart)", "\\\\\\")


def zero_reason(run: RunData, column: str) -> str:
    """Why a level that the architecture has spent no energy in this run, in a few words."""
    if column == "level_dram_energy_j" and "layer_buffer" in run.distinct("arch"):
        return "every layer's working set fits its buffer: no DRAM traffic"
    return "no traffic reached it"


def fig_levels(run: RunData, looks) -> FigureResult:
    fid, title = "energy-by-level", "Training energy by hardware level"
    arch, vdd = run.first("arch"), run.first("vdd")
    vdd = f"{float(vdd):g}" if vdd is not None else "unknown"
    caption = ("Modelled dynamic training energy of the incremental phases, stacked by where it is spent: "
               "computation of the MACs and updates, element-wise computation (norms, activations, softmax, pooling, "
               "losses), then each memory level of the architecture (levels it does not have are absent), the traffic "
               "of the MAC operands and the element-wise traffic (priced unfused, at the per-layer buffers) apart. "
               "The stack's height is every dynamic term the run priced. One group of bars per sharing level, one "
               "stack per method (its colour); a part is told by shade and hatching. ")
    prov = (f"Modelled: counted operations × per-operation energies of table '{run.energy_table}', and per-level "
            f"word accesses × {run.access_energies}; supply {vdd} V (cost/README.md).")
    if not run.has_column("level_buffer_energy_j"):
        return omitted(fid, title, caption + means_phrase(run), prov,
                       "Omitted: this run records no per-level energies (it predates architecture files).")
    keys = [k for k in HW_LEVELS if run.has_column(k[0])]
    leak = run.has_column(LEAKAGE[0])
    caption += ("Leakage (static energy, never part of the dynamic total) is the narrow hatched bar beside each "
                "stack. " if leak else f"Architecture '{arch}' models no leakage. ")
    levels = run.all_levels() or [0.0]
    methods = run.methods

    def total(m, s, column):
        return run.incremental_total(m, s, column) if s in run.levels(m) else math.nan

    values = {m: np.array([[total(m, s, c) for c, *_ in keys] for s in levels]) for m in methods}
    leaks = {m: np.array([total(m, s, LEAKAGE[0]) if leak else math.nan for s in levels]) for m in methods}
    # a level of the architecture that no energy reached: kept in the legend, at zero, with its reason
    zero = {c: zero_reason(run, c) for j, (c, *_) in enumerate(keys) if c.startswith("level_")
            and all(np.nan_to_num(v[:, j]).max() <= 0 for v in values.values())}
    for c, why in zero.items():
        caption += f"{dict((k[0], k[1]) for k in keys)[c]}: 0 J in every bar ({why}). "
    caption += means_phrase(run)

    def draw(axes):
        ax = axes[0]
        x = np.arange(len(levels))
        width = 0.8 / len(methods)
        stack_w, leak_w = (0.7 * width, 0.3 * width) if leak else (width, 0.0)
        div, unit = scale_for(np.concatenate([*(v.ravel() for v in values.values()), *leaks.values()]), "J")
        for k, m in enumerate(methods):
            left = x - 0.4 + width * k
            bottom = np.zeros(len(x))
            for j, (_, _, shade, hatch) in enumerate(keys):
                v = np.nan_to_num(values[m][:, j] / div, nan=0.0)  # an absent level adds nothing
                ax.bar(left + stack_w / 2, v, stack_w, bottom=bottom, color=_part_colour(looks[m].colour, shade),
                       hatch=hatch, edgecolor=looks[m].colour if shade == 0.0 else "black", linewidth=0.4)
                bottom = bottom + v
            if leak:
                ax.bar(left + stack_w + leak_w / 2, np.nan_to_num(leaks[m] / div, nan=0.0), leak_w, color="white",
                       hatch=LEAKAGE[2], edgecolor="black", linewidth=0.4)
        step = max(1, math.ceil(len(levels) / 12))  # at most 12 labels: more would overlap
        ax.set_xticks(x[::step], level_ticks(run, levels[::step]))
        ax.set_xlim(-0.6, len(levels) - 0.4)
        ax.set_xlabel(level_axis_label(run, levels))
        ax.set_ylabel(f"training energy ({unit})")
        ax.grid(axis="x", visible=False)

    legend = [Patch(facecolor=looks[m].colour, edgecolor="black", linewidth=0.4, label=m) for m in methods]
    legend += [Patch(facecolor=_part_colour("#555555", shade), hatch=hatch, edgecolor="black", linewidth=0.4,
                     label=name + (f": 0 J ({zero[c]})" if c in zero else "")) for c, name, shade, hatch in keys]
    if leak:
        legend.append(Patch(facecolor="white", hatch=LEAKAGE[2], edgecolor="black", linewidth=0.4, label=LEAKAGE[1]))
    return FigureResult(fid, title, caption, prov,
                        Panels(1, draw, ncols=1, aspect=0.36 if len(levels) * len(methods) > 8 else 0.45,
                               legend=legend, bottom_em=1.2 if run.sharing_differs() else 0.0))
