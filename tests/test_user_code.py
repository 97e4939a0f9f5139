"""User code end to end: the README's example backbone, written to a file outside the package,
runs through `energybench run` and `energybench cost`; a wrong factory stops either command with
exit status 2 and one message, before anything is written."""

from __future__ import annotations

import csv
import hashlib
import json
import sys

import pytest
from conftest import readme_python  # tests/conftest.py

from energybench.cli import main

TINY = ["--epochs", "1", "--train-per-class", "8", "--test-per-class", "5", "--no-power", "--no-report", "--quiet"]


def test_the_readme_backbone_runs_end_to_end(user_dir, tmp_path, capsys):
    source = readme_python("# my_nets.py")
    assert len(source.splitlines()) <= 30
    (user_dir / "my_nets.py").write_text(source)
    code = main(["run", "--backbone", "my_nets:SmallNet", "--method", "finetune,sharing", "--sharing", "0,0.5",
                 "--out", str(tmp_path / "runs"), "--run-id", "r", *TINY])
    assert code == 0, capsys.readouterr().err
    root = tmp_path / "runs" / "r"
    rows = list(csv.DictReader(open(root / "metrics.csv")))
    assert len(rows) == 2 * 2 * 3
    half = [r for r in rows if r["sharing"] == "0.5" and r["phase"] != "0"]
    # blocks of 192, 4,704 and 18,624 parameters (batch norm included): cuts at 0.008, 0.208 and 1; 0.208 is nearest
    assert {r["shared_blocks"] for r in half} == {"2"}
    assert {round(float(r["sharing_achieved"]), 4) for r in half} == {round(4896 / 23520, 4)}
    for r in rows:
        assert int(r["fwd_macs"]) > 0 and int(r["elementwise_ops"]) > 0 and float(r["compute_energy_j"]) > 0
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["backbone"] == "my_nets:SmallNet"
    code_info = manifest["backbone_code"]
    assert code_info["module"] == "my_nets" and code_info["qualname"] == "SmallNet"
    assert code_info["sha256"] == hashlib.sha256((user_dir / "my_nets.py").read_bytes()).hexdigest()


