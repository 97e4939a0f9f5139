"""The run directory: config.yaml, manifest.json, metrics.csv, cell artifacts.

Every write goes through energybench.files.atomic_write (a temporary file renamed into
place), so a run interrupted at any moment leaves each file either as it was or complete.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Iterable

import yaml

from energybench.files import atomic_write, write_json

# metrics.csv column order: identity, accuracy, time, counted/modelled cost, measured power.
COLUMNS = [
    "run_id", "method", "sharing", "sharing_achieved", "shared_blocks", "seed", "phase", "classes_seen",
    "new_classes", "acc_all", "acc_old", "acc_new", "avg_inc_acc", "forgetting", "iters", "train_time_s",
    "time_per_iter_s", "train_cpu_s", "cache_shared", "fwd_macs", "bwd_input_macs", "bwd_weight_macs", "update_ops", "train_macs",
    "eval_macs", "mem_reads", "mem_writes", "compute_energy_j", "memory_energy_j", "energy_table",
    "precision", "storage_bytes", "arch", "node_nm", "vdd", "level_rf_energy_j", "level_buffer_energy_j",
    "level_dram_energy_j", "leakage_energy_j", "measured_energy_j", "measured_energy_method", "mean_power_w",
    "peak_power_w", "idle_power_w", "reused_base",
]


def save_state(path: Path, state: Any) -> None:
    """torch.save, atomically: a checkpoint is either the old one or the new one, never half."""
    import torch  # only checkpoints need it; the report side reads runs without torch

    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write(path, buf.getvalue())


def read_metrics(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def render_csv(rows: Iterable[dict[str, Any]]) -> str:
    rows = list(rows)
    extra = sorted({k for r in rows for k in r} - set(COLUMNS))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS + extra, extrasaction="raise", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: _fmt(v) for k, v in r.items()})
    return buf.getvalue()


def _fmt(v: Any) -> str:
    """Floats at full precision (the shortest text that reads back as the same number), so a
    summary built from metrics.csv equals one built from the numbers in memory; NaN as empty."""
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if v != v else repr(v)
    return str(v)


class RunStore:
    """One run directory (a single run or a sweep of runs)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.metrics_path = self.root / "metrics.csv"
        self.rows: list[dict[str, Any]] = read_metrics(self.metrics_path)

    @property
    def run_id(self) -> str:
        return self.root.name

    def cell_dir(self, method: str, sharing: float, seed: int) -> Path:
        return self.root / "cells" / f"{method}_s{sharing:g}_seed{seed}"

    def base_checkpoint(self, method: str, seed: int) -> Path:
        return self.root / "cells" / f"{method}_seed{seed}_base.pt"

    def write_config(self, config: dict[str, Any]) -> None:
        atomic_write(self.root / "config.yaml", yaml.safe_dump(config, sort_keys=False))

    def read_config(self) -> dict[str, Any] | None:
        p = self.root / "config.yaml"
        return yaml.safe_load(p.read_text()) if p.is_file() else None

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_json(self.root / "manifest.json", manifest)

    def _cell_rows(self, method: str, sharing: float, seed: int) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["method"] == method and float(r["sharing"]) == sharing
                and int(r["seed"]) == seed]

    def complete(self, method: str, sharing: float, seed: int, phases: int) -> bool:
        return self.phases_done(method, sharing, seed) >= set(range(phases))

    def progress_checkpoint(self, method: str, sharing: float, seed: int) -> Path:
        """A cell's state after its last finished phase, while the cell is unfinished."""
        return self.cell_dir(method, sharing, seed) / "progress.pt"

    def phases_done(self, method: str, sharing: float, seed: int) -> set[int]:
        return {int(r["phase"]) for r in self._cell_rows(method, sharing, seed)}

    def drop_partial(self, method: str, sharing: float, seed: int, keep_upto: int = -1) -> None:
        """Forget a cell's rows after phase `keep_upto` (all of them by default): phases that
        will be recomputed from the last saved state."""
        keep = [r for r in self.rows if not (r["method"] == method and float(r["sharing"]) == sharing
                                              and int(r["seed"]) == seed and int(r["phase"]) > keep_upto)]
        if len(keep) != len(self.rows):
            self.rows = keep
            atomic_write(self.metrics_path, render_csv(self.rows))

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append({**row, "run_id": self.run_id})
        atomic_write(self.metrics_path, render_csv(self.rows))
