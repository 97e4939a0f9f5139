"""A config file, or a run directory someone gave you, never runs code by itself: a `package.module:Name`
method or backbone it names is imported only with --trust-code (names given as flags are the user's own)."""

from __future__ import annotations

import yaml

from energybench.cli import main

TINY = ["--epochs", "1", "--train-per-class", "8", "--test-per-class", "5", "--no-power", "--no-report", "--quiet"]
PAYLOAD = "import pathlib\npathlib.Path(__file__).with_name('ran').write_text('imported')\n"


def test_a_config_file_naming_code_is_refused_before_anything_runs_or_is_written(user_dir, tmp_path, capsys):
    (user_dir / "my_payload.py").write_text(PAYLOAD)
    config = tmp_path / "c.yaml"
    config.write_text("methods: [finetune, 'my_payload:X']\nbackbone: my_payload:f\n")
    code = main(["run", str(config), "--out", str(tmp_path / "runs"), *TINY])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [
        f"energybench run: error: config file {config} names code to import: method my_payload:X; backbone "
        "my_payload:f. A file never runs code by itself: read that code, then give --trust-code to import it"]
    assert not (user_dir / "ran").exists() and not (tmp_path / "runs").exists()


def test_a_flag_overrides_what_the_file_names_and_is_the_users_own(user_dir, tmp_path, capsys):
    (user_dir / "my_payload.py").write_text(PAYLOAD)
    config = tmp_path / "c.yaml"
    config.write_text("backbone: my_payload:f\n")
    # --backbone replaces the file's: nothing of the file is imported; the flag's name is (and is no backbone)
    code = main(["run", str(config), "--backbone", "my_payload:g", "--out", str(tmp_path / "runs"), *TINY])
    assert code == 2 and "backbone 'my_payload:g'" in capsys.readouterr().err
    assert (user_dir / "ran").read_text() == "imported"


def test_resuming_a_run_that_names_code_needs_trust_code(user_dir, tmp_path, capsys):
    (user_dir / "my_payload.py").write_text(PAYLOAD)
    run = tmp_path / "runs" / "given"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"methods": ["finetune"], "backbone": "my_payload:f"}))
    code = main(["run", "--resume", str(run), "--no-report"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [
        f"energybench run: error: {run / 'config.yaml'} (the run's recorded config) names code to import: backbone "
        "my_payload:f. A file never runs code by itself: read that code, then give --trust-code to import it"]
    assert not (user_dir / "ran").exists()
    # trusted: the module is imported (it has no factory f, which is then the error)
    code = main(["run", "--resume", str(run), "--no-report", "--trust-code"])
    assert code == 2 and "backbone 'my_payload:f'" in capsys.readouterr().err
    assert (user_dir / "ran").read_text() == "imported"


def test_an_ablation_arm_naming_code_runs_only_with_trust_code(user_dir, tmp_path):
    """scripts/ablation.py writes each arm's config and runs it: the file rule holds there too, and its
    --trust-code is passed on."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    (user_dir / "my_payload.py").write_text(PAYLOAD)
    (tmp_path / "base.yaml").write_text("methods: [finetune]\nepochs: 1\ntrain_per_class: 8\ntest_per_class: 5\n")
    (tmp_path / "study.yaml").write_text("base: base.yaml\narms:\n  mine: {backbone: 'my_payload:f'}\n")
    script = Path(__file__).resolve().parents[1] / "scripts" / "ablation.py"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(user_dir), os.environ.get("PYTHONPATH", "")])}

    def study(*flags):
        return subprocess.run([sys.executable, str(script), str(tmp_path / "study.yaml"), "--out", str(tmp_path / "o"),
                               *flags], capture_output=True, text=True, env=env)

    plain = study()
    assert plain.returncode == 2 and "give --trust-code to import it" in plain.stderr, plain.stderr
    assert "arm mine stopped (energybench run exited 2)" in plain.stderr and "Traceback" not in plain.stderr
    assert not (user_dir / "ran").exists()
    trusted = study("--trust-code")  # imported now (it has no factory f, which is then the error)
    assert trusted.returncode == 2 and "backbone 'my_payload:f'" in trusted.stderr, trusted.stderr
    assert (user_dir / "ran").read_text() == "imported"
