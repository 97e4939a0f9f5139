"""Networks train channels-last, except 1x1 strided convolutions with few input channels,
whose channels-last backward corrupts the heap in oneDNN (uxlfoundation/oneDNN#6035)."""

import copy

import pytest
import torch
from torch import nn

from energybench.models import build_net
from energybench.models.layout import to_training_layout, unsafe_in_channels_last


def _grads(net: nn.Module, x: torch.Tensor, loss) -> dict[str, torch.Tensor]:
    net.zero_grad(set_to_none=True)
    x = x.detach().requires_grad_()
    loss(net(x)).backward()
    return {"input": x.grad.double(), **{n: p.grad.double() for n, p in net.named_parameters()}}


@pytest.mark.parametrize("cin", [1, 2, 4, 7, 8, 12, 16])
def test_strided_pointwise_convolution_gradients_are_exact(cin):
    """Before the fix, 2-7 input channels crashed (or, on other CPUs, gave wrong weight
    gradients); the step must match float64 NCHW arithmetic."""
    torch.manual_seed(cin)
    conv = nn.Sequential(nn.Conv2d(cin, 8, 1, stride=2, bias=False))
    x = torch.randn(32, cin, 28, 28)
    weights = torch.randn(32, 8, 14, 14, dtype=torch.float64)
    loss = lambda out: (out * weights.to(out.dtype)).sum()  # noqa: E731
    want = _grads(copy.deepcopy(conv).double(), x.double(), loss)
    got = _grads(to_training_layout(conv), x.contiguous(memory_format=torch.channels_last), loss)
    for name in want:
        assert torch.allclose(got[name], want[name], rtol=1e-4, atol=1e-3), name  # sums of 6,272 float32 products


@pytest.mark.parametrize("shape, width, unsafe", [
    ((1, 28, 28), 0.25, 2),  # shortcut convs 4->8 and 8->16 channels: the first crashed
    ((3, 32, 32), 0.5, 2),   # 8->16 and 16->32: a full AVX2 block, short of AVX-512's
    ((3, 32, 32), 1.0, 1),   # 16->32 only; 32->64 is safe
])
def test_resnet_keeps_only_unsafe_convs_nchw_and_trains(shape, width, unsafe):
    torch.manual_seed(0)
    net = build_net("resnet20", shape, 5, width=width).train()
    convs = {n: m for n, m in net.named_modules() if isinstance(m, nn.Conv2d)}
    kept = {n for n, m in convs.items() if unsafe_in_channels_last(m)}
    assert len(kept) == unsafe and all(n.endswith("downsample.0") for n in kept)
    for name, conv in convs.items():
        standard = conv.weight.stride() == torch.empty(conv.weight.shape).stride()
        assert standard == (name in kept), name  # everything else is channels-last
    x = torch.randn(16, *shape)
    y = torch.randint(0, 5, (16,))
    loss = lambda out: nn.functional.cross_entropy(out, y)  # noqa: E731
    want = _grads(copy.deepcopy(net).to(memory_format=torch.contiguous_format).double(), x.double(), loss)
    got = _grads(net, x.contiguous(memory_format=torch.channels_last), loss)
    # Not allclose: channels-last batch norm rounds differently (~1e-6), enough to flip a few
    # ReLUs, which moves these gradients by up to a few percent even in float64 arithmetic.
    for name in want:
        assert (got[name] - want[name]).norm() <= 0.1 * want[name].norm(), name


def test_copies_keep_the_layout():
    net = build_net("resnet20", (1, 28, 28), 4, width=0.25)
    twin = copy.deepcopy(net)
    for a, b in zip(net.modules(), twin.modules()):
        if isinstance(a, nn.Conv2d):
            assert a.weight.stride() == b.weight.stride()
            assert len(a._forward_pre_hooks) == len(b._forward_pre_hooks)
    x = torch.randn(4, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    nn.functional.cross_entropy(twin(x), torch.tensor([0, 1, 2, 3])).backward()
