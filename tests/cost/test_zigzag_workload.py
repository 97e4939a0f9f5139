"""Each (layer, pass) as ZigZag layers: backward passes as convolutions, MACs equal to the counter's."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from energybench.cost.zigzag.workload import conv_passes, pass_workloads
from energybench.cost.geometry import Geometry

from step_helpers import profile_of


def _sizes(d):
    return dict(zip(d["loop_dims"], d["loop_sizes"]))


NETS = {
    "strided 3x3": (nn.Conv2d(4, 6, 3, stride=2, padding=1), (2, 4, 9, 9)),
    "1x1 stride 2": (nn.Conv2d(4, 8, 1, stride=2, bias=False), (1, 4, 8, 8)),
    "dilated grouped": (nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=4), (2, 8, 7, 7)),
    "stride 3 dilation 2": (nn.Conv2d(3, 5, 5, stride=3, dilation=2, padding=1), (1, 3, 17, 13)),
    "valid 5x5": (nn.Conv2d(2, 3, 5), (1, 2, 9, 9)),
    "1-d": (nn.Conv1d(3, 4, 3, stride=2, padding=1), (2, 3, 11)),
    "linear": (nn.Linear(12, 7), (5, 12)),
    "3-d (im2col fallback)": (nn.Conv3d(2, 3, 3, padding=1), (1, 2, 4, 4, 4)),
}


@pytest.mark.parametrize("name", list(NETS))
def test_translated_macs_equal_counted(name):
    """Every pass of every layer: the ZigZag layers' loop products x calls are exactly the counter's MACs
    (no scaling), the input's gradient included for strided convolutions (phase convolutions)."""
    module, shape = NETS[name]
    prof = profile_of(module, shape)
    (layer,) = [lc for lc in prof.layers if lc.train_macs]
    ws = {w.pass_: w for w in pass_workloads(layer, 32)}
    assert set(ws) == {"forward", "backward_input", "backward_weight"}
    counted = {"forward": layer.fwd_macs, "backward_input": layer.bwd_input_macs,
               "backward_weight": layer.bwd_weight_macs}
    for p, w in ws.items():
        assert w.scale == 1.0
        assert sum(math.prod(d["loop_sizes"]) * t for d, t in w.layers) == counted[p] > 0
    assert ws["forward"].form == {"linear": "gemm", "3-d (im2col fallback)": "gemm-fallback"}.get(name, "conv")


def test_frozen_layer_has_no_backward_to_weights_and_first_layer_no_input_gradient():
    prof = profile_of(nn.Conv2d(3, 4, 3), (1, 3, 6, 6), frozen=True)
    (layer,) = [lc for lc in prof.layers if lc.train_macs]
    assert [w.pass_ for w in pass_workloads(layer, 32)] == ["forward", "backward_input"]
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3))
    torch.manual_seed(0)
    x = torch.randn(1, 3, 8, 8)  # no gradient wanted: the first layer has no backward-to-input
    from energybench.cost.counter import count_step
    _, prof = count_step(lambda: net(x).sum().backward(), net)
    first = next(lc for lc in prof.layers if lc.name == "0")
    assert [w.pass_ for w in pass_workloads(first, 32)] == ["forward", "backward_weight"]


def test_strided_backward_to_input_is_four_phase_convolutions():
    """3x3, stride 2, padding 1, 56 -> 28: taps {0, 2} and {1} per dimension, so four phases with
    2x2, 2x1, 1x2 and 1x1 kernels over dY's 28x28 positions, channels swapped: 9 taps in all."""
    geo = Geometry(op="conv", batch=1, in_channels=64, out_channels=128, in_size=(56, 56), out_size=(28, 28),
                   kernel=(3, 3), stride=(2, 2), padding=(1, 1), dilation=(1, 1), groups=1)
    p = conv_passes(geo, "l", 16)
    phases = [_sizes(d) for d, _ in p["backward_input"]]
    assert [(s["FY"], s["FX"]) for s in phases] == [(2, 2), (2, 1), (1, 2), (1, 1)]
    assert all((s["K"], s["C"], s["OY"], s["OX"]) == (64, 128, 28, 28) for s in phases)
    assert p["backward_input"][0][0]["dimension_relations"] == ["ix=1*ox+1*fx", "iy=1*oy+1*fy"]
    # backward-to-weights: kernel = dY (28x28) dilated by the stride, output = the 3x3 kernel, batch reduced
    w = _sizes(p["backward_weight"][0][0])
    assert (w["B"], w["K"], w["C"], w["OY"], w["OX"], w["FY"], w["FX"]) == (64, 128, 1, 3, 3, 28, 28)
    assert p["backward_weight"][0][0]["dimension_relations"] == ["ix=1*ox+2*fx", "iy=1*oy+2*fy"]
    assert p["forward"][0][0]["operand_precision"] == {"W": 16, "I": 16, "O": 16, "O_final": 16}


def test_one_by_one_stride_two_backward_to_input_keeps_one_phase():
    """A 1x1 stride-2 kernel feeds only the even input positions: one phase, a 1x1 convolution."""
    geo = Geometry(op="conv", batch=2, in_channels=64, out_channels=128, in_size=(56, 56), out_size=(28, 28),
                   kernel=(1, 1), stride=(2, 2), padding=(0, 0), dilation=(1, 1), groups=1)
    (only,) = conv_passes(geo, "ds", 32)["backward_input"]
    assert _sizes(only[0]) == {"B": 2, "K": 64, "G": 1, "OX": 28, "OY": 28, "C": 128, "FX": 1, "FY": 1}


def test_zigzag_parses_every_translated_layer():
    """ZigZag's own validator and factory accept the layers (forward, phases, backward-to-weights, GEMM)."""
    pytest.importorskip("zigzag")
    pytest.importorskip("six")
    from zigzag.parser.workload_factory import WorkloadFactory
    from zigzag.parser.workload_validator import WorkloadValidator

    layers = []
    for module, shape in (NETS["strided 3x3"], NETS["linear"], NETS["dilated grouped"]):
        (layer,) = [lc for lc in profile_of(module, shape).layers if lc.train_macs]
        layers += [d for w in pass_workloads(layer, 32) for d, _ in w.layers]
    data = [{"id": i, **d, "operand_source": {"I": i, "W": i}} for i, d in enumerate(layers)]
    v = WorkloadValidator(data)
    assert v.validate(), v.validator.errors
    mapping = [{"name": "default", "spatial_mapping_hint": {"D1": ["K"], "D2": ["C"]},
                "memory_operand_links": {"O": "O", "W": "I2", "I": "I1"}}]
    from zigzag.parser.mapping_validator import MappingValidator
    mv = MappingValidator(mapping)
    assert mv.validate()
    workload = WorkloadFactory(v.normalized_data, mv.normalized_data).create()
    nodes = list(workload.topological_sort())
    assert [n.total_mac_count for n in nodes] == [math.prod(d["loop_sizes"]) for d in layers]
