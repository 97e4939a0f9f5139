"""RTL test set-up: tool requirements and one shared, reduced characterisation run.

Tests that need Icarus Verilog or Yosys skip with the reason when the tool is missing,
except on CI (CI=true), where the tools are installed and a skip would hide a failure.
"""

from __future__ import annotations

import os
import shutil

import pytest

from energybench.errors import UserError

from .rtl_helpers import REDUCED_VECTORS, REDUCED_WIDTHS


def missing_tool(reason: str) -> None:
    """Skip with ``reason``; on CI (CI=true) fail instead, so a missing tool cannot pass."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must provide this tool: {reason}")
    pytest.skip(reason)


def require_iverilog() -> None:
    missing = [tool for tool in ("iverilog", "vvp") if shutil.which(tool) is None]
    if missing:
        missing_tool(f"needs Icarus Verilog ({', '.join(missing)} not on PATH): apt-get install iverilog")


def require_yosys():
    """The Yosys the flow would use (Debian's or YoWASP's), or skip/fail."""
    from energybench.rtl.synth import find_yosys

    try:
        return find_yosys()
    except UserError as exc:
        missing_tool(f"needs Yosys: {exc}")


@pytest.fixture(scope="session")
def iverilog():
    require_iverilog()


@pytest.fixture(scope="session")
def yosys():
    return require_yosys()


@pytest.fixture(scope="session")
def reduced_table(yosys, tmp_path_factory):
    """(path, table) of one generic-model run at REDUCED_WIDTHS, written through the CLI."""
    import yaml

    from energybench.cli import main

    out = tmp_path_factory.mktemp("rtl") / "rtl45.yaml"
    code = main(
        [
            "rtl", "characterize",
            "--widths", ",".join(map(str, REDUCED_WIDTHS)),
            "--vectors", str(REDUCED_VECTORS),
            "--output-file", str(out),
            "--quiet",
        ]
    )
    assert code == 0
    return out, yaml.safe_load(out.read_text())
