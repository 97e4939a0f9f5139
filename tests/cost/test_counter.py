"""The op counter against hand-derived counts on tiny networks, fvcore, and torchvision's
published figures; backward and update accounting under freezing."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from energybench.cost.counter import OpCounter, count_forward, count_step
from energybench.models import build_net

N = 3  # batch


class Net(nn.Module):
    """conv1 2->4 3x3 pad 1 on 5x5 (out 5x5), conv2 4->6 3x3 (out 3x3), fc 54->7.

    Forward MACs per sample: conv1 25*4*2*9 = 1800, conv2 9*6*4*9 = 1944, fc 54*7 = 378.
    """

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 4, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(4, 6, 3)
        self.fc = nn.Linear(54, 7)

    def forward(self, x):
        return self.fc(torch.flatten(torch.relu(self.conv2(torch.relu(self.conv1(x)))), 1))


CONV1, CONV2, FC = N * 1800, N * 1944, N * 378


def sgd_step(net, x=None, y=None, **opt_kwargs):
    torch.manual_seed(0)
    x = torch.randn(N, 2, 5, 5) if x is None else x
    y = torch.randint(0, 7, (N,)) if y is None else y
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, **({"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4} | opt_kwargs))

    def step():
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()

    return step


def freeze(*modules):
    for m in modules:
        for p in m.parameters():
            p.requires_grad_(False)


def by_name(profile):
    return {layer.name: layer for layer in profile.layers}


def test_all_trainable():
    net = Net()
    _, p = count_step(sgd_step(net), net)
    assert p.fwd_macs == CONV1 + CONV2 + FC
    assert p.bwd_input_macs == CONV2 + FC  # conv1's input (the data) needs no gradient
    assert p.bwd_weight_macs == CONV1 + CONV2 + FC
    assert p.train_macs == 3 * (CONV1 + CONV2 + FC) - CONV1
    layers = by_name(p)
    assert (layers["conv1"].kind, layers["conv2"].kind, layers["fc"].kind) == ("conv", "conv", "linear")
    assert (layers["conv1"].bwd_input_macs, layers["conv2"].bwd_input_macs,
            layers["fc"].bwd_input_macs) == (0, CONV2, FC)
    assert layers["conv1"].weight_elems == 72 and layers["conv2"].weight_elems == 216 + 6
    assert (layers["fc"].weight_elems == 54 * 7 + 7 and layers["fc"].in_elems == N * 54
            and layers["fc"].out_elems == N * 7)
    assert p.batch_size == N


def test_only_head_trainable():
    net = Net()
    freeze(net.conv1, net.conv2)
    _, p = count_step(sgd_step(net), net)
    assert (p.fwd_macs, p.bwd_input_macs, p.bwd_weight_macs) == (CONV1 + CONV2 + FC, 0, FC)
    assert p.updated_elems == 54 * 7 + 7


def test_frozen_prefix_has_no_backward():
    net = Net()
    freeze(net.conv1)
    _, p = count_step(sgd_step(net), net)
    # conv2's input comes from the frozen prefix: no input gradient there, none in conv1
    assert (p.bwd_input_macs, p.bwd_weight_macs) == (FC, CONV2 + FC)
    assert by_name(p)["conv1"].train_macs == CONV1


def test_frozen_layer_after_a_trainable_one_pays_backward_to_input_only():
    net = Net()
    freeze(net.conv2)
    _, p = count_step(sgd_step(net), net)
    layers = by_name(p)
    assert (layers["conv2"].bwd_input_macs, layers["conv2"].bwd_weight_macs) == (CONV2, 0)
    assert (p.bwd_input_macs, p.bwd_weight_macs) == (CONV2 + FC, CONV1 + FC)
    assert not layers["conv2"].trainable and layers["conv1"].trainable


def test_grouped_and_depthwise_convolutions():
    net = nn.Sequential(nn.Conv2d(2, 4, 1), nn.Conv2d(4, 8, 3, padding=1, groups=2),
                        nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.Flatten(), nn.Linear(200, 7))
    _, p = count_step(sgd_step(net), net)
    layers = by_name(p)
    grouped = N * 25 * 8 * (4 // 2) * 9  # each output channel sees Cin/groups input channels
    depthwise = N * 25 * 8 * 1 * 9
    assert layers["1"].fwd_macs == grouped and layers["2"].fwd_macs == depthwise
    assert layers["1"].bwd_input_macs == layers["1"].bwd_weight_macs == grouped
    assert layers["2"].bwd_input_macs == layers["2"].bwd_weight_macs == depthwise


def test_transposed_convolution():
    net = nn.Sequential(nn.Conv2d(2, 4, 1), nn.ConvTranspose2d(4, 3, 3, stride=2, groups=1), nn.Flatten(),
                        nn.Linear(3 * 11 * 11, 7))
    _, p = count_step(sgd_step(net), net)
    t = by_name(p)["1"]
    assert t.fwd_macs == N * 25 * 4 * 3 * 9  # every input position scatters through Cout*k*k weights
    assert t.bwd_input_macs == t.bwd_weight_macs == t.fwd_macs


def test_activation_matmul_gradients_are_input_gradients():
    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(4, 6, bias=False)

        def forward(self, x):  # x: (N, T=5, 4)
            y = self.proj(x)
            return torch.bmm(y, y.transpose(1, 2)).flatten(1)

    net = Attn()
    x = torch.randn(N, 5, 4)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)

    def step():
        opt.zero_grad()
        net(x).sum().backward()
        opt.step()

    _, p = count_step(step, net)
    proj, bmm = N * 5 * 4 * 6, N * 5 * 6 * 5
    assert p.fwd_macs == proj + bmm
    assert p.bwd_input_macs == 2 * bmm  # both bmm operands are activations
    assert p.bwd_weight_macs == proj
    assert by_name(p)["(model)"].kind == "matmul"


def test_cosine_head_weight_gradient_is_a_weight_gradient():
    net = build_net("tiny_cnn", (1, 8, 8), 5, cosine=True)
    x, y = torch.randn(4, 1, 8, 8), torch.randint(0, 5, (4,))
    _, p = count_step(sgd_step(net, x, y), net)
    head = by_name(p)["head"]
    assert head.kind == "linear" and head.fwd_macs == 4 * 64 * 5
    assert head.bwd_input_macs == head.bwd_weight_macs == head.fwd_macs
    assert head.weight_elems == 5 * 64 + 1  # the chunk's weight and sigma, read by the head's ops


def test_update_ops_by_hand():
    net = nn.Linear(3, 2)  # 8 trainable elements
    x, y = torch.randn(N, 3), torch.randint(0, 2, (N,))

    def profile(opt):
        def step():
            opt.zero_grad()
            nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
        return count_step(step, net)[1]

    # SGD: p -= lr*g (1 mult + 1 add); weight decay g += wd*p (1+1); momentum buf = m*buf + g (1+1)
    assert profile(torch.optim.SGD(net.parameters(), lr=0.1)).update_ops == 8 * 2
    assert profile(torch.optim.SGD(net.parameters(), lr=0.1, weight_decay=1e-4)).update_ops == 8 * 4
    assert profile(torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)).update_ops == 8 * 6
    # Adam: 13 per element (lerp 3, mul 1, addcmul 3, sqrt 1, div 1, +eps 1, addcdiv 3) + 1 step add per tensor
    assert profile(torch.optim.Adam(net.parameters())).update_ops == 8 * 13 + 2


@pytest.mark.parametrize("make", [
    lambda ps: torch.optim.SGD(ps, lr=0.1),
    lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=5e-4),
    lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1),
    lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4),
    lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=5e-4, foreach=True),
    lambda ps: torch.optim.Adam(ps, lr=0.01),
    lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=1e-4),
    lambda ps: torch.optim.AdamW(ps, lr=0.01),
])
def test_update_table_matches_dispatched_ops_in_steady_state(make):
    """The per-element table is what optimizer.step dispatches once its state exists (the first
    step copies gradients into fresh momentum buffers instead)."""
    net = Net()
    freeze(net.conv1)
    x, y = torch.randn(N, 2, 5, 5), torch.randint(0, 7, (N,))
    opt = make([p for p in net.parameters() if p.requires_grad])

    def step():
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()

    step()  # state initialised
    _, p = count_step(step, net)
    assert p.update_source == "table"
    assert p.update_ops == p.update_dispatched_ops > 0
    assert p.updated_elems == sum(q.numel() for q in net.parameters() if q.requires_grad)


def test_unknown_optimizer_is_costed_from_its_dispatched_ops():
    net = nn.Linear(3, 2)
    opt = torch.optim.RMSprop(net.parameters(), lr=0.01)
    x = torch.randn(N, 3)

    def step():
        opt.zero_grad()
        net(x).sum().backward()
        opt.step()

    _, p = count_step(step, net)
    assert p.update_source == "dispatched" and p.update_ops == p.update_dispatched_ops > 0
    assert any("RMSprop" in n for n in p.notes)


def test_momentum_buffers_are_optimizer_state():
    net = Net()
    _, p = count_step(sgd_step(net), net)
    assert all(layer.state_elems == layer.trainable_elems for layer in p.layers)


def test_old_model_forward_inside_the_step_counts_as_forward():
    net = Net()
    old = copy.deepcopy(net).eval()
    x, y = torch.randn(N, 2, 5, 5), torch.randint(0, 7, (N,))
    opt = torch.optim.SGD(net.parameters(), lr=0.1)

    def step():
        opt.zero_grad()
        with torch.no_grad():
            target = old(x).softmax(1)
        out = net(x)
        (nn.functional.cross_entropy(out, y) - (target * out.log_softmax(1)).sum(1).mean()).backward()
        opt.step()

    _, p = count_step(step, net)
    assert p.fwd_macs == 2 * (CONV1 + CONV2 + FC)
    assert p.bwd_weight_macs == CONV1 + CONV2 + FC  # the old model has no backward
    names = by_name(p)
    assert names["extra0.fc"].fwd_macs == FC and names["extra0.fc"].trainable_elems == 0


def test_elementwise_layout_and_unknown_ops_are_told_apart():
    net = Net()
    _, p = count_step(sgd_step(net), net)
    # ReLU and its gradient are element-wise work now (one compare each per element), the loss too;
    # views and copies are layout; nothing in this step is unknown
    assert p.uncounted_ops == {}
    assert {"aten.detach", "aten.t", "aten.view"} <= set(p.layout_ops)
    relu1, relu2 = N * 4 * 25, N * 6 * 9  # functional relus: attributed to the module that calls them
    layers = by_name(p)
    model, conv2, fc = layers["(model)"], layers["conv2"], layers["fc"]
    assert (model.ew_fwd_mults, model.ew_fwd_adds, model.ew_bwd_mults, model.ew_bwd_adds) == (0, relu1 + relu2, 0,
                                                                                               relu1 + relu2)
    # relu reads its input, writes its output; threshold_backward reads the gradient and the output, writes one
    assert (model.ew_reads, model.ew_writes) == (3 * (relu1 + relu2), 2 * (relu1 + relu2))
    # biases: added to every output (fused into the MAC op, no traffic); gradients summed over the batch (positions)
    assert (conv2.ew_fwd_adds, conv2.ew_bwd_adds, conv2.ew_reads) == (N * 54, N * 54 - 6, 0)
    assert (fc.ew_fwd_adds, fc.ew_bwd_adds) == (N * 7, N * 7 - 7)

    class Median(nn.Module):
        def forward(self, x):
            return torch.median(x, dim=1).values

    odd = nn.Sequential(nn.Linear(3, 4), Median())
    x = torch.randn(N, 3)
    _, q = count_forward(lambda: odd(x), odd)
    assert q.uncounted_ops == {"aten.median": 1}
    assert not any(k.startswith("profiler.") for k in p.uncounted_ops | p.layout_ops)


def test_count_forward_has_no_backward_and_no_update():
    net = Net()
    x = torch.randn(N, 2, 5, 5)
    _, p = count_forward(lambda: net(x), net)
    assert (p.kind, p.fwd_macs, p.train_macs, p.update_ops) == ("forward", CONV1 + CONV2 + FC, CONV1 + CONV2 + FC, 0)


def test_count_forward_sees_composite_ops_under_inference_mode():
    net = Net()
    x = torch.randn(N, 2, 5, 5)

    def fn():
        with torch.inference_mode():
            return net(x)

    assert count_forward(fn, net)[1].fwd_macs == CONV1 + CONV2 + FC


def test_meta_device_counts_equal_cpu_counts():
    def run(device):
        torch.manual_seed(0)
        with torch.device(device):
            net = build_net("resnet20", (3, 16, 16), 5)
            x, y = torch.randn(2, 3, 16, 16), torch.randint(0, 5, (2,))
        net.freeze_blocks(3)
        return count_step(sgd_step(net, x, y), net)[1].to_dict()

    cpu, meta = run("cpu"), run("meta")
    # Every count agrees. The list of ops seen but not counted may only grow on the CPU: its
    # channels-last convolution backward copies weight gradients into the weights' layout, and
    # the NCHW shortcut convolutions (models/layout.py) copy their channels-last inputs.
    assert cpu.pop("uncounted_ops") == meta.pop("uncounted_ops") == {}
    cpu_seen, meta_seen = cpu.pop("layout_ops"), meta.pop("layout_ops")
    assert cpu == meta
    assert all(cpu_seen.get(op) == n for op, n in meta_seen.items())
    assert set(cpu_seen) - set(meta_seen) <= {"aten.squeeze", "aten.as_strided", "aten.as_strided_", "aten.copy_",
                                              "aten.new_zeros", "aten.clone"}


def test_count_step_and_count_forward_return_what_the_step_returned():
    net = Net()
    x, y = torch.randn(N, 2, 5, 5), torch.randint(0, 3, (N,))
    opt = torch.optim.SGD(net.parameters(), lr=0.1)

    def step():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss

    loss, p = count_step(step, net)
    assert loss.requires_grad and loss.shape == () and p.fwd_macs == CONV1 + CONV2 + FC
    out, q = count_forward(lambda: net(x), net)
    assert out.shape == (N, 7) and not out.requires_grad and q.fwd_macs == CONV1 + CONV2 + FC


def test_counter_leaves_no_hooks_behind():
    net = Net()
    x = torch.randn(N, 2, 5, 5)
    count_forward(lambda: net(x), net)
    with OpCounter(net) as c:
        pass
    assert c.profile().fwd_macs == 0
    from torch.nn.modules import module as module_mod
    assert not module_mod._global_forward_pre_hooks and not module_mod._global_forward_hooks


@pytest.mark.parametrize("make,shape", [
    (lambda: Net(), (N, 2, 5, 5)),
    (lambda: nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, groups=1), nn.ReLU(), nn.Conv2d(8, 8, 3, groups=4),
                           nn.ReLU(), nn.Flatten(), nn.Linear(8 * 5 * 5, 10)), (2, 3, 15, 15)),
    (lambda: build_net("lenet", (1, 28, 28), 10), (2, 1, 28, 28)),
])
def test_forward_macs_agree_with_fvcore(make, shape):
    from fvcore.nn import FlopCountAnalysis

    net = make().eval()
    x = torch.randn(*shape)
    oracle = FlopCountAnalysis(net, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    assert count_forward(lambda: net(x), net)[1].fwd_macs == oracle.total()


# torchvision's published "GFLOPS" (weights meta `_ops`) are conv + linear MACs at 1x3x224x224.
PUBLISHED = {"resnet18": 1.814, "resnet34": 3.664, "resnet101": 7.801, "vgg19": 19.632}
EXACT = {"resnet18": 1_814_073_344, "resnet34": 3_663_761_408, "resnet101": 7_801_405_440, "vgg19": 19_632_062_464}


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_torchvision_forward_macs_match_published(name):
    from torchvision import models as tvm

    weights = {"resnet18": tvm.ResNet18_Weights, "resnet34": tvm.ResNet34_Weights,
               "resnet101": tvm.ResNet101_Weights, "vgg19": tvm.VGG19_Weights}[name]
    assert weights.IMAGENET1K_V1.meta["_ops"] == PUBLISHED[name]
    with torch.device("meta"):  # shapes only: same dispatched ops, no arithmetic
        net = build_net(name, (3, 224, 224), 1000)
        x = torch.randn(1, 3, 224, 224)
    macs = count_forward(lambda: net(x), net)[1].fwd_macs
    assert macs == EXACT[name]
    assert round(macs / 1e9, 3) == PUBLISHED[name]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PUBLISHED))
def test_torchvision_forward_macs_match_fvcore(name):
    from fvcore.nn import FlopCountAnalysis

    net = build_net(name, (3, 224, 224), 1000).eval()
    x = torch.randn(1, 3, 224, 224)
    oracle = FlopCountAnalysis(net, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    by_op = oracle.by_operator()
    assert EXACT[name] == by_op.get("conv", 0) + by_op.get("linear", 0) + by_op.get("addmm", 0)


def test_geometry_recorded_for_every_mac_op():
    """The profile keeps each conv's kernel, stride, padding, dilation, groups and shapes, and each
    linear layer's (m, k, n), one entry per distinct geometry; the geometry alone gives the MACs."""
    from energybench.cost.geometry import Geometry, geometries

    net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1, dilation=1),
                        nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=4), nn.Flatten(), nn.Linear(8 * 4 * 4, 5))
    x = torch.randn(2, 3, 8, 8)
    _, prof = count_forward(lambda: net(x), net)
    by = {layer.name: geometries(layer) for layer in prof.layers if layer.geometry}
    assert by["0"] == [Geometry(op="conv", batch=2, in_channels=3, out_channels=8, in_size=(8, 8), out_size=(4, 4),
                                kernel=(3, 3), stride=(2, 2), padding=(1, 1), dilation=(1, 1), groups=1)]
    assert by["1"] == [Geometry(op="conv", batch=2, in_channels=8, out_channels=8, in_size=(4, 4), out_size=(4, 4),
                                kernel=(3, 3), stride=(1, 1), padding=(2, 2), dilation=(2, 2), groups=4)]
    assert by["3"] == [Geometry(op="gemm", m=2, k=128, n=5, groups=1, weight=True)]
    # hand-derived: 2*16*8*27 = 6912; 2*16*8*(2*9) = 4608; 2*128*5 = 1280
    assert [by[n][0].macs for n in ("0", "1", "3")] == [6912, 4608, 1280]
    assert sum(g.macs for gs in by.values() for g in gs) == prof.fwd_macs
