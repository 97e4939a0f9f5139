"""The HTML report renders in headless Chromium (scripts/screenshot_report.py) and is not blank."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import require_tool  # tests/conftest.py
from report_fixtures import built_reports  # noqa: F401 (the `built` fixture)

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "screenshot_report.py"


def shoot(html: Path, png: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), str(html), "--out", str(png)], capture_output=True,
                          text=True, timeout=300)


def test_report_renders_in_chromium(built, tmp_path):
    require_tool("chromium")
    png = tmp_path / "report.png"
    res = shoot(built("sweep_power", "html"), png)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip().endswith(": ok")
    from PIL import Image

    with Image.open(png) as im:
        assert im.size == (1280, 2000)


def test_a_blank_page_is_caught(tmp_path):
    require_tool("chromium")
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>")
    res = shoot(blank, tmp_path / "blank.png")
    assert res.returncode == 1 and "BLANK" in res.stdout


def test_comparison_renders_in_chromium(tmp_path):
    require_tool("chromium")
    from rundir_factory import make_run_dir

    from energybench.report import build_comparison

    a = make_run_dir(tmp_path / "r20", methods=("finetune", "sharing"), sharing=(0.0, 0.4, 0.8), seeds=(0, 1))
    b = make_run_dir(tmp_path / "r32", methods=("sharing",), sharing=(0.0, 0.4, 0.8), seeds=(0, 1),
                     backbone="resnet32", scale=1.8, offset=3.0)
    [html] = build_comparison([a, b], tmp_path / "cmp", formats="html")
    png = tmp_path / "compare.png"
    res = shoot(html, png)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip().endswith(": ok")
