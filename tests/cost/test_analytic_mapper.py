"""The analytic mapper and the one pricing engine: per-level reads and writes of a strided
convolution, a 1 x 1 stride-2 convolution and a linear layer, all four passes, on every shipped
architecture, equal hand-derived values; latency under a bandwidth limit; utilisation of a badly
folding layer; frozen weights cause no backward-to-weights or update traffic anywhere; per-level
energies add up to the headline."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

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
def strided():
    """Conv2d(2, 3, 3, stride 2, no bias) on 1x2x6x6: output 1x3x2x2. GEMM M = 4, K = 18, N = 3,
    216 MACs a pass; windows start at 0 and 2, so they read rows and columns 0-4, never 5: 50 of the
    72 input elements (kernel 9, 3 rows); B = 54 weights, C = 12; U = S = 54."""
    layer = profile_of(nn.Conv2d(2, 3, 3, stride=2, bias=False), (1, 2, 6, 6)).layers[0]
    assert layer.gemms == [[4, 18, 3, 1, 72, 54, 12, 1, 1]]
    assert (layer.weight_elems, layer.trainable_elems, layer.state_elems) == (54, 54, 54)
    return layer


@pytest.fixture(scope="module")
def downsample():
    """Conv2d(4, 2, 1, stride 2, no bias) on 1x4x4x4: output 1x2x2x2. GEMM M = 4, K = 4, N = 2, 32
    MACs a pass; it reads rows and columns 0 and 2: 16 of the 64 input elements, a quarter; B = 8, C = 8."""
    layer = profile_of(nn.Conv2d(4, 2, 1, stride=2, bias=False), (1, 4, 4, 4)).layers[0]
    assert layer.gemms == [[4, 4, 2, 1, 64, 8, 8, 1, 1]]
    return layer


@pytest.fixture(scope="module")
def linear():
    """Linear(5, 3, no bias) on 4x5: M = 4, K = 5, N = 3; A = 20, B = 15, C = 12, 60 MACs; U = S = 15."""
    p = profile_of(nn.Linear(5, 3, bias=False), (4, 5))
    layer, loss = p.layers  # (the .sum() outside the module: element-wise work only)
    assert loss.name == "(no module)" and not loss.gemms
    assert layer.gemms == [[4, 5, 3, 1, 20, 15, 12, 1, 1]]
    return layer


# Eyeriss-like: 12 x 14 PEs, 512-byte RF = 128 fp32 words (depth d), 3 reads + 1 write per MAC;
# 108 KB buffer = 27,648 words (everything here fits: each operand crosses to DRAM once: reads
# A + B, writes C); conv_reuse row: the buffer sends each touched input once per kernel row (at most
# the im2col rows). Every transfer is a read at one level and a write at the other:
#   rf reads = 3 MACs + up, rf writes = MACs + down; glb reads = down + DRAM writes, glb writes = up + DRAM reads.
EYERISS = {
    "strided": {
        # forward: A sent min(50 x 3, 4 x 18 = 72) = 72, B 54, up C 12; fk = fn = 1. DRAM reads touched 50 + 54.
        ("forward", "rf"): (648 + 12, 216 + 126), ("forward", "glb"): (126 + 12, 12 + 104),
        ("forward", "dram"): (104, 12),
        # backward-to-input as the convolution of dY (12) with the flipped kernel: K = 3 x 9 = 27, N = 2:
        # dY sent min(12 x 3, 4 x 27) = 36, B 54, up dX 50 (touched); DRAM reads 12 + 54, writes 50
        ("backward_input", "rf"): (648 + 50, 216 + 90), ("backward_input", "glb"): (90 + 50, 50 + 66),
        ("backward_input", "dram"): (66, 50),
        # backward-to-weights: (18 x 4) @ (4 x 3): input sent min(150, 72) = 72, dY 12, up dW 54
        ("backward_weight", "rf"): (648 + 54, 216 + 84), ("backward_weight", "glb"): (84 + 54, 54 + 62),
        ("backward_weight", "dram"): (62, 54),
        # update: DRAM reads W 54 + dW 54 + S 54 = 162, writes W + S = 108; each in and out of the buffer
        ("update", "glb"): (270, 270), ("update", "dram"): (162, 108),
    },
    "downsample": {
        # forward: 16 touched inputs sent once (1 x 1 kernel), B 8, C 8; DRAM reads 16 + 8 (not 64 + 8)
        ("forward", "rf"): (96 + 8, 32 + 24), ("forward", "glb"): (24 + 8, 8 + 24), ("forward", "dram"): (24, 8),
        # backward-to-input: dY 8 sent, B 8, up dX 16 (the quarter the forward read)
        ("backward_input", "rf"): (96 + 16, 32 + 16), ("backward_input", "glb"): (16 + 16, 16 + 16),
        ("backward_input", "dram"): (16, 16),
        ("backward_weight", "rf"): (96 + 8, 32 + 24), ("backward_weight", "glb"): (24 + 8, 8 + 24),
        ("backward_weight", "dram"): (24, 8),
        ("update", "glb"): (40, 40), ("update", "dram"): (24, 16),
    },
    "linear": {
        ("forward", "rf"): (180 + 12, 60 + 35), ("forward", "glb"): (35 + 12, 12 + 35), ("forward", "dram"): (35, 12),
        ("backward_input", "rf"): (180 + 20, 60 + 27), ("backward_input", "glb"): (27 + 20, 20 + 27),
        ("backward_input", "dram"): (27, 20),
        ("backward_weight", "rf"): (180 + 15, 60 + 32), ("backward_weight", "glb"): (32 + 15, 15 + 32),
        ("backward_weight", "dram"): (32, 15),
        ("update", "glb"): (75, 75), ("update", "dram"): (45, 30),
    },
}

# TPU-like: 128 x 128 PEs, one weight per PE (d = 1), 3 reads + 2 writes per MAC, no convolutional
# reuse (im2col rows sent); 24 MiB buffer. Backward-to-input is the convolution of dY with the
# flipped kernel, as on Eyeriss, without reuse: its im2col rows (M x Cout x kernel) go down, the
# touched input gradients themselves come up.
TPU = {
    "strided": {
        ("forward", "pe_regs"): (648 + 12, 432 + 126), ("forward", "unified_buffer"): (126 + 12, 12 + 104),
        ("forward", "hbm"): (104, 12),
        # K = 3 x 9 = 27, N = 2: dY's im2col 4 x 27 = 108 + B 54 down, dX's 50 touched up; DRAM reads
        # dY 12 + B 54, writes the 50
        ("backward_input", "pe_regs"): (648 + 50, 432 + 162),
        ("backward_input", "unified_buffer"): (162 + 50, 50 + 66), ("backward_input", "hbm"): (66, 50),
        ("backward_weight", "pe_regs"): (648 + 54, 432 + 84), ("backward_weight", "unified_buffer"): (84 + 54, 54 + 62),
        ("backward_weight", "hbm"): (62, 54),
        ("update", "unified_buffer"): (270, 270), ("update", "hbm"): (162, 108),
    },
    "downsample": {
        ("forward", "pe_regs"): (96 + 8, 64 + 24), ("forward", "unified_buffer"): (32, 32), ("forward", "hbm"): (24, 8),
        ("backward_input", "pe_regs"): (96 + 16, 64 + 16), ("backward_input", "unified_buffer"): (32, 32),
        ("backward_input", "hbm"): (16, 16),
        ("backward_weight", "pe_regs"): (96 + 8, 64 + 24), ("backward_weight", "unified_buffer"): (32, 32),
        ("backward_weight", "hbm"): (24, 8),
        ("update", "unified_buffer"): (40, 40), ("update", "hbm"): (24, 16),
    },
    "linear": {
        ("forward", "pe_regs"): (192, 120 + 35), ("forward", "unified_buffer"): (47, 47), ("forward", "hbm"): (35, 12),
        ("backward_input", "pe_regs"): (200, 120 + 27), ("backward_input", "unified_buffer"): (47, 47),
        ("backward_input", "hbm"): (27, 20),
        ("backward_weight", "pe_regs"): (195, 120 + 32), ("backward_weight", "unified_buffer"): (47, 47),
        ("backward_weight", "hbm"): (32, 15),
        ("update", "unified_buffer"): (75, 75), ("update", "hbm"): (45, 30),
    },
}

# layer_buffer: memory_model.py's accesses (W weights, I input elements as the counter saw them, O
# outputs), all in a 4 KB buffer (every working set here is under 4 KB): forward (W + I, O),
# backward-to-input (O + W, I), backward-to-weights (O + I, U), update (2U + S, U + S).
LAYER_BUFFER = {
    "strided": {"forward": (54 + 72, 12), "backward_input": (12 + 54, 72), "backward_weight": (12 + 72, 54),
                "update": (162, 108)},
    "downsample": {"forward": (8 + 64, 8), "backward_input": (8 + 8, 64), "backward_weight": (8 + 64, 8),
                   "update": (24, 16)},
    "linear": {"forward": (15 + 20, 12), "backward_input": (12 + 15, 20), "backward_weight": (12 + 20, 15),
               "update": (45, 30)},
}
WEIGHTS = {"strided": 54, "downsample": 8, "linear": 15}


@pytest.mark.parametrize("which", ["strided", "downsample", "linear"])
@pytest.mark.parametrize("arch", ["eyeriss_like", "tpu_like", "layer_buffer", "paper_sharing"])
def test_per_level_accesses_equal_hand_derived_values(request, arch, which):
    layer = request.getfixturevalue(which)
    a = load_architecture(arch)
    if arch == "layer_buffer":  # the engine sizes its buffer per layer before mapping: 4 KB here
        a = replace(a, levels=(replace(a.levels[0], capacity_bytes=4096), a.levels[1]))
        expected = {(p, "buffer"): rw for p, rw in LAYER_BUFFER[which].items()}
    elif arch == "paper_sharing":
        a = replace(a, levels=(replace(a.levels[0], capacity_bytes=4096),))
        expected = {("forward", "synapses"): (WEIGHTS[which], 0), ("update", "synapses"): (0, WEIGHTS[which])}
    else:
        expected = (EYERISS if arch == "eyeriss_like" else TPU)[which]
    assert table(layer, a) == expected


def test_latency_under_a_bandwidth_limit(strided, tmp_path):
    """The strided conv's forward on Eyeriss: compute 1 fold x (M 4 x 2 weights a PE in turn + fill and
    drain 2 x 12 + 14 - 2 = 36) = 44 cycles; the buffer moves 254 words at 12 a cycle (21.2); DRAM
    116 words at 2 a cycle = 58 cycles: DRAM-bound, utilisation 216 MACs / (58 x 168 PEs). Halve
    DRAM's bandwidth and the latency doubles; without limits it is the compute's 44."""
    import yaml

    def forward(arch):
        return next(pm for pm in AnalyticMapper().map_layer(strided, arch, 32) if pm.pass_ == "forward")

    eyeriss = load_architecture("eyeriss_like")
    fwd = forward(eyeriss)
    assert fwd.latency_cycles == 58 and fwd.utilisation == pytest.approx(216 / (58 * 168), rel=1e-12)
    spec = yaml.safe_load((Path(__file__).parents[2] / "energybench/cost/arch/eyeriss_like.yaml").read_text())
    spec["levels"][2]["bandwidth_words_per_cycle"] = 1
    f = tmp_path / "slow.yaml"
    f.write_text(yaml.safe_dump(spec))
    assert forward(load_architecture(f)).latency_cycles == 116
    unlimited = replace(eyeriss, levels=tuple(replace(lv, bandwidth=None) for lv in eyeriss.levels))
    assert forward(unlimited).latency_cycles == 44
    # the update has no MACs: its time is DRAM's 270 words at 2 a cycle
    assert next(pm for pm in AnalyticMapper().map_layer(strided, eyeriss, 32)
                if pm.pass_ == "update").latency_cycles == 135


def test_utilisation_of_a_badly_folding_layer():
    """Linear(129, 129) on 256 rows, on the 128 x 128 TPU: K and N each need 2 folds of 128, so
    2 x 2 folds x (256 rows + fill and drain 2 x 128 + 128 - 2 = 382) = 2552 cycles for 256 x 129 x 129
    MACs: utilisation 0.102; Linear(128, 128) takes one fold, 638 cycles, utilisation 0.401
    (bandwidths lifted: the folds alone). With HBM's 60 words a cycle the 129-wide layer stays
    compute-bound (82,689 words: 1378 cycles) and the 128-wide one waits for DRAM."""
    tpu = load_architecture("tpu_like")
    unlimited = replace(tpu, levels=tuple(replace(lv, bandwidth=None) for lv in tpu.levels))

    def forward(width, arch):
        layer = profile_of(nn.Linear(width, width, bias=False), (256, width)).layers[0]
        return next(pm for pm in AnalyticMapper().map_layer(layer, arch, 32) if pm.pass_ == "forward")

    for width, cycles in ((129, 2552), (128, 638)):
        fwd = forward(width, unlimited)
        assert fwd.latency_cycles == cycles
        assert fwd.utilisation == pytest.approx(256 * width * width / (cycles * 128 * 128), rel=1e-12)
    assert 256 * 129 * 129 / (2552 * 128 * 128) == pytest.approx(0.1019, abs=1e-4)
    # with HBM's 60 words a cycle: 129 stays compute-bound; 128 waits for its 81,920 DRAM words
    assert forward(129, tpu).latency_cycles == 2552
    assert forward(128, tpu).latency_cycles == pytest.approx(81920 / 60, rel=1e-12)


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
    (reads: weights 15 fwd + 15 bwd + 15 update, activations 20 + 20, output grads 12 + 12, weight
    grads 15, state 15 = 139; writes: weights 15, outputs 12, input grads 20, weight grads 15, state 15 = 77)."""
    from energybench.cost.counter import StepProfile

    acc = layer_accesses(linear)
    assert (acc.reads, acc.writes) == (139, 77)
    step = build_hardware().step(StepProfile("train", layers=[linear], fwd_macs=60, bwd_input_macs=60,
                                             bwd_weight_macs=60))
    buf, dram = step.levels
    assert (buf.reads, buf.writes, dram.reads, dram.writes) == (139, 77, 0, 0)


