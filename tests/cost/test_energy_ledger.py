"""Counts to joules (pure energy math) and per-phase accumulation into a metrics row."""

from __future__ import annotations

import math

import pytest

from energybench.cost.counter import LayerCost, StepProfile
from energybench.cost.arch import load_architecture
from energybench.cost.energy import auto_sram_bytes, compute_energy_pj, elementwise_energy
from energybench.cost.ledger import ROW_COLUMNS, CostLedger
from energybench.cost.level_energy import HardwareModel
from energybench.cost.memory_model import layer_accesses, step_accesses
from energybench.cost.tables import load_energy_table

TABLE = load_energy_table()


def step_energy(p, table=TABLE, precision="fp32", sram_bytes=None):
    """The one engine on the default layer_buffer architecture."""
    return HardwareModel(table, load_architecture(None), precision, None, sram_bytes).step(p)


def profile(kind="train", **kw):
    conv = LayerCost("conv", "conv", "Conv2d", fwd_macs=1000, bwd_input_macs=0, bwd_weight_macs=1000, calls=1,
                     weight_elems=100, trainable_elems=100, state_elems=100, in_elems=200, out_elems=300)
    base = dict(fwd_macs=1000, bwd_weight_macs=1000, update_mults=300, update_adds=300, layers=[conv], batch_size=2)
    return StepProfile(kind=kind, **(base | kw))


def test_compute_energy_by_hand():
    # 2000 MACs x (3.7 + 0.9) pJ + 300 mults x 3.7 + 300 adds x 0.9
    assert compute_energy_pj(2000, 300, 300, TABLE, "fp32") == pytest.approx(2000 * 4.6 + 300 * 4.6)
    assert compute_energy_pj(2000, 0, 0, TABLE, "int8") == pytest.approx(2000 * 0.23)
    e = step_energy(profile(), TABLE)
    assert e.compute_j == pytest.approx(2300 * 4.6e-12)


def test_memory_energy_with_a_fixed_sram():
    p = profile()
    acc = layer_accesses(p.layers[0])
    read, write, extra = TABLE.sram_access_pj(65536, 32)
    e = step_energy(p, TABLE, "fp32", sram_bytes=65536)
    assert (e.levels[0].reads, e.levels[0].writes) == (acc.reads, acc.writes)
    assert e.memory_j == pytest.approx((acc.reads * read + acc.writes * write) * 1e-12)
    assert not e.extrapolated


def test_sram_sized_to_the_working_set():
    p = profile()
    hw = HardwareModel(TABLE, load_architecture(None))
    # working set (100 + 200 + 300) words x 4 bytes = 2400 bytes: the 4 KB SRAM holds it
    assert hw.sized_bytes(p.layers[0]) == 4096
    assert {ll.component for ll in hw.step(p).layers} == {"buffer_4096B"}
    assert auto_sram_bytes(5000, [4096, 8192]) == 8192 and auto_sram_bytes(10 ** 9, [4096, 8192]) == 8192


def test_what_does_not_fit_goes_to_dram():
    p = profile()
    acc = layer_accesses(p.layers[0])
    e = step_energy(p, TABLE, "fp32", sram_bytes=1200)  # half of the 2400-byte working set
    read, write, extra = TABLE.sram_access_pj(1200, 32)
    dram = 30.5 * 32
    expected = 0.5 * (acc.reads * read + acc.writes * write) + 0.5 * (acc.reads + acc.writes) * dram
    assert extra and e.extrapolated and e.memory_j == pytest.approx(expected * 1e-12)


def test_precision_sets_word_size():
    p = profile()
    e32, e16 = step_energy(p, TABLE, "fp32", sram_bytes=65536), step_energy(p, TABLE, "fp16", sram_bytes=65536)
    assert e16.levels[0].reads == e32.levels[0].reads and e16.memory_j == pytest.approx(e32.memory_j / 2)


