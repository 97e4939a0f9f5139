"""Energy tables: built-ins with sources, SRAM interpolation/extrapolation, user overrides and
clear errors for broken files."""

from __future__ import annotations

import math

import pytest

from energybench.cost.tables import builtin_tables, load_energy_table, precision_bits, sram_cells
from energybench.errors import UserError


def test_default_table_is_horowitz_with_sources():
    t = load_energy_table()
    assert t.name == "horowitz45" and t.origin == "builtin:horowitz45"
    assert any("Horowitz" in s for s in t.sources) and any("CACTI" in s for s in t.sources)
    assert t.mac_pj("fp32") == pytest.approx(3.7 + 0.9)
    assert t.mac_pj("int8") == pytest.approx(0.2 + 0.03)
    assert t.mac_pj("fp16") == pytest.approx(1.1 + 0.4)
    assert t.dram_access_pj(64) == pytest.approx(30.5 * 64)  # ~1.95 nJ, midpoint of 1.3-2.6 nJ
    assert t.sram_cell == "itrs-lstp"
    assert set(builtin_tables()) >= {"horowitz45", "aladdin45"}


def test_missing_precisions_are_derived_and_flagged():
    t = load_energy_table()
    assert t.op_pj("int16", "mult") == pytest.approx(0.8) and t.op_pj("int16", "add") == 0.05
    assert t.ops_pj["bf16"] == t.ops_pj["fp16"]
    notes = " ".join(t.notes)
    assert "int16" in notes and "bf16" in notes


def test_aladdin_table():
    t = load_energy_table("aladdin45")
    assert t.op_pj("fp32", "mult") == 24.4 and t.op_pj("int32", "add") == 0.0857
    assert t.op_pj("int8", "mult") == pytest.approx(8.63 / 16)  # multipliers scale with width^2
    assert t.register_pj_per_bit == 0.009


def test_sram_table_rows_are_exact():
    t = load_energy_table()
    assert t.sram_access_pj(8192, 64) == (6.13702, pytest.approx(7.87807), False)
    read, write, extra = t.sram_access_pj(1048576, 32, "itrs-hp")
    assert (read, write, extra) == (41.2937, pytest.approx(35.3969), False)


def test_sram_interpolates_in_log_log():
    t = load_energy_table()
    lo, hi = t.sram_access_pj(65536, 32), t.sram_access_pj(131072, 32)
    mid = t.sram_access_pj(math.sqrt(65536 * 131072), 32)
    assert mid[0] == pytest.approx(math.sqrt(lo[0] * hi[0]))  # geometric midpoint in log-log
    assert mid[1] == pytest.approx(math.sqrt(lo[1] * hi[1]))
    assert not mid[2]


def test_sram_extrapolates_with_the_nearest_two_rows_and_says_so():
    t = load_energy_table()
    r4, r8 = t.sram_access_pj(4 << 20, 32)[0], t.sram_access_pj(8 << 20, 32)[0]
    read16, _, extra = t.sram_access_pj(16 << 20, 32)
    assert extra and read16 == pytest.approx(r8 * r8 / r4)
    k4, k8 = t.sram_access_pj(4096, 32)[0], t.sram_access_pj(8192, 32)[0]
    read2, _, extra = t.sram_access_pj(2048, 32)
    assert extra and read2 == pytest.approx(k4 * k4 / k8)


def test_narrow_words_are_packed_into_32_bit_accesses():
    t = load_energy_table()
    r32 = t.sram_access_pj(32768, 32)[0]
    assert t.sram_access_pj(32768, 16)[0] == pytest.approx(r32 / 2)
    assert t.sram_access_pj(32768, 8)[0] == pytest.approx(r32 / 4)


def test_a_wider_word_never_costs_less():
    """33-63 bits: linear between the 32-bit row's full word and the 64-bit row's, by width (as a
    share of the 64-bit access, 33 bits cost 0.75x a 32-bit word at 64 KB: the 64-bit array's
    access costs less per bit). 32 and 64 bits are their rows' figures as before."""
    t = load_energy_table()
    for cap in (4096, 65536, 8 << 20):
        reads = [t.sram_access_pj(cap, bits)[0] for bits in range(1, 129)]
        writes = [t.sram_access_pj(cap, bits)[1] for bits in range(1, 129)]
        assert all(a < b for a, b in zip(reads, reads[1:])) and all(a < b for a, b in zip(writes, writes[1:])), cap
    r32, r64 = t.sram_access_pj(65536, 32), t.sram_access_pj(65536, 64)
    assert t.sram_access_pj(65536, 48)[:2] == pytest.approx(((r32[0] + r64[0]) / 2, (r32[1] + r64[1]) / 2))
    assert t.sram_access_pj(8192, 64) == (6.13702, pytest.approx(7.87807), False)  # the 64-bit row itself
    assert t.sram_access_pj(65536, 48)[2] is False and t.sram_access_pj(65536, 65)[2] is True


