"""End to end on Fashion-MNIST: lwf, icarl, eeil and lucir (with finetune and joint as bounds).

Reduced form (CI, under 2 CPU-minutes): one seed, 80 training and 50 test images per class, a
quarter-width ResNet-20, 5 epochs (5 of fine-tuning); checks that every method runs every phase, reports its extra
classifiers and
columns, and that the exemplar methods keep old classes that finetune forgets. Full form (ENERGYBENCH_FULL=1):
experiments/eeil_lucir_fashion_mnist_b4-2x3.yaml over 3 seeds and the acceptance criteria of
reports/exemplar_methods_fashion_mnist.md on the mean final accuracy.
"""

import csv
from collections import defaultdict
from pathlib import Path

import pytest
import yaml
from conftest import reduced, require_fashion_mnist

from energybench.cli import main

CONFIG = Path(__file__).resolve().parents[2] / "experiments" / "eeil_lucir_fashion_mnist_b4-2x3.yaml"


@pytest.mark.slow
def test_exemplar_methods_on_fashion_mnist(tmp_path, capsys):
    require_fashion_mnist()
    config = CONFIG
    if reduced():
        cfg = yaml.safe_load(CONFIG.read_text())
        cfg.update(methods=["finetune", "lwf", "icarl", "eeil", "lucir"], seeds=[0], train_per_class=80,
                   test_per_class=50, width=0.25, epochs=5, batch_size=32,
                   options={"eeil": {"finetune_epochs": 5}, "lucir": {"cbf_epochs": 5}})
        config = tmp_path / "reduced.yaml"
        config.write_text(yaml.safe_dump(cfg))
    code = main(["run", str(config), "--out", str(tmp_path), "--run-id", "e2e", "--no-power", "--no-report",
                 "--quiet"])
    assert code == 0, capsys.readouterr().err
    rows = list(csv.DictReader(open(tmp_path / "e2e" / "metrics.csv")))
    last = defaultdict(list)
    for r in rows:
        if int(r["phase"]) == 3:
            last[r["method"]].append(r)
    methods = ["finetune", "lwf", "icarl", "eeil", "lucir"] + ([] if reduced() else ["joint"])
    seeds = 1 if reduced() else 3
    assert sorted(last) == sorted(methods) and all(len(last[m]) == seeds for m in methods)
    for r in rows:
        incremental = int(r["phase"]) > 0
        if r["method"] == "icarl":  # NME is primary (acc_all), the CNN head is reported beside it
            assert 0.0 <= float(r["acc_cnn"]) <= 100.0 and r["acc_nme"] == ""
        if r["method"] == "lucir":
            assert 0.0 <= float(r["acc_nme"]) <= 100.0 and (r["acc_nme_old"] != "") == incremental
        if r["method"] == "eeil":
            assert (r["acc_before_finetune"] != "") == incremental
    assert all(float(r["acc_all"]) >= 60.0 for r in rows if r["phase"] == "0"), "the base phase did not learn"
    mean = {m: sum(float(r["acc_all"]) for r in last[m]) / seeds for m in methods}
    old = {m: sum(float(r["acc_old"]) for r in last[m]) / seeds for m in methods}
    for m in ("icarl", "eeil", "lucir"):
        assert old[m] >= old["finetune"] + 10.0, (m, old)  # exemplars keep old classes alive
        assert mean[m] >= mean["finetune"] + 15.0, (m, mean)
    if not reduced():
        assert mean["joint"] >= mean["lucir"], mean
        assert mean["eeil"] >= mean["finetune"] + 15.0, mean
        assert min(mean["eeil"], mean["lucir"]) >= mean["lwf"], mean
