"""The tiling model: per-level reads and writes of a single convolution and a single linear
layer, for all four passes and every shipped architecture, equal hand-derived values; frozen
weights cause no backward-to-weights or update traffic anywhere; per-level energies add up."""

from __future__ import annotations

import pytest
from step_helpers import profile_of
from torch import nn

from energybench.cost.arch import load_architecture
from energybench.cost.hardware import build_hardware
from energybench.cost.mapping import PASSES
from energybench.cost.mappers.analytic import AnalyticMapper, Gemm, array_traffic, dram_traffic
from energybench.cost.memory_model import layer_accesses


def table(layer, arch) -> dict:
    """{(pass, level): (reads, writes)} of the analytic mapper."""
    return {(pm.pass_, lv): rw for pm in AnalyticMapper().map_layer(layer, arch, 32) for lv, rw in pm.levels.items()}


@pytest.fixture(scope="module")
def conv():
    """Conv2d(3, 4, 3) with bias on 2x3x6x6: output 2x4x4x4. As a GEMM: M = 2 x 16 = 32 output
    positions, K = 3 x 3 x 3 = 27, N = 4; A = 216 input elements (im2col 32 x 27 = 864), B = 108
    weights, C = 128 outputs, 3456 MACs per pass; 4 bias elements stream on their own; U = S = 112."""
    p = profile_of(nn.Conv2d(3, 4, 3), (2, 3, 6, 6))
    layer, loss = p.layers  # (the .sum() outside the module: element-wise work only)
    assert loss.name == "(no module)" and not loss.gemms
    assert layer.gemms == [[32, 27, 4, 1, 216, 108, 128, 1, 1]]
    assert (layer.fwd_macs, layer.bwd_input_macs, layer.bwd_weight_macs) == (3456, 3456, 3456)
    assert (layer.weight_elems, layer.trainable_elems, layer.state_elems) == (112, 112, 112)
    return layer


@pytest.fixture(scope="module")
def linear():
    """Linear(5, 3) on 4x5: M = 4, K = 5, N = 3; A = 20, B = 15, C = 12, 60 MACs; 3 bias; U = S = 18."""
    p = profile_of(nn.Linear(5, 3), (4, 5))
    layer, loss = p.layers  # (the .sum() outside the module: element-wise work only)
    assert loss.name == "(no module)" and not loss.gemms
    assert layer.gemms == [[4, 5, 3, 1, 20, 15, 12, 1, 1]]
    return layer


# Eyeriss-like: 12 x 14 PEs, 512-byte RF = 128 fp32 words (depth d), 3 reads + 1 write per MAC;
# 108 KB buffer = 27,648 words (everything here fits: each operand crosses to DRAM once).
EYERISS_CONV = {
    # forward: fk = ceil(27 / (12 x 128)) = 1, fn = ceil(4 / 14) = 1: A 864 (im2col), B 108 down, C 128 up
    # rf  reads 3 x 3456 + 128 up,   writes 3456 + 864 + 108 down
    # glb reads 972 down + 128 drained to DRAM + 4 bias;  writes 128 up + 324 filled from DRAM + 4 bias
    ("forward", "rf"): (10496, 4428), ("forward", "glb"): (1104, 456), ("forward", "dram"): (328, 128),
    # backward-to-input: dA (32 x 27) = dC (32 x 4) B^T: fk = 1, fn = ceil(27 / 14) = 2: dC 32 x 4 x 2 = 256
    # and B 108 down, 864 up; DRAM reads dC 128 + B 108, writes dA 216
    ("backward_input", "rf"): (11232, 3820), ("backward_input", "glb"): (580, 1100),
    ("backward_input", "dram"): (236, 216),
    # backward-to-weights: dB (27 x 4) = A^T (27 x 32) dC (32 x 4): fk = fn = 1: 864 + 128 down, 108 up;
    # DRAM reads A 216 + dC 128, writes dB 108 (+ 4 bias gradients through the buffer)
    ("backward_weight", "rf"): (10476, 4448), ("backward_weight", "glb"): (1104, 456),
    ("backward_weight", "dram"): (344, 112),
    # update: DRAM reads W 112 + dW 112 + S 112 = 336, writes W + S = 224; each in and out of the buffer
    ("update", "glb"): (560, 560), ("update", "dram"): (336, 224),
}

