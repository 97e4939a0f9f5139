"""Faults a run meets and how it ends: a user's method that raises (one message naming it, the
traceback under --debug, a run that resumes), a saved state that is refused before any cell is
trained, and a run directory that is read-only (said so, not 'choose another --out')."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from energybench.cli import main

REPO = Path(__file__).resolve().parents[2]
TINY = ["--epochs", "1", "--train-per-class", "8", "--test-per-class", "4", "--no-power", "--no-report", "--quiet"]

RAISES = '''
from energybench.methods.finetune import Finetune

BROKEN = {broken}


class Raises(Finetune):
    name = "raises"

    def learn(self, phase):
        if BROKEN and phase.index == 2:
            helper(phase)
        super().learn(phase)


def helper(phase):
    raise ValueError(f"cannot learn phase {{phase.index}}")
'''


def errors(err: str) -> str:
    """stderr without the warnings of a tiny run's untrained base."""
    return "".join(line + "\n" for line in err.splitlines() if not line.startswith("energybench: warning:"))


def rows(root: Path) -> list[dict]:
    with open(root / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_a_user_method_that_raises_ends_with_one_message_and_the_run_resumes(user_dir, tmp_path, capsys):
    (user_dir / "my_meths.py").write_text(RAISES.format(broken=True))
    argv = ["run", "--method", "finetune,my_meths:Raises", "--sharing", "0", *TINY, "--out", str(tmp_path),
            "--run-id", "r"]
    assert main(argv) == 2
    err = errors(capsys.readouterr().err)
    root = tmp_path / "r"
    assert err == (f"energybench run: error: method raises (my_meths:Raises) raised ValueError: cannot learn phase 2 "
                   f"in raises sharing 0 seed 0 phase 2. That is the method's own code; every phase finished before "
                   f"it is saved in {root} (5 row(s) in metrics.csv). Fix the method and continue with: energybench "
                   f"run --resume {root} --trust-code (--debug prints its traceback)\n")
    assert [(r["method"], r["phase"]) for r in rows(root)] == [("finetune", "0"), ("finetune", "1"),
                                                               ("finetune", "2"), ("raises", "0"), ("raises", "1")]
    assert (root / "cells" / "raises_s0_seed0" / "progress.pt").is_file()
    # --debug: the same message after the traceback of the user's code
    shutil.rmtree(root)
    assert main([*argv, "--debug"]) == 2
    err = errors(capsys.readouterr().err)
    assert err.startswith("Traceback (most recent call last):") and 'my_meths.py", line 17, in helper' in err
    assert err.rstrip().endswith("(--debug prints its traceback)")
    # fixed: the resume trains only what is left, from the saved phase
    (user_dir / "my_meths.py").write_text(RAISES.format(broken=False))
    sys.modules.pop("my_meths", None)
    assert main(["run", "--resume", str(root), "--quiet"]) == 2  # the run names code: resumed only as printed
    assert "give --trust-code to import it" in capsys.readouterr().err
    broken_sha = json.loads((root / "manifest.json").read_text())["method_code"]["raises"]["sha256"]
    assert main(["run", "--resume", str(root), "--trust-code", "--quiet"]) == 0
    assert [(r["method"], r["phase"]) for r in rows(root)] == [("finetune", "0"), ("finetune", "1"),
                                                               ("finetune", "2"), ("raises", "0"), ("raises", "1"),
                                                               ("raises", "2")]
    # the fixed module is other code than wrote the earlier rows: said, and both kept
    assert (f"{root} continues with other code than its earlier rows were written by (method_code differ)"
            in capsys.readouterr().err)
    manifest = json.loads((root / "manifest.json").read_text())
    fixed_sha = hashlib.sha256((user_dir / "my_meths.py").read_bytes()).hexdigest()
    assert manifest["method_code"]["raises"]["sha256"] == fixed_sha != broken_sha
    assert [e["method_code"]["raises"]["sha256"] for e in manifest["earlier_code"]] == [broken_sha]


def test_a_refused_state_stops_the_local_executor_before_any_cell_is_trained(tmp_path, capsys):
    argv = ["run", "--method", "finetune,sharing", "--sharing", "0", *TINY, "--out", str(tmp_path), "--run-id", "r"]
    assert main(argv) == 0
    root = tmp_path / "r"
    # finetune must be trained again (no row, no base); sharing's base, read later, is not a checkpoint
    (root / "cells" / "finetune_seed0_base.pt").unlink()
    torch.save({"foo": torch.zeros(3)}, root / "cells" / "sharing_seed0_base.pt")
    (root / "metrics.csv").write_text((root / "metrics.csv").read_text().splitlines()[0] + "\n")
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert main(argv) == 2
    err = errors(capsys.readouterr().err)
    assert "sharing_seed0_base.pt was refused" in err and err.count("\n") == 1
    rewritten = (".lock",)  # (config.yaml and manifest.json are not rewritten either)
    after = {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and p.name not in rewritten}
    assert after == {p: b for p, b in before.items() if p.name not in rewritten}  # nothing was trained


def _as_nobody(cmd: list[str]) -> list[str]:
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *cmd] if os.geteuid() == 0 else cmd


