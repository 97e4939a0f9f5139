"""Network surgery: where a sharing level cuts, and branches that share the trunk's tensors."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from energybench.errors import UserError
from energybench.models import build_backbone, build_net
from energybench.models.backbone import Backbone
from energybench.models.heads import GrowingLinear
from energybench.models.network import IncrementalNet
from energybench.models.surgery import (
    Cut,
    boundaries,
    branch,
    check_sharing,
    clone,
    cut_at,
    distinct_cuts,
    shared_parameters,
)


def hand_backbone() -> Backbone:
    """Blocks of 100, 300, 0 and 600 parameters: boundaries at 0, .1, .4, .4, 1."""
    blocks = [nn.Linear(10, 10, bias=False), nn.Linear(10, 30, bias=False), nn.ReLU(), nn.Linear(30, 20, bias=False)]
    return Backbone("hand", blocks, 20)


def test_boundaries_of_a_hand_built_backbone():
    bb = hand_backbone()
    assert bb.block_params() == [100, 300, 0, 600]
    assert boundaries(bb) == pytest.approx([0.0, 0.1, 0.4, 0.4, 1.0])
    assert distinct_cuts(bb) == pytest.approx([0.0, 0.1, 0.4, 1.0])  # what cost and the manifest list


@pytest.mark.parametrize("requested,achieved,blocks", [
    (0.0, 0.0, 0),
    (0.04, 0.0, 0),   # nearer 0 than 0.1
    (0.05, 0.0, 0),   # tie between 0 and 0.1: less sharing
    (0.2, 0.1, 1),
    (0.25, 0.1, 1),   # tie between 0.1 and 0.4: less sharing
    (0.3, 0.4, 2),    # 0.4 after 2 blocks and after 3 (the ReLU): fewer blocks
    (0.7, 0.4, 2),    # tie between 0.4 and 1.0
    (0.71, 1.0, 4),
    (0.99, 1.0, 4),   # every parameterised block shared: only the head retrains
])
def test_cut_rounds_to_the_nearest_block_boundary(requested, achieved, blocks):
    cut = cut_at(hand_backbone(), requested)
    assert cut == Cut(requested, pytest.approx(achieved), blocks)


def test_cut_of_a_cifar_resnet_matches_hand_counted_parameters():
    bb = build_backbone("resnet20", (1, 28, 28))
    # stem: 3x3 conv 1->16 (144) + BN (32); stage 1: 2 convs 16->16 (2 x 2304) + 2 BNs (64);
    # first block of stage 2: 16->32 (4608) + 32->32 (9216) + 2 BNs (128) + 1x1 projection (512 + 64);
    # stage 3 likewise at 32->64 and 64->64; the pooling block has none.
    expected = [176, 4672, 4672, 4672, 14528, 18560, 18560, 57728, 73984, 73984, 0]
    assert bb.block_params() == expected
    total = sum(expected)  # 271536
    assert cut_at(bb, 0.5) == Cut(0.5, 123568 / total, 8)  # 0.455 beats 0.728
    assert cut_at(bb, 0.66) == Cut(0.66, 197552 / total, 9)
    assert cut_at(bb, 0.25) == Cut(0.25, 65840 / total, 7)


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5])
def test_sharing_outside_zero_to_one_is_a_user_error(bad):
    with pytest.raises(UserError, match=r"sharing must be in \[0, 1\)"):
        check_sharing(bad)
    with pytest.raises(UserError):
        cut_at(hand_backbone(), bad)


def test_branch_shares_the_trunk_objects_and_clones_the_rest():
    torch.manual_seed(0)
    net = build_net("tiny_cnn", (1, 8, 8), 4)
    cut = cut_at(net.backbone, 0.5)
    assert cut.blocks == 2  # 4848 of 27568 parameters (0.176) is nearer 0.5 than 0 is; 23408 (0.849) is not
    b = branch(net, cut, 3)
    for i in range(2):
        assert b.backbone.blocks[i] is net.backbone.blocks[i]
    for i in range(2, 4):
        assert b.backbone.blocks[i] is not net.backbone.blocks[i]
        for p, q in zip(b.backbone.blocks[i].parameters(), net.backbone.blocks[i].parameters()):
            assert torch.equal(p, q) and p is not q
    assert isinstance(b.head, GrowingLinear) and b.head.num_classes == 3
    assert b.frozen_blocks == 2
    assert [p.requires_grad for p in b.backbone.parameters()] == [
        i >= 2 for i, blk in enumerate(b.backbone.blocks) for _ in blk.parameters()]
    assert shared_parameters(net, b) == 176 + 4672
    # a deep copy (the runner branches every sharing level from a copy) keeps the sharing
    pair = copy.deepcopy(nn.ModuleList([net, b]))
    assert pair[1].backbone.blocks[0] is pair[0].backbone.blocks[0]
    assert pair[1].backbone.blocks[2] is not pair[0].backbone.blocks[2]


def test_training_a_branch_leaves_the_trunk_and_the_base_unchanged():
    torch.manual_seed(0)
    net = build_net("tiny_cnn", (1, 8, 8), 4)
    b = branch(net, cut_at(net.backbone, 0.5), 3)
    before = copy.deepcopy(net.state_dict())  # includes batch-norm running statistics
    tail_before = copy.deepcopy(b.backbone.blocks[2].state_dict())
    opt = torch.optim.SGD([p for p in b.parameters() if p.requires_grad], lr=0.1, momentum=0.9)
    b.train()
    assert not b.backbone.blocks[0].training and b.backbone.blocks[2].training
    for _ in range(3):
        x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 3, (16,))
        opt.zero_grad()
        F.cross_entropy(b(x), y).backward()
        opt.step()
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # trunk and the base's own tail
    changed = b.backbone.blocks[2].state_dict()
    assert not torch.equal(changed["0.0.weight"], tail_before["0.0.weight"])
    assert not torch.equal(changed["0.1.running_mean"], tail_before["0.1.running_mean"])


def test_branch_at_sharing_zero_clones_everything_and_keeps_the_device():
    net = IncrementalNet(hand_backbone(), GrowingLinear(20, 5))
    b = branch(net, cut_at(net.backbone, 0.0), 2)
    assert shared_parameters(net, b) == 0 and b.frozen_blocks == 0
    assert b.head.chunks[0].weight.device == net.head.chunks[0].weight.device
    assert b(torch.randn(4, 10)).shape == (4, 2)
    c = clone(net)
    assert shared_parameters(net, c) == 0
