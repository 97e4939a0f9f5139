"""A missing Verilog tool skips locally but fails on CI (CI=true)."""

from __future__ import annotations

import shutil

import pytest

from .conftest import require_iverilog, require_yosys


@pytest.fixture
def no_tools(monkeypatch, tmp_path):
    from energybench.rtl import synth

    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(synth.sys, "executable", str(tmp_path / "python"))


@pytest.mark.parametrize("require", [require_iverilog, require_yosys])
def test_missing_tool_skips_outside_ci(no_tools, monkeypatch, require):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install"):
        require()


@pytest.mark.parametrize("require", [require_iverilog, require_yosys])
def test_missing_tool_fails_on_ci(no_tools, monkeypatch, require):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must provide"):
        require()
