"""Speed-up of --cache-shared: the same sharing sweep with and without caching, in one process.

Runs the `sharing` method of a sweep config (default: experiments/sharing_fashion_mnist.yaml)
at the given sharing levels, alternating plain and cached runs `--repeat` times, and prints per
level the median training time per incremental phase (building the cache included), wall-clock
and CPU seconds (the latter not inflated by other processes on a shared machine), the
plain/cached ratios, and whether accuracy is identical (it must be: same seed, no
augmentation). The base phase is trained once and its checkpoint reused by every run.
Usage: OMP_NUM_THREADS=1 python benchmarks/cache_shared.py [CONFIG] [--sharing 0.8,0.99] [--repeat N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ACC_KEYS = ("acc_all", "acc_old", "acc_new", "branch0_acc", "branch1_acc", "branch2_acc")


def run_once(cfg_layers: list[dict], out: Path, run_id: str, cache: bool, base: Path | None):
    from energybench.engine.preflight import make_config
    from energybench.engine.runner import Runner
    from energybench.engine.store import RunStore

    cfg = make_config(*cfg_layers, {"cache_shared": cache, "out": str(out), "run_id": run_id, "power": False,
                                    "report": False, "methods": ["sharing"]})
    if base is not None:  # reuse the first run's base phase: only incremental phases differ
        target = RunStore(out / run_id).base_checkpoint("sharing", cfg.seeds[0])
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(base, target)
    runner = Runner(cfg, progress=False, log=lambda *a, **k: None)
    root = runner.run()
    return root, RunStore(root).rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=str(ROOT / "experiments" / "sharing_fashion_mnist.yaml"))
    parser.add_argument("--sharing", default="0.8,0.99", help="sharing levels to compare (default: 0.8,0.99)")
    parser.add_argument("--repeat", type=int, default=1, help="alternating plain/cached runs per mode")
    args = parser.parse_args()
    from energybench.config import load_yaml

    layers = [load_yaml(args.config), {"sharing": args.sharing}]
    times: dict[tuple[bool, float], list[float]] = {}
    cpu: dict[tuple[bool, float], list[float]] = {}
    accs: dict[bool, dict] = {}
    achieved: dict[float, float] = {}
    base = None
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeat):
            for cache in (False, True):
                root, rows = run_once(layers, Path(tmp), f"{'cached' if cache else 'plain'}{rep}", cache, base)
                if base is None:
                    base = Path(tmp) / "base.pt"
                    shutil.copy(next((root / "cells").glob("sharing_seed*_base.pt")), base)
                for r in rows:
                    s, phase = float(r["sharing"]), int(r["phase"])
                    if phase == 0:
                        continue
                    if cache and r["cache_shared"] not in (True, "True"):
                        print(f"sharing {s:g} phase {phase}: caching did not happen (shared trunk empty, "
                              "or augmentation on)", file=sys.stderr)
                    times.setdefault((cache, s), []).append(float(r["train_time_s"]))
                    cpu.setdefault((cache, s), []).append(float(r["train_cpu_s"]))
                    achieved[s] = float(r["sharing_achieved"])
                    accs.setdefault(cache, {})[(s, phase)] = tuple(str(r.get(k, "")) for k in ACC_KEYS)
    phases = len({p for (_, p) in accs[False]})
    print(f"config: {args.config}; {args.repeat} run(s) per mode; time = median training seconds per "
          "incremental phase (cache building included)")
    print(f"{'sharing':>8} {'achieved':>9} {'plain s':>9} {'cached s':>9} {'speed-up':>9}"
          f" {'plain cpu':>10} {'cached cpu':>10} {'speed-up':>9}")
    for s in sorted(achieved):
        plain, cached = (statistics.median(times[(c, s)]) for c in (False, True))
        plain_cpu, cached_cpu = (statistics.median(cpu[(c, s)]) for c in (False, True))
        print(f"{s:8g} {achieved[s]:9.3f} {plain:9.2f} {cached:9.2f} {plain / cached:8.2f}x"
              f" {plain_cpu:10.2f} {cached_cpu:10.2f} {plain_cpu / cached_cpu:8.2f}x")
    same = accs[False] == accs[True]
    print(f"accuracy identical with and without caching ({phases} incremental phases per level): "
          f"{'yes' if same else 'NO'}")
    if not same:
        for key in sorted(accs[False]):
            if accs[False][key] != accs[True].get(key):
                print(f"  sharing {key[0]:g} phase {key[1]}: {accs[False][key]} vs {accs[True].get(key)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
