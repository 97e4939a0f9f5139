"""Op-counting overhead measured on a whole real run (by default the README's `energybench run`
with no arguments), not modelled from one warm step as counting_overhead.py does.

The trainer runs the first step of each kind under the counter. This script runs the same
run twice, each in a fresh process:

1. counted: as always; it times every counted step and saves the profiles it produced;
2. replayed: every counted step runs plain and hands back the saved profile, so training
   follows exactly the same path (CPU runs are deterministic; the script checks the
   metrics match) without the counter.

The overhead is sum(counted steps' time in 1) - sum(the same steps' time in 2), over the
training time of run 2. Comparing the same steps keeps each fit's first-step warm-up (kernel
selection, optimizer state) out of the figure, and machine load outside those steps too.

    python benchmarks/counting_overhead_run.py [-- extra `energybench run` arguments]
"""

from __future__ import annotations

import csv
import json
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMPARED = ("method", "phase", "acc_all", "iters", "train_macs")


def one_run(mode: str, profiles_path: Path, out: Path, extra: list[str]) -> dict:
    """Inside a child process: the run, with counted steps timed (and saved, or replayed)."""
    import energybench.training.trainer as trainer_mod
    from energybench.cli import main as cli_main

    count_step, count_forward, fit = trainer_mod.count_step, trainer_mod.count_forward, trainer_mod.Trainer.fit
    saved = pickle.loads(profiles_path.read_bytes()) if mode == "replay" else {"step": [], "forward": []}
    step_times: list[float] = []
    train = {"s": 0.0}
    used = {"step": 0, "forward": 0}

    def wrap(kind, counter):
        def timed(fn, model=None):
            t0 = time.perf_counter()
            if mode == "replay":
                with_grad = kind == "step"
                if with_grad:
                    result = fn()
                else:
                    import torch

                    with torch.no_grad():
                        result = fn()
                profile = saved[kind][used[kind]]
                used[kind] += 1
            else:
                result, profile = counter(fn, model)
                saved[kind].append(profile)
            if kind == "step":
                step_times.append(time.perf_counter() - t0)
            return result, profile
        return timed

    def timed_fit(self, *args, **kwargs):
        result = fit(self, *args, **kwargs)
        train["s"] += result.time_s
        return result

    trainer_mod.count_step, trainer_mod.count_forward = wrap("step", count_step), wrap("forward", count_forward)
    trainer_mod.Trainer.fit = timed_fit
    code = cli_main(["run", "--out", str(out), "--run-id", mode, "--no-report", "--quiet", "--no-power", *extra])
    if code != 0:
        raise SystemExit(code)
    if mode == "counted":
        profiles_path.write_bytes(pickle.dumps(saved))
    rows = [{k: r[k] for k in COMPARED} for r in csv.DictReader(open(out / mode / "metrics.csv"))]
    return {"step_times": step_times, "train_s": train["s"], "rows": rows}


def main() -> int:
    if sys.argv[1:2] == ["--child"]:
        mode, profiles, out, extra = sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]), sys.argv[5:]
        print(json.dumps(one_run(mode, profiles, out, extra)))
        return 0
    extra = sys.argv[1:]
    if extra[:1] == ["--"]:
        extra = extra[1:]
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for mode in ("counted", "replay"):
            proc = subprocess.run([sys.executable, __file__, "--child", mode, f"{tmp}/profiles.pkl", tmp, *extra],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                return 1
            results[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
    counted, replay = results["counted"], results["replay"]
    if counted["rows"] != replay["rows"]:
        print("the replayed run trained differently from the counted one; no figure", file=sys.stderr)
        return 1
    extra_s = sum(counted["step_times"]) - sum(replay["step_times"])
    n = len(counted["step_times"])
    steps = sum(int(r["iters"]) for r in counted["rows"])
    print(f"energybench run {' '.join(extra)}".rstrip() + f": {steps} training steps, {n} counted; "
          f"training time {counted['train_s']:.1f} s counted, {replay['train_s']:.1f} s replayed")
    print(f"  counted steps: {sum(counted['step_times']):.2f} s under the counter, "
          f"{sum(replay['step_times']):.2f} s plain ({extra_s / n * 1e3:.1f} ms more per counted step)")
    print(f"  counting overhead: {extra_s / replay['train_s']:.2%} of training time")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
