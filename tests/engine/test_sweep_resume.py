"""A sharing sweep killed part-way resumes: finished levels are neither recomputed nor lost,
the base phase is reused from its checkpoint, and the rerun level matches an unbroken sweep."""

import csv
import json

from energybench.cli import main
from energybench.methods.sharing import Sharing

TINY = ["--method", "sharing", "--sharing", "0,0.5,0.9", "--epochs", "1", "--train-per-class", "8",
        "--test-per-class", "5", "--no-power", "--no-report", "--quiet"]


def lines_by_cell(path):
    """metrics.csv lines keyed by (sharing, phase), plus the header line."""
    text = path.read_text().splitlines()
    rows = list(csv.DictReader(text))
    return text[0], {(r["sharing"], r["phase"]): line for r, line in zip(rows, text[1:])}, rows


def test_killed_sweep_resumes_without_recomputing_finished_levels(tmp_path, monkeypatch, capsys):
    calls, kill = [], {"at": (0.9, 2)}
    learn = Sharing.learn

    def spy(self, phase):
        calls.append((self.ctx.sharing, phase.index))
        if (self.ctx.sharing, phase.index) == kill["at"]:
            raise KeyboardInterrupt
        return learn(self, phase)

    monkeypatch.setattr(Sharing, "learn", spy)
    assert main(["run", *TINY, "--out", str(tmp_path), "--run-id", "s"]) == 130
    assert "interrupted" in capsys.readouterr().err
    root = tmp_path / "s"
    # the base phase once, then phases 1-2 per level; killed in level 0.9's phase 2
    assert calls == [(0.0, 0), (0.0, 1), (0.0, 2), (0.5, 1), (0.5, 2), (0.9, 1), (0.9, 2)]
    header, before, _ = lines_by_cell(root / "metrics.csv")
    assert sorted(before) == sorted([(s, str(p)) for s in ("0.0", "0.5") for p in range(3)]
                                    + [("0.9", "0"), ("0.9", "1")])

    calls.clear()
    kill["at"] = None
    assert main(["run", "--resume", str(root), "--quiet"]) == 0
    assert calls == [(0.9, 2)]  # no base phase, no finished level or phase: level 0.9 goes on after phase 1
    assert not list(root.glob("cells/*/progress.pt"))  # a finished cell keeps no progress state
    header_after, after, rows = lines_by_cell(root / "metrics.csv")
    assert header_after == header and len(rows) == 9
    for key in [(s, str(p)) for s in ("0.0", "0.5") for p in range(3)]:
        assert after[key] == before[key]  # byte for byte
    summary = json.loads((root / "summary.json").read_text())
    assert list(summary["methods"]["sharing"]["levels"]) == ["0", "0.5", "0.9"]

    # the resumed level is what an unbroken sweep computes
    assert main(["run", *TINY, "--out", str(tmp_path), "--run-id", "whole"]) == 0
    _, _, whole = lines_by_cell(tmp_path / "whole" / "metrics.csv")
    keys = ("sharing", "phase", "acc_all", "branch1_acc", "branch2_acc", "iters")
    assert [[r[k] for k in keys] for r in rows] == [[r[k] for k in keys] for r in whole]


def test_resume_of_a_finished_sweep_trains_nothing(tmp_path, monkeypatch, capsys):
    assert main(["run", *TINY, "--sharing", "0,0.9", "--out", str(tmp_path), "--run-id", "f"]) == 0
    text = (tmp_path / "f" / "metrics.csv").read_text()

    def fail(self, phase):
        raise AssertionError("trained a finished cell")

    monkeypatch.setattr(Sharing, "learn", fail)
    assert main(["run", "--resume", str(tmp_path / "f"), "--quiet"]) == 0, capsys.readouterr().err
    assert (tmp_path / "f" / "metrics.csv").read_text() == text
