"""The no-argument run, as a new user meets it: a sharing sweep whose report draws every sharing
figure, and which resumes from its own directory after an interruption."""

from __future__ import annotations

import csv
import json

from energybench.cli import main
from energybench.engine.cell import CellWork


def test_an_interrupted_no_argument_run_resumes_and_reports_every_sharing_curve(tmp_path, monkeypatch, capsys):
    phase, calls = CellWork.phase, {"n": 0}

    def stop_near_the_end(self, *a, **k):
        calls["n"] += 1
        # of 66: 10 base phases + 9 methods x 3 levels x 2 phases + scratch (trained at one level) x 2 phases
        if calls["n"] == 62:
            raise KeyboardInterrupt
        return phase(self, *a, **k)

    monkeypatch.setattr(CellWork, "phase", stop_near_the_end)
    assert main(["run", "--out", str(tmp_path), "--run-id", "default"]) == 130
    monkeypatch.setattr(CellWork, "phase", phase)
    root = tmp_path / "default"
    config = (root / "config.yaml").read_text()
    assert "methods:\n- finetune\n" in config  # the resolved list, which --resume accepts
    capsys.readouterr()
    assert main(["run", "--resume", str(root)]) == 0
    out = capsys.readouterr().out
    assert "[5/5 phases," in out  # only what was left
    rows = list(csv.DictReader(open(root / "metrics.csv")))
    assert len(rows) == 9 * 3 * 3 + 3
    assert {float(r["sharing"]) for r in rows if r["method"] == "scratch"} == {0.0}
    summary = json.loads((root / "summary.json").read_text())
    for method in ("sharing", "finetune"):
        achieved = {lv["sharing_achieved"] for lv in summary["methods"][method]["levels"].values()}
        assert len(achieved) >= 3
        assert summary["methods"][method]["optimal_sharing"] is not None
    html = (root / "report.html").read_text()
    assert "no method has two or more sharing levels" not in html
    assert "every higher sharing level loses" not in html or "0.8" in html