# TPU-like: 128 x 128 PEs, one weight per PE (d = 1), 3 reads + 2 writes per MAC; 24 MiB buffer.
TPU_CONV = {
    ("forward", "pe_regs"): (10496, 7884), ("forward", "unified_buffer"): (1104, 456), ("forward", "hbm"): (328, 128),
    # fn = ceil(27 / 128) = 1 here: dC goes down once (128)
    ("backward_input", "pe_regs"): (11232, 7148), ("backward_input", "unified_buffer"): (452, 1100),
    ("backward_input", "hbm"): (236, 216),
    ("backward_weight", "pe_regs"): (10476, 7904), ("backward_weight", "unified_buffer"): (1104, 456),
    ("backward_weight", "hbm"): (344, 112),
    ("update", "unified_buffer"): (560, 560), ("update", "hbm"): (336, 224),
}

EYERISS_LINEAR = {
    ("forward", "rf"): (192, 95), ("forward", "glb"): (50, 50), ("forward", "dram"): (38, 12),
    ("backward_input", "rf"): (200, 87), ("backward_input", "glb"): (47, 47), ("backward_input", "dram"): (27, 20),
    ("backward_weight", "rf"): (195, 92), ("backward_weight", "glb"): (50, 50),
    ("backward_weight", "dram"): (32, 18),
    ("update", "glb"): (90, 90), ("update", "dram"): (54, 36),
}

TPU_LINEAR = {
    ("forward", "pe_regs"): (192, 155), ("forward", "unified_buffer"): (50, 50), ("forward", "hbm"): (38, 12),
    ("backward_input", "pe_regs"): (200, 147), ("backward_input", "unified_buffer"): (47, 47),
    ("backward_input", "hbm"): (27, 20),
    ("backward_weight", "pe_regs"): (195, 152), ("backward_weight", "unified_buffer"): (50, 50),
    ("backward_weight", "hbm"): (32, 18),
    ("update", "unified_buffer"): (90, 90), ("update", "hbm"): (54, 36),
}


@pytest.mark.parametrize("arch,which,expected", [
    ("eyeriss_like", "conv", EYERISS_CONV), ("tpu_like", "conv", TPU_CONV),
    ("eyeriss_like", "linear", EYERISS_LINEAR), ("tpu_like", "linear", TPU_LINEAR),
])
def test_stationary_counts_equal_hand_derived_values(request, arch, which, expected):
    layer = request.getfixturevalue(which)
    assert table(layer, load_architecture(arch)) == expected


@pytest.mark.parametrize("which,weights,trainable", [("conv", 112, 112), ("linear", 18, 18)])
def test_paper_accounting_reads_every_weight_and_writes_the_trainable_ones(request, which, weights, trainable):
    layer = request.getfixturevalue(which)
    got = table(layer, load_architecture("paper_sharing"))
    assert got == {("forward", "synapses"): (weights, 0), ("update", "synapses"): (0, trainable)}


def test_layer_buffer_counts_of_the_conv(conv):
    """memory_model.py's accesses of the conv (W 112, I 216, O 128, U = S = 112): reads W x 3 (forward,
    backward-to-input, update) + I x 2 + O x 2 + weight grads U + state S = 1248; writes W + O + I + U + S
    = 680; working set 112 + 216 + 128 words = 1,824 B fits the 4 KB buffer: no DRAM."""
    from energybench.cost.counter import StepProfile

    step = build_hardware().step(StepProfile("train", layers=[conv], fwd_macs=3456, bwd_input_macs=3456,
                                             bwd_weight_macs=3456))
    buf, dram = step.levels
    assert (buf.reads, buf.writes, dram.reads, dram.writes) == (1248, 680, 0, 0)
    assert [(ll.pass_, ll.component) for ll in step.layers] == [(p, "buffer_4096B") for p in PASSES]


def test_layer_buffer_splits_memory_models_accesses(linear):
    """The default: memory_model.py's word accesses, all in the buffer when the working set fits
    (reads: weights 18 fwd + 18 bwd + 18 update, activations 20 + 20, output grads 12 + 12, weight
    grads 18, state 18 = 154; writes: weights 18, outputs 12, input grads 20, weight grads 18, state 18)."""
    from energybench.cost.counter import StepProfile

    acc = layer_accesses(linear)
    assert (acc.reads, acc.writes) == (154, 86)
    step = build_hardware().step(StepProfile("train", layers=[linear], fwd_macs=60, bwd_input_macs=60,
                                             bwd_weight_macs=60))
    buf, dram = step.levels
    assert (buf.reads, buf.writes, dram.reads, dram.writes) == (154, 86, 0, 0)