def test_ledger_row_multiplies_profiles_by_steps():
    train, other = profile(), profile(fwd_macs=10, bwd_weight_macs=0, update_mults=0, update_adds=0)
    ev = profile("forward", bwd_weight_macs=0, update_mults=0, update_adds=0, fwd_macs=7)
    ledger = CostLedger()
    ledger.add_train(train, 10)
    ledger.add_train(other, 2)
    ledger.add_eval(ev, 3)
    row = ledger.row(TABLE, "fp32", 1234)
    assert tuple(row) == ROW_COLUMNS
    assert row["fwd_macs"] == 10 * 1000 + 2 * 10 and row["bwd_weight_macs"] == 10 * 1000
    assert row["train_macs"] == row["fwd_macs"] + row["bwd_input_macs"] + row["bwd_weight_macs"]
    assert row["update_ops"] == 10 * 600 and row["eval_macs"] == 21
    e1, e2 = step_energy(train, TABLE), step_energy(other, TABLE)
    assert row["compute_energy_j"] == pytest.approx(10 * e1.compute_j + 2 * e2.compute_j)
    assert row["memory_energy_j"] == pytest.approx(10 * e1.memory_j + 2 * e2.memory_j)
    assert row["mem_reads"] == 10 * step_accesses(train).reads + 2 * step_accesses(other).reads
    assert (row["energy_table"], row["storage_bytes"]) == ("horowitz45", 1234)


def test_per_step_figures_average_over_training_steps_only():
    ledger = CostLedger()
    ledger.add_train(profile(), 4)
    ledger.add_train(profile("forward", bwd_weight_macs=0, update_mults=0, update_adds=0), 2)  # trunk caching
    per = ledger.per_step("horowitz45")
    row = ledger.row(TABLE)
    assert per["train_steps"] == 4
    assert per["compute_energy_j"] == pytest.approx(row["compute_energy_j"] / 4)
    assert per["mem_accesses"] == pytest.approx((row["mem_reads"] + row["mem_writes"]) / 4)
    assert per["memory_energy_j"] == pytest.approx(row["memory_energy_j"] / 4)
    assert math.isnan(CostLedger().per_step(TABLE)["compute_energy_j"])


def test_elementwise_work_is_priced_apart():
    ln = LayerCost("ln", "LayerNorm", "LayerNorm", calls=2, weight_elems=16, ew_fwd_mults=300, ew_fwd_adds=400,
                   ew_bwd_mults=500, ew_bwd_adds=600, ew_reads=1000, ew_writes=700, ew_peak=450)
    p = profile(layers=[profile().layers[0], ln])
    plain = step_energy(profile(), TABLE, "fp32", sram_bytes=65536)
    e = step_energy(p, TABLE, "fp32", sram_bytes=65536)
    # the MAC figures do not move; element-wise compute: 800 mults x 3.7 pJ + 1000 adds x 0.9 pJ
    assert e.compute_j == plain.compute_j
    plain_acc, acc = step_accesses(profile()), step_accesses(p)
    assert (acc.reads, acc.writes) == (plain_acc.reads + 16 * 2, plain_acc.writes)  # its weights, once a call
    read, write, _ = TABLE.sram_access_pj(65536, 32)
    assert e.memory_j == pytest.approx(plain.memory_j + 16 * 2 * read * 1e-12)
    ew = elementwise_energy(p, TABLE, "fp32", sram_bytes=65536)
    assert ew.compute_j == pytest.approx((800 * 3.7 + 1000 * 0.9) * 1e-12)
    assert (ew.reads, ew.writes) == (1000, 700)
    assert ew.memory_j == pytest.approx((1000 * read + 700 * write) * 1e-12)
    # without a fixed size, the SRAM holds the largest element-wise op's words and the layer's weights
    assert elementwise_energy(p, TABLE).layers[0].working_set_bytes == (16 + 450) * 4
    ledger = CostLedger()
    ledger.add_train(p, 3)
    row = ledger.row(TABLE, "fp32", sram_bytes=65536)
    assert (row["elementwise_ops"] == 3 * 1800
            and (row["elementwise_mem_reads"], row["elementwise_mem_writes"]) == (3000, 2100))
    assert row["elementwise_compute_energy_j"] == pytest.approx(3 * ew.compute_j)
    assert row["elementwise_memory_energy_j"] == pytest.approx(3 * ew.memory_j)
    per = ledger.per_step(TABLE, sram_bytes=65536)
    assert per["elementwise_energy_j"] == pytest.approx(ew.compute_j + ew.memory_j)
    assert per["elementwise_ops"] == 1800 and per["elementwise_mem_accesses"] == 1700
