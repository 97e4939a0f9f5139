"""Sweep summary: per method and sharing level, accuracy and cost, normalised to sharing 0,
and the optimal sharing point (largest sharing within `tolerance` points of sharing 0)."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np

from energybench.engine.store import RunStore, write_json

PER_ITER = ("compute_energy_j", "memory_energy_j", "mem_accesses", "train_macs")
TOTALS = ("compute_energy_j", "memory_energy_j", "mem_accesses", "train_macs", "iters", "train_time_s")


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def cell_figures(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Figures of one (method, sharing, seed) cell; costs sum over incremental phases only,
    since phase 0 is the same base training at every sharing level."""
    rows = sorted(rows, key=lambda r: int(r["phase"]))
    inc = [r for r in rows if int(r["phase"]) > 0] or rows
    out: dict[str, float] = {
        "final_acc": _num(rows[-1]["acc_all"]),
        "avg_inc_acc": float(np.mean([_num(r["acc_all"]) for r in rows])),
        "sharing_achieved": _num(rows[-1].get("sharing_achieved")),
        "storage_bytes": _num(rows[-1].get("storage_bytes")),
    }
    for r in inc:
        r["mem_accesses"] = _num(r.get("mem_reads")) + _num(r.get("mem_writes"))
    for key in TOTALS:
        out[f"total_{key}"] = float(sum(_num(r.get(key)) for r in inc))
    iters = out["total_iters"]
    for key in PER_ITER:
        out[f"{key}_per_iter"] = out[f"total_{key}"] / iters if iters else float("nan")
    out["time_per_iter_s"] = out["total_train_time_s"] / iters if iters else float("nan")
    return out


def optimal_sharing(levels: dict[float, dict[str, float]], tolerance: float) -> float | None:
    """The largest sharing level whose final accuracy is within `tolerance` percentage points
    of the sharing-0 accuracy (the partial-sharing paper's section 3.4); None without sharing 0."""
    if 0.0 not in levels:
        return None
    ref = levels[0.0]["final_acc"]
    ok = [s for s, f in levels.items() if f["final_acc"] >= ref - tolerance]
    return max(ok) if ok else 0.0


def summarise(rows: list[dict[str, Any]], tolerance: float) -> dict[str, Any]:
    cells: dict[tuple[str, float], dict[int, list]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        cells[(r["method"], float(r["sharing"]))][int(r["seed"])].append(r)
    methods: dict[str, Any] = {}
    for (method, sharing), seeds in sorted(cells.items()):
        per_seed = [cell_figures(rs) for rs in seeds.values()]
        keys = per_seed[0].keys()
        mean = {k: float(np.nanmean([f[k] for f in per_seed])) for k in keys}
        mean["final_acc_std"] = float(np.std([f["final_acc"] for f in per_seed]))
        mean["seeds"] = sorted(seeds)
        methods.setdefault(method, {"levels": {}})["levels"][sharing] = mean
    for method, entry in methods.items():
        levels = entry["levels"]
        ref = levels.get(0.0)
        for s, f in levels.items():
            norm = {}
            if ref is not None:
                for k in ("compute_energy_j_per_iter", "memory_energy_j_per_iter", "mem_accesses_per_iter",
                          "time_per_iter_s", "storage_bytes", "total_compute_energy_j", "total_memory_energy_j",
                          "total_mem_accesses", "total_train_time_s"):
                    norm[k] = f[k] / ref[k] if ref[k] and not math.isnan(ref[k]) else float("nan")
            f["normalised_to_sharing_0"] = norm
        entry["optimal_sharing"] = optimal_sharing(levels, tolerance)
        entry["levels"] = {f"{s:g}": f for s, f in sorted(levels.items())}
    return {"tolerance_pp": tolerance, "methods": methods}


def write_summary(store: RunStore, cfg) -> dict[str, Any]:
    summary = summarise(store.rows, cfg.tolerance)
    write_json(store.root / "summary.json", summary)
    return summary
