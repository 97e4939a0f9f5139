"""Results of a run directory, read and aggregated in one place: the run's summary.json, the
report and users' notebooks share these rules.

Costs cover the incremental phases only: phase 0 is the same base training at every sharing
level (the runner trains it once), so including it would blur the differences the sweep
measures. Per-iteration figures are totals over those phases divided by their iterations.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np

PER_ITER = ("compute_energy_j", "memory_energy_j", "mem_accesses", "train_macs")
TOTALS = ("compute_energy_j", "memory_energy_j", "mem_accesses", "train_macs", "iters", "train_time_s", "train_cpu_s")
# Figures divided by the same method's sharing-0 figure (the paper's Figs. 4-5).
NORMALISED = ("compute_energy_j_per_iter", "memory_energy_j_per_iter", "mem_accesses_per_iter",
              "train_macs_per_iter", "time_per_iter_s", "cpu_time_per_iter_s", "storage_bytes",
              "total_compute_energy_j", "total_memory_energy_j", "total_mem_accesses", "total_train_macs",
              "total_train_time_s", "total_train_cpu_s")
# Counts stay integers in summary.json when every seed agrees on a whole number.
COUNTS = ("shared_blocks", "storage_bytes", "total_mem_accesses", "total_train_macs", "total_iters")
COST_SCOPE = ("incremental phases only (phase 1 to the last); phase 0, the base training every sharing "
              "level shares, is excluded from totals and per-iteration figures")


def _num(v) -> float:
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return float(v.lower() == "true")
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _mean(values: list[float]) -> float:
    """Mean over the values that are numbers; NaN (without a warning) when none is."""
    vals = [v for v in values if not math.isnan(v)]
    return float(np.mean(vals)) if vals else float("nan")


def cell_figures(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Figures of one (method, sharing, seed) cell (rows are read, never modified)."""
    rows = sorted(rows, key=lambda r: int(r["phase"]))
    inc = [r for r in rows if int(r["phase"]) > 0] or rows
    last = rows[-1]
    out: dict[str, float] = {
        "final_acc": _num(last["acc_all"]),
        "avg_inc_acc": float(np.mean([_num(r["acc_all"]) for r in rows])),
        "sharing_achieved": _num(last.get("sharing_achieved")),
        "shared_blocks": _num(last.get("shared_blocks")),
        "storage_bytes": _num(last.get("storage_bytes")),
        # 1 when every incremental phase trained on cached trunk outputs, 0 when none did
        "cache_shared": _mean([_num(r.get("cache_shared")) for r in inc]),
    }
    for key in TOTALS:
        if key == "mem_accesses":
            vals = [_num(r.get("mem_reads")) + _num(r.get("mem_writes")) for r in inc]
        else:
            vals = [_num(r.get(key)) for r in inc]
        out[f"total_{key}"] = float(sum(vals))
    iters = out["total_iters"]
    for key in PER_ITER:
        out[f"{key}_per_iter"] = out[f"total_{key}"] / iters if iters else float("nan")
    out["time_per_iter_s"] = out["total_train_time_s"] / iters if iters else float("nan")
    # CPU seconds per iteration: on a shared machine wall-clock time also measures others' load
    out["cpu_time_per_iter_s"] = out["total_train_cpu_s"] / iters if iters else float("nan")
    return out


def optimal_sharing(levels: dict[float, dict[str, float]], tolerance: float) -> float | None:
    """The largest sharing level whose final accuracy is within `tolerance` percentage points
    of the sharing-0 accuracy (the partial-sharing paper's section 3.4); None without sharing 0.
    A level more accurate than sharing 0 is within tolerance; a level without an accuracy is not."""
    if 0.0 not in levels:
        return None
    ref = levels[0.0]["final_acc"]
    if math.isnan(ref):
        return None
    ok = [s for s, f in levels.items() if f["final_acc"] >= ref - tolerance]
    return max(ok)


def summarise(rows: list[dict[str, Any]], tolerance: float) -> dict[str, Any]:
    cells: dict[tuple[str, float], dict[int, list]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        cells[(r["method"], float(r["sharing"]))][int(r["seed"])].append(r)
    methods: dict[str, Any] = {}
    for (method, sharing), seeds in sorted(cells.items()):
        per_seed = [cell_figures(rs) for _, rs in sorted(seeds.items())]
        mean = {k: _mean([f[k] for f in per_seed]) for k in per_seed[0]}
        for k in COUNTS:
            if not math.isnan(mean[k]) and mean[k] == int(mean[k]):
                mean[k] = int(mean[k])
        # population std over seeds (0 for a single seed)
        mean["final_acc_std"] = float(np.std([f["final_acc"] for f in per_seed]))
        mean["seeds"] = sorted(seeds)
        methods.setdefault(method, {"levels": {}})["levels"][sharing] = mean
    for method, entry in methods.items():
        levels = entry["levels"]
        ref = levels.get(0.0)
        for f in levels.values():
            norm = {}
            if ref is not None:
                for k in NORMALISED:
                    norm[k] = f[k] / ref[k] if ref[k] and not math.isnan(ref[k]) else float("nan")
            f["normalised_to_sharing_0"] = norm
            f["final_acc_drop_pp"] = ref["final_acc"] - f["final_acc"] if ref is not None else float("nan")
        best = optimal_sharing(levels, tolerance)
        entry["optimal_sharing"] = best
        entry["optimal_sharing_achieved"] = levels[best]["sharing_achieved"] if best is not None else None
        entry["levels"] = {f"{s:g}": f for s, f in sorted(levels.items())}
    return {"tolerance_pp": tolerance, "cost_scope": COST_SCOPE, "methods": methods}


