"""Backbones as block lists, growing heads, frozen prefixes."""

import pytest
import torch

from energybench.errors import UserError
from energybench.models import BACKBONES, build_backbone, build_net
from energybench.models.heads import CosineLinear, GrowingLinear


@pytest.mark.parametrize("name,shape,kw,blocks,out_dim", [
    ("tiny_cnn", (1, 8, 8), {}, 4, 64),
    ("lenet", (1, 28, 28), {}, 2, 64),  # [784 4c5 2s 4c5 2s]: 4 maps of 4x4
    ("nin", (3, 32, 32), {}, 3, 128),
    ("resnet20", (1, 28, 28), {}, 11, 64),  # stem + 9 residual blocks + pool
    ("resnet32", (3, 32, 32), {}, 17, 64),
    ("resnet18", (3, 32, 32), {"cifar_stem": True}, 10, 512),
    ("vgg19", (3, 32, 32), {"cifar_stem": True}, 18, 512),
])
def test_backbones_run_and_report_shapes(name, shape, kw, blocks, out_dim):
    bb = build_backbone(name, shape, **kw)
    assert len(bb.blocks) == blocks and bb.out_dim == out_dim
    assert bb(torch.randn(2, *shape)).shape == (2, out_dim)


def test_lenet_has_the_papers_parameter_count():
    # conv 1->4 5x5 (100 + 4 bias) and conv 4->4 5x5 (400 + 4 bias)
    assert build_backbone("lenet", (1, 28, 28)).block_params() == [104, 404]


def test_unknown_backbone_and_bad_input_size():
    with pytest.raises(UserError, match="unknown backbone 'alexnet'"):
        build_backbone("alexnet", (3, 32, 32))
    with pytest.raises(UserError, match="lenet.*cannot take input 1x8x8"):
        build_backbone("lenet", (1, 8, 8))
    assert "resnet101" in BACKBONES


def test_growing_head_keeps_old_weights():
    head = GrowingLinear(5, 3)
    old = head.chunks[0].weight.detach().clone()
    x = torch.randn(4, 5)
    before = head(x)
    head.add_classes(2)
    after = head(x)
    assert head.num_classes == 5 and after.shape == (4, 5)
    assert torch.equal(head.chunks[0].weight, old) and torch.allclose(after[:, :3], before)


def test_cosine_head_is_bounded_by_sigma():
    head = CosineLinear(6, 4)
    with torch.no_grad():
        head.sigma.fill_(3.0)
    out = head(torch.randn(50, 6) * 100)
    assert out.abs().max() <= 3.0 + 1e-5


def test_frozen_blocks_keep_weights_and_batchnorm_statistics():
    net = build_net("tiny_cnn", (1, 8, 8), 4)
    net.freeze_blocks(2)
    frozen = {k: v.clone() for k, v in net.backbone.blocks[:2].state_dict().items()}
    trainable = net.backbone.blocks[2].state_dict()["0.0.weight"].clone()
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.1)
    net.train()
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(torch.randn(8, 1, 8, 8)), torch.randint(0, 4, (8,))).backward()
        opt.step()
    for k, v in net.backbone.blocks[:2].state_dict().items():
        assert torch.equal(v, frozen[k]), k  # includes BN running_mean / running_var
    assert not torch.equal(net.backbone.blocks[2].state_dict()["0.0.weight"], trainable)


@pytest.mark.parametrize("on_cpu", [True, False])
def test_an_input_too_small_for_pooling_is_refused_on_either_device(monkeypatch, on_cpu):
    """check_input runs a small backbone forward on the CPU (zeroed weights, no torch._dynamo import),
    a large one on the meta device: the same refusal, word for word, either way."""
    import energybench.models as models

    if not on_cpu:
        monkeypatch.setattr(models, "CHECK_ON_CPU_PARAMS", -1)
    moved = []
    to_empty = torch.nn.Module.to_empty
    monkeypatch.setattr(torch.nn.Module, "to_empty",
                        lambda self, *, device, recurse=True: moved.append(str(device)) or to_empty(
                            self, device=device, recurse=recurse))
    rng = torch.get_rng_state()
    with pytest.raises(UserError, match=r"^backbone 'tiny_cnn' cannot take input 1x1x1 \(Given input size: "
                                        r"\(32x1x1\)\. Calculated output size: \(32x0x0\)"):
        models.check_input("tiny_cnn", (1, 1, 1))
    models.check_input("resnet20", (1, 8, 8))
    assert moved == (["cpu", "cpu"] if on_cpu else [])  # the path this case is about was the one taken
    assert torch.equal(torch.get_rng_state(), rng)  # no weights were initialised: the run's seeds see nothing
