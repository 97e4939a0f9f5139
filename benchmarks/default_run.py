"""Wall time of `energybench run` with no arguments (the README's first command's job).

Runs the console script in a fresh process in a temporary directory, as a new user would,
and prints the wall time, the per-method rows it wrote, and the ratio of the whole run's wall time
to the cells' training time: what start-up, evaluation, counting, writes and the reports add on top
of training. The local executor trains one phase at a time, so the training done is the sum of
metrics.csv's train_time_s over the phases trained: a base phase shared by every sharing level is
trained once but written on each level's row (reused_base true, the same train_time_s), so those
copies are left out. The sum over every row, which counts a shared base phase once per level, is
printed too, labelled. Targets: under 60 s on 2 cores; the ratio at most 1.15 (issue 31).
Usage: python benchmarks/default_run.py [--repeat N]
"""

from __future__ import annotations

import argparse
import csv
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    exe = shutil.which("energybench") or str(Path(sys.executable).with_name("energybench"))
    times, ratios, row_ratios = [], [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            out = subprocess.run([exe, "run"], cwd=tmp, capture_output=True, text=True)
            times.append(time.perf_counter() - t0)
            if out.returncode != 0:
                print(out.stderr, file=sys.stderr)
                return 1
            metrics = next(Path(tmp, "runs").glob("*/metrics.csv"))
            with open(metrics, newline="") as f:
                rows = list(csv.DictReader(f))
            trained = sum(float(r["train_time_s"]) for r in rows if r["reused_base"] != "True")
            ratios.append(times[-1] / trained)
            row_ratios.append(times[-1] / sum(float(r["train_time_s"]) for r in rows))
    last = {r["method"]: r for r in rows if int(r["phase"]) == max(int(x["phase"]) for x in rows)}
    print(f"energybench run (no arguments): {statistics.median(times):.1f} s wall "
          f"(median of {len(times)}), {len(rows)} rows, methods: {', '.join(last)}")
    print(f"whole run / cells' training time: {statistics.median(ratios):.2f}x "
          f"({', '.join(f'{r:.2f}' for r in ratios)}; target <= 1.15x)")
    print(f"  labelled, not the training done: whole run / train_time_s summed over every row, a shared base "
          f"phase once per sharing level: {statistics.median(row_ratios):.2f}x")
    for m, r in last.items():
        print(f"  {m:12s} final acc {float(r['acc_all']):6.2f}%  train MACs {float(r['train_macs']):.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
