"""Op-counting overhead measured on a whole real run (by default the README's `energybench run`
with no arguments), not modelled from one step as counting_overhead.py does.

The trainer runs the first step of each kind under the counter. This script times every such
counted step and every fit, in process. Per fit, a plain step's time is estimated from the
steps that were not counted (time per sample x the counted step's batch size). Then:

    overhead = sum over counted steps of (counted time - estimated plain time) / training time

It also prints the upper bound `time inside counted steps / training time`, which charges the
counted steps' own training work to the counter as well. Evaluation forwards are counted too
(count_forward); they are not training time and are reported apart.

    python benchmarks/counting_overhead_run.py [-- extra `energybench run` arguments]
"""

from __future__ import annotations

import sys
import tempfile
import time

import energybench.engine.trainer as trainer_mod
from energybench.cli import main as cli_main


def main() -> int:
    extra = sys.argv[1:]
    if extra[:1] == ["--"]:
        extra = extra[1:]
    counted: list[tuple[float, int]] = []  # (seconds, batch size) of each counted training step
    fits: list[dict] = []
    evals = {"n": 0, "s": 0.0}
    count_step, count_forward, fit = trainer_mod.count_step, trainer_mod.count_forward, trainer_mod.Trainer.fit

    def timed_count_step(fn, model=None):
        t0 = time.perf_counter()
        profile = count_step(fn, model)
        counted.append((time.perf_counter() - t0, profile.batch_size))
        return profile

    def timed_count_forward(fn, model=None):
        t0 = time.perf_counter()
        try:
            return count_forward(fn, model)
        finally:
            evals["n"] += 1
            evals["s"] += time.perf_counter() - t0

    def timed_fit(self, net, idx, loss_fn, **kw):
        first = len(counted)
        result = fit(self, net, idx, loss_fn, **kw)
        fits.append({"time": result.time_s, "iters": result.iters, "counted": counted[first:],
                     "batch": kw.get("batch_size") or self.defaults["batch_size"], "samples": len(idx)})
        return result

    trainer_mod.count_step, trainer_mod.count_forward = timed_count_step, timed_count_forward
    trainer_mod.Trainer.fit = timed_fit
    with tempfile.TemporaryDirectory() as out:
        code = cli_main(["run", "--out", out, "--no-report", "--quiet", "--no-power", *extra])
    if code != 0:
        return code

    train_s = sum(f["time"] for f in fits)
    inside = overhead = 0.0
    for f in fits:
        c_time = sum(t for t, _ in f["counted"])
        plain_steps = f["iters"] - len(f["counted"])
        c_samples = sum(b for _, b in f["counted"])
        samples = f["samples"] * f["iters"] / max(1, -(-f["samples"] // f["batch"]))  # ~samples trained
        per_sample = (f["time"] - c_time) / max(samples - c_samples, 1) if plain_steps > 0 else 0.0
        inside += c_time
        overhead += sum(max(t - per_sample * b, 0.0) for t, b in f["counted"])
    steps = sum(f["iters"] for f in fits)
    print(f"energybench run {' '.join(extra)}".rstrip() + f": {len(fits)} fits, {steps} training steps, "
          f"{len(counted)} counted, training time {train_s:.1f} s")
    print(f"  counting overhead on training time: {overhead / train_s:.2%} "
          f"(upper bound, all time inside counted steps: {inside / train_s:.2%})")
    print(f"  evaluation and cache forwards counted: {evals['n']}, {evals['s']:.1f} s inside the counter")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