@pytest.mark.parametrize("arch", ["eyeriss_like", "tpu_like", "paper_sharing"])
def test_frozen_weights_cost_no_weight_gradient_or_update_at_any_level(arch):
    layer = profile_of(nn.Linear(5, 3), (4, 5), frozen=True).layers[0]
    assert layer.bwd_input_macs == 60 and layer.bwd_weight_macs == 0 and layer.trainable_elems == 0
    a = load_architecture(arch)
    got = table(layer, a)
    assert {p for p, _ in got} <= {"forward", "backward_input"}
    if arch == "eyeriss_like":
        assert got[("backward_input", "rf")] == EYERISS["linear"][("backward_input", "rf")]


def test_array_folds_of_the_three_stationary_dataflows():
    """The conv's forward GEMM on a 2 x 2 array: WS fk = 14, fn = 2; OS fm = 16, fn = 2; IS fm = 16, fk = 14.
    Cycles: folds x (the temporal loop + SCALE-Sim's fill and drain 2 x 2 + 2 - 2 = 4)."""
    g = Gemm(32, 27, 4, 1, 216, 108, 128)
    assert array_traffic(g, "weight_stationary", 2, 2) == {"a": 1728, "b": 108, "psum": 1664, "up": 1792,
                                                           "cycles": 28 * (32 + 4)}
    assert array_traffic(g, "output_stationary", 2, 2) == {"a": 1728, "b": 1728, "psum": 0, "up": 128,
                                                           "cycles": 32 * (27 + 4)}
    assert array_traffic(g, "input_stationary", 2, 2) == {"a": 864, "b": 1728, "psum": 1664, "up": 1792,
                                                          "cycles": 224 * (4 + 4)}
    # four weights per PE: fk = ceil(27 / 8) = 4, each PE takes ceil(27 / (2 x 4)) = 4 in turn
    assert array_traffic(g, "weight_stationary", 2, 2, depth=4) == {"a": 1728, "b": 108, "psum": 384, "up": 512,
                                                                    "cycles": 8 * (32 * 4 + 4)}
    grouped = Gemm(32, 3, 1, 4, 216, 12, 128)  # depthwise: 4 groups of (32 x 3) @ (3 x 1)
    assert array_traffic(grouped, "output_stationary", 2, 2) == {"a": 4 * 96, "b": 4 * 3 * 16, "psum": 0,
                                                                 "up": 128, "cycles": 4 * 16 * (3 + 4)}


