"""ZigZag as a mapper on a few small convolutions, and `energybench cost --mapper zigzag` end to
end (needs the zigzag extra; ZigZag maps 10 + 5 small layers once, in two processes, then answers
from the cache)."""

from __future__ import annotations

import logging
import os
import time

import pytest
from torch import nn

from energybench.cost.hardware import build_hardware

from step_helpers import profile_of

pytest.importorskip("zigzag")
pytest.importorskip("six")

from energybench.cost.mappers.zigzag import ZigZagMapper  # noqa: E402
from energybench.cost.zigzag import runner  # noqa: E402
from energybench.cost.zigzag.agreement import compare  # noqa: E402


class Small(nn.Module):
    """A strided 3x3, a stride-1 3x3 and a 1x1 stride-2 downsample, at 8x8."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False)
        self.b = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.ds = nn.Conv2d(8, 16, 1, stride=2, bias=False)

    def forward(self, x):
        return self.b(self.a(x)) + self.ds(x)


@pytest.fixture(scope="module")
def mapped(tmp_path_factory):
    """One ZigZag batch on eyeriss_like, run from a scratch folder, with the cache in a temporary place."""
    where = tmp_path_factory.mktemp("cache")
    cwd = tmp_path_factory.mktemp("cwd")
    prof = profile_of(Small(), (1, 8, 8, 8))
    hw = build_hardware(arch="eyeriss_like")
    mapper = ZigZagMapper(hw, processes=2, cache_dir=where)
    root = logging.getLogger()
    before = (root.level, list(root.handlers))
    old = os.getcwd()
    os.chdir(cwd)
    try:
        t = time.perf_counter()
        first = mapper.map_layers(prof.layers, hw.arch, 32)
        cold = time.perf_counter() - t
        t = time.perf_counter()
        second = mapper.map_layers(prof.layers, hw.arch, 32)
        warm = time.perf_counter() - t
    finally:
        os.chdir(old)
    return {"prof": prof, "hw": hw, "mapper": mapper, "first": first, "second": second, "cold": cold,
            "warm": warm, "cwd": cwd, "root_before": before, "where": where}


def test_every_pass_mapped_with_the_counted_macs(mapped):
    prof, first = mapped["prof"], mapped["first"]
    for layer in prof.layers:
        if not layer.train_macs:
            continue
        by = {m.pass_: m for m in first[layer.name]}
        assert set(by) == {"forward", "backward_input", "backward_weight"}
        assert by["forward"].macs == layer.fwd_macs
        assert by["backward_input"].macs == layer.bwd_input_macs
        assert by["backward_weight"].macs == layer.bwd_weight_macs
        for m in by.values():
            assert m.mapper == "zigzag" and set(m.levels) == {"rf", "glb", "dram"}
            # a cycle per MAC on every PE is the least it can take
            assert m.latency_cycles >= m.macs / 168
            assert 0 < m.utilisation <= 1
            reads, writes = m.levels["rf"]
            assert reads > 0 and writes > 0


def test_dram_words_at_least_the_unique_operands(mapped):
    """Every pass starts and ends in DRAM: at least the weight and the touched input are read, the
    output written. 1x1 stride 2 forward: input 8 x 4 x 4 touched (a quarter), weight 8 x 16."""
    ds = {m.pass_: m for m in mapped["first"]["ds"]}
    reads, writes = ds["forward"].levels["dram"]
    assert reads >= 8 * 4 * 4 + 8 * 16
    assert reads < 8 * 8 * 8 + 8 * 16  # the untouched three quarters of the input are never read
    assert writes >= 16 * 4 * 4


def test_words_priced_back_give_zigzags_own_energy(mapped):
    """Words x energybench's per-word energies = ZigZag's memory energy of the same mapping: the
    translation of energies and of access units is exact."""
    hw = mapped["hw"]
    from energybench.cost.zigzag import hardware as zh
    from energybench.cost.zigzag.workload import pass_workloads

    acc, _, _ = zh.accelerator(hw, 32)
    (layer,) = [lc for lc in mapped["prof"].layers if lc.name == "b"]
    (w,) = [w for w in pass_workloads(layer, 32) if w.pass_ == "forward"]
    (answer,) = runner.run_layers([w.layers[0][0]], acc, zh.mapping(hw.arch), where=mapped["where"])
    m = {p.pass_: p for p in mapped["first"]["b"]}["forward"]
    ours = sum(r * hw.access_pj(lv)[0] + wr * hw.access_pj(lv)[1] for lv, (r, wr) in m.levels.items())
    assert ours == pytest.approx(answer["energy_pj"] - answer["mac_energy_pj"], rel=1e-9)


def test_second_call_from_cache_and_nothing_left_in_the_users_folder(mapped):
    assert mapped["warm"] < 2.0
    assert mapped["second"] == mapped["first"]
    assert list(mapped["cwd"].iterdir()) == []  # no ./outputs/<timestamp>
    root = logging.getLogger()
    assert (root.level, list(root.handlers)) == mapped["root_before"]  # no basicConfig(INFO) left behind


def test_agreement_bands_on_small_network(mapped):
    """The issue's bands, analytic mapper against ZigZag, on the small network: every whole pass
    within 15 %, its buffer and DRAM energy within 1.5x and its latency within 2x, and the sharing
    ratio (the step over the step with `a` frozen) within 5 %. Measured: passes 1.11, 0.98, 1.00;
    glb 1.33, 0.99, 0.97; DRAM 1.00, 0.87, 0.96; cycles 0.96, 0.83, 0.85; sharing -0.2 %
    (ResNet-18: reports/zigzag_agreement.md)."""
    ag = compare(mapped["prof"], mapped["hw"], mapped["mapper"])
    for p in ("forward", "backward_input", "backward_weight"):
        r = ag.total("analytic", p) / ag.total("zigzag", p)
        assert 0.85 <= r <= 1.15, (p, r)
        for lv in ("glb", "dram"):
            r = ag.total("analytic", p, lv) / ag.total("zigzag", p, lv)
            assert r <= 1.5 and r >= 1 / 1.5, (p, lv, r)
        c = ag.cycles("analytic", p) / ag.cycles("zigzag", p)
        assert 0.5 <= c <= 2, (p, c)
    small = Small()
    small.a.requires_grad_(False)  # a frozen prefix: its backward-to-weights and update go
    frozen = compare(profile_of(small, (1, 8, 8, 8)), mapped["hw"], mapped["mapper"])
    assert len(frozen.rows) == len(ag.rows) - 1
    sharing = (ag.step_j("analytic") / frozen.step_j("analytic")) / (ag.step_j("zigzag") / frozen.step_j("zigzag"))
    assert abs(sharing - 1) <= 0.05, sharing


def one_conv(in_shape):
    """A user backbone for the CLI test: one 3x3 conv, 2 -> 4 channels at 4x4 (the head adds a linear layer)."""
    return nn.Sequential(nn.Conv2d(in_shape[0], 4, 3, padding=1, bias=False), nn.Flatten())


def test_cost_cli_with_zigzag_end_to_end_and_second_call_from_the_cache(tmp_path, monkeypatch, capsys):
    """`energybench cost --mapper zigzag`: every MAC pass mapped by ZigZag with the run's energies,
    the update by the analytic model; the same call again is answered from the cache in under 2 s,
    with the same figures, and nothing is written into the user's folder."""
    import json

    from energybench.cli import main

    monkeypatch.setenv("ENERGYBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    argv = ["cost", "--backbone", f"{__name__}:one_conv", "--input", "2x4x4", "--num-classes", "3", "--arch",
            "eyeriss_like", "--mapper", "zigzag", "--json"]
    assert main(argv) == 0
    cold = capsys.readouterr()
    first = json.loads(cold.out)
    mapped = len(list((tmp_path / "cache" / "zigzag").iterdir()))
    # conv forward and backward-to-weights (the first layer needs no input gradient), the head's three
    assert mapped == 5
    # the minutes of a cold search are announced, with the count, and their time once done (stderr: --json stays JSON)
    assert "energybench: ZigZag maps 5 layer-pass(es) not in its cache" in cold.err
    assert "energybench: ZigZag mapped 5 layer-pass(es) in " in cold.err
    t = time.perf_counter()
    assert main(argv) == 0
    warm = time.perf_counter() - t
    assert warm < 2.0
    again = capsys.readouterr()
    assert json.loads(again.out) == first and "ZigZag map" not in again.err  # all from the cache: nothing to say
    assert len(list((tmp_path / "cache" / "zigzag").iterdir())) == mapped  # nothing mapped again
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]  # no ./outputs/<timestamp>
    assert first["mapper"] == "zigzag"
    layers = {layer["name"]: layer["passes"] for layer in first["layers"]}
    conv, head = layers["backbone.blocks.0"], layers["head.chunks.0"]
    assert set(conv) == {"forward", "backward_weight", "update"}
    assert conv["forward"]["macs"] == 2 * 4 * 9 * 16 and conv["forward"]["mapper"] == "zigzag"
    assert conv["update"]["mapper"] == "analytic"
    # the head (64 -> 3): its bias read and its gradient written by the analytic model beside ZigZag's GEMMs
    assert {p: (v["macs"], v["mapper"]) for p, v in head.items()} == {
        "forward": (192, "zigzag+analytic"), "backward_input": (192, "zigzag"),
        "backward_weight": (192, "zigzag+analytic"), "update": (0, "analytic")}
    assert first["latency_cycles"] == pytest.approx(sum(p["latency_cycles"] for layer in first["layers"]
                                                        for p in layer["passes"].values()), rel=1e-9)


