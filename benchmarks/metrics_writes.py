"""Time spent writing metrics.csv over a large sweep: every row formatted again at each phase's
write (the code before) against only the rows the phase added (rundir.MetricsText), in one run.

A run writes metrics.csv whole and atomically after every phase, with one row per hardware point
(node x architecture) the phase is priced at. The sweep simulated here is a hardware study's:
--phases phases (default 300, e.g. 10 methods x 5 sharing levels x 2 seeds x 3 phases) priced at
--points points (default 21: 7 nodes x 3 architectures), so the file ends with 6,300 rows. Rows
are the columns of metrics.csv filled with numbers and names of the usual length. Both ways write
through the same atomic write (temporary file, fsync, rename) into a temporary directory, and the
two final files must be byte-identical.

Usage: python benchmarks/metrics_writes.py [--phases N] [--points N]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from energybench import rundir
from energybench.files import atomic_write

TEXT = {"run_id": "20261206-120000-digits", "method": "lucir", "energy_table": "horowitz45", "precision": "fp32",
        "measured_note": "no power sensor is available"}


def phase_rows(phase: int, points: int, rng: random.Random) -> list[dict]:
    """One phase's rows, one per hardware point: every column, numbers at full precision."""
    rows = []
    for point in range(points):
        row = {c: TEXT.get(c, rng.random() * 10 ** rng.randint(-6, 10)) for c in rundir.COLUMNS}
        row.update(phase=phase % 3, seed=phase // 210, node_nm=(7, 14, 22, 32, 45, 65, 90)[point % 7],
                   arch=("eyeriss_like", "simba_like", "tpu_like")[point // 7 % 3])
        rows.append(row)
    return rows


def sweep(root: Path, phases: int, points: int, incremental: bool) -> tuple[float, float]:
    """Seconds writing metrics.csv over the sweep, and the last phase's write alone."""
    rng, rows, text, total, last = random.Random(0), [], rundir.MetricsText(), 0.0, 0.0
    for phase in range(phases):
        rows.extend(phase_rows(phase, points, rng))
        t0 = time.perf_counter()
        atomic_write(root / rundir.METRICS, text.render(rows) if incremental else rundir.render_csv(rows))
        last = time.perf_counter() - t0
        total += last
    return total, last


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phases", type=int, default=300)
    parser.add_argument("--points", type=int, default=21)
    args = parser.parse_args()
    if args.phases < 1 or args.points < 1:
        print(f"metrics_writes: --phases {args.phases} and --points {args.points} must be at least 1", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        before, after = Path(tmp, "before"), Path(tmp, "after")
        before.mkdir(), after.mkdir()
        old_total, old_last = sweep(before, args.phases, args.points, incremental=False)
        new_total, new_last = sweep(after, args.phases, args.points, incremental=True)
        same = (before / rundir.METRICS).read_bytes() == (after / rundir.METRICS).read_bytes()
        size = (after / rundir.METRICS).stat().st_size
    print(f"{args.phases} phases x {args.points} hardware points: metrics.csv ends with "
          f"{args.phases * args.points} rows, {size / 1e6:.1f} MB")
    print(f"  every row formatted at each write (before): {old_total:7.1f} s in all, last write {old_last:.3f} s")
    print(f"  only the new rows (MetricsText):            {new_total:7.1f} s in all, last write {new_last:.3f} s")
    print(f"  time writing metrics.csv, before / after: {old_total / new_total:.1f}x; files identical: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