def test_the_readme_backbone_is_counted_by_cost(user_dir, capsys):
    (user_dir / "my_nets.py").write_text(readme_python("# my_nets.py"))
    assert main(["cost", "--backbone", "my_nets:SmallNet", "--input", "3x32x32", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    # 3x3 convolutions 3->16 and 16->32 at 32x32, 32->64 at 16x16 (after the max-pool), head 64 -> 10
    assert d["forward_macs"] == 32 * 32 * 16 * 3 * 9 + 32 * 32 * 32 * 16 * 9 + 16 * 16 * 64 * 32 * 9 + 64 * 10
    assert d["uncounted_ops"] == {}
    assert main(["cost", "--backbone", "my_nets:SmallNet", "--input", "3x32x32", "--width", "0.5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total_params"] < d["total_params"]


PLAIN_NETS = """
from torch import nn


def cbr(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())


class PlainList(nn.Module):
    def __init__(self, in_shape=(1, 8, 8)):
        super().__init__()
        self.blocks = [cbr(in_shape[0], 4), cbr(4, 8), nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())]

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return x


def pool_only(in_shape):
    return nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten())
"""


def test_blocks_in_a_plain_list_or_without_parameters_build_on_every_device(user_dir, tmp_path, capsys):
    # (the module itself registers no parameter: the build on the meta device once failed on that)
    (user_dir / "my_plain_nets.py").write_text(PLAIN_NETS)
    for device in ("meta", "cpu"):
        assert main(["cost", "--backbone", "my_plain_nets:PlainList", "--input", "1x8x8", "--device", device,
                     "--json"]) == 0, capsys.readouterr().err
        d = json.loads(capsys.readouterr().out)
        # 3x3 convolutions 1->4 and 4->8 at 8x8, head 8 -> 10
        assert d["forward_macs"] == 64 * 4 * 1 * 9 + 64 * 8 * 4 * 9 + 8 * 10
        assert main(["cost", "--backbone", "my_plain_nets:pool_only", "--input", "1x8x8", "--device", device,
                     "--json"]) == 0, capsys.readouterr().err
        assert json.loads(capsys.readouterr().out)["forward_macs"] == 4 * 10  # the head alone: 2x2 pooled -> 10
    code = main(["run", "--backbone", "my_plain_nets:PlainList", "--method", "finetune", "--sharing", "0,0.5",
                 "--out", str(tmp_path / "runs"), "--run-id", "r", *TINY])
    assert code == 0, capsys.readouterr().err
    rows = list(csv.DictReader(open(tmp_path / "runs" / "r" / "metrics.csv")))
    assert {r["shared_blocks"] for r in rows if r["sharing"] == "0.5" and r["phase"] != "0"} == {"1"}


def test_a_module_in_the_current_directory_is_found(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    (tmp_path / "my_cwd_nets.py").write_text(readme_python("# my_nets.py"))
    try:
        assert main(["cost", "--backbone", "my_cwd_nets:SmallNet", "--input", "1x8x8"]) == 0
    finally:
        sys.modules.pop("my_cwd_nets", None)
    assert "forward MACs" in capsys.readouterr().out


WRONG = """
from torch import nn

def spatial(in_shape):
    return nn.Sequential(nn.Conv2d(in_shape[0], 4, 3))

def raises():
    raise RuntimeError("no GPU here")
"""


@pytest.mark.parametrize("command", ["run", "cost"])
@pytest.mark.parametrize("name,message", [
    ("my_wrong:spatial", "on a 2x1x8x8 input it returned a tensor of shape (2, 4, 6, 6); expected a feature tensor"),
    ("my_wrong:raises", "the factory raised RuntimeError: no GPU here"),
    ("my_wrong:nothing", "module 'my_wrong' ("),
    ("my_absent_module:net", "no module named 'my_absent_module'"),
])
def test_wrong_factories_exit_2_before_anything_is_written(user_dir, tmp_path, capsys, command, name, message):
    (user_dir / "my_wrong.py").write_text(WRONG)
    out = tmp_path / "runs"
    argv = (["run", "--backbone", name, "--out", str(out), *TINY] if command == "run"
            else ["cost", "--backbone", name, "--input", "1x8x8"])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1
    assert not out.exists()


def test_weights_files_are_checked_before_anything_is_written(tmp_path, capsys):
    import torch

    from energybench.models import build_backbone

    good, bad = tmp_path / "good.pt", tmp_path / "bad.pt"
    torch.save(build_backbone("tiny_cnn", (1, 8, 8)).state_dict(), good)
    torch.save(build_backbone("tiny_cnn", (1, 8, 8), width=0.5).state_dict(), bad)
    out = tmp_path / "runs"
    assert main(["run", "--weights", str(bad), "--method", "finetune", "--out", str(out), *TINY]) == 2
    err = capsys.readouterr().err
    assert "'blocks.0.0.weight' has shape (8, 1, 3, 3), the backbone's has (16, 1, 3, 3)" in err and not out.exists()
    assert main(["run", "--weights", str(tmp_path / "none.pt"), "--out", str(out), *TINY]) == 2
    assert "--weights:" in capsys.readouterr().err and not out.exists()
    assert main(["run", "--weights", str(good), "--method", "finetune", "--out", str(out), "--run-id", "r", *TINY]) == 0
    assert f"weights: {good}" in (out / "r" / "config.yaml").read_text()


class Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.parametrize("content,why", [
    # pickle's default protocol: torch warned about it and advised loading with weights_only=False
    (lambda: __import__("pickle").dumps({"w": Payload()}), "(Unsupported operand 149; nothing in it was run)"),
    (lambda: __import__("pickle").dumps({"w": Payload()}, protocol=2),
     "(Unsupported global: GLOBAL print was not an allowed global by default; nothing in it was run)"),
    (lambda: b"hello, not a torch file", "(not a file torch.save wrote)"),  # was KeyError: 101 from the unpickler
    (lambda: b"", "(the file is empty or cut short)"),
])
def test_a_weights_file_that_is_not_a_state_dict_gets_energybenchs_message(tmp_path, capsys, content, why):
    path, out = tmp_path / "w.pt", tmp_path / "runs"
    path.write_bytes(content())
    assert main(["run", "--weights", str(path), "--method", "finetune", "--out", str(out), *TINY]) == 2
    captured = capsys.readouterr()
    assert captured.err == (f"energybench run: error: weights file {path} is not a loadable state dict {why}; save one "
                            "with torch.save(model.state_dict(), FILE)\n")
    assert "this must never run" not in captured.out and not out.exists()


@pytest.mark.parametrize("backbone,method", [("my_nets:SmallNet", "my_methods:L2Anchor"), ("tiny_vit", "lwf")])
def test_an_interrupted_run_of_user_code_or_a_transformer_resumes(user_dir, tmp_path, monkeypatch, capsys, backbone,
                                                                 method):
    """Checkpoints hold the user's classes (and torchvision's transformer blocks); read back with
    weights_only=True, they are allowed because the run names their modules."""
    from energybench.engine.cell import CellWork

    (user_dir / "my_nets.py").write_text(readme_python("# my_nets.py"))
    (user_dir / "my_methods.py").write_text(readme_python("# my_methods.py"))
    argv = ["run", "--backbone", backbone, "--method", method, "--sharing", "0.5", "--out", str(tmp_path), *TINY]
    assert main([*argv, "--run-id", "whole"]) == 0, capsys.readouterr().err
    phase = CellWork.phase

    def interrupt_at_phase_2(self, m, trainer, ph, *a, **k):
        if ph.index == 2:
            raise KeyboardInterrupt
        return phase(self, m, trainer, ph, *a, **k)

    monkeypatch.setattr(CellWork, "phase", interrupt_at_phase_2)
    capsys.readouterr()
    assert main([*argv, "--run-id", "cut"]) == 130
    monkeypatch.setattr(CellWork, "phase", phase)
    # the command it prints resumes it as printed (a run that names the user's code: with --trust-code)
    printed = next(line for line in capsys.readouterr().err.splitlines() if line.startswith("Continue with: "))
    assert printed == f"Continue with: energybench run --resume {tmp_path / 'cut'}" + (
        " --trust-code" if ":" in backbone else "")
    assert main([*printed.split()[3:], "--quiet"]) == 0, capsys.readouterr().err
    keys = ("method", "phase", "acc_all", "train_macs", "elementwise_ops")
    read = lambda run: [{k: r[k] for k in keys} for r in csv.DictReader(open(tmp_path / run / "metrics.csv"))]  # noqa: E731
    assert read("cut") == read("whole") and len(read("whole")) == 3
