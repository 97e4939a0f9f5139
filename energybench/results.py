"""The results of a run directory, read and aggregated in one place: the run's summary.json,
the report and users' notebooks share these rules.

    import energybench.results as results
    df = results.load("runs/20261130-101500-digits")   # one row per (method, sharing, seed, phase)
    results.load("runs/...", every_point=True)         # ... at every (node, arch) of a hardware sweep
    results.load("runs/...", unfinished=True)          # ... cells that have not trained every phase too
    results.cells(df)                                  # one row per (method, sharing, seed)
    results.summary("runs/...")                        # what summary.json holds
    results.summarise(df, tolerance=1.0)               # the same aggregation over the rows given
    results.accuracy_matrix("runs/...")                # R[t][j] of every cell, one row per (cell, t)

Rules:
- An empty metrics cell means "not measured" and reads as NaN; it is never a zero. So does a
  cell that is not a finite number ('abc', 'nan', '1e400'), with one warning naming it
  (energybench.rundir reads the run directory under that one rule).
- Costs cover the incremental phases only: phase 0 is the same base training at every sharing
  level (the runner trains it once), so including it would blur the differences the sweep
  measures. A cell's total is NaN when any of its incremental phases lacks the value (a partial
  sum would mislead); per-iteration figures are totals divided by the phases' iterations.
- Figures of a sharing level are means over its seeds, of the seeds that have the figure.
- A run that sweeps hardware (several --node or --arch) prices each phase at every (node, arch):
  the aggregates here read one point, the sweep's first (rows at other points are never averaged
  in); `at_point` picks another.
- Measured energy is given in total and above the idle baseline (where the run took one);
  `measured_energy` in summary.json says which the report leads with, and
  `modelled_vs_measured` sets the model against the meter (energybench.calibration).
- `total_energy_j` is every dynamic term priced: MAC computation and memory, and the element-wise
  work where the run recorded it.
- The optimal sharing point must survive the seeds' spread (`optimal_rule`): the drop from
  sharing 0 plus one standard error of it must be within the tolerance.
- "Final" means after the scenario's last phase: a cell that has not trained every phase (a run
  interrupted, or still running) is left out of the figures after the last phase and the
  totals, and listed as unfinished (`unfinished_cells`) instead.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from energybench import calibration
from energybench.errors import did_you_mean
from energybench.files import strict

# Reading is the run directory's owner's (energybench.rundir); its names stay reachable from here.
from energybench.rundir import (  # noqa: F401
    FLAGS,
    HARDWARE,
    IDENTITY,
    MATRIX_FILE,
    METRICS,
    SCHEMA,
    TEXT,
    accuracy_matrix,
    at_point,
    frame,
    hardware_points,
    read_config,
    read_manifest,
    read_metrics,
)
from energybench.rundir import load as load_rows

# elementwise_energy_j: compute + memory energy of the element-wise work (norms, softmax,
# activations, adds), kept apart from the MAC figures; elementwise_mem_accesses: its unfused accesses
# latency_s: the modelled accelerator's time (empty without an array), beside the measured time
PER_ITER = ("compute_energy_j", "memory_energy_j", "mem_accesses", "train_macs", "elementwise_energy_j",
            "elementwise_mem_accesses", "latency_s")
TOTALS = ("compute_energy_j", "memory_energy_j", "mem_accesses", "train_macs", "elementwise_energy_j",
          "elementwise_mem_accesses", "iters", "train_time_s", "train_cpu_s", "train_samples", "measured_energy_j",
          "measured_energy_above_idle_j", "co2e_modelled_g", "co2e_measured_g", "latency_s")
# Figures divided by the same method's sharing-0 figure (the paper's Figs. 4-5).
NORMALISED = ("compute_energy_j_per_iter", "memory_energy_j_per_iter", "mem_accesses_per_iter",
              "train_macs_per_iter", "elementwise_energy_j_per_iter", "elementwise_mem_accesses_per_iter",
              "time_per_iter_s", "cpu_time_per_iter_s", "storage_bytes", "latency_s_per_iter",
              "total_compute_energy_j", "total_memory_energy_j", "total_energy_j", "total_mem_accesses",
              "total_train_macs",
              "total_train_time_s", "total_train_cpu_s", "total_measured_energy_j",
              "total_measured_energy_above_idle_j", "measured_energy_per_sample_j",
              "measured_energy_above_idle_per_sample_j")
# Counts stay integers in summary.json when every seed agrees on a whole number.
COUNTS = ("shared_blocks", "storage_bytes", "total_mem_accesses", "total_train_macs", "total_iters",
          "total_train_samples")
DEFAULT_TOLERANCE_PP = 1.0  # RunConfig's default tolerance (config.py: a reader imports no run code)
COST_SCOPE = ("incremental phases only (phase 1 to the last); phase 0, the base training every sharing "
              "level shares, is excluded from totals and per-iteration figures")


def load(run_dir, required: Iterable[str] = IDENTITY, every_point: bool = False,
         unfinished: bool = False) -> pd.DataFrame:
    """A run directory's metrics: one row per (method, sharing, seed, phase), at the first hardware
    point of a hardware sweep; `every_point`: a row per point too. The rows of cells that have not
    trained every phase (a run interrupted or still going) are left out, with a warning naming them,
    so that what `cells` and the totals call final is final; `unfinished`: every row."""
    path = Path(run_dir)
    if path.name == METRICS and path.is_file():  # the file itself named: its run directory is meant
        path = path.parent
    df = load_rows(path, required)
    if not unfinished:
        left = unfinished_cells(df, read_manifest(path))
        if left:
            warnings.warn(f"{path} is unfinished: {unfinished_text(left, 3)}; their rows are left out "
                          "(results.load(..., unfinished=True) keeps them)", stacklevel=2)
            df = finished_rows(df, left)
    return df if every_point else at_point(df)


def summary(run_dir, tolerance: float | None = None) -> dict[str, Any]:
    """What the run's summary.json holds (as written at its end, or as it would be now for a run
    still going): `summarise` of every row at every hardware point, with the run's manifest, at the
    run's tolerance unless one is given."""
    path = Path(run_dir)
    if tolerance is None:
        tolerance = float((read_config(path) or {}).get("tolerance", DEFAULT_TOLERANCE_PP))
    # (as the file holds it: a figure that is not a number is None, JSON's null, not NaN)
    return strict(summarise(load(path, every_point=True, unfinished=True), tolerance, read_manifest(path)))


