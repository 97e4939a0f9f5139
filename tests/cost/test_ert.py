"""Accelergy interop: ERT export then import gives identical energies; a hand-written ERT in
Accelergy's format imports and prices a step (checked by hand); action counts price to the
step's energy; broken ERTs stop with one message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from step_helpers import profile_of
from torch import nn

from energybench.cli import main
from energybench.cost.accelergy import export_action_counts, export_ert
from energybench.cost.arch import builtin_architectures
from energybench.cost.counter import StepProfile
from energybench.cost.hardware import build_hardware
from energybench.cost.tables import load_energy_table
from energybench.errors import UserError

FIXTURE = Path(__file__).parent / "data" / "eyeriss_ert.yaml"


@pytest.fixture(scope="module")
def step():
    from energybench.training.step_profile import profile_training_step

    return profile_training_step("resnet20", (3, 16, 16), 10, batch=2, sharing=0.5)[2]


@pytest.mark.parametrize("arch", builtin_architectures())
@pytest.mark.parametrize("node", [45, 7])
def test_export_then_import_gives_identical_energies(tmp_path, step, arch, node):
    exported = build_hardware(node=node, arch=arch)
    path = tmp_path / "ert.yaml"
    path.write_text(export_ert(exported))
    assert yaml.safe_load(path.read_text())["ERT"]["version"] == 0.3
    imported = build_hardware(energy_table=path, arch=arch)
    a, b = exported.step(step), imported.step(step)
    assert b.compute_j == a.compute_j and b.memory_j == a.memory_j
    assert [lv.energy_j for lv in b.levels] == [lv.energy_j for lv in a.levels]
    assert imported.table.is_ert and "Accelergy" in imported.table.sources[0]


def test_a_hand_written_ert_prices_a_step():
    """Linear(5, 3) with its bias on the Eyeriss-like architecture, priced with the fixture:
    MAC 2.3 pJ (mac_random; split 3.7 : 0.9 into multiply and add), rf read 0.5 (the dearer
    variant) and write 0.6 (`update`), glb 6 / 7, DRAM 256 per word; the NoC is ignored."""
    layer = profile_of(nn.Linear(5, 3), (4, 5)).layers[0]
    prof = StepProfile("train", fwd_macs=60, bwd_input_macs=60, bwd_weight_macs=60, update_mults=18 * 4,
                       update_adds=18 * 4, layers=[layer])
    hw = build_hardware(energy_table=FIXTURE, arch="eyeriss_like")
    s = hw.step(prof)
    mult, add = 2.3 * 3.7 / 4.6, 2.3 * 0.9 / 4.6
    assert s.compute_j == pytest.approx((180 * 2.3 + 72 * mult + 72 * add) * 1e-12, rel=1e-12)
    # reads/writes over the four passes: test_analytic_mapper's EYERISS["linear"] (no bias) + the 3 biases
    # (forward: glb 3 / 3, DRAM read 3; their gradients: glb 3 / 3, DRAM write 3; the update of 18 elements
    # instead of 15: DRAM reads 9 and writes 6 more, glb 15 more each way)
    rf, glb, dram = s.levels
    assert (rf.reads, rf.writes, glb.reads, glb.writes, dram.reads, dram.writes) == (587, 274, 237, 237, 151, 86)
    assert rf.energy_j == pytest.approx((587 * 0.5 + 274 * 0.6) * 1e-12)
    assert glb.energy_j == pytest.approx((237 * 6.0 + 237 * 7.0) * 1e-12)
    assert dram.energy_j == pytest.approx((151 + 86) * 256 * 1e-12)
    assert not hw.leakage_on and "no static power" in hw.leakage_note
    notes = " ".join(hw.table.notes)
    assert "system.PE[0..167].rf.read: 2 argument variants; the most expensive (0.5 pJ) is used" in notes
    assert "ignored components" in notes and "system.ifmap_NoC" in notes


def test_the_cli_prices_a_step_with_the_fixture(capsys):
    assert main(["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--batch-size", "2",
                 "--energy-table", str(FIXTURE), "--arch", "eyeriss_like"]) == 0
    out = capsys.readouterr().out
    assert "read 0.5, write 0.6; Accelergy ERT" in out and "eyeriss_ert" in out


def test_version_0_2_layout_is_read_too(tmp_path):
    f = tmp_path / "old.yaml"
    f.write_text("ERT:\n  version: 0.2\n  tables:\n    sys.alu_int8:\n      mult: {arguments: null, energy: 0.3}\n"
                 "      add: [{arguments: null, energy: 0.04}]\n"
                 "    sys.DRAM:\n      read: {arguments: null, energy: 80}\n"
                 "      write: {arguments: null, energy: 80}\n    sys.buffer_4096B:\n"
                 "      read: {arguments: null, energy: 1.0}\n      write: {arguments: null, energy: 2.0}\n")
    t = load_energy_table(f)
    assert t.ops_pj == {"int8": {"add": 0.04, "mult": 0.3}} and t.ert_bits == 8
    assert t.dram_access_pj(8) == 80 and t.sram_access_pj(4096, 8) == (1.0, 2.0, False)


@pytest.mark.parametrize("text,message", [
    ("ERT:\n  version: 0.3\n  tables:\n  - name: s.mac\n    actions:\n    - {name: idle, energy: 0}\n",
     "no compute component; name one compute_<precision> (or mac, alu) with the actions mult and add, or mac"),
    ("ERT:\n  version: 0.3\n  tables:\n  - name: s.mac_fp32\n    actions:\n    - {name: mult, energy: 3}\n",
     "compute component s.mac_fp32 needs the actions mult and add, or mac (or mac_random); it has mult"),
    ("ERT:\n  version: 0.3\n  tables:\n  - name: s.mac\n    actions:\n    - {name: mac, energy: 3}\n"
     "  - name: s.glb\n    actions:\n    - {name: read, energy: 3}\n",
     "memory component s.glb has a read action but no write; give one of the actions write, update, fill"),
    ("ERT:\n  version: 0.3\n  tables:\n  - name: s.mac\n    actions:\n    - {name: mac, energy: -3}\n",
     "s.mac.mac energy must be a number of pJ >= 0, got -3"),
    ("ERT: [1]\n", "'ERT' must be a mapping with the keys version and tables"),
])
def test_an_ert_without_required_actions_is_one_clear_error(tmp_path, capsys, text, message):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(UserError, match="Accelergy ERT"):
        load_energy_table(f)
    assert main(["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--energy-table", str(f)]) == 2
    err = capsys.readouterr().err
    assert message in err and str(f) in err and err.count("\n") == 1


def test_an_ert_lacking_a_level_of_the_architecture_names_it(tmp_path):
    f = tmp_path / "noglb.yaml"
    f.write_text(FIXTURE.read_text().replace("system.glb", "system.gbuf"))
    with pytest.raises(UserError, match=r"has no component named 'glb' for the sram level of architecture "
                                        r"eyeriss_like: .*memory components in the file: rf, gbuf, DRAM"):
        build_hardware(energy_table=f, arch="eyeriss_like")
    with pytest.raises(UserError, match=r"no SRAM sized per capacity: the per-layer buffer needs components "
                                        r"<level>_<bytes>B"):
        build_hardware(energy_table=FIXTURE)  # the default per-layer buffer


def test_node_scaling_of_an_ert_is_refused():
    with pytest.raises(UserError, match="the Accelergy ERT .* is used as given"):
        build_hardware(energy_table=FIXTURE, arch="eyeriss_like", node=7)


@pytest.mark.parametrize("arch", ["eyeriss_like", "layer_buffer"])
def test_action_counts_priced_with_the_exported_ert_give_the_steps_energy(step, arch):
    hw = build_hardware(arch=arch, node=7)
    ert = yaml.safe_load(export_ert(hw))["ERT"]["tables"]
    energy = {(t["name"], a["name"]): a["energy"] for t in ert for a in t["actions"]}
    doc = yaml.safe_load(export_action_counts(hw, step))
    total = doc["action_counts"]
    assert total["version"] == 0.3
    counts = {(c["name"], a["name"]): a["counts"] for c in total["local"] for a in c["action_counts"]}
    assert counts[("system.compute_fp32", "mac")] == step.train_macs
    assert counts[("system.compute_fp32", "mult")] == step.update_mults
    priced = sum(n * energy[k] for k, n in counts.items()) * 1e-12
    s = hw.step(step)
    assert priced == pytest.approx(s.compute_j + s.memory_j, rel=1e-6)  # counts are rounded to whole actions
    # per layer: the MACs add up to the step's
    macs = sum(a["counts"] for layer in doc["layers"] for c in layer["local"] for a in c["action_counts"]
               if a["name"] == "mac")
    assert macs == step.train_macs


def test_export_actions_from_the_cli(tmp_path, capsys):
    f = tmp_path / "actions.yaml"
    assert main(["cost", "--backbone", "lenet", "--input", "1x28x28", "--arch", "tpu_like", "--export-actions",
                 str(f)]) == 0
    doc = yaml.safe_load(f.read_text())
    assert [c["name"] for c in doc["action_counts"]["local"]] == [
        "system.compute_fp32", "system.pe_regs", "system.unified_buffer", "system.hbm"]
    assert main(["cost", "--backbone", "lenet", "--input", "1x28x28", "--node", "45,7", "--export-actions",
                 str(f)]) == 2
    assert "--export-actions writes one step" in capsys.readouterr().err


def test_an_exported_ert_reads_back_in_energy_table(tmp_path, capsys):
    """The tpu_like ERT has no component named DRAM (its DRAM level is `hbm`): the table has no
    DRAM figure, which the text output used to format as a number and crash on."""
    f = tmp_path / "tpu7.yaml"
    assert main(["energy-table", "--node", "7", "--arch", "tpu_like", "--export-ert", str(f)]) == 0
    capsys.readouterr()
    assert main(["energy-table", "--energy-table", str(f), "--arch", "tpu_like"]) == 0
    out = capsys.readouterr().out
    assert "DRAM: none in this ERT" in out and "node 7 nm, logic supply 0.7 V" in out
    assert "hbm              read 124.8 pJ, write 124.8 pJ" in out  # HBM2 3.9 pJ/bit x 32 bits, as exported
    # without --arch: on the built-in architecture it was exported with (as the help says)
    assert main(["energy-table", "--energy-table", str(f)]) == 0
    assert "architecture tpu_like, per access of one fp32 word:" in capsys.readouterr().out
    # another architecture: one message naming the one the ERT was exported with
    assert main(["energy-table", "--energy-table", str(f), "--arch", "eyeriss_like"]) == 2
    err = capsys.readouterr().err
    assert "has no component named 'glb' for the sram level of architecture eyeriss_like" in err
    assert err.count("\n") == 1 and "exported with (ERT.attributes.architecture): pass --arch tpu_like" in err


def test_an_exported_ert_prices_a_step_as_the_table_it_was_exported_from(tmp_path, capsys):
    """Export, then cost on the ERT alone (its architecture from ERT.attributes): every dynamic
    energy the same, element-wise work's accesses included (priced at SRAMs sized per layer, which
    tpu_like has no level of: the export carries them as elementwise_buffer_<bytes>B); leakage is
    in no ERT."""
    f = tmp_path / "tpu7.yaml"
    assert main(["energy-table", "--node", "7", "--arch", "tpu_like", "--export-ert", str(f)]) == 0
    capsys.readouterr()
    step = ["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--json"]
    direct = json.loads(_cli(capsys, *step, "--node", "7", "--arch", "tpu_like"))
    read = json.loads(_cli(capsys, *step, "--energy-table", str(f)))
    for key in ("compute_energy_j", "memory_energy_j", "elementwise_compute_energy_j", "elementwise_memory_energy_j"):
        assert read[key] == direct[key] and direct[key] > 0, key
    assert [lv["energy_j"] for lv in read["hierarchy"]["levels"]] == [
        lv["energy_j"] for lv in direct["hierarchy"]["levels"]]
    assert read["hierarchy"]["leakage_w"] is None and direct["hierarchy"]["leakage_w"] > 0


def test_an_ert_without_attributes_says_to_pass_its_architecture(capsys):
    assert main(["energy-table", "--energy-table", str(FIXTURE)]) == 2
    assert "pass the --arch it was exported with" in capsys.readouterr().err


def test_the_export_records_node_supply_and_architecture_and_the_import_reads_them(tmp_path, capsys):
    hw = build_hardware(node=7, arch="tpu_like")
    f = tmp_path / "tpu7.yaml"
    f.write_text(export_ert(hw))
    ert = yaml.safe_load(f.read_text())["ERT"]
    # Accelergy reads version and tables (a list of {name, actions}); attributes sits beside them
    assert list(ert) == ["version", "attributes", "tables"] and ert["version"] == 0.3
    assert ert["attributes"] == {"node_nm": 7, "vdd": 0.7, "architecture": "tpu_like"}
    table = load_energy_table(f)
    assert (table.node_nm, table.own_vdd, table.ert_arch) == (7, 0.7, "tpu_like")
    assert "for 7 nm, 0.7 V (its ERT.attributes)" in table.sources[0]
    assert (table.describe()["node_nm"], table.describe()["vdd"]) == (7, 0.7)
    d = json.loads(_cli(capsys, "cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--energy-table", str(f),
                        "--arch", "tpu_like", "--json"))
    assert (d["hierarchy"]["node_nm"], d["hierarchy"]["vdd"]) == (7, 0.7)
    out = _cli(capsys, "cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--energy-table", str(f), "--arch",
               "tpu_like", "--sharing", "0,0.5")
    assert out.count("  7nm   0.7 ") == 2  # the Node and Vdd columns of both sharing levels
    # a supply at another node is refused, naming the ERT's own
    with pytest.raises(UserError, match=r"energies of its own node \(7 nm, 0.7 V\)"):
        build_hardware(energy_table=f, arch="tpu_like", node=45)


def _cli(capsys, *argv) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def test_an_ert_without_attributes_has_an_unknown_node_and_supply(capsys):
    """Accelergy's own ERTs do not say which node they are for: recorded as unknown (None, an
    empty metrics cell), never as 45 nm."""
    table = load_energy_table(FIXTURE)
    assert (table.node_nm, table.own_vdd) == (None, None)
    assert "node and supply unknown: the file has no ERT.attributes node_nm and vdd" in table.sources[0]
    hw = build_hardware(energy_table=FIXTURE, arch="eyeriss_like")
    assert (hw.describe()["node_nm"], hw.describe()["vdd"]) == (None, None)
    d = json.loads(_cli(capsys, "cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--energy-table", str(FIXTURE),
                        "--arch", "eyeriss_like", "--json"))
    assert (d["hierarchy"]["node_nm"], d["hierarchy"]["vdd"]) == (None, None)
    out = _cli(capsys, "cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--energy-table", str(FIXTURE), "--arch",
               "eyeriss_like")
    assert "at an unknown node and supply (the ERT does not record them)" in out
    out = _cli(capsys, "cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--energy-table", str(FIXTURE), "--arch",
               "eyeriss_like", "--sharing", "0,0.5")
    assert out.count("    ?     ?  ") == 2
    with pytest.raises(UserError, match=r"own node \(node and supply unknown: the ERT does not record them\) and is "
                                        r"used as given"):
        build_hardware(energy_table=FIXTURE, arch="eyeriss_like", node=7)


def test_a_level_given_at_a_node_needs_the_erts_node(tmp_path):
    """A level priced from figures at a node is moved to the table's node: impossible when an
    ERT does not say its node, so the run stops naming what to add."""
    arch = tmp_path / "arch.yaml"
    arch.write_text("name: two\ndescription: d\ndataflow: weight_stationary\narray: {rows: 2, cols: 2}\n"
                    "levels:\n  - {name: regs, kind: sram, capacity_bytes: 4096, energy: {read_pj: 1, write_pj: 1, "
                    "node_nm: 45}}\n"
                    "  - {name: dram, kind: dram, type: LPDDR4}\n")
    with pytest.raises(UserError, match=r"does not record the node its energies are for, so the energy given at 45 "
                                        r"nm of level 'regs' .*add attributes: \{node_nm: NM, vdd: V\} under the "
                                        r"file's ERT key"):
        build_hardware(energy_table=FIXTURE, arch=arch)
    known = tmp_path / "at7.yaml"
    known.write_text(FIXTURE.read_text().replace("  version: 0.3\n", "  version: 0.3\n  attributes: {node_nm: 7}\n"))
    hw = build_hardware(energy_table=known, arch=arch)
    assert hw.table.own_vdd == 0.7  # 7 nm's nominal supply
    read, _, source, _ = hw.access_pj("regs")
    assert source.startswith("given at 45 nm 1 V, scaled x") and read < 0.2  # 45 -> 7 nm is ~x0.06


@pytest.mark.parametrize("attributes,message", [
    ("{node: 7}", "ERT.attributes must be a mapping with the keys node_nm, vdd, architecture; unknown: node"),
    ("{vdd: 0.7}", "ERT.attributes.vdd needs node_nm"),
    ("{node_nm: 8}", "ERT.attributes.node_nm: unknown technology node 8 nm; valid nodes"),
    ("{node_nm: 7, vdd: -1}", "ERT.attributes.vdd must be a positive supply voltage, got -1"),
    ("[7]", "ERT.attributes must be a mapping"),
])
def test_bad_ert_attributes_are_one_clear_error(tmp_path, capsys, attributes, message):
    f = tmp_path / "bad.yaml"
    f.write_text(FIXTURE.read_text().replace("  version: 0.3\n", f"  version: 0.3\n  attributes: {attributes}\n"))
    assert main(["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--energy-table", str(f), "--arch",
                 "eyeriss_like"]) == 2
    err = capsys.readouterr().err
    assert message in err and str(f) in err and err.count("\n") == 1