def test_dram_schedule_is_the_cheaper_tiling():
    """A 216 + B 108 + C 128 through a 16-word buffer: tiling B (7 tiles, A fetched 7 times) reads
    108 + 1512 = 1620, tiling A (14 tiles) 216 + 1512 = 1728: the first. One reduction column (K = 27)
    does not fit 16 words either, so C's partial sums go to DRAM and come back once: + 128 each way.
    An input that fits stays on chip: a 1000-word B through 250 words is no longer tiled (the old rule
    re-read A 4 times: 1864 words); A fits, so each crosses once."""
    g = Gemm(32, 27, 4, 1, 216, 108, 128)
    assert dram_traffic(g, 16) == (1620 + 128, 128 + 128)
    assert dram_traffic(g, 452) == (324, 128)
    assert dram_traffic(Gemm(32, 27, 4, 1, 216, 1000, 128), 250) == (1216, 128)


@pytest.mark.parametrize("arch", ["layer_buffer", "eyeriss_like", "tpu_like", "paper_sharing"])
def test_level_energies_add_up_to_the_total(arch):
    from energybench.training.step_profile import profile_training_step

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
    modelled latency per step, or the phase's measured training time."""
    import yaml

    from energybench.cost.ledger import CostLedger
    from energybench.training.step_profile import profile_training_step
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
    # the modelled latency: the passes' cycles at 100 MHz, never under the ideal MACs / (PEs x clock)
    assert s.leakage_w == pytest.approx(watts) and s.time_s == pytest.approx(s.latency_cycles / 100e6, rel=1e-12)
    assert s.time_s > step.train_macs / (64 * 100e6)
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
    from energybench.training.step_profile import profile_training_step

    f = tmp_path / "fixed.yaml"
    f.write_text(yaml.safe_dump({"name": "fixed", "description": "64 KB buffer, LPDDR4", "dataflow": "layer_buffer",
                                 "levels": [{"name": "buffer", "kind": "sram", "capacity_bytes": 65536},
                                            {"name": "dram", "kind": "dram", "type": "LPDDR4"}]}))
    assert main(["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--batch-size", "4", "--json",
                 "--arch", str(f)]) == 0
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


