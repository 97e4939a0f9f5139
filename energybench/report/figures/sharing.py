"""The cost and accuracy figures against the sharing level (accuracy, compute energy,
memory accesses, training time, storage)."""

from __future__ import annotations

from energybench.report.canvas import FigureResult, Panels, omitted
from energybench.report.figures.curves import (
    INCREMENTAL,
    SHARING,
    Spec,
    accuracy_provenance,
    draw_panel,
    method_curves,
    method_handles,
    modelled_phrase,
    seeds_phrase,
    sharing_methods,
    single_level_note,
    star_handle,
    vs_sharing,
)
from energybench.report.rundir import RunData
from energybench.results import optimal_rule


def fig_accuracy(run: RunData, looks) -> FigureResult:
    fid, title = "accuracy-vs-sharing", "Accuracy vs sharing"
    caption = ("Final accuracy (after the last phase) and average incremental accuracy (mean over all phases, base "
               f"included) against the sharing level. A star marks each method's optimal sharing point: "
               f"{optimal_rule(run.tolerance)}.")
    prov = accuracy_provenance(run)
    methods = sharing_methods(run)
    if not methods:
        return omitted(fid, title, caption, prov, single_level_note(run, "accuracy"))
    specs = [Spec("final_acc", False, "final accuracy (%)"),
             Spec("avg_inc_acc", False, "average incremental\naccuracy (%)")]
    panels = [(spec, method_curves(run, spec, methods, looks)) for spec in specs]

    def draw(axes):
        for ax, (spec, curves) in zip(axes, panels):
            draw_panel(ax, spec, curves)

    legend = method_handles(methods, looks)
    if any(run.optimal_sharing(m) is not None for m in methods):
        legend.append(star_handle(run.tolerance))
    return FigureResult(fid, title, f"{caption} {seeds_phrase(run)} {SHARING}", prov,
                        Panels(2, draw, legend=legend, top_axis=run.sharing_differs()))


def fig_compute(run: RunData, looks) -> FigureResult:
    return vs_sharing(
        run, "compute-energy", "Computation energy vs sharing",
        "Computation energy per training iteration normalised to sharing 0 (as in the partial-sharing paper's "
        "Fig. 4a), and in joules" + ("; below, the total of every term the run priced (computation and memory "
                                     "access of the MACs and of the element-wise work)"
                                     if run.has_column("elementwise_compute_energy_j") else "") + f". {INCREMENTAL}",
        modelled_phrase(run),
        [Spec("compute_energy_j_per_iter", True, "compute energy per\niteration (× sharing 0)"),
         Spec("total_compute_energy_j", False, "compute energy ({unit})", "J"),
         *([Spec("total_energy_j", True, "total energy, every\npriced term (× sharing 0)"),
            Spec("total_energy_j", False, "total energy, every\npriced term ({unit})", "J")]
           if run.has_column("elementwise_compute_energy_j") else [])],
        looks, "computation energy")


def fig_memory(run: RunData, looks) -> FigureResult:
    prov = ("Modelled: memory reads and writes from the memory model of the counted operations (word size set by "
            f"precision {run.precision}); access energy: {run.access_energies}.")
    return vs_sharing(
        run, "memory-access", "Memory accesses and memory-access energy vs sharing",
        "Memory accesses of the MAC operands and their energy, per iteration normalised to sharing 0 and in "
        "absolute terms" + ("; the accesses of the element-wise work (norms, activations, softmax, pooling, losses), "
                            "counted unfused and priced apart (see the energy-by-level figure), last"
                            if run.has_column("elementwise_mem_reads") else "") + f". {INCREMENTAL}",
        prov,
        [Spec("mem_accesses_per_iter", True, "memory accesses per\niteration (× sharing 0)"),
         Spec("total_mem_accesses", False, "memory accesses ({unit})", "accesses"),
         Spec("memory_energy_j_per_iter", True, "memory energy per\niteration (× sharing 0)"),
         Spec("total_memory_energy_j", False, "memory-access energy ({unit})", "J"),
         *([Spec("total_elementwise_mem_accesses", False, "element-wise accesses,\nunfused ({unit})", "accesses")]
           if run.has_column("elementwise_mem_reads") else [])],
        looks, "memory-access")


def fig_time(run: RunData, looks) -> FigureResult:
    specs = [Spec("time_per_iter_s", True, "wall time per iteration\n(× sharing 0)", span="train_time_s"),
             Spec("time_per_iter_s", False, "wall time per iteration ({unit})", "s", span="train_time_s")]
    measured = f"Measured: wall-clock training time on {run.device_name}"
    if run.has_column("train_cpu_s"):
        specs += [Spec("cpu_time_per_iter_s", True, "CPU time per iteration\n(× sharing 0)", span="train_cpu_s"),
                  Spec("cpu_time_per_iter_s", False, "CPU time per iteration ({unit})", "s", span="train_cpu_s")]
        measured += " and the process's CPU time (user + system), which others' load on a shared machine disturbs less"
    n = len(run.seeds)
    seeds = (f"Over {n} seeds ({', '.join(map(str, run.seeds))}): bars span the range over phases and seeds."
             if n > 1 else f"One seed ({run.seeds[0]}): bars span the range over its phases.")
    return vs_sharing(
        run, "training-time", "Training time per iteration vs sharing",
        "Training time per iteration of the incremental phases, normalised to sharing 0 (as in the partial-sharing "
        "paper's Fig. 4b) and absolute. The line is the mean (total time over total iterations, averaged over seeds); "
        "the bars span the lowest to the highest per-iteration time of any single incremental phase of any seed, "
        "since times measured on a shared machine are noisy.",
        measured + ".", specs, looks, "training-time", seeds)


def fig_storage(run: RunData, looks) -> FigureResult:
    prov = (f"Counted: unique parameters of the stored networks (shared trunk once, plus each branch) and the "
            f"exemplar memory, at {run.precision} word size, after the last phase.")
    return vs_sharing(
        run, "storage", "Storage vs sharing",
        "Storage after the last phase in bytes and normalised to sharing 0 (as in the partial-sharing paper's "
        "Fig. 5a).",
        prov,
        [Spec("storage_bytes", False, "storage ({unit})", "bytes"),
         Spec("storage_bytes", True, "storage (× sharing 0)")],
        looks, "storage")
