"""Wall time of one digits sweep under the local executor, and on Ray with 1 and 2 workers, in
one run of this script; prints the ratios (speed-up of --workers 2, overhead of --workers 1).

The sweep: 5 methods x 4 sharing levels x 2 seeds = 40 cells (plus 10 base phases), each
cell on one thread, Ray's start-up included in its times (a fresh process per measurement,
as a user runs it). Runs alternate between executors so drifting machine load hits all alike.
Targets (issue 14): --workers 2 at least 1.5x faster than local on 2 cores; --workers 1 at
most 15 % slower than local.

Usage: python benchmarks/parallel_sweep.py [--repeat N] [--epochs E]   (about 15 minutes with the defaults)
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXECUTORS = {"local": [], "ray-1": ["--workers", "1"], "ray-2": ["--workers", "2"]}
NOT_COMPARED = {"run_id", "train_time_s", "time_per_iter_s", "train_cpu_s"}


def sweep(epochs: int) -> list[str]:
    return ["run", "--method", "sharing,finetune,lwf,icarl,lucir", "--sharing", "0,0.5,0.8,0.99", "--seed", "0,1",
            "--epochs", str(epochs), "--threads", "1", "--no-report", "--no-power", "--quiet"]


def timed(argv: list[str], out: Path) -> float:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "energybench", *argv, "--out", str(out), "--run-id", "r"],
                          cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(argv)}\n{done.stdout}\n{done.stderr}")
    return elapsed


def rows(run_dir: Path) -> list[tuple]:
    return sorted(tuple(sorted((k, v) for k, v in r.items() if k not in NOT_COMPARED))
                  for r in csv.DictReader(open(run_dir / "metrics.csv")))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in EXECUTORS}
    results: dict[str, list[tuple]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            for name, extra in EXECUTORS.items():
                out = Path(tmp) / f"{name}-{i}"
                times[name].append(timed(sweep(args.epochs) + extra, out))
                results.setdefault(name, rows(out / "r"))
    same = all(r == results["local"] for r in results.values())
    load = os.getloadavg()[0]
    med = {name: statistics.median(t) for name, t in times.items()}
    print(f"digits sweep, 40 cells, {args.epochs} epochs, median of {args.repeat} (load average {load:.1f}, "
          f"{os.cpu_count()} CPUs):")
    for name in EXECUTORS:
        print(f"  {name:6s} {med[name]:7.1f} s   ({', '.join(f'{t:.1f}' for t in times[name])})")
    print(f"  --workers 2 speed-up over local: {med['local'] / med['ray-2']:.2f}x (target >= 1.5x)")
    print(f"  --workers 1 overhead over local: {100 * (med['ray-1'] / med['local'] - 1):+.1f} % (target <= 15 %)")
    print(f"  same metrics.csv rows (timing aside) under every executor: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