@pytest.mark.parametrize("edit,message", [
    (lambda spec: spec["levels"][2].update(bandwidth_words_per_cycle=0),
     "levels[2] (dram): bandwidth_words_per_cycle must be a positive number of words per cycle (leave it out for "
     "no limit), got 0"),
    (lambda spec: spec["levels"][1].update(area_mm2=-1.5), "levels[1] (glb): area_mm2 must be a number >= 0, got -1.5"),
    (lambda spec: spec.update(pe_area_um2=-3), "pe_area_um2 must be a number >= 0, got -3"),
])
def test_bad_architecture_values_stop_with_one_message(tmp_path, capsys, edit, message):
    import yaml

    from energybench.cli import main

    spec = yaml.safe_load((Path(__file__).parents[2] / "energybench/cost/arch/eyeriss_like.yaml").read_text())
    edit(spec)
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(spec))
    assert main(["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--arch", str(f)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith(f"architecture file {f}: {message}")


def test_unknown_mapper_stops_with_the_valid_names(capsys, tmp_path):
    from energybench.cli import main

    assert main(["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--mapper", "timeloop"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith("unknown mapper 'timeloop'; valid mappers: analytic, zigzag")
    out = tmp_path / "runs"
    assert main(["run", "--mapper", "timeloop", "--out", str(out), "--no-power", "--quiet"]) == 2
    assert "unknown mapper 'timeloop'; valid mappers: analytic, zigzag" in capsys.readouterr().err
    assert not out.exists()  # nothing written


def test_zigzag_mapper_without_its_module_names_the_install_command(monkeypatch):
    """Selecting ZigZag where the extra (or its mapper module) cannot be imported: one UserError
    naming the install command."""
    import sys

    from energybench.cost.mappers import get_mapper
    from energybench.errors import UserError

    monkeypatch.setitem(sys.modules, "energybench.cost.mappers.zigzag", None)  # import fails as if absent
    with pytest.raises(UserError, match=r"pip install 'energybench\[zigzag\]'"):
        get_mapper("zigzag")


def test_area_and_figures_of_merit_by_hand():
    """eyeriss_like at 45 nm, fp32: each of 168 PEs = an fp32 multiplier 7700 + adder 4184 um^2
    (Horowitz) + 512 B of register file x 8 x 5.98 um^2 a bit (Aladdin) = 36,378.08 um^2; the 108 KB
    global buffer from CACTI's itrs-lstp 32-bit rows, log-log between 64 KB (0.238696 mm^2) and
    128 KB (0.416629 mm^2). At 7 nm, the TPU's 8 MiB banks: CACTI 22 nm's 5.86335 mm^2 x (7 / 22)^2."""
    import math

    from energybench.cost.counter import StepProfile

    hw = build_hardware(arch="eyeriss_like")
    glb = 0.238696 * (110592 / 65536) ** (math.log(0.416629 / 0.238696) / math.log(2))
    pe = 7700 + 4184 + 512 * 8 * 5.98
    assert pe == pytest.approx(36378.08)
    assert hw.area.total_mm2 == pytest.approx(168 * pe * 1e-6 + glb, rel=1e-12)
    assert hw.area.levels["glb"] == pytest.approx(glb, rel=1e-12)
    tpu7 = build_hardware(arch="tpu_like", node=7)
    assert tpu7.area.levels["unified_buffer"] == pytest.approx(3 * 5.86335 * (7 / 22) ** 2, rel=1e-12)
    assert build_hardware().area is None  # the per-layer buffer has no one size
    # figures of merit of a step: EDP = dynamic energy x latency, TOPS/W = 2 MACs / energy
    layer = profile_of(nn.Linear(5, 3, bias=False), (4, 5)).layers[0]
    s = hw.step(StepProfile("train", layers=[layer], fwd_macs=60, bwd_input_macs=60, bwd_weight_macs=60))
    fom = s.figures_of_merit()
    assert fom["latency_s"] == pytest.approx(s.latency_cycles / 200e6, rel=1e-12)
    assert fom["edp_js"] == pytest.approx((s.compute_j + s.memory_j) * fom["latency_s"], rel=1e-12)
    assert fom["tops_per_w"] == pytest.approx(360 / (s.compute_j + s.memory_j) / 1e12, rel=1e-12)
    assert fom["tops_per_mm2"] == pytest.approx(360 / fom["latency_s"] / 1e12 / hw.area.total_mm2, rel=1e-12)
    assert fom["utilisation"] == pytest.approx(180 / (s.latency_cycles * 168), rel=1e-12)


def test_cost_json_has_every_pass_and_the_step_figures(capsys):
    """`cost --json`: each layer's `passes` (keyed by pass) hold MACs, compute energy, cycles,
    utilisation and per-level reads, writes and joules, adding up to the step's figures."""
    import json
    import math

    from energybench.cli import main

    assert main(["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--batch-size", "2", "--arch", "eyeriss_like",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    passes = [(name, p) for layer in out["layers"] for name, p in layer["passes"].items()]
    assert {name for name, _ in passes} == set(PASSES)
    assert all(set(p) == {"macs", "compute_energy_j", "latency_cycles", "utilisation", "levels", "mapper"}
               for _, p in passes)
    assert sum(p["macs"] for _, p in passes) == out["train_step_macs"]
    assert math.fsum(lv["energy_j"] for _, p in passes for lv in p["levels"].values()) == pytest.approx(
        out["memory_energy_j"], rel=1e-9)
    assert math.fsum(p["compute_energy_j"] for _, p in passes) == pytest.approx(out["compute_energy_j"], rel=1e-9)
    assert math.fsum(p["latency_cycles"] for _, p in passes) == pytest.approx(out["latency_cycles"], rel=1e-9)
    assert out["latency_s"] == pytest.approx(out["latency_cycles"] / 200e6, rel=1e-9)
    assert out["mapper"] == "analytic" and out["area_mm2"] > 0
    assert out["edp_js"] == pytest.approx((out["compute_energy_j"] + out["memory_energy_j"]) * out["latency_s"],
                                          rel=1e-9)


def test_touched_input_positions_of_strided_and_dilated_windows():
    """Windows at 4 o + 3 j (stride 4, dilation 3, kernel 2, 2 outputs) on 9 positions read 0, 3, 4, 7:
    4 of 9; padding 1 shifts them to -1 (outside), 2, 3, 6: 3; a 1 x 1 stride-2 window reads every
    other position; a 3 x 3 stride-1 window with padding 1 reads them all."""
    from energybench.cost.mappers.analytic import touched

    assert touched(9, 2, 2, 4, 0, 3) == 4
    assert touched(9, 2, 2, 4, 1, 3) == 3
    assert touched(8, 4, 1, 2, 0, 1) == 4
    assert touched(8, 8, 3, 1, 1, 1) == 8


def test_a_mapper_of_mac_passes_gets_the_update_and_streamed_parameters_from_the_analytic_model(monkeypatch):
    """The mapper contract: the engine gives a mapper of MAC passes its own HardwareModel
    (`.hardware`) and asks for the step's layers in one batch (`map_layers(layers, arch, bits)`,
    MAC layers only) for the MAC passes; it adds the update and the parameters outside the GEMMs (here Linear(5, 3)'s
    3 biases,
    streamed from DRAM through the buffer in the forward) from the analytic model, marked as such,
    and prices every word at the architecture's per-access energies."""
    import sys
    import types

    from energybench.cost.counter import StepProfile
    from energybench.cost.mapping import PassMapping

    class Fake:
        name = "zigzag"
        hardware = None
        batches: list = []

        def map_layers(self, layers, arch, value_bits):
            self.batches.append(([layer.name for layer in layers], arch.name, value_bits))
            return {layer.name: [PassMapping(layer.name, "forward", {"rf": (100, 50), "glb": (10, 10),
                                                                     "dram": (5, 5)}, 60, 40, 60 / (40 * 168),
                                             "zigzag")] for layer in layers}

    module = types.ModuleType("energybench.cost.mappers.zigzag")
    module.ZigZagMapper = Fake
    monkeypatch.setitem(sys.modules, "energybench.cost.mappers.zigzag", module)
    layer = profile_of(nn.Linear(5, 3), (4, 5)).layers[0]  # U = S = 18
    hw = build_hardware(arch="eyeriss_like", mapper="zigzag")
    assert hw.mapper.hardware is hw  # the run's node and energies, not the mapper's default table
    s = hw.step(StepProfile("train", layers=[layer], fwd_macs=60, bwd_input_macs=60, bwd_weight_macs=60))
    assert Fake.batches == [([layer.name], "eyeriss_like", 32)]  # one batch for the step
    passes = {p.pass_: p for p in s.passes}
    fwd, update = passes["forward"], passes["update"]
    assert fwd.mapper == "zigzag+analytic" and update.mapper == "analytic"
    # forward: the fake's words + the 3 biases (glb read and written 3, DRAM read 3)
    assert {k: v[:2] for k, v in fwd.levels.items()} == {"rf": (100, 50), "glb": (13, 13), "dram": (8, 5)}
    # the bias's traffic takes DRAM 3 words / 2 a cycle after the fake's 40 cycles
    assert fwd.latency_cycles == 40 + 1.5
    assert {k: v[:2] for k, v in update.levels.items()} == {"glb": (90, 90), "dram": (54, 36)}
    rf, glb, dram = (hw.access_pj(n) for n in ("rf", "glb", "dram"))
    assert fwd.levels["glb"][2] == pytest.approx((13 * glb[0] + 13 * glb[1]) * 1e-12, rel=1e-12)
    assert s.memory_j == pytest.approx(sum(lv.energy_j for lv in s.levels), rel=1e-12)
    assert s.mapper == "zigzag"
