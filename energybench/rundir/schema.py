"""The run directory's layout and metrics.csv's columns, typed once.

A run directory holds config.yaml, manifest.json, metrics.csv (one row per method, sharing level,
seed, phase and hardware point (node, arch)), summary.json, power_trace.csv and
cells/<method>_s<sharing>_seed<seed>/ (each cell's confusion matrices, accuracy matrix, artifacts,
checkpoints).
"""

from __future__ import annotations

from pathlib import Path

# The layout's version, written into manifest.json under FORMAT_KEY. A directory without one was
# written before the key existed: the current layout or an older one, which the reader accepts.
FORMAT = 1
FORMAT_KEY = "run_dir_format"

METRICS = "metrics.csv"
CONFIG = "config.yaml"
MANIFEST = "manifest.json"
SUMMARY = "summary.json"
POWER_TRACE = "power_trace.csv"
MATRIX_FILE = "accuracy_matrix.csv"  # one per cell, beside its confusion matrices

IDENTITY = ("method", "sharing", "seed", "phase")  # a phase's: the columns every metrics.csv has
# A run sweeping several (node, arch) points prices each phase at every one: a row is a phase (IDENTITY)
# at one point (HARDWARE). Runs older than these columns have one point, unnamed.
HARDWARE = ("node_nm", "arch")
TEXT = ("run_id", "method", "energy_table", "precision", "arch", "mapper", "measured_energy_method", "measured_devices",
        "measured_note", "stage_stopped_by")
FLAGS = ("cache_shared", "reused_base")  # True/False, read as 1.0/0.0 so that they average
# Every other column is a float; an empty cell is "not measured" (NaN), never a zero.

# metrics.csv's own columns, in the order the run writes them: identity, accuracy, time,
# counted/modelled cost, measured power. A method's extra columns (acc_nme, tree_depth, ...)
# follow them, sorted.
SCHEMA = (
    "run_id", "method", "sharing", "sharing_achieved", "shared_blocks", "seed", "phase", "classes_seen",
    "new_classes", "acc_all", "acc_old", "acc_new", "avg_inc_acc", "forgetting", "bwt", "acc_top5", "acc_task_aware",
    "co2e_modelled_g", "co2e_measured_g", "iters", "train_samples", "train_time_s", "time_per_iter_s", "train_cpu_s",
    "cache_shared", "fwd_macs", "bwd_input_macs", "bwd_weight_macs", "update_ops", "train_macs", "eval_macs",
    "mem_reads", "mem_writes", "compute_energy_j", "memory_energy_j", "elementwise_ops", "elementwise_mem_reads",
    "elementwise_mem_writes", "elementwise_compute_energy_j", "elementwise_memory_energy_j", "energy_table",
    "precision", "storage_bytes", "arch", "node_nm", "vdd", "level_rf_energy_j", "level_buffer_energy_j",
    "level_dram_energy_j", "leakage_energy_j", "mapper", "latency_s", "utilisation", "area_mm2", "edp_js",
    "measured_energy_j", "measured_energy_method", "mean_power_w", "peak_power_w", "idle_power_w",
    "measured_energy_above_idle_j", "gpu_energy_j", "cpu_package_energy_j", "dram_energy_j",
    "measured_energy_per_sample_j", "measured_devices", "measured_note", "reused_base",
)


def sharing_key(s: float) -> str:
    """The spelling of a sharing level in summary.json keys and cell directory names."""
    return f"{s:g}"


def cell_dir(root: Path, method: str, sharing: float, seed: int) -> Path:
    """The folder of one (method, sharing, seed) cell's files."""
    return Path(root) / "cells" / f"{method}_s{sharing_key(sharing)}_seed{seed}"
