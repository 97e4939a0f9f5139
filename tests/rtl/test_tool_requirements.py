"""A missing Verilog tool skips locally but fails on CI (CI=true); a Yosys that is there but
fails says so, with what it printed."""

from __future__ import annotations

import shutil

import pytest

from energybench.cli import main
from energybench.errors import UserError

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


def test_failing_yosys_is_reported_as_failing_with_its_stderr(tmp_path, capsys):
    from energybench.rtl.synth import find_yosys

    broken = tmp_path / "yosys"
    broken.write_text("#!/bin/sh\necho 'error while loading shared libraries: libffi.so.7' >&2\nexit 127\n")
    broken.chmod(0o755)
    with pytest.raises(UserError) as err:
        find_yosys(str(broken))
    message = str(err.value)
    assert "was found but does not work" in message and "not found" not in message
    assert f"`{broken} -V` exited with status 127" in message and "libffi.so.7" in message
    assert main(["rtl", "characterize", "--yosys", "/bin/false", "--widths", "4"]) == 2
    stderr = capsys.readouterr().err
    assert stderr.startswith("energybench rtl characterize: error: --yosys '/bin/false' was found but does not work")
    assert "exited with status 1" in stderr


def test_missing_yosys_is_still_not_found(no_tools):
    from energybench.rtl.synth import find_yosys

    with pytest.raises(UserError, match="Yosys was not found"):
        find_yosys()
    with pytest.raises(UserError, match="--yosys 'nosuch' is not an executable"):
        find_yosys("nosuch")