@pytest.mark.parametrize("arch", ["eyeriss_like", "tpu_like", "paper_sharing"])
def test_frozen_weights_cost_no_weight_gradient_or_update_at_any_level(arch):
    layer = profile_of(nn.Linear(5, 3), (4, 5), frozen=True).layers[0]
    assert layer.bwd_input_macs == 60 and layer.bwd_weight_macs == 0 and layer.trainable_elems == 0
    a = load_architecture(arch)
    got = table(layer, a)
    assert {p for p, _ in got} <= {"forward", "backward_input"}
    if arch == "eyeriss_like":
        assert got[("backward_input", "rf")] == EYERISS_LINEAR[("backward_input", "rf")]


def test_array_folds_of_the_three_stationary_dataflows():
    """The conv's forward GEMM on a 2 x 2 array: WS fk = 14, fn = 2; OS fm = 16, fn = 2; IS fm = 16, fk = 14."""
    g = Gemm(32, 27, 4, 1, 216, 108, 128)
    assert array_traffic(g, "weight_stationary", 2, 2) == {"a": 1728, "b": 108, "psum": 1664, "up": 1792}
    assert array_traffic(g, "output_stationary", 2, 2) == {"a": 1728, "b": 1728, "psum": 0, "up": 128}
    assert array_traffic(g, "input_stationary", 2, 2) == {"a": 864, "b": 1728, "psum": 1664, "up": 1792}
    # four weights per PE: fk = ceil(27 / 8) = 4
    assert array_traffic(g, "weight_stationary", 2, 2, depth=4) == {"a": 1728, "b": 108, "psum": 384, "up": 512}
    grouped = Gemm(32, 3, 1, 4, 216, 12, 128)  # depthwise: 4 groups of (32 x 3) @ (3 x 1)
    assert array_traffic(grouped, "output_stationary", 2, 2) == {"a": 4 * 96, "b": 4 * 3 * 16, "psum": 0, "up": 128}


def test_dram_refetch_when_the_buffer_is_too_small():
    """A + B + C = 452 words through a 16-word buffer: WS tiles B (t = 7) and re-reads A per tile;
    IS tiles A (t = 14); OS tiles C (t = 8) and re-reads the cheaper input (B)."""
    g = Gemm(32, 27, 4, 1, 216, 108, 128)
    assert dram_traffic(g, "weight_stationary", 16) == (108 + 216 * 7, 128)
    assert dram_traffic(g, "input_stationary", 16) == (216 + 108 * 14, 128)
    assert dram_traffic(g, "output_stationary", 16) == (216 + 108 * 8, 128)
    assert dram_traffic(g, "weight_stationary", 452) == (324, 128)


@pytest.mark.parametrize("arch", ["layer_buffer", "eyeriss_like", "tpu_like", "paper_sharing"])
def test_level_energies_add_up_to_the_total(arch):
    from energybench.cost.profile import profile_training_step

    step = profile_training_step("resnet20", (3, 16, 16), 10, batch=2, sharing=0.5)[2]
    hw = build_hardware(arch=arch, node=7)
    s = hw.step(step)
    assert s.memory_j == sum(lv.energy_j for lv in s.levels)
    assert sum(ll.energy_j for ll in s.layers) == pytest.approx(s.memory_j, rel=1e-12)
    for lv in s.levels:  # each level: its accesses times its per-access energies
        if lv.read_pj is not None:
            assert lv.energy_j == pytest.approx((lv.reads * lv.read_pj + lv.writes * lv.write_pj) * 1e-12, rel=1e-12)
    from energybench.cost.ledger import CostLedger

    ledger = CostLedger()
    ledger.add_train(step, 3)
    row = ledger.row(None, hardware=hw)
    levels = sum(v for k, v in row.items() if k.startswith("level_") and v is not None)
    assert levels == pytest.approx(row["memory_energy_j"], rel=1e-12)
    assert row["memory_energy_j"] == pytest.approx(3 * s.memory_j, rel=1e-12)
    assert row["arch"] == arch and row["node_nm"] == 7 and row["vdd"] == 0.7


