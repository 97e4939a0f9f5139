"""The self-checking Verilog testbenches pass under Icarus Verilog, and do catch a broken unit."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from energybench.rtl.synth import VERILOG_DIR

TB_DIR = Path(__file__).resolve().parents[2] / "rtl_models" / "tb"


def run_tb(tmp_path: Path, tb: str, params: dict, sources_dir: Path = VERILOG_DIR) -> tuple[int, str]:
    binary = tmp_path / f"{tb}.vvp"
    defines = [f"-P{tb}.{name}={value}" for name, value in params.items()]
    sources = sorted(str(p) for p in sources_dir.glob("*.v"))
    compiled = subprocess.run(
        ["iverilog", "-g2012", "-o", str(binary), "-I", str(TB_DIR), *defines, str(TB_DIR / f"{tb}.v"), *sources],
        capture_output=True,
        text=True,
    )
    assert compiled.returncode == 0, compiled.stderr
    run = subprocess.run(["vvp", "-n", str(binary)], capture_output=True, text=True, timeout=600)
    return run.returncode, run.stdout + run.stderr


def assert_passes(tmp_path, tb, params):
    code, out = run_tb(tmp_path, tb, params)
    assert code == 0 and "PASS" in out and "FAIL" not in out and "mismatch" not in out, out


@pytest.mark.parametrize("width", [2, 3, 5, 8, 16, 32, 64])
def test_adders(iverilog, tmp_path, width):
    assert_passes(tmp_path, "tb_adders", {"WIDTH": width, "NRAND": 500})


@pytest.mark.parametrize("width", [2, 3, 4, 5, 8, 16])
@pytest.mark.parametrize("signed", [0, 1])
def test_multipliers(iverilog, tmp_path, width, signed):
    assert_passes(tmp_path, "tb_multipliers", {"WIDTH": width, "SIGNED": signed, "NRAND": 300})


@pytest.mark.parametrize("signed", [0, 1])
def test_multipliers_32_bit(iverilog, tmp_path, signed):
    # 64 corner pairs plus a few random ones: event-driven simulation of 32-bit arrays is slow.
    assert_passes(tmp_path, "tb_multipliers", {"WIDTH": 32, "SIGNED": signed, "NRAND": 40})


@pytest.mark.parametrize("width", [2, 5, 8])
@pytest.mark.parametrize("signed", [0, 1])
def test_mac(iverilog, tmp_path, width, signed):
    assert_passes(tmp_path, "tb_mac", {"WIDTH": width, "SIGNED": signed, "NCYCLES": 300})


@pytest.mark.parametrize(
    "tb, file, old, new",
    [
        # A carry that ignores the carry-in.
        ("tb_adders", "full_adder.v", "assign co = (a & b) | (p & c);", "assign co = a & b;"),
        # Baugh-Wooley correction dropped: right for unsigned, wrong for signed.
        ("tb_multipliers", "array_multiplier.v", "assign c = BAUGH_WOOLEY;", "assign c = {PW{1'b0}};"),
        # Booth digit 2 treated as 1.
        ("tb_multipliers", "booth_multiplier.v", "wire one = t1 ^ t0;", "wire one = (t1 ^ t0) | (t2 ^ t1);"),
        # Enable ignored.
        ("tb_mac", "mac_unit.v", "else if (en)", "else"),
    ],
)
def test_testbench_fails_on_a_broken_unit(iverilog, tmp_path, tb, file, old, new):
    broken = tmp_path / "src"
    shutil.copytree(VERILOG_DIR, broken)
    text = (broken / file).read_text()
    assert old in text
    (broken / file).write_text(text.replace(old, new))
    few = {"NCYCLES": 100} if tb == "tb_mac" else {"NRAND": 100}
    code, out = run_tb(tmp_path, tb, {"WIDTH": 8, **few}, sources_dir=broken)
    assert code != 0 and "FAIL" in out, out