def test_sram_cells_and_bad_cell():
    assert sram_cells() == ["itrs-hp", "itrs-lop", "itrs-lstp"]
    with pytest.raises(UserError, match="unknown SRAM cell type 'sram9'.*itrs-hp"):
        load_energy_table().sram_access_pj(4096, 32, "sram9")


def test_a_swapped_precision_name_is_said_and_a_new_width_is_not(tmp_path, recwarn):
    """fp23 in a table file is taken as a precision of its own (as rtl characterize's int2 and int4
    are), leaving fp32 at horowitz45's energies: a warning names fp32; int4 and fp24 get none."""
    f = tmp_path / "t.yaml"
    f.write_text("name: t\nops_pj: {fp23: {add: 2, mult: 4}, int4: {add: 0.01, mult: 0.05}, fp24: {add: 1, mult: 2}}\n")
    t = load_energy_table(str(f))
    assert t.op_pj("fp23", "mult") == 4 and t.op_pj("fp32", "mult") == 3.7
    assert [str(w.message) for w in recwarn] == [
        f"energy table {f}: ops_pj.fp23 is not a built-in precision (did you mean 'fp32'?); it is priced as a "
        "precision of its own, and fp32 keeps the default table's energies"]


def test_user_table_merges_over_the_default(tmp_path):
    f = tmp_path / "rtl.yaml"
    f.write_text("name: rtl45\ndescription: from synthesis\nsources: [my RTL run]\n"
                 "ops_pj:\n  fp32: {mult: 10.0}\n  int8: {add: 0.05, mult: 0.3}\n"
                 "sram: {cell: itrs-hp}\nrtl: {liberty: foo.lib, toggles: 1000}\n")
    t = load_energy_table(str(f))
    assert t.name == "rtl45" and t.origin == str(f)
    assert t.op_pj("fp32", "mult") == 10.0 and t.op_pj("fp32", "add") == 0.9  # add inherited
    assert t.mac_pj("int8") == pytest.approx(0.35)
    assert t.op_pj("fp16", "mult") == 1.1 and t.dram_pj_per_bit == 30.5
    assert t.sram_cell == "itrs-hp"
    assert t.sources[0] == "my RTL run" and any("horowitz45" in s for s in t.sources[1:])
    assert t.extra == {"rtl": {"liberty": "foo.lib", "toggles": 1000}}


def test_user_table_may_add_a_precision(tmp_path):
    f = tmp_path / "fp8.yaml"
    f.write_text("ops_pj:\n  fp8: {add: 0.1, mult: 0.3}\n")
    t = load_energy_table(f)
    assert t.name == "fp8" and t.mac_pj("fp8") == pytest.approx(0.4)


@pytest.mark.parametrize("text,message", [
    ("ops_pj: [1, 2]", "ops_pj must map precisions"),
    ("ops_pj:\n  fp32: {add: -1}\n", "ops_pj.fp32.add must be a positive number, got -1"),
    ("ops_pj:\n  fp32: {add: fast}\n", "ops_pj.fp32.add must be a positive number, got 'fast'"),
    ("ops_pj:\n  fp32: {div: 1.0}\n", "ops_pj.fp32.div is not an op; valid ops: add, mult"),
    ("ops_pj:\n  float: {add: 1.0, mult: 1.0}\n", "ops_pj key 'float' is not a precision"),
    ("ops_pj:\n  fp8: {add: 1.0}\n", "ops_pj.fp8 lacks mult"),
    ("dram_pj_per_bit: 0\n", "dram_pj_per_bit must be a positive number"),
    ("sram: {cell: dram}\n", "sram.cell 'dram' is not one of itrs-hp"),
    ("sram: {size: 4096}\n", "sram must be a mapping with the key 'cell'"),
    ("sources: 3\n", "sources must be a list of strings"),
    ("name: [a]\n", "name must be a non-empty string"),
    ("- just\n- a list\n", "must be a YAML mapping"),
    ("ops_pj: {fp32: {add: 1.0\n", "is not valid YAML at line 2, column 1: expected ',' or '}'"),
    ("name: x\n  bad: 1\nsources: [a]\n", "is not valid YAML at line 2, column 6: mapping values are not allowed"),
    ("dram_pj_per_bits: 20\n", "unknown key 'dram_pj_per_bits' (did you mean 'dram_pj_per_bit'?); valid keys: "
                               "name, description, sources, ops_pj, dram_pj_per_bit, register_pj_per_bit, sram, "
                               "notes, node_nm, vdd, rtl"),
    ("opts: {}\n", "unknown key 'opts'"),
])
def test_malformed_table_names_the_file_and_the_key(tmp_path, text, message):
    f = tmp_path / "broken.yaml"
    f.write_text(text)
    with pytest.raises(UserError) as err:
        load_energy_table(str(f))
    assert str(f) in str(err.value) and message in str(err.value)


