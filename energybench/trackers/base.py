"""What every tracker logs, and the guard that keeps a failing tracker from costing a result.

A phase row's figures are logged as `<kind>/<column>`, the kind saying where the number comes
from: `accuracy`, `counted` (operations and accesses counted from what ran), `modelled`
(energies priced by the cost model), `measured` (meters and clocks), `protocol` (what the
phase covered), or `other` (a method's own figures). The values are metrics.csv's, unrounded.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable

from energybench.power.monitor import POWER_FIELDS

# Columns that name a phase or say how it was priced: parameters, not metrics.
NOT_METRICS = {"run_id", "method", "sharing", "seed", "phase", "energy_table", "precision", "arch", "node_nm", "vdd",
               "cache_shared", "reused_base", "measured_energy_method", "measured_devices", "measured_note",
               "stage_stopped_by", "mapper"}
ACCURACY = ("avg_inc_acc", "forgetting", "bwt")
MEASURED = ("train_time_s", "time_per_iter_s", "train_cpu_s", "co2e_measured_g")
COUNTED = ("fwd_macs", "bwd_input_macs", "bwd_weight_macs", "update_ops", "train_macs", "eval_macs",
           "elementwise_ops", "elementwise_mem_reads", "elementwise_mem_writes", "storage_bytes", "iters",
           "train_samples")
PROTOCOL = ("sharing_achieved", "shared_blocks", "classes_seen", "new_classes")
# the cost model's memory accesses (memory_model.py's reuse), time, array use and silicon: not energies, still
# modelled (the README's and the report's kind)
MODELLED = ("mem_reads", "mem_writes", "co2e_modelled_g", "latency_s", "utilisation", "area_mm2", "edp_js")


def metric_kind(column: str) -> str | None:
    """The kind a metrics.csv column is logged under; None for a column that is not a metric."""
    if column in NOT_METRICS:
        return None
    if column.startswith("acc_") or column in ACCURACY:
        return "accuracy"
    if column in POWER_FIELDS or column in MEASURED:
        return "measured"
    if column in COUNTED:
        return "counted"
    if column in PROTOCOL:
        return "protocol"
    if column.endswith("_energy_j") or column in MODELLED:
        return "modelled"
    return "other"


def phase_metrics(row: dict[str, Any]) -> dict[str, float]:
    """A phase row's numbers as `<kind>/<column>` -> value; empty (NaN) cells are not logged. A row
    as metrics.csv holds it (text, when a resume catches a tracker up) gives the same numbers."""
    out = {}
    for column, value in row.items():
        kind = metric_kind(column)
        if kind is None or isinstance(value, bool) or value is None or value in ("", "True", "False"):
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if not math.isnan(number):
            out[f"{kind}/{column}"] = number
    return out


def run_params(cfg, manifest: dict) -> dict[str, str]:
    """The run's parameters: what it ran, on what, priced how, with which versions."""
    hardware = manifest.get("hardware") if isinstance(manifest.get("hardware"), dict) else {}
    params = {
        "run_id": cfg.run_id, "scenario": str(cfg.scenario), "scenario_sizes": manifest.get("scenario"),
        "dataset": cfg.dataset, "backbone": cfg.resolved_backbone(), "epochs": cfg.epochs,
        "batch_size": cfg.batch_size, "lr": cfg.lr, "class_order_rule": cfg.class_order,
        # a hardware sweep's axes comma-separated (the metrics logged are its first point's rows)
        "arch": ",".join(a or "layer_buffer" for a in (cfg.arch if isinstance(cfg.arch, list) else [cfg.arch])),
        "node_nm": ",".join(map(str, cfg.node)) if isinstance(cfg.node, list) else hardware.get("node_nm", cfg.node),
        "vdd": hardware.get("vdd"),
        "precision": cfg.precision, "energy_table": hardware.get("energy_table", cfg.energy_table),
        "mapper": getattr(cfg, "mapper", None) or hardware.get("mapper"),  # where the run has a mapper choice
        "device": manifest.get("device_name"), "energybench": manifest.get("energybench"),
        "git_commit": manifest.get("git_commit"), "python": manifest.get("python"),
        "carbon_g_per_kwh": cfg.carbon_intensity, "grid": cfg.grid, "pue": cfg.pue,
    }
    points = cfg.hardware_points()
    if len(points) > 1:  # a sweep: its metrics are one point's rows, which this names
        node, arch = points[0]
        params["metrics_point"] = (f"{hardware.get('node_nm') if node is None else node:g} nm "
                                   f"{arch or 'layer_buffer'}: the first of {len(points)} (node, arch) points; "
                                   "metrics.csv holds every point's rows")
    params.update({f"version_{k}": v for k, v in (manifest.get("packages") or {}).items()})
    return {k: str(v) for k, v in params.items() if v is not None}


def cell_params(cell, manifest: dict) -> dict[str, str]:
    """A cell's own parameters: method, sharing level, seed and the class order it ran."""
    order = (manifest.get("class_order") or {}).get(str(cell.seed))
    return {"method": cell.method, "sharing": f"{cell.sharing:g}", "seed": str(cell.seed),
            "class_order": ",".join(map(str, order)) if order is not None else ""}


class Trackers:
    """The run's trackers, each started on first use; a call that fails warns once, names the
    tracker and drops it, and the run goes on (its results are in the run directory)."""

    def __init__(self, makers: list[tuple[str, Callable[[], Any]]], log=print):
        self._makers, self._live, self.log = list(makers), [], log
        self.failed: list[str] = []

    def _each(self, what: str, call: Callable[[Any], None]) -> None:
        if self._makers:
            makers, self._makers = self._makers, []
            for name, make in makers:
                self._guard("start", lambda _t, make=make: self._live.append(make()), name)
        for tracker in list(self._live):
            self._guard(what, call, tracker)

    def _guard(self, what: str, call, tracker) -> None:
        try:
            with warnings.catch_warnings():  # the tracker library's own deprecation notes are not the run's
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", FutureWarning)
                call(tracker)
        except Exception as exc:  # noqa: BLE001  a tracker must never cost a result
            name = tracker if isinstance(tracker, str) else tracker.name
            if tracker in self._live:
                self._live.remove(tracker)
            self.failed.append(name)
            warnings.warn(f"{name} tracker failed ({what}: {type(exc).__name__}: {exc}); it logs nothing more in "
                          "this run, whose results are all in the run directory")

    def phase(self, cell, row: dict[str, Any], manifest: dict, last: bool) -> None:
        """One phase's row; a tracker that has it already (a resume) logs it no second time."""
        self._each("phase", lambda t: t.phase(cell, row, manifest, last))

    def catch_up(self, done: list[tuple[Any, dict[str, Any], bool]], manifest: dict) -> None:
        """The rows a run directory holds, (cell, row, last) each: what a resumed run's trackers
        missed (a tracker added on resume, phases logged before an interruption stopped one) is
        logged; what they have is not logged again."""
        self._each("catch-up", lambda t: [t.phase(cell, row, manifest, last) for cell, row, last in done])

    def finish(self, root, files: list) -> None:
        self._each("finish", lambda t: t.finish(root, files))

    def abort(self, status: str = "KILLED") -> None:
        """End the open runs of a run stopped early; trackers never started stay so."""
        self._makers = []
        self._each("abort", lambda t: t.abort(status))
