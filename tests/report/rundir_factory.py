"""Writes realistic run directories for report tests and the report benchmark, with the run's
own writers (RunStore's CSV, energybench.results), without training anything.

The numbers follow a simple cost model so that tests can derive them by hand:
per incremental-phase iteration, forward = FWD MACs (times FWD_FACTOR[method]), backward = BWD * (1 - achieved sharing)
(input and weight gradients half each), update = UPDATE * (1 - achieved); compute energy =
train MACs * PJ_PER_MAC + update ops * PJ_PER_UPDATE, memory accesses = ACCESSES * (1 - achieved / 2), memory energy =
accesses * PJ_PER_ACCESS, split between the layer_buffer architecture's buffer (BUFFER_SHARE) and DRAM (no
register file, leakage off: those columns empty). Accuracy: BASE_ACC[method] - DROP * achieved**3 at the last
phase.
Measured (power=True): 0.2 J per iteration * (1 - achieved / 3), package 80 % and DRAM 20 % of it, above an
idle baseline of 5 W over the training time.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import yaml

from energybench.config import RunConfig
from energybench.engine.store import render_csv
from energybench.results import summarise

FWD, BWD, UPDATE, ACCESSES = 2.0e6, 4.0e6, 1.0e5, 3.0e6
PJ_PER_MAC, PJ_PER_UPDATE, PJ_PER_ACCESS = 4.6, 2.3, 5.0  # fp32 mult 3.7 + add 0.9; an update op: half of each
ITERS = 10  # per phase
BUFFER_SHARE = 0.8  # of the memory energy, the rest is DRAM's
BASE_ACC = {"finetune": 60.0, "sharing": 80.0, "lucir": 75.0, "eeil": 78.0, "icarl": 70.0, "joint": 90.0}
DROP = 30.0
FWD_FACTOR = {"lucir": 1.5}  # LUCIR also runs the old model forward for distillation
CUTS = (0.0, 0.05, 0.2, 0.4, 0.6, 0.8, 0.95)  # achievable sharing (block boundaries)
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle <boot> & co"]  # one name needs HTML escaping
SEVEN_LEVELS = (0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95)


def achieved(s: float) -> float:
    return max(c for c in CUTS if c <= s + 1e-9)


def last_acc(method: str, s: float, seed: int, offset: float = 0.0) -> float:
    return BASE_ACC.get(method, 65.0) - DROP * achieved(s) ** 3 + 0.5 * seed + offset


def _row(run_id, method, s, seed, phase, sizes, power, storage, scale=1.0, offset=0.0):
    a = achieved(s) if phase > 0 else 0.0
    n_phases = len(sizes)
    seen = sum(sizes[: phase + 1])
    final = last_acc(method, s, seed, offset)
    acc = 95.0 - (95.0 - final) * phase / max(n_phases - 1, 1)
    fwd = FWD * FWD_FACTOR.get(method, 1.0) * ITERS * scale
    bwd, upd = BWD * (1 - a) * ITERS * scale, UPDATE * (1 - a) * ITERS * scale
    train = fwd + bwd
    acc_ = ACCESSES * (1 - a / 2) * ITERS
    row = {
        "run_id": run_id, "method": method, "sharing": s, "sharing_achieved": a, "shared_blocks": CUTS.index(a),
        "seed": seed, "phase": phase, "classes_seen": seen, "new_classes": sizes[phase],
        "acc_all": acc, "acc_old": acc - 5 if phase else float("nan"), "acc_new": acc + 5,
        "avg_inc_acc": acc, "forgetting": float("nan") if phase == 0 else 2.0 * phase,
        "iters": ITERS, "train_time_s": 0.02 * ITERS * (1 - a / 2), "time_per_iter_s": 0.02 * (1 - a / 2),
        "fwd_macs": fwd, "bwd_input_macs": bwd / 2, "bwd_weight_macs": bwd / 2, "update_ops": upd,
        "train_macs": train, "eval_macs": 1e6, "mem_reads": acc_ * 0.75, "mem_writes": acc_ * 0.25,
        "compute_energy_j": (train * PJ_PER_MAC + upd * PJ_PER_UPDATE) * 1e-12,
        "memory_energy_j": acc_ * PJ_PER_ACCESS * 1e-12,
        "energy_table": "horowitz45", "precision": "fp32", "storage_bytes": storage * (1 - a * 0.9),
        "arch": "layer_buffer", "node_nm": 45, "vdd": 0.9, "level_rf_energy_j": None,
        "level_buffer_energy_j": acc_ * PJ_PER_ACCESS * 1e-12 * BUFFER_SHARE,
        "level_dram_energy_j": acc_ * PJ_PER_ACCESS * 1e-12 * (1 - BUFFER_SHARE), "leakage_energy_j": None,
        "measured_energy_j": None, "measured_energy_method": None, "mean_power_w": None, "peak_power_w": None,
        "idle_power_w": None, "reused_base": phase == 0, "acc_nme": acc + 1,
    }
    if power:
        energy = 0.2 * ITERS * (1 - a / 3)
        row.update(measured_energy_j=energy, measured_energy_method="rapl-counter",
                   mean_power_w=20.0, peak_power_w=30.0, idle_power_w=5.0,
                   measured_energy_above_idle_j=energy - 5.0 * row["train_time_s"],
                   cpu_package_energy_j=0.8 * energy, dram_energy_j=0.2 * energy,
                   measured_devices="rapl:package-0+rapl:dram-0")
    return row


def make_run_dir(root: Path, methods=("finetune",), sharing=(0.0,), seeds=(0,), power=False,
                 sizes=(4, 3, 3), summary=True, confusion=True, trace_points=300, backbone="resnet20",
                 scale=1.0, offset=0.0, energy_table="horowitz45") -> Path:
    """Write a run directory at `root` (created) and return it. `scale` multiplies every count
    (a bigger backbone), `offset` adds to every accuracy."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    run_id = root.name
    cfg = RunConfig(methods=list(methods), dataset="fashion-mnist", scenario=list(sizes), seeds=list(seeds),
                    sharing=list(sharing), run_id=run_id, power=power, energy_table=energy_table,
                    backbone=backbone)
    (root / "config.yaml").write_text(yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False))
    n = sum(sizes)
    orders = {str(seed): [int(c) for c in np.random.default_rng(seed).permutation(10)[:n]] for seed in seeds}
    last = orders[str(seeds[-1])]
    manifest = {
        "energybench": "0.1.0", "git_commit": "0123456789abcdef0123456789abcdef01234567", "python": "3.11.2",
        "platform": "Linux-6.1-x86_64", "packages": {"torch": "2.14.1", "numpy": "2.4.6", "matplotlib": "3.11.2"},
        "torch_cuda": None, "cuda_available": False, "device": "cpu", "device_name": "x86_64 CPU, 1 thread",
        "class_order": orders, "dataset": "fashion-mnist", "data_location": "/usr/share/datasets/fashion-mnist",
        "scenario": list(sizes), "class_names": [CLASS_NAMES[c] for c in last], "backbone": backbone,
        "energy_table": {"name": energy_table, "ops_pj": {"fp32": {"add": 0.9, "mult": 3.7}},
                         "sources": ["Horowitz, Computing's energy problem, ISSCC 2014",
                                     "CACTI 7 SRAM, 45nm, itrs-lstp"]},
        "seeds": list(seeds),
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2))
    rows = []
    for seed in seeds:
        for method in methods:
            for s in sharing:
                for phase in range(len(sizes)):
                    rows.append(_row(run_id, method, s, seed, phase, sizes, power, storage=1.0e6 * scale, scale=scale,
                                     offset=offset))
                    rows[-1]["energy_table"] = energy_table
                    if confusion:
                        seen = sum(sizes[: phase + 1])
                        m = np.full((seen, seen), 1, dtype=int) + np.diag(np.full(seen, 20 - phase))
                        cell = root / "cells" / f"{method}_s{s:g}_seed{seed}"
                        cell.mkdir(parents=True, exist_ok=True)
                        np.savetxt(cell / f"confusion_phase{phase}.csv", m, fmt="%d", delimiter=",")
    (root / "metrics.csv").write_text(render_csv(rows))
    if summary:
        (root / "summary.json").write_text(json.dumps(summarise([dict(r) for r in rows], 1.0), indent=2))
    if power:
        t0 = 1.7e9
        lines = ["time_s,device,watts"]
        for k in range(trace_points):
            lines.append(f"{t0 + k * 0.1:.3f},rapl:package-0,{15 + 10 * np.sin(k / 10) ** 2:.3f}")
            lines.append(f"{t0 + k * 0.1 + 0.05:.3f},rapl:dram,{3 + (k % 7) * 0.1:.3f}")
        (root / "power_trace.csv").write_text("\n".join(lines) + "\n")
    return root


def single_run(root: Path, **kw) -> Path:
    return make_run_dir(root, methods=("finetune",), sharing=(0.0,), seeds=(0,), **kw)


def sweep(root: Path, **kw) -> Path:
    """7 sharing levels of 3 methods (the report benchmark's size), 2 seeds."""
    kw.setdefault("seeds", (0, 1))
    return make_run_dir(root, methods=("finetune", "sharing", "lucir"), sharing=SEVEN_LEVELS, **kw)
