"""Time `energybench report` (HTML + PDF) on a generated 7-level sharing sweep of 3 methods.

The run directory is written by tests/report/rundir_factory.py (3 methods x 7 sharing levels x
3 seeds x 3 phases, confusion matrices, and an hour-long 10 Hz power trace of two sensors), and
the report is built by the console script in a fresh process, as a user would run it, so the
time includes start-up and imports. Target: both formats within 5 s on 2 CPU cores. The first
part of the pages is drawn and written (PDF and SVG) by a forked copy of the process on the second
core while this one does the rest (energybench/report/fork.py), so the CPU time (of both
processes) exceeds the wall time on an idle machine; on a machine shared with other jobs the wall time also measures
them (the load average is printed next to it, before and after).
Usage: python benchmarks/report_speed.py [--repeat N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 5.0


def load_factory():
    spec = importlib.util.spec_from_file_location("rundir_factory", ROOT / "tests" / "report" / "rundir_factory.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="write the run directory (and its reports) here and keep it")
    args = parser.parse_args()
    factory = load_factory()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    tmp = tempfile.TemporaryDirectory(prefix="eb-report-speed-")
    root = (args.keep or Path(tmp.name)) / "sweep-7x3"
    shutil.rmtree(root, ignore_errors=True)
    factory.sweep(root, seeds=(0, 1, 2), power=True, trace_points=36_000)
    walls, cpus = [], []
    load_before = os.getloadavg()[0]
    for _ in range(args.repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        # `python -m energybench` from the checkout: this tree's code, whatever is installed
        out = subprocess.run([sys.executable, "-m", "energybench", "report", str(root)], capture_output=True,
                             text=True, env=env, cwd=ROOT)
        walls.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            return 1
    sizes = ", ".join(f"{p.name} {p.stat().st_size / 1e3:.0f} kB" for p in sorted(root.glob("report.*")))
    wall = statistics.median(walls)
    load = os.getloadavg()[0]
    print(f"energybench report, 3 methods x 7 sharing levels x 3 seeds, html+pdf: {wall:.2f} s wall, "
          f"{statistics.median(cpus):.2f} s CPU (median of {len(walls)}: {', '.join(f'{w:.2f}' for w in walls)} s; "
          f"load average {load_before:.1f} before, {load:.1f} after, on {os.cpu_count()} CPUs); {sizes}; "
          f"target < {TARGET_S:.0f} s: {'ok' if wall < TARGET_S else 'OVER'}")
    tmp.cleanup()
    return 0 if wall < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
