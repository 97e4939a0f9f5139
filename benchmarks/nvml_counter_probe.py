"""How an NVIDIA GPU's NVML readings behave over time: the total-energy counter's update
period and step size, and how instant and averaged power follow a load step. Knowing the
counter's update period says how short a measurement window can be before the counter's
quantisation dominates (power.py uses this).

    python benchmarks/nvml_counter_probe.py [--seconds 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time

import pynvml


def poll(handle, seconds: float) -> dict:
    field = getattr(pynvml, "NVML_FI_DEV_POWER_INSTANT", 186)
    changes, last, reads = [], None, 0
    instant, average = [], []
    t_end = time.perf_counter() + seconds
    while (t := time.perf_counter()) < t_end:
        e = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        reads += 1
        if last is not None and e != last:
            changes.append((t, e - last))
        last = e
        if reads % 20 == 0:
            v = pynvml.nvmlDeviceGetFieldValues(handle, [(field, 0)])[0]
            instant.append((t, v.value.uiVal / 1000 if v.nvmlReturn == 0 else None))
            average.append((t, pynvml.nvmlDeviceGetPowerUsage(handle) / 1000))
    gaps = [b[0] - a[0] for a, b in zip(changes, changes[1:])]
    return {"reads": reads, "read_us": 1e6 * seconds / reads, "changes": len(changes),
            "update_period_ms": {"median": 1e3 * statistics.median(gaps), "min": 1e3 * min(gaps),
                                 "max": 1e3 * max(gaps)} if gaps else None,
            "step_mj_median": statistics.median(d for _, d in changes) if changes else None,
            "instant_w": [round(w, 1) for _, w in instant[::10] if w is not None],
            "average_w": [round(w, 1) for _, w in average[::10]]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    out = {"gpu": pynvml.nvmlDeviceGetName(handle), "idle": poll(handle, args.seconds)}
    import torch

    stop = threading.Event()

    def load():
        a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
        while not stop.is_set():
            for _ in range(20):
                a @ a
            torch.cuda.synchronize()

    worker = threading.Thread(target=load)
    worker.start()
    time.sleep(0.5)
    out["load"] = poll(handle, args.seconds)
    stop.set()
    worker.join()
    out["after_load"] = poll(handle, args.seconds)
    print(json.dumps(out, indent=1 if args.json else None, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
