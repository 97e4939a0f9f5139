"""Active feature units after every training fit of a run: a dying-ReLU diagnostic.

Runs `energybench run` on CONFIG (methods and seed as given) in this process, with the
trainer's fit wrapped: after each fit, the backbone's features of an evenly spaced sample of
the test set (about 2,000 images, eval mode, no gradients) are computed, and the script prints
how many feature units are non-zero on at least one of them and the share of images whose
whole feature vector is zero (a network whose units died maps them all to one class). The
wrapper reads the network only: the run's numbers are those of a plain run.

Usage: python scripts/dead_units.py CONFIG.yaml --method eeil,icarl --seed 0 --out DIR
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import yaml

import energybench.training.trainer as trainer_module
from energybench.cli import main as energybench
from energybench.data.scenario import take


def wrap_fit() -> None:
    fit = trainer_module.Trainer.fit

    def fit_and_report(self, net, idx, loss_fn, **kw):
        result = fit(self, net, idx, loss_fn, **kw)
        test = torch.arange(0, len(self.scenario.test_y), max(1, len(self.scenario.test_y) // 2000))
        with torch.no_grad():
            was = net.training
            net.eval()
            x, _ = take(self.scenario, "test", test)
            feats = net.features(x.to(self.device)).flatten(1)
            net.train(was)
        alive = int((feats.abs().sum(0) > 0).sum())
        dead_rows = 100 * float((feats.abs().sum(1) == 0).float().mean())
        print(f"{kw.get('desc', 'fit')}: {alive}/{feats.shape[1]} feature units active, "
              f"{dead_rows:.1f}% of test images with an all-zero feature vector", flush=True)
        return result

    trainer_module.Trainer.fit = fit_and_report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--method", required=True, help="comma-separated methods")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--run-id", default="dead_units")
    args = parser.parse_args()
    cfg = yaml.safe_load(args.config.read_text())
    cfg.update(methods=args.method.split(","), seeds=[args.seed])
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{args.run_id}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    wrap_fit()
    return energybench(["run", str(path), "--out", str(args.out), "--run-id", args.run_id, "--no-power",
                        "--no-report", "--quiet"])


if __name__ == "__main__":
    sys.exit(main())