def test_unknown_table_name():
    with pytest.raises(UserError, match="'horowitz22' is neither a file nor a built-in table .*aladdin45"):
        load_energy_table("horowitz22")


def test_missing_precision_is_a_clear_error():
    with pytest.raises(UserError, match="no ops_pj entry for precision 'fp8'"):
        load_energy_table().mac_pj("fp8")


def test_precision_bits():
    assert [precision_bits(p) for p in ("fp32", "fp16", "bf16", "int8", "int16")] == [32, 16, 16, 8, 16]
    with pytest.raises(UserError, match="precision 'double'"):
        precision_bits("double")


def test_describe_is_json_ready():
    import json

    d = load_energy_table().describe()
    assert json.loads(json.dumps(d))["name"] == "horowitz45" and d["sources"]


def test_label_names_the_default_where_a_precision_came_from_it(tmp_path):
    f = tmp_path / "rtl8.yaml"  # what `rtl characterize --widths 8` writes: int8 only
    f.write_text("name: rtl-generic-45nm\nsources: [synthesis]\nops_pj: {int8: {add: 0.04, mult: 0.25}}\n"
                 "rtl: {vectors: 10}\n")
    t = load_energy_table(f)
    assert t.name == "rtl-generic-45nm"
    assert t.label("int8") == "rtl-generic-45nm"
    assert t.label("fp32") == "rtl-generic-45nm (fp32 from horowitz45)"
    assert t.mac_pj("fp32") == pytest.approx(4.6)  # horowitz45's values behind that label
    assert t.describe()["ops_from_horowitz45"]["fp32"] == ["add", "mult"] and "int8" not in t.inherited
    g = tmp_path / "half.yaml"
    g.write_text("ops_pj: {fp32: {mult: 10.0}}\n")
    assert load_energy_table(g).label("fp32") == "half (fp32 add from horowitz45)"
    builtin = load_energy_table("aladdin45")
    assert builtin.label("fp32") == "aladdin45" and "ops_from_horowitz45" not in builtin.describe()


def test_ledger_rows_carry_the_label(tmp_path):
    from energybench.cost.ledger import CostLedger

    f = tmp_path / "rtl8.yaml"
    f.write_text("ops_pj: {int8: {add: 0.04, mult: 0.25}}\n")
    table = load_energy_table(f)
    assert CostLedger().row(table, "fp32")["energy_table"] == "rtl8 (fp32 from horowitz45)"
    assert CostLedger().row(table, "int8")["energy_table"] == "rtl8"


def test_words_wider_than_cactis_rows_are_scaled_and_flagged():
    t = load_energy_table()
    r64, w64, extra64 = t.sram_access_pj(65536, 64)
    r128, w128, extra128 = t.sram_access_pj(65536, 128)
    assert not extra64 and extra128
    assert (r128, w128) == (pytest.approx(2 * r64), pytest.approx(2 * w64))


