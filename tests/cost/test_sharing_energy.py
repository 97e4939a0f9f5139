"""Every backbone, over a grid of sharing levels (meta tensors: shapes only, fast): backward is
exactly twice the forward minus the first layer at sharing 0, and computation energy per
training step falls as sharing rises."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from energybench.cost.counter import count_step
from energybench.cost.energy import compute_energy_pj
from energybench.training.step_profile import profile_training_step
from energybench.cost.tables import load_energy_table
from energybench.models import BACKBONES, build_net

SHAPES = {"tiny_cnn": (1, 8, 8), "lenet": (1, 16, 16)}
GRID = (0.0, 0.4, 0.8, 0.95)


@pytest.mark.parametrize("name", BACKBONES)
def test_backward_identity_and_energy_falls_with_sharing(name):
    table = load_energy_table()
    shape = SHAPES.get(name, (3, 32, 32))
    energies, blocks = [], []
    for s in GRID:
        _net, cut, p = profile_training_step(name, shape, 5, 2, s, device="meta")
        if s == 0.0:
            first = p.layers[0]
            assert first.fwd_macs > 0 and first.bwd_input_macs == 0
            assert p.bwd_input_macs + p.bwd_weight_macs == 2 * p.fwd_macs - first.fwd_macs
        energies.append(compute_energy_pj(p.train_macs, p.update_mults, p.update_adds, table, "fp32"))
        blocks.append(cut.blocks)
    assert blocks == sorted(blocks)
    for i in range(1, len(GRID)):
        assert energies[i] <= energies[i - 1]
        if blocks[i] > blocks[i - 1]:
            assert energies[i] < energies[i - 1], f"{name}: freezing {blocks[i]} blocks did not lower energy"
    assert blocks[-1] > 0 and energies[-1] < energies[0]


def test_cosine_head_keeps_the_identity():
    with torch.device("meta"):
        net = build_net("resnet20", (3, 16, 16), 5, cosine=True)
        x, y = torch.randn(2, 3, 16, 16), torch.randint(0, 5, (2,))
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)

    def step():
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()

    _, p = count_step(step, net)
    assert p.bwd_input_macs + p.bwd_weight_macs == 2 * p.fwd_macs - p.layers[0].fwd_macs
