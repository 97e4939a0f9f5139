"""The produced energy table: its format, width scaling, the 32-bit mult/add ratio, and
loading it through the cost model. Also the CLI's input checks and atomic writes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from energybench.cli import main
from energybench.rtl.characterize import write_table

from .rtl_helpers import REDUCED_WIDTHS, TINY_LIB


def is_positive_number(value) -> bool:
    return isinstance(value, float) and value > 0 and math.isfinite(value)


def test_table_has_the_shared_format(reduced_table):
    _, table = reduced_table
    assert list(table)[:7] == ["name", "description", "sources", "ops_pj", "node_nm", "vdd", "rtl"]
    assert table["name"] == "rtl-generic-45nm"
    assert (table["node_nm"], table["vdd"]) == (45, 1.0)  # the generic model's node and default supply
    assert isinstance(table["description"], str) and table["description"]
    assert isinstance(table["sources"], list) and all(isinstance(s, str) and s for s in table["sources"])
    assert any("Weste" in s for s in table["sources"]) and any("Yosys" in s for s in table["sources"])
    assert set(table["ops_pj"]) == {f"int{w}" for w in REDUCED_WIDTHS}
    for ops in table["ops_pj"].values():
        assert set(ops) == {"add", "mult"}
        assert all(is_positive_number(v) for v in ops.values())
    rtl = table["rtl"]
    assert "toggle" in rtl["method"] and rtl["vectors"] > 0
    for w in REDUCED_WIDTHS:
        for op, cell in (("add", "ripple_carry_adder"), ("mult", "array_multiplier")):
            record = rtl["units"][f"int{w}_{op}"]
            assert record["cell"] == cell and record["width"] == w
            assert record["energy_pj"] == table["ops_pj"][f"int{w}"][op]
            assert record["gates"] > 0 and record["checked_results"] >= rtl["vectors"]
            assert is_positive_number(record["toggles_per_op"])


def fitted_exponent(table: dict, op: str) -> float:
    widths = np.array(REDUCED_WIDTHS, dtype=float)
    energy = np.array([table["ops_pj"][f"int{w}"][op] for w in REDUCED_WIDTHS])
    slope, _ = np.polyfit(np.log(widths), np.log(energy), 1)
    return float(slope)


def test_adder_energy_is_linear_and_multiplier_quadratic_in_width(reduced_table):
    _, table = reduced_table
    add, mult = fitted_exponent(table, "add"), fitted_exponent(table, "mult")
    assert 0.85 <= add <= 1.2, add  # ~ width^1
    assert mult >= 1.8 and mult <= 2.3, mult  # ~ width^2


def test_32_bit_mult_to_add_ratio_is_near_horowitz(reduced_table):
    _, table = reduced_table
    ops = table["ops_pj"]["int32"]
    assert 10 <= ops["mult"] / ops["add"] <= 60  # Horowitz (ISSCC 2014): 3.1 / 0.1 = 31
    # Within 2-4x of Horowitz's absolute figures without glitches (0.1 pJ add, 3.1 pJ mult).
    assert 0.1 <= ops["add"] <= 0.6 and 3.1 <= ops["mult"] <= 16


def test_table_loads_as_an_energy_table_and_changes_energies(reduced_table):
    from energybench.cost.tables import load_energy_table

    path, table = reduced_table
    default = load_energy_table()
    loaded = load_energy_table(path)
    assert loaded.name == "rtl-generic-45nm"
    for w in REDUCED_WIDTHS:
        precision = f"int{w}"
        assert loaded.op_pj(precision, "add") == table["ops_pj"][precision]["add"]
        assert loaded.op_pj(precision, "mult") == table["ops_pj"][precision]["mult"]
        assert loaded.mac_pj(precision) != pytest.approx(default.mac_pj(precision), rel=0.05)
    assert "rtl" in loaded.extra  # kept, ignored by the cost model
    assert (loaded.node_nm, loaded.own_vdd) == (45, 1.0)  # its own supply, not horowitz45's 0.9 V


def test_the_table_states_the_node_and_supply_it_was_characterised_at():
    """build_table writes node_nm (the generic model's; a Liberty file does not state one) and
    the library's supply, which the cost model reads when it merges the table."""
    from energybench.rtl.characterize import Options, build_table
    from energybench.rtl.energy_model import generic_library
    from energybench.rtl.liberty import load_liberty
    from energybench.rtl.synth import Yosys

    records = {"int8_add": {"energy_pj": 0.07}, "int8_mult": {"energy_pj": 0.5}}
    yosys = Yosys(("yosys",), "Yosys 0.0")
    table = build_table(Options(widths=[8]), generic_library(0.9), yosys, records)
    assert (table["node_nm"], table["vdd"]) == (45, 0.9)
    lib = load_liberty(TINY_LIB).library
    table = build_table(Options(widths=[8], liberty_file=TINY_LIB), lib, yosys, records)
    assert "node_nm" not in table and table["vdd"] == lib.vdd_v == 1.0


def test_energy_table_shows_the_characterised_supply_and_whose_figures_each_row_has(reduced_table, capsys):
    path, table = reduced_table
    assert main(["energy-table", "--energy-table", str(path)]) == 0
    out = capsys.readouterr().out
    assert "node 45 nm, logic supply 1 V" in out
    rows = {ln.split()[0]: ln for ln in out.splitlines() if ln.split()}
    assert rows["int8"].endswith(f"(from {path.name})")
    assert rows["fp32"].endswith("(from horowitz45 at 45 nm 0.9 V, moved to the file's 45 nm 1 V)")
    assert main(["energy-table", "--energy-table", str(path), "--node", "7"]) == 0
    out = capsys.readouterr().out
    assert "energy from 45 nm 1 V to 7 nm 0.7 V" in out and "from 45 nm 0.9 V to 7" not in out


def test_stdout_output_and_summary(yosys, capsys):
    assert main(["rtl", "characterize", "--widths", "4", "--vectors", "64", "--jobs", "1"]) == 0
    captured = capsys.readouterr()
    table = yaml.safe_load(captured.out)
    assert set(table["ops_pj"]) == {"int4"}
    assert "mult/add" in captured.err and "int4" in captured.err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--widths", "0"], "outside 2-64"),
        (["--widths", "abc"], "not a whole number"),
        (["--widths", "8,,16"], "not a whole number"),
        (["--widths", "65"], "outside 2-64"),
        (["--vectors", "0"], "--vectors must be from 1 to 10,000,000, got 0"),
        (["--liberty", "missing.lib"], "no such file"),
        (["--liberty", "."], "a directory; give a Liberty (.lib) file"),
        (["--vdd", "0.9", "--liberty", "LIB"], "--vdd applies"),
        (["--output-file", "no/such/dir/t.yaml"], "does not exist"),
    ],
)
def test_bad_input_is_a_clean_error(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    args = [str(TINY_LIB) if a == "LIB" else a for a in args]
    assert main(["rtl", "characterize", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("energybench rtl characterize: error: ")
    assert message in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_out_folder_and_unwritable_out(tmp_path, capsys, monkeypatch):
    assert main(["rtl", "characterize", "--output-file", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    import os

    monkeypatch.setattr(os, "access", lambda path, mode: False)  # as for a read-only folder
    assert main(["rtl", "characterize", "--output-file", str(tmp_path / "t.yaml")]) == 2
    assert "not writable" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_write_table_is_atomic(tmp_path, monkeypatch):
    out = tmp_path / "t.yaml"
    out.write_text("previous: table\n")

    def explode(*args, **kwargs):
        args[1].write("name: half-writ")  # part of the file, then a crash
        raise RuntimeError("disk full")

    monkeypatch.setattr(yaml, "safe_dump", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        write_table({"name": "x"}, out)
    assert out.read_text() == "previous: table\n"
    assert [p.name for p in tmp_path.iterdir()] == ["t.yaml"]
    monkeypatch.undo()
    write_table({"name": "x", "ops_pj": {"int8": {"add": 0.1, "mult": 1.0}}}, out)
    assert yaml.safe_load(out.read_text())["ops_pj"]["int8"]["mult"] == 1.0


def test_bare_rtl_prints_its_help_and_exits_2(capsys):
    assert main(["rtl"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "usage: energybench rtl" in captured.err and "characterize" in captured.err
    assert "energybench rtl: error: a subcommand is required: characterize" in captured.err


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_written_table_has_a_plain_files_mode(tmp_path, umask, mode):
    import os
    import stat

    old = os.umask(umask)
    try:
        write_table({"name": "x"}, tmp_path / "t.yaml")  # mkstemp alone leaves 0600 whatever the umask
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "t.yaml").stat().st_mode) == mode


def test_rewritten_table_keeps_its_mode(tmp_path):
    import stat

    out = tmp_path / "t.yaml"
    out.write_text("previous: table\n")
    out.chmod(0o640)
    write_table({"name": "x"}, out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o640 and yaml.safe_load(out.read_text()) == {"name": "x"}


@pytest.mark.parametrize("terminal", [False, True])
def test_progress_bars_only_on_a_terminal(tmp_path, monkeypatch, capsys, terminal):
    """Bars redraw with carriage returns: in redirected output they are noise."""
    import sys

    import energybench.rtl.characterize as characterize_module
    import energybench.rtl.synth as synth

    seen = []
    table = {"name": "t", "ops_pj": {"int8": {"add": 0.1, "mult": 1.0}}}
    monkeypatch.setattr(characterize_module, "characterize",
                        lambda options, library, yosys, progress: seen.append(progress) or table)
    monkeypatch.setattr(synth, "find_yosys", lambda path: "yosys")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)
    assert main(["rtl", "characterize", "--widths", "8", "--output-file", str(tmp_path / "t.yaml")]) == 0
    assert main(["rtl", "characterize", "--widths", "8", "--output-file", str(tmp_path / "t.yaml"), "--quiet"]) == 0
    assert seen == [terminal, False]


def test_the_adder_is_named_in_any_case():
    from energybench.cli import build_parser

    assert build_parser().parse_args(["rtl", "characterize", "--adder", "KOGGE_STONE"]).adder == "kogge_stone"
