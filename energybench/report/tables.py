"""What the report says in words and tables, shared by the HTML and PDF writers: the summary
table per method and sharing level, the optimal sharing points, and the run's metadata."""

from __future__ import annotations

import math
from dataclasses import dataclass

from energybench.report.rundir import RunData, num

DASH = "—"  # a value that was not recorded


def fmt_si(value: float, unit: str, digits: int = 3) -> str:
    """1.234e-4, 'J' -> '123 µJ'; NaN -> a dash. Counts and bytes use k/M/G/T."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    if value == 0:
        return f"0 {unit}".strip()
    prefixes = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ"),
                (1e-9, "n"), (1e-12, "p")]
    if unit not in ("J", "s", "W"):
        prefixes = [p for p in prefixes if p[0] >= 1.0]
    for scale, prefix in prefixes:
        if abs(value) >= scale:
            break
    return f"{value / scale:.{digits}g} {prefix}{unit}".strip()


def fmt_num(value: float, pattern: str = "{:.2f}", suffix: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    return pattern.format(value) + suffix


def fmt_ratio(value: float) -> str:
    return fmt_num(value, "{:.3f}", "×")


def seed_list(seeds: list) -> str:
    """'seed 0', 'seeds 0, 1, 2': a bare '0' in a column named seeds reads as a count."""
    return f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"


@dataclass
class Table:
    method: str
    columns: list[str]
    rows: list[list[str]]
    optimal_row: int | None  # index of the optimal sharing level's row
    note: str
    title: str | None = None  # heading of a table that is not one method's summary


def summary_tables(run: RunData) -> list[Table]:
    """One table per method, one row per sharing level, values from summary.json (measured energy
    summed from metrics.csv, so that a summary.json written before it held them still reports it)."""
    measured = run.measured_column
    columns = ["sharing (%)", "achieved (%)", "final acc. (%)", "avg. inc. acc. (%)", "train MACs",
               "compute energy", "compute / iter (× s0)", "memory accesses", "memory energy",
               "memory / iter (× s0)", "time / iter", "time / iter (× s0)", "storage", "storage (× s0)"]
    if measured:
        columns.append(run.measured_label)
    columns.append("seeds")
    tables = []
    for m in run.methods:
        rows, opt_row = [], None
        opt = run.optimal_sharing(m)
        for k, s in enumerate(run.levels(m)):
            v = lambda key, norm=False: run.value(m, s, key, norm)  # noqa: E731
            acc = fmt_num(v("final_acc"))
            if len(run.seeds) > 1 and acc != DASH:
                acc += f" ± {fmt_num(v('final_acc_std'))}"
            row = [f"{100 * s:g}", fmt_num(100 * v("sharing_achieved"), "{:.1f}"), acc, fmt_num(v("avg_inc_acc")),
                   fmt_si(v("total_train_macs"), ""), fmt_si(v("total_compute_energy_j"), "J"),
                   fmt_ratio(v("compute_energy_j_per_iter", True)), fmt_si(v("total_mem_accesses"), ""),
                   fmt_si(v("total_memory_energy_j"), "J"), fmt_ratio(v("memory_energy_j_per_iter", True)),
                   fmt_si(v("time_per_iter_s"), "s"), fmt_ratio(v("time_per_iter_s", True)),
                   fmt_si(v("storage_bytes"), "B"), fmt_ratio(v("storage_bytes", True))]
            if measured:
                row.append(fmt_si(run.incremental_total(m, s, measured), "J"))
            seeds = run.level(m, s).get("seeds")
            row.append(seed_list(seeds) if isinstance(seeds, list) else DASH)
            if opt is not None and s == opt:
                opt_row = k
            rows.append(row)
        note = (f"Costs and time: incremental phases only, mean over seeds. × s0: per iteration (storage: total) "
                f"relative to sharing 0. Energy: modelled with table '{run.energy_table}' at {run.precision}."
                + (" " + run.measured_provenance() if measured else ""))
        protocol = (run.manifest.get("method_notes") or {}).get(m)
        if protocol:  # this method trained differently from the run's other methods: say so first
            note = f"Not the run's protocol: {m} " + "; ".join(protocol) + ". " + note
        tables.append(Table(m, columns, rows, opt_row, note))
    return tables


def calibration_table(run: RunData) -> Table | None:
    """The savings of every sharing level relative to sharing 0, modelled and measured side by side
    (summary.json's modelled_vs_measured block); None when the block is not available."""
    block = run.calibration
    if not block.get("available"):
        return None
    columns = ["method", "sharing (%)", "modelled energy", run.measured_label, "modelled saving (× s0)",
               "measured saving (× s0)"]
    rows = [[m, f"{100 * float(s):g}", fmt_si(num(v.get("modelled_j")), "J"), fmt_si(num(v.get("measured_j")), "J"),
             fmt_ratio(num(v.get("modelled_saving_x"))), fmt_ratio(num(v.get("measured_saving_x")))]
            for m, levels in block.get("savings", {}).items() for s, v in levels.items()]
    fit = block.get("fit", {})
    note = (f"Energies: incremental phases, mean over seeds. Saving: energy at sharing 0 ÷ energy at the level (above "
            f"1: sharing saves); {DASH} where an energy is missing or not above 0. Line through the origin over "
            f"{fit.get('points')} phases: {num(fit.get('slope_j_per_modelled_j')):.4g} J measured per modelled J, "
            f"R² {num(fit.get('r2')):.3f}. Modelled: {block.get('modelled')}. Measured: {block.get('measured_basis')}."
            + (f" Not listed: {block['savings_note']}." if block.get("savings_note") else ""))
    return Table("modelled vs measured", columns, rows, None, note, title="Modelled vs measured savings")


def optimal_points(run: RunData) -> list[str]:
    """One sentence per method: its optimal sharing point and what it saves (the partial-sharing
    paper's 'by sharing 80% ... 1.89x computation energy saving')."""
    out = []
    for m in run.methods:
        opt = run.optimal_sharing(m)
        if opt is None:
            why = ("it has no sharing-0 level to compare with" if 0.0 not in run.levels(m)
                   else "only sharing 0 ran, so no level was compared" if len(run.levels(m)) < 2
                   else "summary.json gives none")
            out.append(f"{m}: no optimal sharing point ({why}).")
            continue
        acc, acc0 = run.value(m, opt, "final_acc"), run.value(m, 0.0, "final_acc")
        if opt == 0.0:
            out.append(f"{m}: optimal sharing 0% (every higher sharing level loses more than {run.tolerance:g} "
                       f"percentage points of final accuracy; {fmt_num(acc)}% at sharing 0).")
            continue
        achieved = fmt_num(100 * run.value(m, opt, "sharing_achieved"), "{:.1f}")
        text = (f"{m}: optimal sharing {100 * opt:g}% (achieved {achieved}%), "
                f"final accuracy {fmt_num(acc)}% vs {fmt_num(acc0)}% at sharing 0")
        savings = []
        for key, what in (("compute_energy_j_per_iter", "computation energy"),
                          ("memory_energy_j_per_iter", "memory-access energy"),
                          ("time_per_iter_s", "training time"), ("storage_bytes", "storage")):
            r = run.value(m, opt, key, normalised=True)
            if not math.isnan(r) and r > 0:
                per = " per iteration" if key != "storage_bytes" else ""
                savings.append(f"{1 / r:.2f}× less {what}{per}" if r < 1 else f"{r:.2f}× the {what}{per} of sharing 0")
        out.append(text + (": " + ", ".join(savings) if savings else "") + ".")
    full = sorted({s for m in run.methods for s in run.levels(m) if run.value(m, s, "sharing_achieved") >= 1.0})
    if full:
        out.append(f"Sharing {', '.join(f'{100 * s:g}%' for s in full)} achieved 100%: every block of the backbone "
                   "is frozen and shared; the classifier head is not part of the backbone and is still trained "
                   "for each new class set.")
    return out


def _join(value, nested: bool = False) -> str:
    """A manifest or config value as one line: lists comma-joined, mappings as 'key value; ...'
    (inner mappings in parentheses), nothing as a dash."""
    if value is None or value == "" or value == [] or value == {}:
        return DASH
    if isinstance(value, (list, tuple)):
        return ", ".join(_join(v, True) for v in value)
    if isinstance(value, dict):
        text = ("; " if not nested else ", ").join(f"{k} {_join(v, True)}" for k, v in value.items())
        return f"({text})" if nested else text
    return str(value)


# manifest keys shown under their own label; any other key a colleague adds is shown as it is
MANIFEST_LABELS = {
    "energybench": "energybench version", "git_commit": "git commit", "python": "Python", "platform": "platform",
    "packages": "packages", "torch_cuda": "PyTorch CUDA build", "cuda_available": "CUDA available",
    "device": "device", "device_name": "device name", "dataset": "dataset", "data_location": "data location",
    "scenario": "scenario (classes per phase)", "backbone": "backbone", "seeds": "seeds",
    "power": "power measurement",
}
CONFIG_KEYS = ("methods", "sharing", "tolerance", "epochs", "batch_size", "lr", "momentum", "weight_decay",
               "lr_milestones", "augment", "cache_shared", "memory_size", "memory_per_class", "herding", "width",
               "train_per_class", "test_per_class", "sram_cell", "sram_bytes", "power", "power_rate_hz")


def metadata(run: RunData) -> list[tuple[str, str]]:
    """(label, value) pairs: versions, device, data, scenario, training settings, cost model."""
    man, cfg = run.manifest, run.config
    items = [("run", run.run_id), ("run directory", str(run.root))]
    for key, label in MANIFEST_LABELS.items():
        if key in man:
            items.append((label, _join(man[key])))
    if "scenario" in cfg:
        items.append(("scenario (config)", _join(cfg["scenario"])))
    for key in CONFIG_KEYS:
        if key in cfg:
            items.append((key.replace("_", " "), _join(cfg[key])))
    items.append(("energy table", run.energy_table))
    items.append(("precision", run.precision))
    table = man.get("energy_table")
    if isinstance(table, dict):
        for k, v in table.items():
            if k not in ("name", "sources"):
                items.append((f"energy table: {k}", _join(v)))
    sources = run.energy_sources
    items.append(("energy table sources", "; ".join(sources) if sources else DASH))
    methods = run.distinct("measured_energy_method")
    items.append(("measured energy", ", ".join(methods) if methods else "not measured"))
    known = set(MANIFEST_LABELS) | {"class_order", "class_names", "energy_table", "method_notes"}
    for key, value in man.items():
        if key not in known:
            items.append((key.replace("_", " "), _join(value)))
    return items


def class_orders(run: RunData) -> list[tuple[str, str]]:
    """(seed, class names in order) per seed, the pinned class order of every run."""
    orders = run.manifest.get("class_order") or {}
    return [(str(seed), ", ".join(run.class_names(int(seed)))) for seed in orders]
