"""Wall time of `energybench run` with no arguments (the README's first command's job).

Runs the console script in a fresh process in a temporary directory, as a new user would,
and prints the wall time, the per-method rows it wrote, and the ratio of the whole run's wall time
to the cells' training time: what start-up, evaluation, counting, writes and the reports add on top
of training. The local executor trains one phase at a time, so the training done is the sum of
metrics.csv's train_time_s over the phases trained: a base phase shared by every sharing level is
trained once but written on each level's row (reused_base true, the same train_time_s), so those
copies are left out. The sum over every row, which counts a shared base phase once per level, is
printed too, labelled. Targets: under 60 s on 2 cores; the ratio at most 1.15 (issue 31).

Where the rest goes, from the time each line of the run's output arrives (median over the repeats):
start-up (the command's start to its plan line: imports, pre-flight, the data), the phases (the plan
line to the last phase's line) less their training, the reports (from the last phase's line to the
last report line) and the end (to the process's exit: the trackers, the report process leaving, the exit).
Usage: python benchmarks/default_run.py [--repeat N]
"""

from __future__ import annotations

import argparse
import csv
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


PLAN = "cell(s) to run"  # the plan line, printed once pre-flight is done
PHASE = re.compile(r"\[(\d+)/(\d+) phases")  # a finished phase's progress line


def timed_run(exe: str, cwd: str) -> tuple[float, list[tuple[float, str]], int, str]:
    """Run `energybench run` in cwd; its wall time, each output line with the seconds since the
    start at which it arrived, its exit status and its output."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([exe, "run"], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = [(time.perf_counter() - t0, line.rstrip("\n")) for line in proc.stdout]
    code = proc.wait()
    return time.perf_counter() - t0, lines, code, "\n".join(line for _, line in lines)


def parts(wall: float, lines: list[tuple[float, str]], trained: float) -> dict[str, float] | None:
    """The run's wall time cut at its plan line, its last phase line and its last report line."""
    plan = next((t for t, line in lines if PLAN in line), None)
    phases = [t for t, line in lines if PHASE.search(line)]
    reports = [t for t, line in lines if line.startswith("report: ")]
    if plan is None or not phases or not reports:
        return None
    return {"start-up": plan, "between the phases": phases[-1] - plan - trained,
            "reports": reports[-1] - phases[-1], "end": wall - reports[-1]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    exe = shutil.which("energybench") or str(Path(sys.executable).with_name("energybench"))
    times, ratios, row_ratios, cuts = [], [], [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            wall, lines, code, output = timed_run(exe, tmp)
            times.append(wall)
            if code != 0:
                print(output, file=sys.stderr)
                return 1
            metrics = next(Path(tmp, "runs").glob("*/metrics.csv"))
            with open(metrics, newline="") as f:
                rows = list(csv.DictReader(f))
            trained = sum(float(r["train_time_s"]) for r in rows if r["reused_base"] != "True")
            ratios.append(times[-1] / trained)
            row_ratios.append(times[-1] / sum(float(r["train_time_s"]) for r in rows))
            cuts.append(parts(wall, lines, trained) or {})
            cuts[-1]["training"] = trained
    last = {r["method"]: r for r in rows if int(r["phase"]) == max(int(x["phase"]) for x in rows)}
    print(f"energybench run (no arguments): {statistics.median(times):.1f} s wall "
          f"(median of {len(times)}), {len(rows)} rows, methods: {', '.join(last)}")
    print(f"whole run / cells' training time: {statistics.median(ratios):.2f}x "
          f"({', '.join(f'{r:.2f}' for r in ratios)}; target <= 1.15x)")
    print(f"  labelled, not the training done: whole run / train_time_s summed over every row, a shared base "
          f"phase once per sharing level: {statistics.median(row_ratios):.2f}x")
    if all(len(c) > 1 for c in cuts):
        print("  where the wall time went (median s): " + ", ".join(
            f"{k} {statistics.median(c[k] for c in cuts):.1f}" for k in cuts[0]))
    else:
        print("  (where the wall time went: not read, as the run's output lacked its plan, phase or report lines)")
    for m, r in last.items():
        print(f"  {m:12s} final acc {float(r['acc_all']):6.2f}%  train MACs {float(r['train_macs']):.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
