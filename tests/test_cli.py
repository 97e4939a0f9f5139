"""`energybench` end to end with tiny settings, and bad inputs: a clear message, exit 2,
nothing already written damaged."""

import csv
import hashlib
import json
import subprocess
import sys

import pytest

from energybench.cli import main

TINY = ["--sharing", "0", "--epochs", "1", "--train-per-class", "8", "--test-per-class", "5", "--no-power",
        "--no-report", "--quiet"]


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("run", "cost", "energy-table", "power", "report", "rtl"):
        assert cmd in out


def test_run_help_names_every_built_in_method(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for name in ("finetune", "icarl", "scratch", "memo", "der", "foster", "simplecil"):
        assert f" {name}," in text or f" {name} " in text, name
    assert "der, memo, foster, simplecil (run only when named)" in text


def test_run_writes_a_complete_run_directory(tmp_path, capsys):
    code, out, err = run(capsys, "run", "--method", "finetune,joint", "--out", str(tmp_path), "--run-id", "r",
                         *TINY)
    assert code == 0, err
    root = tmp_path / "r"
    assert f"results: {root / 'metrics.csv'}" in out
    rows = list(csv.DictReader(open(root / "metrics.csv")))
    assert [(r["method"], r["phase"]) for r in rows] == [(m, str(p)) for m in ("finetune", "joint") for p in range(3)]
    needed = ["run_id", "method", "sharing", "phase", "classes_seen", "acc_all", "acc_old", "acc_new", "iters",
              "train_time_s", "time_per_iter_s"]
    assert all(c in rows[0] for c in needed)
    assert [r["classes_seen"] for r in rows[:3]] == ["4", "7", "10"]
    # 4 classes x 8 samples, batch 32: one step in phase 0; 3 x 8 = 24 samples: one step after
    assert [r["iters"] for r in rows[:3]] == ["1", "1", "1"]
    manifest = json.loads((root / "manifest.json").read_text())
    assert sorted(manifest["class_order"]["0"]) == list(range(10))
    assert manifest["packages"]["torch"]
    assert (root / "config.yaml").is_file() and (root / "summary.json").is_file()


def test_module_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "energybench", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("energybench ")


BAD = [
    (["run", "--method", "magic"], "unknown method 'magic'; valid methods: finetune"),
    (["run", "--dataset", "svhn"], "unknown dataset 'svhn'"),
    (["run", "--backbone", "alexnet"], "unknown backbone 'alexnet'"),
    (["run", "--sharing", "1.0"], "every sharing level must be in [0, 1), got 1.0"),
    (["run", "--sharing", "0,-0.2"], "got -0.2"),
    (["run", "--scenario", "B8-3x2"], "covers 14 classes but digits has only 10"),
    (["run", "--scenario", "eight"], "cannot read scenario 'eight'"),
    (["run", "--epochs", "0"], "--epochs: must be at least 1"),
    (["run", "--dataset", "fashion-mnist", "--data-root", "/nonexistent/fm"],
     "looked for /nonexistent/fm/train-images-idx3-ubyte.gz"),
    (["run", "--dataset", "cifar10"], "cifar10 needs --data-root"),
    (["run", "--class-order", "1,1,2,3,4,5,6,7,8,9"], "--class-order repeats class 1; each class appears once"),
    (["run", "--precision", "fp8"], "unknown precision 'fp8'; valid precisions: fp32"),
    (["run", "/nonexistent/config.yaml"], "config file /nonexistent/config.yaml does not exist"),
    (["run", "--resume", "/nonexistent/run"], "cannot resume /nonexistent/run: no such directory"),
    (["run", "--resume", "/etc/passwd"], "cannot resume /etc/passwd: it is a file; give the run's directory"),
    (["run", "--arch", "/"], "architecture '/' is a directory; give an architecture YAML file or a built-in"),
    (["run", "--sram-cell", "foo"],
     "unknown SRAM cell type 'foo'; valid SRAM cell types: itrs-hp, itrs-lop, itrs-lstp"),
    (["run", "--run-id", "../escape"], "must be a plain directory name"),
    (["run", "--sharing", ""], "--sharing: the list is empty"),
]


@pytest.mark.parametrize("argv,msg", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_gives_a_clear_error(argv, msg, capsys, tmp_path):
    code, out, err = run(capsys, *argv, "--out", str(tmp_path)) if "--resume" not in argv else run(capsys, *argv)
    assert code == 2
    assert msg in err
    assert "Traceback" not in err and err.startswith("energybench run: error: ")


def test_a_refused_config_says_only_why_not_first_a_warning(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("methods: [finetune]\noptions: {lucir: {lambda_bas: 5}}\n")
    code, out, err = run(capsys, "run", str(cfg), "--out", str(tmp_path / "runs"))
    assert code == 2 and err.splitlines() == [
        "energybench run: error: unknown option 'lambda_bas' (did you mean 'lambda_base'?) for method lucir; valid "
        "options: K, adapt_lambda, cb_finetune, cbf_epochs, cbf_lr_factor, imprint, lambda_base, lw_mr, margin"]


def test_unknown_yaml_key_names_valid_keys(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("dataset: digits\nlearning_rate: 0.1\n")
    code, _, err = run(capsys, "run", str(cfg))
    assert code == 2 and "unknown config key 'learning_rate'; valid keys:" in err and "lr" in err


def test_cuda_requested_without_gpu(capsys, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    code, _, err = run(capsys, "run", "--device", "cuda", "--out", str(tmp_path))
    assert code == 2 and "no CUDA GPU is visible" in err


def test_a_different_config_does_not_overwrite_an_existing_run(tmp_path, capsys):
    assert run(capsys, "run", "--method", "finetune", "--out", str(tmp_path), "--run-id", "r", *TINY)[0] == 0
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / "r").iterdir() if p.is_file()}
    code, _, err = run(capsys, "run", "--method", "joint", "--out", str(tmp_path), "--run-id", "r", *TINY)
    assert code == 2 and "already holds a run with a different configuration" in err
    assert err.strip().endswith(f"continue it with: energybench run --resume {tmp_path / 'r'}")
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / "r").iterdir() if p.is_file()}
    assert before == after


def test_yaml_numbers_are_not_truncated(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("epochs: 1.9\n")
    code, _, err = run(capsys, "run", str(cfg))
    assert code == 2 and "'epochs' must be a whole number, got 1.9" in err
    cfg.write_text("memory_per_class: true\n")
    code, _, err = run(capsys, "run", str(cfg))
    assert code == 2 and "'memory_per_class' must be an integer, got True" in err
    cfg.write_text("methods: []\n")
    code, _, err = run(capsys, "run", str(cfg))
    assert code == 2 and "'methods': the list is empty" in err


def test_an_existing_foreign_directory_is_left_untouched(tmp_path, capsys):
    mine = tmp_path / "mydata"
    mine.mkdir()
    (mine / "metrics.csv").write_text("my own results\n")
    code, _, err = run(capsys, "run", "--out", str(tmp_path), "--run-id", "mydata", *TINY)
    assert code == 2 and "is not a run directory" in err
    assert (mine / "metrics.csv").read_text() == "my own results\n"
    afile = tmp_path / "afile"
    afile.write_text("x")
    code, _, err = run(capsys, "run", "--out", str(afile), *TINY)
    assert code == 2 and "is a file" in err


def test_yaml_syntax_error_names_file_and_line(tmp_path, capsys):
    cfg = tmp_path / "broken.yaml"
    cfg.write_text("dataset: digits\nepochs: [1,\n")
    code, _, err = run(capsys, "run", str(cfg))
    assert code == 2 and f"config file {cfg} is not valid YAML at line 3" in err


def test_resume_works_from_another_directory(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "run", "--method", "finetune", "--out", "rel", "--run-id", "r", *TINY)[0] == 0
    recorded = (tmp_path / "rel" / "r" / "config.yaml").read_text()
    assert f"out: {tmp_path / 'rel'}" in recorded  # recorded absolute
    monkeypatch.chdir("/")
    code, out, err = run(capsys, "run", "--resume", str(tmp_path / "rel" / "r"))
    assert code == 0, err
    assert "finetune seed 0: all sharing levels already done, skipping" in out


def test_an_undertrained_base_phase_is_flagged_and_a_trained_one_is_not(tmp_path, capsys):
    quick = ["--method", "finetune", "--no-power", "--no-report", "--quiet", "--out", str(tmp_path)]
    code, _, err = run(capsys, "run", *quick, "--run-id", "cold", "--epochs", "1", "--lr", "1e-7")
    assert code == 0, err
    assert "phase 0 reached" in err and "on 4 classes (chance 25.0%)" in err and "raise --epochs (now 1)" in err
    code, _, err = run(capsys, "run", *quick, "--run-id", "warm", "--epochs", "3")
    assert code == 0, err
    assert "phase 0 reached" not in err


def test_every_level_holds_the_confusion_of_every_phase(tmp_path, capsys):
    code, _, err = run(capsys, "run", "--method", "finetune", *TINY, "--sharing", "0.5,0.9", "--out", str(tmp_path),
                       "--run-id", "c")
    assert code == 0, err
    cells = tmp_path / "c" / "cells"
    assert sorted(p.name for p in cells.iterdir() if p.is_dir()) == ["finetune_s0.5_seed0", "finetune_s0.9_seed0"]
    for level in ("0.5", "0.9"):
        files = sorted(p.name for p in (cells / f"finetune_s{level}_seed0").glob("confusion_phase*.csv"))
        assert files == ["confusion_phase0.csv", "confusion_phase1.csv", "confusion_phase2.csv"]
    base = (cells / "finetune_s0.9_seed0" / "confusion_phase0.csv").read_text().splitlines()
    assert len(base) == 5 and base[0].count(",") == 4  # the 4 base classes, named, plus the corner
    assert base == (cells / "finetune_s0.5_seed0" / "confusion_phase0.csv").read_text().splitlines()


def test_console_lines_name_the_level_and_a_base_phase_that_trains_nothing(tmp_path, capsys):
    import re

    import yaml

    code, out, err = run(capsys, "run", "--method", "scratch,sharing", *[a for a in TINY if a != "--quiet"],
                         "--sharing", "0.5", "--out", str(tmp_path), "--run-id", "r")
    assert code == 0, err
    assert re.search(r"scratch seed 0 phase 0 \(base, shared by every sharing level\): nothing trained in phase 0 "
                     r"\(acc \d+\.\d\d%\) \[1/6 phases, 0/2 cells,", out)
    assert "sharing sharing" not in out
    lines = [line for line in out.splitlines() if line.startswith("sharing s=")]
    assert len(lines) == 2
    for phase, line in zip((1, 2), lines):
        assert re.match(rf"sharing s=0\.5 \(0\.\d+ achieved\) seed 0 phase {phase}: acc \d+\.\d\d% ", line), line
    recorded = yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())
    assert recorded["image_size"] is None  # digits keep their 8x8 images: no crop size to record


def test_a_reader_that_stops_early_ends_the_command_quietly():
    """`energybench energy-table --json | head -1`: the reader leaves; no BrokenPipeError traceback,
    and the status a shell reports for SIGPIPE."""
    proc = subprocess.Popen([sys.executable, "-m", "energybench", "energy-table", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # gone before the command prints
    err = proc.stderr.read().decode()
    assert proc.wait() == 141
    assert err == ""


def test_the_command_ends_without_teardown_but_with_what_a_normal_exit_does(tmp_path):
    """exit_now: a non-daemon thread is waited for, exit handlers run, buffered output reaches a
    pipe, and the status is the command's (the interpreter's teardown is what is skipped)."""
    script = ("import atexit, sys, threading, time\n"
              "import energybench.cli as cli\n"
              "atexit.register(lambda: print('handler ran'))\n"
              "threading.Thread(target=lambda: (time.sleep(0.3), print('thread ended'))).start()\n"
              "print('buffered', end=' ')\n"
              "sys.stderr.write('on stderr')\n"
              "cli.exit_now(3)\n"
              "print('never')\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 3
    assert out.stdout == "buffered thread ended\nhandler ran\n"
    assert out.stderr == "on stderr"


@pytest.mark.parametrize("argv,status", [(["--help"], 0), (["run", "--epochs", "x"], 2), (["run", "--epochs", "0"], 2)])
def test_the_command_keeps_its_exit_status(argv, status):
    out = subprocess.run([sys.executable, "-m", "energybench", *argv], capture_output=True, text=True)
    assert out.returncode == status, out.stderr
    assert (out.stdout if status == 0 else out.stderr).strip()


def test_the_undertrained_bar_stays_below_100_percent_with_few_base_classes():
    from energybench.engine.cell import undertrained_below

    # twice chance from 4 classes up; with 2 or 3 a third of the way from chance to 100 %; never with 1
    assert undertrained_below(10) == pytest.approx(20.0) and undertrained_below(4) == pytest.approx(50.0)
    assert undertrained_below(3) == pytest.approx(100 / 3 + (100 - 100 / 3) / 3)  # 55.6 %, not 66.7 %
    assert undertrained_below(2) == pytest.approx(50 + 50 / 3)  # 66.7 %, not 100 %
    assert undertrained_below(1) is None


def test_a_refusal_about_something_else_keeps_the_key_names_it_lists(tmp_path, capsys):
    """The flags typed are named in a message about their values only: an unknown key's list of the
    valid keys stays a list of keys, whatever flags the command also had."""
    config = tmp_path / "c.yaml"
    config.write_text("bogus_key: 1\n")
    code, _, err = run(capsys, "run", str(config), "--run-id", "x", "--train-per-class", "5", "--out", str(tmp_path))
    assert code == 2 and "unknown config key 'bogus_key'" in err
    assert " run_id, " in err and " train_per_class, " in err and "--run-id" not in err
