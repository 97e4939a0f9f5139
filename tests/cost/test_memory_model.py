"""Memory accesses under the documented dataflow, by hand, and storage with shared tensors."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from energybench.cost.counter import LayerCost, count_step
from energybench.cost.memory_model import Accesses, layer_accesses, step_accesses, storage_bytes, working_set_words
from energybench.errors import UserError


def layer(**kw):
    base = dict(name="l", kind="conv", module_type="Conv2d", fwd_macs=100, calls=1, weight_elems=10, in_elems=20,
                out_elems=30)
    return LayerCost(**(base | kw))


def test_trainable_middle_layer_by_hand():
    acc = layer_accesses(layer(bwd_input_macs=100, bwd_weight_macs=100, trainable_elems=10, state_elems=10))
    # forward: W + I read, O written; bwd-in: O + W read, I written; bwd-w: O + I read, U written;
    # update: U weights + U grads + S state read, U weights + S state written
    assert acc == Accesses(weight_reads=10 + 10 + 10, weight_writes=10, act_reads=20 + 20, act_writes=30,
                           act_grad_reads=30 + 30, act_grad_writes=20, weight_grad_reads=10,
                           weight_grad_writes=10, state_reads=10, state_writes=10)
    assert acc.reads == 30 + 40 + 60 + 10 + 10 and acc.writes == 10 + 30 + 20 + 10 + 10


def test_first_layer_writes_no_input_gradient():
    acc = layer_accesses(layer(bwd_weight_macs=100, trainable_elems=10))
    assert acc.act_grad_writes == 0 and acc.act_grad_reads == 30 and acc.act_reads == 40


def test_frozen_layer_after_trainable_is_never_written():
    acc = layer_accesses(layer(bwd_input_macs=100))
    assert acc.weight_writes == acc.weight_grad_writes == acc.state_writes == 0
    assert acc.act_reads == 20  # no read-back of the saved activation: no weight gradient
    assert acc.weight_reads == 20 and acc.act_grad_writes == 20


def test_frozen_prefix_only_runs_forward():
    acc = layer_accesses(layer())
    assert acc == Accesses(weight_reads=10, act_reads=20, act_writes=30)


def test_weights_are_read_once_per_call():
    acc = layer_accesses(layer(calls=3, in_elems=60, out_elems=90))
    assert acc.weight_reads == 30
    assert working_set_words(layer(calls=3, in_elems=60, out_elems=90)) == 10 + 20 + 30


def test_batch_norm_parameters_without_activation_traffic():
    bn = LayerCost("bn", "BatchNorm2d", "BatchNorm2d", calls=1, weight_elems=8, trainable_elems=8, state_elems=8)
    acc = layer_accesses(bn)
    assert (acc.act_reads, acc.act_writes, acc.act_grad_reads, acc.act_grad_writes) == (0, 0, 0, 0)
    assert (acc.weight_reads, acc.weight_writes, acc.weight_grad_writes) == (16, 8, 8)


def test_sharing_cuts_memory_accesses_and_never_writes_frozen_weights():
    from energybench.training.step_profile import profile_training_step

    _, _, full = profile_training_step("resnet20", (3, 16, 16), 5, 2, 0.0, device="meta")
    _, cut, shared = profile_training_step("resnet20", (3, 16, 16), 5, 2, 0.6, device="meta")
    assert cut.blocks > 0
    assert step_accesses(shared).reads < step_accesses(full).reads
    assert step_accesses(shared).writes < step_accesses(full).writes
    for lc in shared.layers:
        if not lc.trainable:
            assert layer_accesses(lc).weight_writes == 0


def test_storage_counts_shared_tensors_once():
    base = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))  # 15 + 8 parameters
    branch = nn.Sequential(base[0], copy.deepcopy(base[1]))  # shares the first layer, clones the second
    assert storage_bytes([base], precision="fp32") == 23 * 4
    assert storage_bytes([base, branch], precision="fp32") == (23 + 8) * 4
    assert storage_bytes([base, branch], exemplar_bytes=100, precision="fp16") == (23 + 8) * 2 + 100
    assert storage_bytes(base, precision="int8") == 23  # a single module is accepted too


def test_storage_rejects_unknown_precision():
    with pytest.raises(UserError, match="precision 'fp33x'"):
        storage_bytes([nn.Linear(2, 2)], precision="fp33x")


def test_profile_layers_feed_the_model():
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    x = torch.randn(5, 4)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)

    def step():
        opt.zero_grad()
        net(x).sum().backward()
        opt.step()

    _, p = count_step(step, net)
    first, relu, last, loss = p.layers  # the ReLU module and the loss (no module): element-wise work only
    assert (relu.name, loss.name) == ("1", "(no module)")
    assert layer_accesses(relu) == layer_accesses(loss) == Accesses()
    assert (relu.ew_reads, relu.ew_writes) == (5 * 3 + 2 * 5 * 3, 2 * 5 * 3)  # relu, then threshold_backward
    assert (first.weight_elems, first.in_elems, first.out_elems, first.trainable_elems,
            first.state_elems) == (15, 20, 15, 15, 15)
    total = step_accesses(p)
    assert total == layer_accesses(first) + layer_accesses(last)