@pytest.mark.parametrize("mode", ["modelled", "measured"])
def test_leakage_is_power_times_time_and_kept_apart(tmp_path, mode):
    """Leakage = CACTI leakage per bank x banks x instances of every on-chip level, times the
    modelled step time (MACs / (PEs x clock)) per step, or the phase's measured training time."""
    import yaml

    from energybench.cost.ledger import CostLedger
    from energybench.cost.profile import profile_training_step
    from energybench.cost.tables import load_energy_table

    arch = {"name": "leaky", "description": "leakage test", "dataflow": "weight_stationary",
            "array": {"rows": 8, "cols": 8}, "clock_mhz": 100, "leakage": mode,
            "levels": [{"name": "buf", "kind": "sram", "capacity_bytes": 131072, "banks": 2, "cell": "itrs-hp"},
                       {"name": "dram", "kind": "dram", "type": "DDR4"}]}
    f = tmp_path / "a.yaml"
    f.write_text(yaml.safe_dump(arch))
    hw = build_hardware(arch=f)
    step = profile_training_step("tiny_cnn", (1, 8, 8), 10, batch=2)[2]
    mw, _ = load_energy_table().sram_leakage_mw(65536, 32, "itrs-hp")
    assert mw == pytest.approx(34.4167, rel=1e-12)  # cacti45_sram.csv: itrs-hp, 64 KB (one bank), 32-bit
    watts = mw * 1e-3 * 2
    s = hw.step(step)
    assert s.leakage_w == pytest.approx(watts) and s.time_s == pytest.approx(step.train_macs / (64 * 100e6))
    ledger = CostLedger()
    ledger.add_train(step, 5)
    row = ledger.row(None, hardware=hw, time_s=2.0)
    want = watts * (2.0 if mode == "measured" else 5 * s.time_s)
    assert row["leakage_energy_j"] == pytest.approx(want)
    assert row["memory_energy_j"] == pytest.approx(row["level_buffer_energy_j"] + row["level_dram_energy_j"])
    assert row["level_rf_energy_j"] is None


def test_one_engine_prices_a_users_layer_buffer_file(tmp_path, capsys):
    """A user's layer_buffer file with a fixed 64 KB buffer and LPDDR4: the headline memory
    energy is the sum of the file's level energies, and the working sets beyond 64 KB reach
    DRAM at LPDDR4's 8 pJ/bit (once two engines gave 5.82e-6 J and no DRAM here)."""
    import json

    import yaml

    from energybench.cli import main
    from energybench.cost.ledger import CostLedger
    from energybench.cost.profile import profile_training_step

    f = tmp_path / "fixed.yaml"
    f.write_text(yaml.safe_dump({"name": "fixed", "description": "64 KB buffer, LPDDR4", "dataflow": "layer_buffer",
                                 "levels": [{"name": "buffer", "kind": "sram", "capacity_bytes": 65536},
                                            {"name": "dram", "kind": "dram", "type": "LPDDR4"}]}))
    assert main(["cost", "--model", "tiny_cnn", "--input", "1x8x8", "--batch", "4", "--json", "--arch", str(f)]) == 0
    out = json.loads(capsys.readouterr().out)
    levels = {lv["name"]: lv for lv in out["hierarchy"]["levels"]}
    assert out["memory_energy_j"] == pytest.approx(levels["buffer"]["energy_j"] + levels["dram"]["energy_j"],
                                                   rel=1e-11)
    assert levels["dram"]["energy_j"] > 0 and levels["dram"]["read_pj"] == 8 * 32
    assert out["memory_energy_j"] == pytest.approx(1.85227086068e-05, rel=1e-9)  # the hierarchy figure
    # the layer whose working set is beyond 64 KB: the share that does not fit is served from DRAM
    big = max(out["layers"], key=lambda r: r["working_set_bytes"])
    assert big["working_set_bytes"] > 65536 and big["sram_bytes"] == 65536
    assert big["dram_fraction"] == pytest.approx(1 - 65536 / big["working_set_bytes"])
    # metrics.csv's row: the same engine, the same figures
    hw = build_hardware(arch=f)
    step = profile_training_step("tiny_cnn", (1, 8, 8), 10, batch=4)[2]
    ledger = CostLedger()
    ledger.add_train(step, 2)
    row = ledger.row(None, hardware=hw)
    assert row["memory_energy_j"] == pytest.approx(2 * out["memory_energy_j"], rel=1e-9)
    assert row["level_dram_energy_j"] == pytest.approx(2 * levels["dram"]["energy_j"], rel=1e-9)
    assert row["memory_energy_j"] == pytest.approx(row["level_buffer_energy_j"] + row["level_dram_energy_j"],
                                                   rel=1e-12)
