"""A resume continues the configuration its rows were trained with: a config.yaml edited or cut
short since is refused, naming what differs, and a refused resume rewrites nothing (config.yaml
included), so rows of two configurations never mix in one run directory."""

from __future__ import annotations

import csv
import hashlib
import json

import yaml

from energybench.cli import main

TINY = ["--method", "finetune,lwf", "--sharing", "0", "--epochs", "1", "--train-per-class", "6",
        "--test-per-class", "3", "--no-power", "--no-report", "--quiet"]


def digests(root):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}


def test_an_edited_or_cut_config_is_refused_before_anything_is_written(tmp_path, capsys):
    assert main(["run", *TINY, "--out", str(tmp_path), "--run-id", "r"]) == 0
    root = tmp_path / "r"
    trained = json.loads((root / "manifest.json").read_text())["trained_config"]
    assert trained["epochs"] == 1 and trained["methods"] == ["finetune", "lwf"] and "out" not in trained
    text = (root / "config.yaml").read_text()
    # drop lwf's rows, as an interrupted run would have none yet: the resume would train them anew
    rows = list(csv.DictReader(open(root / "metrics.csv")))
    with open(root / "metrics.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(r for r in rows if r["method"] == "finetune")
    for edited, differ in [(text.replace("epochs: 1\n", "epochs: 2\n"), "epochs 2, trained with 1"),
                           # cut at a line boundary: still YAML, its missing keys read as defaults
                           (text.split("epochs: 1\n")[0], "epochs 8, trained with 1")]:
        (root / "config.yaml").write_text(edited)
        before = digests(root)
        capsys.readouterr()
        assert main(["run", "--resume", str(root), "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"energybench run: error: {root / 'config.yaml'} is not the configuration this run "
                              f"was trained with ({differ}")
        assert err.endswith("resuming would mix rows of two configurations. Restore config.yaml, or start a new "
                            "run with the new values")
        assert digests(root) == {k: v for k, v in before.items()}  # nothing written, config.yaml as it was
    # restored: the resume goes on, and an execution option (the reports) may differ
    (root / "config.yaml").write_text(text)
    assert main(["run", "--resume", str(root), "--quiet"]) == 0
    assert {r["method"] for r in csv.DictReader(open(root / "metrics.csv"))} == {"finetune", "lwf"}


def test_a_refused_checkpoint_leaves_config_yaml_as_it_was(tmp_path, capsys):
    assert main(["run", *TINY, "--out", str(tmp_path), "--run-id", "r"]) == 0
    root = tmp_path / "r"
    (root / "metrics.csv").write_text((root / "metrics.csv").read_text().splitlines()[0] + "\n")
    (root / "cells" / "finetune_seed0_base.pt").write_bytes(b"not a checkpoint")
    # a key a resume may change (the reports), left out: rewriting it would fill in its default
    config = yaml.safe_load((root / "config.yaml").read_text())
    del config["report_formats"]
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    before = digests(root)
    capsys.readouterr()
    assert main(["run", "--resume", str(root), "--quiet"]) == 2
    assert "finetune_seed0_base.pt was refused" in capsys.readouterr().err
    assert digests(root) == before


def test_how_a_resume_runs_is_not_written_into_the_runs_record(tmp_path, capsys):
    argv = [a for a in TINY if a != "--no-report"]
    assert main(["run", *argv, "--report-format", "html", "--out", str(tmp_path), "--run-id", "r"]) == 0
    root = tmp_path / "r"
    before = (root / "config.yaml").read_bytes()
    assert yaml.safe_load(before)["report"] is True
    # --no-report for this invocation only: the record keeps the reports, and a later plain resume writes them
    assert main(["run", "--resume", str(root), "--no-report", "--quiet"]) == 0
    assert (root / "config.yaml").read_bytes() == before
