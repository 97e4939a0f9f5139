"""Several runs side by side (two backbones, datasets, energy tables or nodes, machines): their
accuracy, energy, memory-access, time and storage curves against sharing overlaid, normalised
and absolute, each run's optimal sharing points and savings, and what differs between their
configurations and manifests.

A method keeps its colour and marker (style.METHOD_LOOKS); a run is told by line style and
marker fill. Only methods that every run ran are compared, and the runs must share at least
one sharing level of one of them; otherwise there is nothing to compare and the user is told
what each run holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D

from energybench.errors import UserError
from energybench.report.canvas import FigureResult, Panels, omitted
from energybench.report.document import Column, Document, Paragraph, Section, Table, figure_section
from energybench.report.plots import (
    INCREMENTAL,
    Curve,
    Spec,
    draw_panel,
    method_handles,
    star_handle,
)
from energybench.report.rundir import RunData, load_run
from energybench.report.style import MAX_RUNS, Look, method_looks, run_line
from energybench.report.tables import DASH, OPTIMAL_COLUMNS, flatten, join, optimal_rows, seed_list

# keys that differ between any two runs without saying anything about them
IGNORED = {"config.run_id", "config.out", "config.report", "config.report_formats", "manifest.class_names",
           "manifest.run_dir_format"}  # the layout version: the reader reads either, results unchanged
MAX_VALUE = 160  # characters of a differing value shown (class orders can be long)


@dataclass
class Comparison:
    runs: list[RunData]
    labels: list[str]
    methods: list[str]  # the methods every run ran, in the first run's order
    left_out: dict[str, list[str]]  # label -> methods only some runs ran
    common_levels: dict[str, list[float]]  # method -> sharing levels every run ran


def _labels(runs: list[RunData], labels: list[str] | None) -> list[str]:
    if labels:
        if len(labels) != len(runs):
            raise UserError(f"{len(labels)} label(s) for {len(runs)} run directories; give one --label per run "
                            "directory, in the same order")
        labels = [str(x).strip() for x in labels]
        if any(not x for x in labels):
            raise UserError("a --label is empty; give each run a name")
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise UserError(f"the label '{dup[0]}' is given to more than one run; labels must tell the runs apart")
        return labels
    ids = [r.run_id for r in runs]
    if len(set(ids)) == len(ids):
        return ids
    paths = [str(r.root) for r in runs]
    raise UserError("the runs share a run id (" + ", ".join(ids) + "); name them with --label, one per run "
                    "directory (" + ", ".join(paths) + ")")


def load_comparison(run_dirs: list[str | Path], labels: list[str] | None = None) -> Comparison:
    """Read the runs and check that they have something in common, or say why not."""
    if len(run_dirs) < 2:
        runs = sorted(Path(run_dirs[0]).glob("*/metrics.csv")) if run_dirs else []
        if runs and not (Path(run_dirs[0]) / "metrics.csv").is_file():  # a folder of runs: name them
            shown = " ".join(str(r.parent) for r in runs[:MAX_RUNS])
            raise UserError(f"{run_dirs[0]} is a folder of {len(runs)} run directories; compare takes the runs "
                            f"themselves, e.g. energybench compare {shown} --out DIR"
                            + (f" (at most {MAX_RUNS})" if len(runs) > MAX_RUNS else ""))
        raise UserError(f"compare needs at least two run directories; got {len(run_dirs)}")
    if len(run_dirs) > MAX_RUNS:
        raise UserError(f"compare takes at most {MAX_RUNS} run directories (one line style each); got "
                        f"{len(run_dirs)}")
    resolved = [Path(d).resolve() for d in run_dirs]
    for k, p in enumerate(resolved):
        if p in resolved[:k]:
            raise UserError(f"{run_dirs[k]} is given twice; compare different run directories")
    runs = [load_run(d) for d in run_dirs]
    labels = _labels(runs, labels)
    common = [m for m in runs[0].methods if all(m in r.methods for r in runs[1:])]
    if not common:
        held = "; ".join(f"{lab}: {', '.join(r.methods)}" for lab, r in zip(labels, runs))
        raise UserError(f"the runs have no method in common ({held}); compare runs of the same method")
    levels = {m: sorted(set.intersection(*[set(r.levels(m)) for r in runs])) for m in common}
    if not any(levels.values()):
        held = "; ".join(f"{lab}: " + ", ".join(f"{m} at {', '.join(f'{s:g}' for s in r.levels(m))}" for m in common)
                         for lab, r in zip(labels, runs))
        raise UserError(f"the runs share no sharing level of any common method ({held}); compare runs with at "
                        "least one sharing level in common")
    left_out = {lab: [m for m in r.methods if m not in common] for lab, r in zip(labels, runs)}
    return Comparison(runs, labels, common, {k: v for k, v in left_out.items() if v}, levels)


# ----- figures --------------------------------------------------------------------------------------
def _run_handles(cmp: Comparison) -> list:
    out = []
    for k, label in enumerate(cmp.labels):
        ls, fill = run_line(k)
        out.append(Line2D([], [], color="black", linestyle=ls, marker="o", fillstyle=fill, markerfacecoloralt="white",
                          label=label))
    return out


def _curves(cmp: Comparison, spec: Spec, looks: dict[str, Look]) -> list[Curve]:
    from energybench.report.plots import method_curves

    curves = []
    for k, (label, run) in enumerate(zip(cmp.labels, cmp.runs)):
        ls, fill = run_line(k)
        for c in method_curves(run, spec, [m for m in cmp.methods if run.levels(m)], looks):
            c.label, c.linestyle, c.fill = f"{label}: {c.label}", ls, fill
            curves.append(c)
    return curves


def _seeds(cmp: Comparison) -> str:
    parts = [f"{lab}: {len(r.seeds)} seed{'s' if len(r.seeds) != 1 else ''} ({', '.join(map(str, r.seeds))})"
             for lab, r in zip(cmp.labels, cmp.runs)]
    return ("Means over seeds; error bars ± one standard deviation over seeds (population) where a run has more "
            "than one (" + "; ".join(parts) + ").")


def compare_figure(cmp: Comparison, looks, fid: str, title: str, caption: str, provenance: str,
                   specs: list[Spec]) -> FigureResult:
    drawable, dropped = [], []
    for spec in specs:
        curves = _curves(cmp, spec, looks)
        if any(np.isfinite(c.ys).any() for c in curves):
            drawable.append((spec, curves))
        else:
            dropped.append(spec.ylabel.split(" (")[0].replace("\n", " ") + " (no run recorded it)")
    caption = f"{caption} {_seeds(cmp)}"
    if not drawable:
        return omitted(fid, title, caption, provenance, "Omitted: no run recorded these values.")
    if dropped:
        caption += " Not drawn: " + "; ".join(dropped) + "."

    def draw(axes):
        for ax, (spec, curves) in zip(axes, drawable):
            draw_panel(ax, spec, curves)

    legend = method_handles(cmp.methods, looks) + _run_handles(cmp)
    if any(r.optimal_sharing(m) is not None for r in cmp.runs for m in cmp.methods):
        legend.append(star_handle(cmp.runs[0].tolerance))
    return FigureResult(fid, title, caption, provenance,
                        Panels(len(drawable), draw, legend=legend, top_axis=any(r.sharing_differs() for r in cmp.runs)))


def _tables(cmp: Comparison) -> str:
    return ", ".join(f"'{r.energy_table}' at {r.precision}" + (f" with {r.architecture}" if r.architecture else "")
                     + f" ({lab})" for lab, r in zip(cmp.labels, cmp.runs))


def compare_figures(cmp: Comparison) -> list[FigureResult]:
    looks = method_looks(cmp.methods)
    how = "Line style and marker fill tell the runs apart; colour and marker the methods. "
    modelled = f"Modelled: counted operations and memory accesses × energy tables and architectures {_tables(cmp)}."
    devices = ", ".join(f"{r.device_name} ({lab})" for lab, r in zip(cmp.labels, cmp.runs))
    return [
        compare_figure(cmp, looks, "accuracy-vs-sharing", "Accuracy vs sharing",
                       how + "Final accuracy and average incremental accuracy against sharing; a star marks each "
                       "run's optimal sharing point per method.",
                       "Measured: test-set top-1 accuracy of each method's primary classifier.",
                       [Spec("final_acc", False, "final accuracy (%)"),
                        Spec("avg_inc_acc", False, "average incremental\naccuracy (%)")]),
        compare_figure(cmp, looks, "compute-energy", "Computation energy vs sharing",
                       how + "Computation energy per iteration normalised to each run's own sharing 0, and in joules "
                       "(total); below, the total of every term each run priced (computation and memory access of "
                       f"the MACs and of the element-wise work, where recorded). {INCREMENTAL}", modelled,
                       [Spec("compute_energy_j_per_iter", True, "compute energy per\niteration (× sharing 0)"),
                        Spec("total_compute_energy_j", False, "compute energy ({unit})", "J"),
                        Spec("total_energy_j", True, "total energy, every\npriced term (× sharing 0)"),
                        Spec("total_energy_j", False, "total energy, every\npriced term ({unit})", "J")]),
        compare_figure(cmp, looks, "memory-access", "Memory accesses and memory-access energy vs sharing",
                       how + f"Memory accesses and their energy, normalised and absolute. {INCREMENTAL}", modelled,
                       [Spec("mem_accesses_per_iter", True, "memory accesses per\niteration (× sharing 0)"),
                        Spec("total_mem_accesses", False, "memory accesses ({unit})", "accesses"),
                        Spec("memory_energy_j_per_iter", True, "memory energy per\niteration (× sharing 0)"),
                        Spec("total_memory_energy_j", False, "memory-access energy ({unit})", "J")]),
        compare_figure(cmp, looks, "training-time", "Training time per iteration vs sharing",
                       how + "Wall time per iteration, normalised and absolute; the bars span the lowest to the "
                       "highest per-iteration time of any incremental phase of any seed (times on a shared machine "
                       "are noisy; runs on different machines differ by their machines too).",
                       f"Measured: wall-clock training time on {devices}.",
                       [Spec("time_per_iter_s", True, "wall time per iteration\n(× sharing 0)", span="train_time_s"),
                        Spec("time_per_iter_s", False, "wall time per iteration ({unit})", "s",
                             span="train_time_s")]),
        compare_figure(cmp, looks, "modelled-latency", "Modelled latency per iteration vs sharing",
                       how + "The modelled accelerator's time per training iteration (each run's architecture and "
                       f"mapper), absolute and normalised to each run's sharing 0. {INCREMENTAL}",
                       "Modelled: array folds and each level's traffic over its bandwidth, at the architecture's "
                       "clock (cost/README.md).",
                       [Spec("latency_s_per_iter", False, "modelled latency per\niteration ({unit})", "s"),
                        Spec("latency_s_per_iter", True, "modelled latency per\niteration (× sharing 0)")]),
        compare_figure(cmp, looks, "storage", "Storage vs sharing",
                       how + "Storage after the last phase, absolute and normalised to each run's sharing 0.",
                       "Counted: unique stored parameters and exemplar memory at each run's precision.",
                       [Spec("storage_bytes", False, "storage ({unit})", "bytes"),
                        Spec("storage_bytes", True, "storage (× sharing 0)")]),
    ]


# ----- tables ---------------------------------------------------------------------------------------
def runs_table(cmp: Comparison) -> Table:
    rows = []
    for lab, r in zip(cmp.labels, cmp.runs):
        backbone = r.manifest.get("backbone") or r.config.get("backbone") or DASH
        dataset = r.manifest.get("dataset") or r.config.get("dataset") or DASH
        rows.append([lab, str(dataset), str(backbone), f"{r.energy_table} ({r.precision})", r.device_name,
                     seed_list(r.seeds), ", ".join(r.methods), str(r.root)])
    cols = [Column("run", numeric=False), Column("dataset", numeric=False), Column("backbone", numeric=False),
            Column("energy table", numeric=False), Column("device", numeric=False), Column("seeds", numeric=False),
            Column("methods", numeric=False), Column("directory", numeric=False)]
    return Table(cols, rows, id="runs-table")


def _short(value) -> str:
    text = join(value)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def differences(cmp: Comparison) -> tuple[list[str], list[list[str]]]:
    """(keys, rows) of every config.yaml and manifest.json key whose value is not the same in
    every run (a key a run lacks counts as a difference)."""
    flat = []
    for r in cmp.runs:
        f = {f"config.{k}": v for k, v in flatten(r.config).items()}
        f.update({f"manifest.{k}": v for k, v in flatten(r.manifest).items()})
        flat.append(f)
    keys = list(dict.fromkeys(k for f in flat for k in f))
    rows = []
    for k in keys:
        if k in IGNORED:
            continue
        values = [f.get(k, "(absent)") for f in flat]
        if any(v != values[0] for v in values[1:]):
            rows.append([k.split(".", 1)[1] + (" (manifest)" if k.startswith("manifest.") else ""),
                         *(_short(v) if v != "(absent)" else "(absent)" for v in values)])
    return keys, rows


def differences_table(cmp: Comparison) -> Table | Paragraph:
    _, rows = differences(cmp)
    if not rows:
        return Paragraph("The runs' config.yaml and manifest.json agree on every key (run ids and output settings "
                         "aside): any difference in their results comes from randomness the seeds do not pin, or the "
                         "machine.")
    cols = [Column("key", numeric=False), *(Column(lab, numeric=False) for lab in cmp.labels)]
    return Table(cols, rows, id="differences-table",
                 note="Keys of config.yaml (plain) and manifest.json (marked) whose values differ; run ids and "
                      "output settings are left out. Long values are cut at " f"{MAX_VALUE} characters.")


def optimal_table(cmp: Comparison) -> Table:
    rows = []
    for lab, r in zip(cmp.labels, cmp.runs):
        for row in optimal_rows(r):
            if row[0] in cmp.methods:
                rows.append([lab, *row])
    tol = sorted({r.tolerance for r in cmp.runs})
    return Table([Column("run", numeric=False), Column("method", numeric=False), *OPTIMAL_COLUMNS], rows,
                 id="optimal-table",
                 note=(f"Optimal sharing: the largest sharing level whose final accuracy is within "
                       f"{' / '.join(f'{t:g}' for t in tol)} percentage point{'' if tol == [1.0] else 's'} of the "
                       "same run's sharing 0. Savings: "
                       "sharing 0's figure divided by the optimum's, per iteration (storage: in total)."))


def compare_document(cmp: Comparison) -> Document:
    levels = "; ".join(f"{m} at {', '.join(f'{s:g}' for s in cmp.common_levels[m]) or 'none'}" for m in cmp.methods)
    overview = [runs_table(cmp),
                Paragraph(f"Compared: {', '.join(cmp.methods)}. Sharing levels every run has: {levels}.")]
    if cmp.left_out:
        overview.append(Paragraph("Not compared (not in every run): " + "; ".join(
            f"{lab}: {', '.join(ms)}" for lab, ms in cmp.left_out.items()) + ".", "note"))
    sections = [Section("runs", "Runs compared", overview),
                Section("differences", "What differs between the runs", [differences_table(cmp)]),
                Section("optimal", "Optimal sharing points and savings", [optimal_table(cmp)])]
    sections += [figure_section(f) for f in compare_figures(cmp)]
    doc = Document("energybench comparison: " + " vs ".join(cmp.labels),
                   f"{len(cmp.runs)} runs; methods {', '.join(cmp.methods)}.",
                   sections, ", ".join(str(r.root) for r in cmp.runs))
    doc.number_figures()
    return doc