def test_the_engine_gives_zigzag_the_runs_hardware():
    """At 7 nm ZigZag searches with the 7 nm energies the run prices with, not the default 45 nm
    table's (the translated memories' per-access energies are the engine's)."""
    from energybench.cost.zigzag import hardware as zh

    hw7, hw45 = build_hardware(arch="eyeriss_like", node=7, mapper="zigzag"), build_hardware(arch="eyeriss_like")
    assert hw7.mapper.hardware is hw7
    acc7, _, _ = zh.accelerator(hw7.mapper._hardware_for(hw7.arch, 32), 32)
    acc45, _, _ = zh.accelerator(hw45, 32)
    assert acc7 != acc45
    assert acc7 == zh.accelerator(hw7, 32)[0]


def test_mapping_is_deterministic(mapped, tmp_path):
    """The same layer mapped again from an empty cache, in a fresh worker, gives the same answer."""
    hw = mapped["hw"]
    from energybench.cost.zigzag import hardware as zh
    from energybench.cost.zigzag.workload import pass_workloads

    acc, _, _ = zh.accelerator(hw, 32)
    (layer,) = [lc for lc in mapped["prof"].layers if lc.name == "ds"]
    (w,) = [w for w in pass_workloads(layer, 32) if w.pass_ == "backward_weight"]
    (again,) = runner.run_layers([w.layers[0][0]], acc, zh.mapping(hw.arch), where=tmp_path)
    (first,) = runner.run_layers([w.layers[0][0]], acc, zh.mapping(hw.arch), where=mapped["where"])
    assert again == first
