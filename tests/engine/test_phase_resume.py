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


def test_a_stop_right_after_a_cells_last_rows_keeps_its_files(tmp_path, monkeypatch):
    """The rows of a cell's last phase make the cell complete, and a resume skips a complete cell:
    its phase files (confusion matrix, accuracy matrix, energy by level) are written before the
    rows, so a stop just after the rows (here: while its power readings are appended) loses none."""
    from energybench.engine.store import RunStore

    argv = ["run", "--method", "finetune", *TINY, "--out", str(tmp_path)]
    assert main([*argv, "--run-id", "whole"]) == 0
    append = RunStore.append_readings

    def stop_after_the_last_rows(self, label, trace):
        if len(self.rows) == 3:  # phase 2's row is in metrics.csv
            raise KeyboardInterrupt
        return append(self, label, trace)

    monkeypatch.setattr(RunStore, "append_readings", stop_after_the_last_rows)
    assert main([*argv, "--run-id", "cut"]) == 130
    monkeypatch.undo()
    assert main(["run", "--resume", str(tmp_path / "cut"), "--quiet"]) == 0
    whole, cut = tmp_path / "whole" / "cells" / "finetune_s0_seed0", tmp_path / "cut" / "cells" / "finetune_s0_seed0"
    names = sorted(p.name for p in whole.iterdir())
    assert "confusion_phase2.csv" in names and "accuracy_matrix.csv" in names
    assert sorted(p.name for p in cut.iterdir()) == names
    for name in names:
        if name.endswith(".csv"):
            assert (cut / name).read_text() == (whole / name).read_text(), name
