"""CPU overhead of the power sampler thread while a small torch training loop runs.

Overhead = CPU time the sampler thread used (time.thread_time inside the thread)
divided by the wall time of the workload it sampled. The target is under 1% at 10 Hz.

With no real sensor on the machine (no NVIDIA driver, RAPL unreadable) the sampler
would have nothing to read, so the benchmark then points RAPL at a generated
powercap tree (two packages, two DRAM zones) and the real file-reading code reads
it; the printed sensor list says which was measured.

    python benchmarks/sampler_overhead.py [--seconds 20] [--power-rate 10] [--device auto]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

from energybench.power.monitor import PowerMeasurementWarning, PowerMonitor


def fake_powercap(root: Path) -> Path:
    for rel, name in [("intel-rapl:0", "package-0"), ("intel-rapl:0/intel-rapl:0:0", "dram"),
                      ("intel-rapl:1", "package-1"), ("intel-rapl:1/intel-rapl:1:0", "dram")]:
        zone = root / rel
        zone.mkdir(parents=True)
        (zone / "name").write_text(name + "\n")
        (zone / "energy_uj").write_text("123456789\n")
        (zone / "max_energy_range_uj").write_text("262143328850\n")
    return root


def train(seconds: float, device: str) -> int:
    """A small MLP trained on random data for `seconds`; returns the number of steps."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.ReLU(),
                                torch.nn.Linear(512, 10)).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(128, 256, device=device)
    y = torch.randint(0, 10, (128,), device=device)
    steps, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        steps += 1
    return steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="workload length (default 20)")
    parser.add_argument("--power-rate", type=float, default=10.0, help="sampling rate in Hz (default 10)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    args = parser.parse_args()
    warnings.simplefilter("ignore", PowerMeasurementWarning)  # the sensor list below says why

    train_device = "cuda" if args.device.startswith("cuda") or (
        args.device == "auto" and torch.cuda.is_available()) else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        # no idle baseline: its sampler ticks would count as CPU time outside the timed workload
        monitor = PowerMonitor(args.device, rate_hz=args.power_rate, idle_seconds=0)
        if not monitor.available:
            monitor = PowerMonitor(args.device, rate_hz=args.power_rate, idle_seconds=0,
                                   powercap_root=fake_powercap(Path(tmp) / "powercap"))
            print("no real power sensor here: sampling a generated powercap tree instead")
        train(0.5, train_device)  # warm up allocator and kernels outside the measurement
        with monitor:
            wall0 = time.perf_counter()
            with monitor.window("benchmark") as window:
                steps = train(args.seconds, train_device)
            wall = time.perf_counter() - wall0
            cpu, ticks = monitor.sampler_cpu_time_s, monitor.sampler_ticks
        for s in monitor.describe():
            state = s["method"] if s["available"] else f"unavailable: {s['reason']}"
            print(f"sensor {s['device'] or s['kind']}: {state}")
    ratio = cpu / wall
    print(f"workload: {steps} training steps on {train_device} in {wall:.2f} s wall")
    print(f"sampler: {ticks} ticks at {args.power_rate:g} Hz, {cpu * 1e3:.2f} ms CPU "
          f"({cpu / max(ticks, 1) * 1e6:.1f} us per tick)")
    print(f"window energy: {window.result['measured_energy_j']} J "
          f"({window.result['measured_energy_method']})")
    print(f"sampler overhead: {ratio:.5f} ({ratio * 100:.3f}% of wall time; "
          f"{'under' if ratio < 0.01 else 'OVER'} the 1% budget)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