# ----- aggregating -------------------------------------------------------------------------------
def _incremental(df: pd.DataFrame) -> pd.DataFrame:
    """Each cell's incremental phases (its only phase when it has no other)."""
    later = df[df["phase"] > 0]
    only_base = df.groupby(["method", "sharing", "seed"])["phase"].transform("max") == 0
    return pd.concat([later, df[only_base]]).sort_values(list(IDENTITY))


def cell_totals(df: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """Per (method, sharing, seed): each column summed over the incremental phases; NaN when a
    phase lacks it. `mem_accesses` is reads plus writes; `elementwise_energy_j` compute plus
    memory energy of the element-wise work, `elementwise_mem_accesses` its reads plus writes."""
    inc = _incremental(at_point(df)).copy()
    for total, parts in (("mem_accesses", ("mem_reads", "mem_writes")),
                         ("elementwise_energy_j", ("elementwise_compute_energy_j", "elementwise_memory_energy_j")),
                         ("elementwise_mem_accesses", ("elementwise_mem_reads", "elementwise_mem_writes"))):
        if total in columns and total not in inc:
            inc[total] = inc.get(parts[0], np.nan) + inc.get(parts[1], np.nan)
    cols = _columns(columns, inc)
    for c in cols:
        if c not in inc:  # a column older runs did not write: NaN, not measured
            inc[c] = np.nan
    by_cell = inc.groupby(["method", "sharing", "seed"])[cols]
    return by_cell.sum().where(by_cell.count().eq(by_cell.size(), axis=0))


def _columns(columns: Iterable[str] | str, df: pd.DataFrame) -> list[str]:
    """The columns asked for, each a metrics.csv column or a sum `cell_totals` makes; a name that is
    neither is a mistake (NaN would read as "not measured"), said with the nearest valid one."""
    cols = [columns] if isinstance(columns, str) else list(columns)
    valid = set(SCHEMA) | set(df.columns) | {"mem_accesses", "elementwise_energy_j", "elementwise_mem_accesses"}
    for c in cols:
        if c not in valid:
            raise KeyError(f"'{c}' is not a metrics.csv column{did_you_mean(c, sorted(valid))}")
    return cols


def incremental_totals(df: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """Per (method, sharing): the mean over seeds of each cell's incremental total."""
    return cell_totals(df, columns).groupby(["method", "sharing"]).mean()


def phase_means(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per (method, sharing, phase): classes seen and the mean over seeds of `column`."""
    _columns(column, df)
    return at_point(df).groupby(["method", "sharing", "phase"]).agg(classes_seen=("classes_seen", "first"),
                                                          value=(column, "mean"))


def cells(df: pd.DataFrame) -> pd.DataFrame:
    """Figures of every (method, sharing, seed) cell (at the first hardware point)."""
    df = at_point(df).sort_values(list(IDENTITY))
    for col in ("sharing_achieved", "shared_blocks", "storage_bytes", "cache_shared",  # absent from older runs
                "bwt", "forgetting", "acc_top5", "acc_task_aware"):
        if col not in df:
            df[col] = np.nan
    by_cell = df.groupby(["method", "sharing", "seed"])
    out = pd.DataFrame({
        "final_acc": by_cell["acc_all"].agg(lambda s: s.iloc[-1]),
        "avg_inc_acc": by_cell["acc_all"].mean(),
        # continual-learning metrics after the last phase (energybench.training.metrics)
        "bwt": by_cell["bwt"].agg(lambda s: s.iloc[-1]),
        "final_forgetting": by_cell["forgetting"].agg(lambda s: s.iloc[-1]),
        "final_acc_top5": by_cell["acc_top5"].agg(lambda s: s.iloc[-1]),
        "final_acc_task_aware": by_cell["acc_task_aware"].agg(lambda s: s.iloc[-1]),
        "sharing_achieved": by_cell["sharing_achieved"].agg(lambda s: s.iloc[-1]),
        "shared_blocks": by_cell["shared_blocks"].agg(lambda s: s.iloc[-1]),
        "storage_bytes": by_cell["storage_bytes"].agg(lambda s: s.iloc[-1]),
        # 1 when every incremental phase trained on cached trunk outputs, 0 when none did
        "cache_shared": _incremental(df).groupby(["method", "sharing", "seed"])["cache_shared"].mean(),
    })
    totals = cell_totals(df, TOTALS)
    for key in TOTALS:
        out[f"total_{key}"] = totals[key]
    # every dynamic term priced: MAC computation and memory, and element-wise work where recorded
    out["total_energy_j"] = out["total_compute_energy_j"] + out["total_memory_energy_j"]
    if "elementwise_compute_energy_j" in df:
        out["total_energy_j"] += out["total_elementwise_energy_j"]
    iters = out["total_iters"].where(out["total_iters"] != 0)
    for key in PER_ITER:
        out[f"{key}_per_iter"] = out[f"total_{key}"] / iters
    out["time_per_iter_s"] = out["total_train_time_s"] / iters
    # CPU seconds per iteration: on a shared machine wall-clock time also measures others' load
    out["cpu_time_per_iter_s"] = out["total_train_cpu_s"] / iters
    samples = out["total_train_samples"].where(out["total_train_samples"] != 0)
    out["measured_energy_per_sample_j"] = out["total_measured_energy_j"] / samples
    out["measured_energy_above_idle_per_sample_j"] = out["total_measured_energy_above_idle_j"] / samples
    return out


def unfinished_cells(df: pd.DataFrame, manifest: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The cells of a run that have not trained every phase of its scenario, in the order they are
    planned: {"method", "sharing", "seed", "phases_done", "phases"}; those planned and never started
    too where the manifest lists each method's levels (`levels_per_method`). [] for a finished run,
    and for one whose manifest does not give its scenario (nothing to hold the rows against)."""
    sizes = (manifest or {}).get("scenario")
    if not isinstance(sizes, list) or not sizes:
        return []
    phases = len(sizes)
    df = at_point(df)
    done = df.groupby(["method", "sharing", "seed"])["phase"].nunique().to_dict()
    keys = list(done)
    planned = (manifest or {}).get("levels_per_method")
    if isinstance(planned, dict):
        seeds = (manifest or {}).get("seeds") or sorted({int(s) for s in df["seed"]})
        plan = [(m, float(s), int(seed)) for seed in seeds for m, levels in planned.items() for s in levels]
        keys = plan + [k for k in keys if k not in set(plan)]
    return [{"method": m, "sharing": s, "seed": seed, "phases_done": int(done.get((m, s, seed), 0)), "phases": phases}
            for m, s, seed in keys if done.get((m, s, seed), 0) < phases]


def finished_rows(df: pd.DataFrame, unfinished: list[dict[str, Any]]) -> pd.DataFrame:
    """`df` without the rows of the `unfinished` cells (at every hardware point)."""
    if not unfinished:
        return df
    left = {(u["method"], float(u["sharing"]), int(u["seed"])) for u in unfinished}
    keep = [(m, float(s), int(seed)) not in left for m, s, seed in zip(df["method"], df["sharing"], df["seed"])]
    return df[keep]


def unfinished_text(unfinished: list[dict[str, Any]], limit: int = 6) -> str:
    """The unfinished cells in words: "lucir at sharing 0, seed 0 (2 of 5 phases), ..." """
    def one(u: dict[str, Any]) -> str:
        done = "not started" if u["phases_done"] == 0 else f"{u['phases_done']} of {u['phases']} phases"
        return f"{u['method']} at sharing {float(u['sharing']):g}, seed {u['seed']} ({done})"

    text = "; ".join(one(u) for u in unfinished[:limit])
    return text + (f"; and {len(unfinished) - limit} more" if len(unfinished) > limit else "")


def _first_note(df: pd.DataFrame) -> str | None:
    notes = df["measured_note"].dropna() if "measured_note" in df else []
    return str(notes.iloc[0]) if len(notes) else None


def measured_energy(df: pd.DataFrame) -> dict[str, Any]:
    """Which measured energy summary.json and the report lead with, and why: above the idle
    baseline where the run has it, else the total (idle included), else none, with the reason."""
    column = calibration.measured_column(df)
    if column is None:
        note = _first_note(df)
        return {"column": None, "basis": None,
                "note": note or "not measured (power measurement off, or a run that predates measured_note)"}
    idle = sorted(df["idle_power_w"].dropna().unique()) if "idle_power_w" in df else []
    return {"column": column, "basis": calibration.BASIS[column],
            "idle_power_w": [float(w) for w in idle] or None, "note": _first_note(df)}


def modelled_vs_measured(df: pd.DataFrame) -> dict[str, Any]:
    """summary.json's modelled_vs_measured block: each phase's modelled energy against its measured
    (above-idle) energy, the line through the origin and the savings of each sharing level,
    modelled and measured (energybench.calibration holds the maths)."""
    column = calibration.measured_column(df)
    if column is None:
        note = measured_energy(df)["note"].removeprefix("not measured: ")
        return calibration.unavailable("this run measured no energy: " + note)
    d = df.assign(**{calibration.MODELLED: calibration.modelled_energy(df)})
    return calibration.block(d, column, incremental_totals(d, [calibration.MODELLED, column]))


# With one seed the spread is unknown: differences in final accuracy below this are flagged as
# possibly seed noise. An assumption (said so in the report), not a measurement: over seeds, final
# accuracies of small class-incremental runs commonly spread by 1 to 3 points.
TYPICAL_SEED_SPREAD_PP = 2.0


def percentage_points(x: float) -> str:
    """A difference in accuracy in words: "1 percentage point", "0.5 percentage points"."""
    return f"{x:g} percentage point{'' if x == 1 else 's'}"


def optimal_rule(tolerance: float) -> str:
    """The optimal-point rule in words, as summary.json and the report state it."""
    return (f"the largest sharing level whose drop in final accuracy from sharing 0 (mean over seeds), plus one "
            f"standard error of that drop over seeds, is at most {percentage_points(tolerance)}; with one seed "
            "the standard error is unknown and the drop alone decides")


def drop_se(ref: dict[str, Any], level: dict[str, Any]) -> float:
    """Standard error of (sharing-0 mean - level mean) of final accuracy over seeds: sqrt(s0²/n0 +
    s²/n) with sample standard deviations; NaN unless both have two seeds or more."""
    n0, n = len(ref.get("seeds") or []), len(level.get("seeds") or [])
    if n0 < 2 or n < 2:
        return math.nan
    # summary.json keeps the population std (ddof 0): back to the sample std
    s0 = ref["final_acc_std"] * math.sqrt(n0 / (n0 - 1))
    s = level["final_acc_std"] * math.sqrt(n / (n - 1))
    return math.sqrt(s0 ** 2 / n0 + s ** 2 / n)


def optimal_sharing(levels: dict[float, dict[str, Any]], tolerance: float) -> float | None:
    """The largest sharing level whose final-accuracy drop from sharing 0, plus one standard error
    of that drop over seeds, is within `tolerance` percentage points (the partial-sharing paper's
    section 3.4, made to survive seed noise: a level whose mean is within tolerance only by a
    lucky seed is not chosen). With one seed the drop alone decides (and the report says the
    choice rests on one seed). None without sharing 0, and None with sharing 0 alone (nothing was
    compared, so nothing is claimed). A level without an accuracy is not within tolerance."""
    if 0.0 not in levels or len(levels) < 2:
        return None
    ref = levels[0.0]
    if math.isnan(ref["final_acc"]):
        return None
    ok = []
    for s, f in levels.items():
        drop = ref["final_acc"] - f["final_acc"]
        se = drop_se(ref, f) if s != 0.0 else 0.0
        if drop + (0.0 if math.isnan(se) else se) <= tolerance:
            ok.append(s)
    return max(ok)


def summarise(rows: pd.DataFrame | Iterable[dict[str, Any]], tolerance: float,
              manifest: dict[str, Any] | None = None) -> dict[str, Any]:
    """summary.json: per method and sharing level, the figures of `cells` as means over seeds,
    normalised to sharing 0, and the optimal sharing point. With the run's manifest, of the cells
    that trained every phase only; the others are listed under "unfinished"."""
    every = rows if isinstance(rows, pd.DataFrame) else frame(rows)
    unfinished = unfinished_cells(every, manifest)
    every = finished_rows(every, unfinished)
    df = at_point(every)
    per_cell = cells(df)
    methods: dict[str, Any] = {}
    for (method, sharing), seeds in per_cell.groupby(level=["method", "sharing"], sort=True):
        mean = {k: _mean(seeds[k]) for k in seeds.columns}
        for k in COUNTS:
            if not math.isnan(mean[k]) and mean[k] == int(mean[k]):
                mean[k] = int(mean[k])
        # population std over seeds (0 for a single seed)
        mean["final_acc_std"] = float(np.std(seeds["final_acc"].to_numpy()))
        mean["seeds"] = sorted(int(s) for s in seeds.index.get_level_values("seed"))
        methods.setdefault(method, {"levels": {}})["levels"][float(sharing)] = mean
    for entry in methods.values():
        levels = entry["levels"]
        ref = levels.get(0.0)
        for f in levels.values():
            norm = {}
            if ref is not None:
                for k in NORMALISED:
                    # a cost is positive; above-idle energy at or below 0 is within the baseline's noise
                    norm[k] = f[k] / ref[k] if ref[k] > 0 else float("nan")
            f["normalised_to_sharing_0"] = norm
            f["final_acc_drop_pp"] = ref["final_acc"] - f["final_acc"] if ref is not None else float("nan")
        for s, f in levels.items():
            se = drop_se(ref, f) if ref is not None and s != 0.0 else math.nan
            f["final_acc_drop_se_pp"] = se
        best = optimal_sharing(levels, tolerance)
        entry["optimal_sharing"] = best
        entry["optimal_sharing_achieved"] = levels[best]["sharing_achieved"] if best is not None else None
        n_seeds = min((len(f["seeds"]) for f in levels.values()), default=0)
        entry["optimal_basis"] = "one seed" if n_seeds < 2 else f"{n_seeds} seeds or more per level"
        entry["levels"] = {f"{s:g}": f for s, f in sorted(levels.items())}
    out = {"tolerance_pp": tolerance, "optimal_rule": optimal_rule(tolerance), "cost_scope": COST_SCOPE,
           "methods": methods,
           "measured_energy": measured_energy(df), "modelled_vs_measured": modelled_vs_measured(df)}
    points = hardware_points(every)
    if len(points) > 1:  # a hardware sweep: the figures above are its first point's
        out["hardware_points"] = [dict(zip(HARDWARE, p)) for p in points]
    if unfinished:  # (absent from a finished run's summary)
        out["unfinished"] = unfinished
    return out


def _mean(values: pd.Series) -> float:
    """Mean over the values that are numbers; NaN (without a warning) when none is."""
    vals = [float(v) for v in values if not math.isnan(float(v))]
    return float(np.mean(vals)) if vals else float("nan")
