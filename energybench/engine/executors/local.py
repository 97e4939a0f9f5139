"""The local executor: every cell in the driver's own process, one after another.

For each (seed, method): the saved base phase, or else the base trained now; then each
unfinished sharing level, from its saved progress or from the base. Each result is handed to
the driver as soon as it exists. The runner reads and checks every saved state before anything
is written (Runner.check_saved), so a refused checkpoint stops the run before anything is trained;
states are read again as each cell starts, so that only one is held in memory at a time. Power is measured
here, in process, by one monitor over the whole run (its idle baseline before phase 0).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from energybench.engine.cell import NO_POWER, CellWork
from energybench.engine.executors.base import Executor, NeedBase, schedule
from energybench.engine.preflight import resolve_device


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, run, log=print, progress: bool = True):
        self.cfg = run.cfg
        self.work = CellWork(run.cfg, run.scenarios, run.device, run.hardware_points, progress=progress)
        self.monitor = None

    @staticmethod
    def driver_device(cfg) -> torch.device:
        return resolve_device(cfg.device)

    def start_power(self, trace: Path) -> dict:
        if not self.cfg.power:
            return {"measured_devices": [], "note": NO_POWER}
        if self.work.device.type == "cuda":
            torch.zeros(1, device=self.work.device)  # initialise CUDA so NVML matches the GPU by UUID
        try:
            from energybench.power.monitor import PowerMonitor
        except ImportError as exc:  # the measurement layer is optional at run time
            warnings.warn(f"power measurement unavailable: {exc}")
            self.work.power_note = f"not measured: power measurement unavailable ({exc})"
            return {"measured_devices": [], "note": self.work.power_note}
        self.monitor = PowerMonitor(device=self.work.device, rate_hz=self.cfg.power_rate_hz,
                                    idle_seconds=self.cfg.idle_seconds, trace_path=trace)
        self.work.monitor = self.monitor.start()  # (its idle baseline runs before the first phase)
        return self.monitor.record()  # which devices, the idle baseline

    def describe(self) -> dict:
        return {"name": self.name, "device": str(self.work.device)}

    def run(self, groups, driver) -> None:
        try:
            base_of, base = None, None  # the current group's base state
            for step in schedule(groups, driver):
                if isinstance(step, NeedBase):
                    base_of, base = step.key, step.saved
                    if base is None:
                        done = self.work.base(step.method, step.seed, driver.plan.levels[0])
                        driver.on_base(done)
                        base = done.state
                    continue
                for done in self.work.cell(step.cell, base if step.key == base_of else None, step.resume,
                                           reused_base=driver.reused_base(step.cell)):
                    driver.on_phase(done)
        finally:
            self._stop_power()

    def _stop_power(self) -> None:
        monitor, self.monitor = self.monitor, None
        if monitor is not None:
            monitor.close()

    def close(self) -> None:
        self._stop_power()