def test_resume_and_report_on_a_read_only_run_directory_say_it_is_read_only():
    top = Path(tempfile.mkdtemp(prefix="energybench-ro-"))  # (pytest's tmp_path is private to root)
    try:
        top.chmod(0o755)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        done = subprocess.run([sys.executable, "-m", "energybench", "run", "--method", "finetune", "--sharing", "0",
                               *TINY, "--out", str(top), "--run-id", "r"], capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
        root = top / "r"
        (root / "metrics.csv").write_text((root / "metrics.csv").read_text().splitlines()[0] + "\n")
        for p in [root, *root.rglob("*")]:
            p.chmod(0o555 if p.is_dir() else 0o444)
        resume = subprocess.run(_as_nobody([sys.executable, "-m", "energybench", "run", "--resume", str(root)]),
                                capture_output=True, text=True, env=env, cwd="/")
        assert resume.returncode == 2, resume.stderr
        assert resume.stderr == (f"energybench run: error: {root} is read-only (no write permission); a resume writes "
                                 "into it (its lock, rows and checkpoints): make it writable, or copy the run "
                                 "directory somewhere writable and resume the copy\n")
        report = subprocess.run(_as_nobody([sys.executable, "-m", "energybench", "report", str(root)]),
                                capture_output=True, text=True, env=env, cwd="/")
        assert report.returncode == 2, report.stderr
        assert report.stderr == (f"energybench report: error: {root} is read-only (no write permission); give --out "
                                 f"DIR to write the reports elsewhere (energybench report {root} --out DIR)\n")
        assert "--out" not in resume.stderr
    finally:
        for p in [top, *top.rglob("*")]:
            p.chmod(0o755)
        shutil.rmtree(top)


WRONG_PREDICT = '''
from energybench.methods.finetune import Finetune


class WrongPredict(Finetune):
    name = "wrongpredict"

    def predict(self, x):
        self.net.eval()
        return {answer}
'''


def test_a_user_predict_that_returns_the_wrong_thing_is_told_what_it_must_return(user_dir, tmp_path, capsys):
    for i, (answer, why) in enumerate([
            ("self.net(x)", "predict() must return a dict {classifier name: scores}, primary first, got Tensor"),
            ("{}", "predict() must return a dict {classifier name: scores}, primary first, got dict (empty)"),
            ('{"cnn": self.net(x)[:, :2]}', "predict()'s 'cnn' scores must be a tensor of shape (batch, classes "
                                            "seen) = (16, 4), got shape (16, 2)"),
            ('{"cnn": self.net(x).tolist()}', "predict()'s 'cnn' scores must be a tensor of shape (batch, classes "
                                              "seen) = (16, 4), got list")]):
        module = f"wrong_predict{i}"
        (user_dir / f"{module}.py").write_text(WRONG_PREDICT.format(answer=answer))
        assert main(["run", "--method", f"{module}:WrongPredict", "--sharing", "0", *TINY, "--out", str(tmp_path),
                     "--run-id", f"r{i}"]) == 2
        err = errors(capsys.readouterr().err)
        assert err.startswith(f"energybench run: error: method wrongpredict ({module}:WrongPredict) raised TypeError: "
                              f"{why} in wrongpredict sharing 0 seed 0 phase 0 (evaluating). That is the method's "
                              "own code"), err


NAN_LOSS = '''
import torch.nn.functional as F

from energybench.methods.base import Method


class NanLoss(Method):
    name = "nanloss"

    def learn(self, phase):
        def loss(net, batch):
            ce = F.cross_entropy(net(batch.x, start=batch.start), batch.y)
            return ce * float("nan") if phase.index == 1 else ce

        self.fit(self.net, phase.train_idx, loss, desc=f"nanloss phase {phase.index}")
'''


def test_a_loss_that_is_not_finite_is_said_with_its_cell_and_phase(user_dir, tmp_path, capsys):
    (user_dir / "my_nan.py").write_text(NAN_LOSS)
    assert main(["run", "--method", "my_nan:NanLoss", "--sharing", "0", *TINY, "--out", str(tmp_path),
                 "--run-id", "r"]) == 0
    said = [line for line in capsys.readouterr().err.splitlines() if "not finite" in line]
    # (phase 2 too: the weights phase 1 left are NaN)
    assert said == [f"energybench: warning: nanloss sharing 0 seed 0 phase {p}: the training loss was not finite (NaN "
                    f"or infinite) in nanloss phase {p} epoch 1/1; this phase's rows are of the network it left: "
                    "lower --lr, or check the method's loss" for p in (1, 2)]
    assert len(rows(tmp_path / "r")) == 3  # (the rows are kept: the phase ran)


def test_a_resume_that_cannot_find_the_runs_module_says_where_the_run_found_it(user_dir, tmp_path, monkeypatch,
                                                                              capsys):
    (user_dir / "my_found.py").write_text(RAISES.format(broken=False))
    assert main(["run", "--method", "my_found:Raises", "--sharing", "0", *TINY, "--out", str(tmp_path),
                 "--run-id", "r"]) == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(user_dir)])
    sys.modules.pop("my_found", None)
    capsys.readouterr()
    assert main(["run", "--resume", str(tmp_path / "r"), "--trust-code", "--quiet"]) == 2
    assert capsys.readouterr().err.strip().endswith(
        f"no module named 'my_found' on PYTHONPATH or in the current directory ({elsewhere}); give an importable "
        f"'package.module:name'. The run imported it from {user_dir / 'my_found.py'}: run from {user_dir}, or put "
        f"{user_dir} on PYTHONPATH")


OWN_BEGIN = '''
from energybench.methods.finetune import Finetune


class OwnBegin(Finetune):
    name = "ownbegin"

    def begin_phase(self, phase):  # grows the head but never applies the sharing level
        if phase.index == 0:
            self.net = self.new_net(len(phase.classes))
        else:
            self.net.head.add_classes(len(phase.classes))
'''


def test_a_method_that_freezes_nothing_at_a_shared_level_is_said_once(user_dir, tmp_path, capsys):
    (user_dir / "my_own_begin.py").write_text(OWN_BEGIN)
    assert main(["run", "--method", "my_own_begin:OwnBegin,finetune", "--sharing", "0,0.5", *TINY,
                 "--out", str(tmp_path), "--run-id", "r"]) == 0
    said = [line for line in capsys.readouterr().err.splitlines() if "froze no block" in line]
    assert said == ["energybench: warning: ownbegin at sharing 0.5 froze no block in phase 1 (the level's cut shares "
                    "2): its rows are of the unshared network, not this level's. A method's begin_phase must call "
                    "super().begin_phase(phase), or self.apply_sharing(self.net)"]  # (finetune froze its blocks)