def test_a_file_at_its_own_supply_moves_what_it_inherits_there(tmp_path):
    """What `rtl characterize` writes: int8 at 45 nm 1.0 V. The merged table is at 1.0 V (not
    horowitz45's 0.9 V), and horowitz45's fp32 is moved there by Stillmaker and Baas's 45 nm HP
    polynomial E(V) = 1.018 V^2 - 0.3107 V + 0.1539: E(1.0) / E(0.9) = 0.8612 / 0.69885."""
    f = tmp_path / "table.yaml"
    f.write_text("name: rtl-generic-45nm\nops_pj: {int8: {add: 0.08, mult: 0.6}}\nnode_nm: 45\nvdd: 1.0\n")
    t = load_energy_table(f)
    assert (t.node_nm, t.own_vdd) == (45, 1.0)
    assert t.ops_pj["int8"] == {"add": 0.08, "mult": 0.6}  # the file's own, as given
    k = 0.8612 / (1.018 * 0.81 - 0.3107 * 0.9 + 0.1539)
    assert t.op_pj("fp32", "mult") == pytest.approx(3.7 * k, rel=1e-12) and k == pytest.approx(1.2323, abs=1e-4)
    assert t.inherited_at == (45, 0.9) and any("moved from 45 nm 0.9 V to the file's 45 nm 1 V" in n for n in t.notes)
    # at 7 nm, horowitz45's fp32 comes out as horowitz45 scaled there directly; the file's int8 from 1.0 V
    from energybench.cost.technology import at_node

    seven = at_node(t, 7)
    direct = at_node(load_energy_table(), 7)
    assert seven.op_pj("fp32", "mult") == pytest.approx(direct.op_pj("fp32", "mult"), rel=1e-12)
    factor = seven.op_pj("fp32", "mult") / t.op_pj("fp32", "mult")  # one factor, from 45 nm 1.0 V, for both
    assert seven.op_pj("int8", "mult") == pytest.approx(0.6 * factor, rel=1e-12)
    assert "energy from 45 nm 1 V to 7 nm 0.7 V" in seven.scaling[0]


def test_a_file_that_gives_a_node_alone_is_at_its_nominal_supply(tmp_path):
    f = tmp_path / "t7.yaml"
    f.write_text("ops_pj: {int8: {add: 0.005, mult: 0.02}}\nnode_nm: 7\n")
    t = load_energy_table(f)
    assert (t.node_nm, t.vdd, t.own_vdd) == (7, None, 0.7)  # not horowitz45's 0.9 V
    from energybench.cost.technology import at_node

    assert t.op_pj("fp32", "mult") == pytest.approx(at_node(load_energy_table(), 7).op_pj("fp32", "mult"),
                                                    rel=1e-12)


def test_a_supply_the_fit_cannot_move_inherited_figures_to_is_refused(tmp_path):
    f = tmp_path / "hot.yaml"
    f.write_text("ops_pj: {int8: {add: 0.1, mult: 0.9}}\nvdd: 1.8\n")
    with pytest.raises(UserError, match=r"its figures are at 45 nm 1.8 V, outside the 45 nm range 0.5-1.1 V .* set "
                                        r"node_nm to the node its figures are for, or give add and mult for every "
                                        r"precision \(fp32, fp16, bf16, int8, int16, int32\)"):
        load_energy_table(f)
    full = tmp_path / "full.yaml"  # nothing inherited: nothing to move, the file's figures as given
    full.write_text("ops_pj: {" + ", ".join(f"{p}: {{add: 0.1, mult: 0.9}}" for p in
                                            ("fp32", "fp16", "bf16", "int8", "int16", "int32")) + "}\nvdd: 1.8\n")
    assert load_energy_table(full).own_vdd == 1.8


def test_op_source_names_the_file_the_base_and_every_move(tmp_path):
    from energybench.cost.technology import at_node

    assert load_energy_table().op_source("fp32") == "horowitz45"
    assert at_node(load_energy_table(), 7).op_source("int8") == "horowitz45, scaled from 45 nm 0.9 V to 7 nm 0.7 V"
    f = tmp_path / "rtl8.yaml"
    f.write_text("ops_pj: {int8: {add: 0.04, mult: 0.25}, fp32: {mult: 10.0}}\n")
    t = load_energy_table(f)
    assert (t.op_source("int8"), t.op_source("fp16"), t.op_source("fp32")) == (
        "rtl8.yaml", "horowitz45", "rtl8.yaml, add from horowitz45")
    g = tmp_path / "at1v.yaml"
    g.write_text("ops_pj: {int8: {add: 0.04, mult: 0.25}}\nvdd: 1.0\n")
    t = at_node(load_energy_table(g), 7)
    assert t.op_source("int8") == "at1v.yaml, scaled from 45 nm 1 V to 7 nm 0.7 V"
    assert t.op_source("fp32") == ("horowitz45 at 45 nm 0.9 V, moved to the file's 45 nm 1 V, scaled from 45 nm 1 V "
                                   "to 7 nm 0.7 V")
