"""Run the arms of an ablation study (one run directory per arm) and tabulate them.

An ablation file (YAML) names a base experiment config and its arms; each arm overrides
top-level config keys and/or method options:

    base: eeil_fidelity_fashion_mnist.yaml      # relative to the ablation file
    arms:
      aug_off: {}
      aug_paper: {options: {eeil: {augment: paper}}}
      lenet: {backbone: lenet, epochs: 3}

Usage:
    python scripts/ablation.py experiments/eeil_fidelity_ablation.yaml --out DIR [--arms a,b] [--seeds 0,1]
    python scripts/ablation.py experiments/eeil_fidelity_ablation.yaml --out DIR --table

An arm whose backbone or methods name your own code (`package.module:Name`) runs only with
`--trust-code`, which is passed on to `energybench run` (it imports that code).

Arms already complete in DIR are skipped (an unfinished one resumes), so a study can be run a
few arms at a time. `--table` prints, per arm, method and seed, the final accuracy over all
classes, the phase-0 accuracy, the last phase's accuracy before EEIL's balanced fine-tuning
where it exists, and the training MACs summed over every phase, from each run's metrics.csv.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import yaml


def merge(base: dict, over: dict) -> dict:
    """Top-level keys replace the base's; `options` merge per method."""
    out = {**base, **over}
    if "options" in over:
        opts = {m: dict(o) for m, o in (base.get("options") or {}).items()}
        for m, o in over["options"].items():
            opts[m] = {**opts.get(m, {}), **o}
        out["options"] = opts
    return out


def load(path: Path) -> tuple[dict, dict[str, dict]]:
    spec = yaml.safe_load(path.read_text())
    base = yaml.safe_load((path.parent / spec["base"]).read_text())
    return base, {name: merge(base, over or {}) for name, over in spec["arms"].items()}


def run_arm(name: str, cfg: dict, out: Path, seeds: list[int] | None, trust_code: bool = False) -> int:
    """Run (or resume) one arm; energybench run's exit status."""
    if seeds is not None:
        cfg = {**cfg, "seeds": seeds}
    out.mkdir(parents=True, exist_ok=True)
    cfg_path = out / f"{name}.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    run_dir = out / name
    args = ["--resume", str(run_dir)] if (run_dir / "config.yaml").is_file() else \
        [str(cfg_path), "--out", str(out), "--run-id", name]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "energybench", "run", *args, "--no-power", "--no-report", "--quiet",
           *(["--trust-code"] if trust_code else [])]
    print("$", " ".join(cmd), flush=True)
    return subprocess.run(cmd, env=env).returncode


def table(out: Path, arms: list[str]) -> str:
    lines = ["| arm | method | seed | final acc | phase-0 acc | before balanced FT | train MACs (all phases) |",
             "|---|---|---|---:|---:|---:|---:|"]
    for arm in arms:
        path = out / arm / "metrics.csv"
        if not path.is_file():
            continue
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        last = len(json.loads((out / arm / "manifest.json").read_text())["scenario"]) - 1  # unfinished cells: left out
        finals: dict[str, list[float]] = {}
        for key in sorted({(r["method"], int(r["seed"])) for r in rows}):
            cell = [r for r in rows if (r["method"], int(r["seed"])) == key]
            by_phase = {int(r["phase"]): r for r in cell}
            if last not in by_phase:
                continue
            final = float(by_phase[last]["acc_all"])
            finals.setdefault(key[0], []).append(final)
            before = by_phase[last].get("acc_before_finetune") or ""
            macs = sum(float(r["train_macs"] or 0) for r in cell)
            lines.append(f"| {arm} | {key[0]} | {key[1]} | {final:.1f} | {float(by_phase[0]['acc_all']):.1f} | "
                         f"{float(before):.1f} | {macs:.3g} |" if before else
                         f"| {arm} | {key[0]} | {key[1]} | {final:.1f} | {float(by_phase[0]['acc_all']):.1f} | "
                         f" | {macs:.3g} |")
        for method, accs in finals.items():
            if len(accs) > 1:
                lines.append(f"| {arm} | {method} | mean | {statistics.mean(accs):.1f} | | | |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ablation", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--arms", help="comma-separated arms (default: all)")
    parser.add_argument("--seeds", help="comma-separated seeds (default: the base config's)")
    parser.add_argument("--table", action="store_true", help="only tabulate the finished arms")
    parser.add_argument("--trust-code", action="store_true",
                        help="let arms import the code they name as package.module:Name (passed to energybench run)")
    args = parser.parse_args()
    _, arms = load(args.ablation)
    names = args.arms.split(",") if args.arms else list(arms)
    unknown = [n for n in names if n not in arms]
    if unknown:
        parser.error(f"unknown arm {unknown[0]}; arms: {', '.join(arms)}")
    if not args.table:
        seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else None
        for name in names:
            code = run_arm(name, arms[name], args.out, seeds, args.trust_code)
            if code:  # its error is printed above; the arms after it would wait on the same fix
                print(f"ablation.py: arm {name} stopped (energybench run exited {code}); the arms before it are kept",
                      file=sys.stderr)
                return code
    print(table(args.out, names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
