"""Architecture files: the shipped ones load, a user file prices a step, and every broken file
stops with one message naming the file, the level, the field and the valid values."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from energybench.cli import main
from energybench.cost.arch import builtin_architectures, load_architecture
from energybench.cost.hardware import build_hardware
from energybench.errors import UserError

GOOD = {
    "name": "mine", "description": "a test accelerator", "dataflow": "output_stationary",
    "array": {"rows": 4, "cols": 4}, "clock_mhz": 500, "leakage": "modelled",
    "levels": [
        {"name": "rf", "kind": "rf", "capacity_bytes": 64, "energy": {"read_pj": 0.5, "write_pj": 0.6, "node_nm": 65}},
        {"name": "sram", "kind": "sram", "capacity_bytes": 65536, "banks": 2, "energy": "cacti", "cell": "itrs-hp"},
        {"name": "dram", "kind": "dram", "type": "GDDR6"},
    ],
}


def write(tmp_path, data) -> Path:
    f = tmp_path / "arch.yaml"
    f.write_text(yaml.safe_dump(data, sort_keys=False))
    return f


def test_shipped_architectures():
    assert builtin_architectures() == ["eyeriss_like", "layer_buffer", "paper_sharing", "tpu_like"]
    assert load_architecture().name == "layer_buffer"
    tpu = load_architecture("tpu_like")
    assert (tpu.dataflow, tpu.pes, tpu.level("dram").dram_type, tpu.level("sram").banks) == (
        "weight_stationary", 128 * 128, "HBM2", 3)
    assert all(load_architecture(a).sources for a in builtin_architectures())


def test_a_user_file_prices_a_step(tmp_path):
    from energybench.training.step_profile import profile_training_step

    hw = build_hardware(arch=write(tmp_path, GOOD), node=7)
    step = profile_training_step("tiny_cnn", (1, 8, 8), 10, batch=2)[2]
    s = hw.step(step)
    rf, sram, dram = s.levels
    from energybench.cost.nodes import energy_factor

    k = energy_factor(65, 1.1, 7, 0.7)  # given at 65 nm (nominal 1.1 V), moved to 7 nm 0.7 V
    assert rf.read_pj == pytest.approx(0.5 * k) and rf.write_pj == pytest.approx(0.6 * k)
    assert "32,768 B (one of 2 banks)" in sram.source and "itrs-hp" in sram.source
    assert dram.read_pj == pytest.approx(6.48 * 32) and "GDDR6" in dram.source
    # modelled latency: the passes' cycles (folds, fill and drain) at 500 MHz, above the ideal bound
    assert s.time_s == pytest.approx(s.latency_cycles / 500e6) and s.time_s > step.train_macs / (16 * 500e6)
    assert s.leakage_w == pytest.approx(sum(lv.leakage_w for lv in s.levels)) and sram.leakage_w > 0


def broken(**change):
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    for key, value in change.items():
        if key.startswith("level") and key[5].isdigit():
            i, field = key[5], key[7:]
            if value is None:
                data["levels"][int(i)].pop(field)
            else:
                data["levels"][int(i)][field] = value
        elif value is None:
            data.pop(key)
        else:
            data[key] = value
    return data


@pytest.mark.parametrize("data,message", [
    (broken(level1_capacity_bytes=None), "levels[1] (sram): missing field 'capacity_bytes'"),
    (broken(level1_capacity_bytes=-4096), "levels[1] (sram): capacity_bytes must be a whole number >= 1, got -4096"),
    (broken(level0_capacity_bytes=0.5), "levels[0] (rf): capacity_bytes must be a whole number >= 1, got 0.5"),
    (broken(dataflow="row_stationary"), "unknown dataflow 'row_stationary'; valid dataflows: layer_buffer, "
                                        "weights_only, weight_stationary, output_stationary, input_stationary"),
    (broken(dataflow=None), "missing field 'dataflow' (every architecture file has name, description, dataflow, "
                            "levels; the others are optional)"),
    (broken(description=None, levels=None), "missing fields 'description', 'levels' (every architecture file has"),
    (broken(array=None), "missing field 'array' ({rows: n, cols: n})"),
    (broken(level2_type="DDR9"), "unknown DRAM type 'DDR9'; valid types: DDR3, DDR4, LPDDR, LPDDR4, GDDR5, GDDR6, "
                                 "HBM2, HMC, table"),
    (broken(level2_type=None), "levels[2] (dram): missing field 'type'; valid types: DDR3"),
    (broken(level1_kind="cache"),
     "levels[1] (sram): missing or unknown field 'kind' 'cache'; valid kinds: rf, sram, dram"),
    (broken(level1_bank=2), "levels[1] (sram): unknown field 'bank' (did you mean 'banks'?); valid fields: name, kind"),
    (broken(level1_energy="spice"), "levels[1] (sram): energy must be one of: cacti, register, {relative_to_mac: x}"),
    (broken(level0_energy={"read_pj": 0.5}), "levels[0] (rf): energy must be one of"),
    (broken(level0_energy={"read_pj": 0.5, "write_pj": -1}), "energy.write_pj must be a positive number, got -1"),
    (broken(level1_cell="sram6t"), "cell 'sram6t' is not one of itrs-hp, itrs-lop, itrs-lstp"),
    (broken(clock_mhz=None), "leakage: modelled needs array and clock_mhz"),
    (broken(leakage="sometimes"), "leakage 'sometimes' is not one of off, modelled, measured"),
    (broken(flavour="ulp"), "flavour: unknown device flavour 'ulp'; valid flavours: hp, lp"),
    (broken(levels=[GOOD["levels"][2], GOOD["levels"][1]]),
     "the output_stationary dataflow takes the level kinds [rf, sram, dram] or [sram, dram] (innermost first), "
     "got [dram, sram]"),
    (broken(dataflow="layer_buffer"), "the layer_buffer dataflow takes the level kinds [sram, dram]"),
    (broken(level1_capacity_bytes="auto"), "capacity_bytes: auto (sized per layer) applies to the sram level of the "
                                           "layer_buffer and weights_only dataflows"),
    (broken(speed=3), "unknown field 'speed'; valid fields: name, description"),
    (broken(level0_energy={"read_pj": 0.5, "write_pj": 0.6, "node_nm": 28}),
     "levels[0] (rf): energy: unknown technology node 28 nm; valid nodes (nm): 90, 65, 45"),
])
def test_a_broken_architecture_file_is_one_clear_error(tmp_path, capsys, data, message):
    f = write(tmp_path, data)
    with pytest.raises(UserError) as err:
        load_architecture(f)
    assert str(err.value).startswith(f"architecture file {f}: ") and message in str(err.value)
    assert main(["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--arch", str(f)]) == 2
    out = capsys.readouterr().err
    assert message in out and out.count("\n") == 1 and "Traceback" not in out


def test_ert_entries_as_level_energies(tmp_path):
    ert = Path(__file__).parent / "data" / "eyeriss_ert.yaml"
    data = broken(level1_energy={"ert": str(ert), "component": "system.glb"})
    lv = load_architecture(write(tmp_path, data)).levels[1]
    assert lv.energy == {"kind": "ert", "read_pj": 6.0, "write_pj": 7.0, "source": f"Accelergy ERT {ert}: system.glb"}
    with pytest.raises(UserError, match=r"no component 'system.gbuf' with read and write actions in .*; valid "
                                        r"components: system.PE\[0..167\].rf, system.glb, system.DRAM"):
        load_architecture(write(tmp_path, broken(level1_energy={"ert": str(ert), "component": "system.gbuf"})))


def test_unknown_architecture_and_misplaced_options(tmp_path, capsys):
    with pytest.raises(UserError, match="'systolic' is neither a file nor a built-in architecture "
                                        r"\(eyeriss_like, layer_buffer, paper_sharing, tpu_like\)"):
        load_architecture("systolic")
    assert main(["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--arch", "tpu_like",
                 "--sram-bytes", "4096"]) == 2
    assert "--sram-bytes fixes the per-layer buffer of the layer_buffer architecture" in capsys.readouterr().err
    assert main(["run", "--arch", "systolic", "--out", str(tmp_path), "--quiet", "--no-report"]) == 2
    assert "'systolic' is neither a file nor a built-in architecture" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_weights_only_with_an_sram_sized_per_layer(tmp_path):
    """capacity_bytes: auto sizes the synapse memory per layer: the smallest CACTI capacity holding
    its weights; action counts name that size."""
    from energybench.training.step_profile import profile_training_step
    from energybench.cost.tables import load_energy_table

    data = {"name": "per_layer", "description": "synapses per layer", "dataflow": "weights_only",
            "levels": [{"name": "syn", "kind": "sram", "capacity_bytes": "auto"}]}
    hw = build_hardware(arch=write(tmp_path, data))
    step = profile_training_step("lenet", (1, 28, 28), 10, batch=2)[2]
    s = hw.step(step)
    t = load_energy_table()
    for ll in s.layers:
        layer = next(x for x in step.layers if x.name == ll.layer)
        cap = next(c for c in (4096 << k for k in range(12)) if c >= layer.weight_elems * 4)
        assert ll.component == f"syn_{cap}B"
        read_pj, write_pj, _ = t.sram_access_pj(cap, 32)
        assert ll.energy_j == pytest.approx((ll.reads * read_pj + ll.writes * write_pj) * 1e-12, rel=1e-12)
