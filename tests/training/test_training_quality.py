"""The trainer learns real data: joint reaches a known accuracy on digits, finetune forgets."""

import csv

from energybench.cli import main


def test_joint_keeps_old_classes_and_finetune_forgets(tmp_path, capsys):
    code = main(["run", "--method", "finetune,joint", "--scenario", "B4-3x2", "--sharing", "0", "--out", str(tmp_path),
                 "--run-id", "q", "--no-power", "--no-report", "--quiet"])
    assert code == 0, capsys.readouterr().err
    rows = {(r["method"], int(r["phase"])): r for r in csv.DictReader(open(tmp_path / "q" / "metrics.csv"))}
    joint, finetune = rows[("joint", 2)], rows[("finetune", 2)]
    assert float(joint["acc_all"]) >= 90.0
    assert float(joint["acc_old"]) >= 90.0
    assert float(finetune["acc_old"]) <= 20.0  # catastrophic forgetting
    assert float(finetune["acc_new"]) >= 90.0  # ... while the new classes are learned
    assert float(finetune["forgetting"]) >= 70.0
