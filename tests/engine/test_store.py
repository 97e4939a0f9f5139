"""The run store writes atomically and knows which cells are complete."""

import csv

import pytest

from energybench.confusion import parse_confusion, render_confusion
from energybench.engine.store import COLUMNS, RunStore
from energybench.files import atomic_write
from energybench.training.metrics import forgetting


def test_append_keeps_column_order_and_extra_columns(tmp_path):
    store = RunStore(tmp_path / "r1")
    store.append({"method": "joint", "sharing": 0.0, "seed": 0, "phase": 0, "acc_all": 91.25})
    store.append({"method": "lucir", "sharing": 0.5, "seed": 0, "phase": 0, "acc_all": 80.0, "acc_nme": 82.5})
    rows = list(csv.reader(open(tmp_path / "r1" / "metrics.csv")))
    assert rows[0] == COLUMNS + ["acc_nme"]
    assert rows[1][COLUMNS.index("run_id")] == "r1" and rows[1][COLUMNS.index("acc_all")] == "91.25"
    assert rows[2][-1] == "82.5" and rows[1][-1] == ""


def test_complete_and_drop_partial(tmp_path):
    store = RunStore(tmp_path / "r")
    for phase in range(3):
        store.append({"method": "joint", "sharing": 0.5, "seed": 1, "phase": phase})
    store.append({"method": "joint", "sharing": 0.8, "seed": 1, "phase": 0})
    again = RunStore(tmp_path / "r")  # read back from disk
    assert again.complete("joint", 0.5, 1, 3) and not again.complete("joint", 0.8, 1, 3)
    again.drop_partial("joint", 0.8, 1)
    assert len(RunStore(tmp_path / "r").rows) == 3


def test_atomic_write_leaves_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "metrics.csv"
    target.write_text("old contents\n")

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, "new contents\n")
    assert target.read_text() == "old contents\n"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.csv"]  # no temp file left behind


def test_forgetting_is_the_mean_drop_from_the_best():
    # group 0 peaks at 90 then falls to 30 (drop 60); group 1 peaks at 80, now 70 (drop 10)
    history = [[90.0], [85.0, 80.0], [30.0, 70.0, 95.0]]
    assert forgetting(history) == pytest.approx(35.0)
    assert forgetting(history[:1]) != forgetting(history[:1])  # NaN at phase 0


def test_confusion_csv_names_classes_on_both_axes_and_reads_back():
    text = render_confusion([[3, 1], [0, 4]], ["T-shirt/top", "Bag, small"])
    assert text == 'true\\predicted,T-shirt/top,"Bag, small"\nT-shirt/top,3,1\n"Bag, small",0,4\n'
    assert parse_confusion(text) == ([[3, 1], [0, 4]], ["T-shirt/top", "Bag, small"])
    assert parse_confusion("1,2\n3,4\n") == ([[1, 2], [3, 4]], None)  # a bare matrix from older runs
    with pytest.raises(ValueError):
        parse_confusion("1,x\n3,4\n")


def test_confusion_csv_uses_the_names_of_the_classes_seen():
    assert render_confusion([[1]], ["zero", "one", "two"]) == "true\\predicted,zero\nzero,1\n"
