"""The report's tables, shared by the HTML and PDF writers: the summary table per method and
sharing level, the optimal sharing points with their savings, and the run's metadata as
(key, value) pairs.

Numbers are right-aligned with their unit in the column header: a column takes one SI prefix
for all its rows (the largest value between 1 and 1000), so the digits line up and compare.
"""

from __future__ import annotations

import math
from typing import Iterable

from energybench.report.document import Column, KeyValues, Table
from energybench.report.rundir import RunData, num
from energybench.results import TYPICAL_SEED_SPREAD_PP, optimal_rule, percentage_points

DASH = "—"  # a value that was not recorded
S0 = "×\u00a0s0"  # relative to sharing 0; the no-break space keeps it on one line of a header
PREFIXES = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"),
            (1e-12, "p")]


def _nan(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt_si(value: float, unit: str, digits: int = 3) -> str:
    """1.234e-4, 'J' -> '123 µJ'; NaN -> a dash. Counts and bytes use k/M/G/T."""
    if _nan(value):
        return DASH
    if value == 0:
        return f"0 {unit}".strip()
    prefixes = PREFIXES if unit in ("J", "s", "W") else [p for p in PREFIXES if p[0] >= 1.0]
    for scale, prefix in prefixes:
        if abs(value) >= scale:
            break
    return f"{value / scale:.{digits}g} {prefix}{unit}".strip()


def fmt_num(value: float, pattern: str = "{:.2f}", suffix: str = "") -> str:
    return DASH if _nan(value) else pattern.format(value) + suffix


def scaled(values: Iterable[float], unit: str) -> tuple[str, list[str]]:
    """(unit with its SI prefix, the values in it) for one column: the prefix puts the largest
    value in [1, 1000); 3 significant digits for the largest, the same decimals for the rest."""
    values = list(values)
    finite = [abs(v) for v in values if not _nan(v) and v != 0]
    top = max(finite) if finite else 1.0
    prefixes = PREFIXES if unit in ("J", "s", "W") else [p for p in PREFIXES if p[0] >= 1.0]
    scale, prefix = prefixes[-1]
    for scale, prefix in prefixes:
        if top >= scale:
            break
    t = top / scale
    decimals = 0 if t >= 100 else 1 if t >= 10 else 2
    return prefix + unit, [DASH if _nan(v) else f"{v / scale:.{decimals}f}" for v in values]


def ratio(value: float) -> str:
    return fmt_num(value, "{:.3f}")


def seed_list(seeds: list) -> str:
    """'seed 0', 'seeds 0, 1, 2': a bare '0' in a column named seeds reads as a count."""
    return f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"


def summary_tables(run: RunData) -> list[Table]:
    """One table per method, one row per sharing level, values from summary.json (measured energy
    summed from metrics.csv, so that a summary.json written before it held them still reports it).
    Units are chosen per column over all methods, so the methods' tables compare digit for digit."""
    measured = run.measured_column  # above idle where the run took an idle baseline
    levels = {m: run.levels(m) for m in run.methods}
    pairs = [(m, s) for m in run.methods for s in levels[m]]

    def col(key, unit, norm=False):
        return scaled([run.value(m, s, key, norm) for m, s in pairs], unit)

    absolute = {
        "total_train_macs": col("total_train_macs", ""),
        "total_compute_energy_j": col("total_compute_energy_j", "J"),
        "total_mem_accesses": col("total_mem_accesses", ""),
        "total_memory_energy_j": col("total_memory_energy_j", "J"),
        "total_elementwise_energy_j": col("total_elementwise_energy_j", "J"),
        "total_energy_j": col("total_energy_j", "J"),
        "time_per_iter_s": col("time_per_iter_s", "s"),
        "storage_bytes": col("storage_bytes", "B"),
    }
    if measured:
        absolute["measured"] = scaled([run.incremental_total(m, s, measured) for m, s in pairs], "J")
    columns = [Column("sharing", "%"), Column("achieved", "%"), Column("final acc.", "%"),
               Column("avg. inc. acc.", "%"), Column("train MACs", absolute["total_train_macs"][0]),
               Column("compute energy", absolute["total_compute_energy_j"][0]),
               Column("compute per iter.", S0),
               Column("memory accesses", absolute["total_mem_accesses"][0]),
               Column("memory energy", absolute["total_memory_energy_j"][0]), Column("memory per iter.", S0),
               Column("element-wise energy", absolute["total_elementwise_energy_j"][0]),
               Column("total energy", absolute["total_energy_j"][0]),
               Column("time per iter.", absolute["time_per_iter_s"][0]), Column("time per iter.", S0),
               Column("storage", absolute["storage_bytes"][0]), Column("storage", S0)]
    if measured:
        columns.append(Column(run.measured_label, absolute["measured"][0]))
    columns.append(Column("seeds", numeric=False))
    tables = []
    k = 0
    late = run.trained_late()
    for m in run.methods:
        rows, highlight = [], set()
        opt = run.optimal_sharing(m)
        for j, s in enumerate(levels[m]):
            v = lambda key, norm=False: run.value(m, s, key, norm)  # noqa: E731
            acc = fmt_num(v("final_acc"))
            if len(run.seeds) > 1 and acc != DASH:
                acc += f" ± {fmt_num(v('final_acc_std'))}"
            cell = {key: vals[k] for key, (_, vals) in absolute.items()}
            row = [f"{100 * s:g}", fmt_num(100 * v("sharing_achieved"), "{:.1f}"), acc,
                   fmt_num(v("avg_inc_acc")) if m not in late else "n/a",
                   cell["total_train_macs"], cell["total_compute_energy_j"],
                   ratio(v("compute_energy_j_per_iter", True)),
                   cell["total_mem_accesses"], cell["total_memory_energy_j"],
                   ratio(v("memory_energy_j_per_iter", True)), cell["total_elementwise_energy_j"],
                   cell["total_energy_j"], cell["time_per_iter_s"],
                   ratio(v("time_per_iter_s", True)), cell["storage_bytes"], ratio(v("storage_bytes", True))]
            if measured:
                row.append(cell["measured"])
            seeds = run.level(m, s).get("seeds")
            row.append(seed_list(seeds) if isinstance(seeds, list) else DASH)
            if opt is not None and s == opt:
                highlight.add(j)
            rows.append(row)
            k += 1
        note = (f"Costs and time: incremental phases only, mean over seeds; final accuracy ± population standard "
                f"deviation over seeds. × s0: per iteration (storage: total) relative to sharing 0. Compute and memory "
                f"energy: the MACs and updates; element-wise energy: norms, activations, softmax, pooling and losses "
                f"(computation and unfused memory traffic); total energy: every dynamic term priced. Energy: modelled "
                f"with table '{run.energy_table}' at {run.precision} and {run.access_energies}. Time: measured "
                f"wall-clock on {run.device_name}. Storage: counted, every stored parameter once at {run.precision}, "
                f"exemplars included." + (" " + run.measured_provenance() if measured else "")
                + run.late_note("Average incremental accuracy", m)
                + (" Highlighted: the optimal sharing point." if highlight else ""))
        protocol = (run.manifest.get("method_notes") or {}).get(m)
        if protocol:  # this method trained differently from the run's other methods: say so first
            note = f"Not the run's protocol: {m} " + "; ".join(protocol) + ". " + note
        tables.append(Table(columns, rows, title=m, id=f"summary-{m}", highlight=highlight, note=note,
                            key_columns=1))
    return tables


def point_label(point: tuple) -> str:
    """A hardware point (node_nm, arch) as the report names it: '7 nm eyeriss_like'."""
    node, arch = point
    return f"{'?' if _nan(node) else f'{float(node):g}'} nm {arch or 'layer_buffer'}"


def hardware_table(run: RunData) -> Table | None:
    """A hardware sweep's energy: one row per (method, sharing level), the total modelled energy at each
    (node, arch) the run priced; None for a run with one point."""
    points = run.hardware_points()
    if len(points) < 2:
        return None
    every = run.every_point
    parts = ["compute_energy_j", "memory_energy_j"]
    if "elementwise_compute_energy_j" in every:  # every dynamic term priced, as the summary's total energy
        parts.append("elementwise_energy_j")
    totals = [run.point_totals(p, parts)[parts].sum(axis=1, min_count=len(parts)) for p in points]
    pairs = [(m, s) for m in run.methods for s in run.levels(m)]
    unit, values = scaled([t.get((m, s), math.nan) for t in totals for m, s in pairs], "J")
    rows = [[m, f"{100 * s:g}", *(values[k * len(pairs) + j] for k in range(len(points)))]
            for j, (m, s) in enumerate(pairs)]
    columns = [Column("method", numeric=False), Column("sharing", "%"),
               *(Column(point_label(p), unit) for p in points)]
    note = (f"Total modelled energy (every dynamic term priced) of the incremental phases, mean over seeds, at each "
            f"technology node and architecture of the run's sweep: each phase is trained once and its counted work "
            f"priced at every point. Every other figure and table of this report is at the sweep's first point, "
            f"{point_label(points[0])}.")
    return Table(columns, rows, title="Energy per sharing level at each node/arch", id="hardware-sweep", note=note,
                 key_columns=2)


def calibration_table(run: RunData) -> Table | None:
    """The savings of every sharing level relative to sharing 0, modelled and measured side by side
    (summary.json's modelled_vs_measured block); None when the block is not available."""
    block = run.calibration
    if not block.get("available"):
        return None
    entries = [(m, s, v) for m, levels in block.get("savings", {}).items() for s, v in levels.items()]
    modelled_unit, modelled = scaled([num(v.get("modelled_j")) for *_, v in entries], "J")
    measured_unit, measured = scaled([num(v.get("measured_j")) for *_, v in entries], "J")
    rows = [[m, f"{100 * float(s):g}", modelled[k], measured[k], ratio(num(v.get("modelled_saving_x"))),
             ratio(num(v.get("measured_saving_x")))] for k, (m, s, v) in enumerate(entries)]
    columns = [Column("method", numeric=False), Column("sharing", "%"), Column("modelled energy", modelled_unit),
               Column(run.measured_label, measured_unit), Column("modelled saving", "×"),
               Column("measured saving", "×")]
    fit = block.get("fit", {})
    note = (f"Energies: incremental phases, mean over seeds. Saving: energy at sharing 0 ÷ energy at the level (above "
            f"1: sharing saves); {DASH} where an energy is missing or not above 0. Line through the origin over "
            f"{fit.get('points')} phases: {num(fit.get('slope_j_per_modelled_j')):.4g} J measured per modelled J, "
            f"R² {num(fit.get('r2')):.3f}. Modelled: {block.get('modelled')}. Measured: {block.get('measured_basis')}."
            + (f" Not listed: {block['savings_note']}." if block.get("savings_note") else ""))
    return Table(columns, rows, title="Modelled vs measured savings", id="modelled-vs-measured-table", note=note)


def savings(run: RunData, method: str, sharing: float) -> list[str]:
    """Per iteration (storage: in total) at `sharing`, how many times less than at sharing 0:
    computation energy, memory-access energy, time, storage."""
    out = []
    for key in ("compute_energy_j_per_iter", "memory_energy_j_per_iter", "time_per_iter_s", "storage_bytes"):
        r = run.value(method, sharing, key, normalised=True)
        out.append(fmt_num(1 / r, "{:.2f}") if not math.isnan(r) and r > 0 else DASH)
    return out


OPTIMAL_COLUMNS = [Column("optimal sharing", "%"), Column("achieved", "%"), Column("final acc. at s0", "%"),
                   Column("final acc. at optimum", "%"), Column("compute saving", "×"),
                   Column("memory-energy saving", "×"), Column("time saving", "×"), Column("storage saving", "×")]


def optimal_rows(run: RunData) -> list[list[str]]:
    """Per method: its optimal sharing point, accuracies and savings (dashes where it has none)."""
    rows = []
    for m in run.methods:
        opt = run.optimal_sharing(m)
        acc0 = run.value(m, 0.0, "final_acc") if 0.0 in run.levels(m) else math.nan
        if opt is None:
            rows.append([m, DASH, DASH, fmt_num(acc0), DASH, DASH, DASH, DASH, DASH])
            continue
        rows.append([m, f"{100 * opt:g}", fmt_num(100 * run.value(m, opt, "sharing_achieved"), "{:.1f}"),
                     fmt_num(acc0), fmt_num(run.value(m, opt, "final_acc")), *savings(run, m, opt)])
    return rows


def optimal_table(run: RunData) -> Table:
    return Table([Column("method", numeric=False), *OPTIMAL_COLUMNS], optimal_rows(run), id="optimal-points",
                 note=(f"Optimal sharing: {optimal_rule(run.tolerance)}. "
                       "Savings: sharing 0's figure divided by the optimum's, "
                       "per iteration (storage: in total); computation and memory energy modelled, time measured."))


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
        caveat = uncertainty(run, m, opt)
        if opt == 0.0:
            lose = (f"loses more than {percentage_points(run.tolerance)} of final accuracy" if len(run.seeds) < 2
                    else f"stays within {percentage_points(run.tolerance)} of final accuracy once one standard "
                    "error over seeds is added to its drop")
            out.append(f"{m}: optimal sharing 0% ({'every' if len(run.seeds) < 2 else 'no'} higher sharing level "
                       f"{lose}; {fmt_num(acc)}% at sharing 0)." + caveat)
            continue
        achieved = fmt_num(100 * run.value(m, opt, "sharing_achieved"), "{:.1f}")
        text = (f"{m}: optimal sharing {100 * opt:g}% (achieved {achieved}%), "
                f"final accuracy {fmt_num(acc)}% vs {fmt_num(acc0)}% at sharing 0")
        parts = []
        for key, what in (("compute_energy_j_per_iter", "computation energy"),
                          ("memory_energy_j_per_iter", "memory-access energy"),
                          ("time_per_iter_s", "training time"), ("storage_bytes", "storage")):
            r = run.value(m, opt, key, normalised=True)
            if not math.isnan(r) and r > 0:
                per = " per iteration" if key != "storage_bytes" else ""
                parts.append(f"{1 / r:.2f}× less {what}{per}" if r < 1 else f"{r:.2f}× the {what}{per} of sharing 0")
        out.append(text + (": " + ", ".join(parts) if parts else "") + "." + caveat)
    far = run.far_levels()
    if far:
        cuts = (run.manifest.get("sharing_levels") or {}).get("achievable")
        out.append("Sharing " + "; ".join(f"{100 * s:g}% achieved {100 * a:.1f}%" for s, a in far.items())
                   + ": more than 5 points from the request, since cuts fall on block boundaries (figures are drawn "
                   "at the fraction achieved)" + (". This backbone's achievable fractions: "
                                                  + ", ".join(f"{100 * float(c):.1f}%" for c in cuts)
                                                  if isinstance(cuts, list) and cuts else "") + ".")
    if len(run.seeds) < 2:
        out.append(f"Every choice above rests on one seed ({run.seeds[0]}): the spread over seeds is unknown, so a "
                   f"difference in final accuracy may be seed noise (a typical seed spread, {TYPICAL_SEED_SPREAD_PP:g} "
                   "points, is assumed above, not measured). Run several seeds (e.g. --seed 0,1,2) to decide.")
    full = sorted({s for m in run.methods for s in run.levels(m) if run.value(m, s, "sharing_achieved") >= 1.0})
    if full:
        out.append(f"Sharing {', '.join(f'{100 * s:g}%' for s in full)} achieved 100%: every block of the backbone "
                   "is frozen and shared; the classifier head is not part of the backbone and is still trained "
                   "for each new class set.")
    return out


def uncertainty(run: RunData, method: str, opt: float) -> str:
    """What the optimal point's choice rests on: with one seed, say so and flag levels whose
    accuracy is within a typical seed spread of sharing 0's; with several, the drop ± its
    standard error at the optimum."""
    if 0.0 not in run.levels(method):
        return ""
    acc0 = run.value(method, 0.0, "final_acc")
    if len(run.seeds) < 2:
        close = [s for s in run.levels(method) if s != 0.0
                 and abs(run.value(method, s, "final_acc") - acc0) < TYPICAL_SEED_SPREAD_PP]
        if not close:
            return ""
        return (f" Sharing {', '.join(f'{100 * s:g}%' for s in close)} {'differs' if len(close) == 1 else 'differ'} "
                f"from sharing 0 by less than {TYPICAL_SEED_SPREAD_PP:g} points of final accuracy: within a typical "
                "seed spread, so possibly seed noise.")
    if opt == 0.0:
        return ""
    drop, se = run.value(method, opt, "final_acc_drop_pp"), run.value(method, opt, "final_acc_drop_se_pp")
    return (f" Drop from sharing 0: {fmt_num(drop)} ± {fmt_num(se)} points (± one standard error over seeds)."
            if math.isfinite(se) else "")


def join(value, nested: bool = False) -> str:
    """A manifest or config value as one line: lists comma-joined, mappings as 'key value; ...'
    (inner mappings in parentheses), nothing as a dash."""
    if value is None or value == "" or value == [] or value == {}:
        return DASH
    if isinstance(value, (list, tuple)):
        return ", ".join(join(v, True) for v in value)
    if isinstance(value, dict):
        text = ("; " if not nested else ", ").join(f"{k} {join(v, True)}" for k, v in value.items())
        return f"({text})" if nested else text
    return str(value)


# manifest keys shown under their own label; any other key a colleague adds is shown as it is
MANIFEST_LABELS = {
    "energybench": "energybench version", "git_commit": "git commit", "python": "Python", "platform": "platform",
    "packages": "packages", "torch_cuda": "PyTorch CUDA build", "cuda_available": "CUDA available",
    "device": "device", "device_name": "device name", "dataset": "dataset", "data_location": "data location",
    "scenario": "scenario (classes per phase)", "backbone": "backbone", "seeds": "seeds",
    "levels_per_method": "sharing levels trained per method",
    "power": "power measurement",
}


def metadata(run: RunData) -> list[tuple[str, str]]:
    """(label, value) pairs: versions, device, data, scenario, cost model (the configuration is
    its own table, config_pairs)."""
    man = run.manifest
    items = [("run", run.run_id), ("run directory", str(run.root))]
    for key, label in MANIFEST_LABELS.items():
        if key in man:
            items.append((label, join(man[key])))
    items.append(("energy table", run.energy_table))
    items.append(("precision", run.precision))
    table = man.get("energy_table")
    if isinstance(table, dict):
        for k, v in table.items():
            if k not in ("name", "sources"):
                items.append((f"energy table: {k}", join(v)))
    sources = run.energy_sources
    items.append(("energy table sources", "; ".join(sources) if sources else DASH))
    methods = run.distinct("measured_energy_method")
    items.append(("measured energy", ", ".join(methods) if methods else "not measured"))
    known = set(MANIFEST_LABELS) | {"class_order", "class_names", "energy_table", "method_notes"}
    for key, value in man.items():
        if key not in known:
            items.append((key.replace("_", " "), join(value)))
    return items


def flatten(mapping: dict, prefix: str = "") -> dict[str, object]:
    """{'options': {'lucir': {'lambda_base': 5}}} -> {'options.lucir.lambda_base': 5}."""
    out: dict[str, object] = {}
    for k, v in mapping.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def config_pairs(run: RunData) -> list[tuple[str, str]]:
    """config.yaml as (key, value) rows, nested keys dotted."""
    return [(k, join(v)) for k, v in flatten(run.config).items()]


def class_orders(run: RunData) -> list[tuple[str, str]]:
    """(seed, class names in order) per seed, the pinned class order of every run."""
    orders = run.manifest.get("class_order") or {}
    return [(f"seed {seed}", ", ".join(run.class_names(int(seed)))) for seed in orders]


def metadata_tables(run: RunData) -> list[KeyValues]:
    out = [KeyValues(metadata(run), id="run-metadata")]
    orders = class_orders(run)
    if orders:
        out.append(KeyValues(orders, title="Class order", id="class-order"))
    out.append(KeyValues(config_pairs(run) or [("config.yaml", "not found")], title="Configuration (config.yaml)",
                         id="config"))
    return out
