"""Every method resumes an interrupted cell after its last finished phase, from the saved state,
and computes what an unbroken run computes (accuracy, steps, counted MACs, memory accesses)."""

import csv

import pytest

from energybench.cli import main
from energybench.engine.cell import CellWork
from energybench.methods import METHODS

TINY = ["--sharing", "0", "--epochs", "1", "--batch-size", "8", "--train-per-class", "12", "--test-per-class", "10",
        "--no-power", "--no-report", "--quiet"]
SAME = ("method", "phase", "acc_all", "acc_old", "acc_new", "avg_inc_acc", "forgetting", "iters", "train_macs",
        "eval_macs", "mem_reads", "mem_writes", "storage_bytes")


def rows(path):
    return [{k: r[k] for k in SAME} for r in csv.DictReader(open(path))]


@pytest.mark.parametrize("name", list(METHODS))
def test_an_interrupted_cell_goes_on_after_its_last_finished_phase(name, tmp_path, monkeypatch):
    argv = ["run", "--method", name, *TINY, "--out", str(tmp_path)]
    assert main([*argv, "--run-id", "whole"]) == 0
    phase = CellWork.phase
    trained, interrupt = [], {"at": 2}

    def interrupt_at_phase_2(self, method, trainer, ph, *a, **k):
        trained.append(ph.index)
        if ph.index == interrupt["at"]:
            raise KeyboardInterrupt
        return phase(self, method, trainer, ph, *a, **k)

    monkeypatch.setattr(CellWork, "phase", interrupt_at_phase_2)
    assert main([*argv, "--run-id", "cut"]) == 130
    root = tmp_path / "cut"
    assert [r["phase"] for r in rows(root / "metrics.csv")] == ["0", "1"]
    assert (root / "cells" / f"{name}_s0_seed0" / "progress.pt").is_file()
    trained.clear()
    interrupt["at"] = None
    assert main(["run", "--resume", str(root), "--quiet"]) == 0
    assert trained == [2]  # neither the base phase nor phase 1 again
    assert rows(root / "metrics.csv") == rows(tmp_path / "whole" / "metrics.csv")
    assert not (root / "cells" / f"{name}_s0_seed0" / "progress.pt").exists()
