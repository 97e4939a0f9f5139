"""A run on another node and architecture: metrics rows carry the architecture, node, supply,
per-level and leakage energies (adding up to the memory energy), every cell directory holds each
phase's per-layer breakdown, and the manifest says where every figure came from."""

from __future__ import annotations

import csv
import json
import math

import pytest

from energybench.cli import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("hw")
    cfg = out / "cfg.yaml"
    cfg.write_text("node: 7\narch: eyeriss_like\n")
    argv = ["run", str(cfg), "--method", "finetune", "--sharing", "0,0.5", "--epochs", "1", "--train-per-class", "6",
            "--test-per-class", "3", "--no-power", "--no-report", "--quiet", "--out", str(out), "--run-id", "r"]
    assert main(argv) == 0
    return out / "r"


def test_rows_carry_the_hardware_columns(run_dir):
    rows = list(csv.DictReader(open(run_dir / "metrics.csv")))
    assert len(rows) == 6
    for r in rows:
        assert (r["arch"], r["node_nm"], r["vdd"]) == ("eyeriss_like", "7", "0.7")
        assert r["energy_table"] == "horowitz45 at 7nm 0.7V"
        levels = [float(r[c]) for c in ("level_rf_energy_j", "level_buffer_energy_j", "level_dram_energy_j")]
        assert all(v > 0 for v in levels)
        assert math.fsum(levels) == pytest.approx(float(r["memory_energy_j"]), rel=1e-12)
        assert float(r["leakage_energy_j"]) > 0  # modelled, apart from the dynamic energy
        assert r["mapper"] == "analytic" and float(r["latency_s"]) > 0 and 0 < float(r["utilisation"]) <= 1
        assert float(r["area_mm2"]) > 0 and float(r["edp_js"]) > 0


def test_every_cell_has_each_phases_breakdown(run_dir):
    rows = {(r["sharing"], r["phase"]): r for r in csv.DictReader(open(run_dir / "metrics.csv"))}
    for s in ("0", "0.5"):
        for phase in range(3):
            path = run_dir / "cells" / f"finetune_s{s}_seed0" / f"energy_levels_phase{phase}.csv"
            lines = list(csv.DictReader(open(path)))
            assert list(lines[0]) == ["layer", "pass", "level", "reads", "writes", "energy_j", "latency_cycles",
                                      "utilisation", "mapper"]
            assert {ln["mapper"] for ln in lines} == {"analytic"}
            util = [float(ln["utilisation"]) for ln in lines]  # 0: a pass without MACs (a norm's parameters)
            assert all(0 <= u <= 1 for u in util) and max(util) > 0
            assert {ln["level"] for ln in lines} == {"rf", "glb", "dram"}
            assert {ln["pass"] for ln in lines} >= {"forward", "backward_weight", "update"}
            total = math.fsum(float(ln["energy_j"]) for ln in lines)
            row = rows[(str(float(s)), str(phase))]
            assert total == pytest.approx(float(row["memory_energy_j"]), rel=1e-9)


def test_the_manifest_records_node_supply_and_sources(run_dir):
    m = json.loads((run_dir / "manifest.json").read_text())
    hw = m["hardware"]
    assert (hw["node_nm"], hw["vdd"], hw["architecture"]["name"]) == (7, 0.7, "eyeriss_like")
    assert any("Stillmaker" in s for s in hw["scaling"]) and any("CACTI 7 runs at 22 nm" in s for s in hw["scaling"])
    assert [lv["name"] for lv in hw["levels"]] == ["rf", "glb", "dram"]
    assert "LPDDR4 8 pJ/bit" in hw["levels"][2]["source"]
    assert m["energy_table"]["node_nm"] == 7 and m["energy_table"]["scaling"]


def test_the_default_run_has_the_default_levels(tmp_path):
    argv = ["run", "--method", "finetune", "--epochs", "1", "--train-per-class", "6", "--test-per-class", "3",
            "--no-power", "--no-report", "--quiet", "--out", str(tmp_path), "--run-id", "d"]
    assert main(argv) == 0
    rows = list(csv.DictReader(open(tmp_path / "d" / "metrics.csv")))
    for r in rows:
        assert (r["arch"], r["node_nm"], r["vdd"], r["level_rf_energy_j"], r["leakage_energy_j"]) == (
            "layer_buffer", "45", "0.9", "", "")
        split = float(r["level_buffer_energy_j"]) + float(r["level_dram_energy_j"])
        assert split == pytest.approx(float(r["memory_energy_j"]), rel=1e-12)


def test_a_run_priced_with_an_exported_ert_records_its_node_and_supply(tmp_path):
    """An ERT exported at 7 nm 0.7 V (at int32, which a run takes like `cost` does) prices a run at
    that node and supply: metrics.csv says 7 and 0.7, not 45 and 1.0."""
    ert = tmp_path / "tpu7.yaml"
    assert main(["energy-table", "--node", "7", "--arch", "tpu_like", "--precision", "int32", "--export-ert",
                 str(ert)]) == 0
    argv = ["run", "--method", "finetune", "--epochs", "1", "--train-per-class", "6", "--test-per-class", "3",
            "--no-power", "--no-report", "--quiet", "--out", str(tmp_path), "--run-id", "e", "--arch", "tpu_like",
            "--energy-table", str(ert), "--precision", "int32"]
    assert main(argv) == 0
    rows = list(csv.DictReader(open(tmp_path / "e" / "metrics.csv")))
    assert rows and all((r["arch"], r["node_nm"], r["vdd"], r["precision"], r["energy_table"]) ==
                        ("tpu_like", "7", "0.7", "int32", "tpu7") for r in rows)
    # int32 MACs: horowitz45's 3.1 + 0.1 pJ x 0.06842 (45 nm 0.9 V -> 7 nm 0.7 V), not fp32's 4.6 pJ
    macs = float(rows[1]["train_macs"])
    assert float(rows[1]["compute_energy_j"]) > macs * 3.2 * 0.06842e-12
    assert float(rows[1]["compute_energy_j"]) < macs * 3.2 * 0.06842e-12 * 1.05  # + the update's ops
