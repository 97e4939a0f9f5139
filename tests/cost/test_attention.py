"""Counting transformers: a tiny ViT's MACs against hand-derived formulas (attention included),
the same counts from every attention kernel (CPU flash, math, the CUDA variants on the meta
device, the inference fast paths), element-wise work of layer norm, softmax and GELU by hand,
nothing left uncounted in a ViT step, torchvision's published figures, and energy against sharing."""

from __future__ import annotations

from contextlib import nullcontext

import pytest
import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils._python_dispatch import TorchDispatchMode
from torchvision.models.vision_transformer import VisionTransformer

from energybench.cost.counter import count_forward, count_step
from energybench.cost.energy import compute_energy_pj, elementwise_energy
from energybench.training.step_profile import profile_training_step
from energybench.cost.tables import load_energy_table
from energybench.models import build_net

aten = torch.ops.aten

# The tiny ViT: batch N, 3x8x8 inputs cut into P = 4 patches of 4x4, S = P + 1 tokens (class token),
# width E with H heads of D = E / H, MLP width M, L encoder blocks, K classes.
N, P, S, E, H, D, M, L, K = 2, 4, 5, 8, 2, 4, 16, 2, 3
PATCH = N * P * E * 3 * 4 * 4  # the patch convolution
QKV = N * S * E * 3 * E  # packed q, k, v projection
QK = PV = N * H * S * S * D  # attention: scores Q K^T, then P V
OUT = N * S * E * E  # output projection
MLP = 2 * N * S * E * M  # two MLP layers
HEAD = N * E * K
FWD = PATCH + L * (QKV + QK + PV + OUT + MLP) + HEAD
BWD_WEIGHT = PATCH + L * (QKV + OUT + MLP) + HEAD  # attention has no weights
# dQ, dK (QK each), dP, dV (PV each); no input grad of the patches
BWD_INPUT = L * (QKV + 2 * (QK + PV) + OUT + MLP) + HEAD


def tiny_vit(**kw):
    torch.manual_seed(0)
    return VisionTransformer(image_size=8, patch_size=4, num_layers=L, num_heads=H, hidden_dim=E, mlp_dim=M,
                             num_classes=K, **kw)


def sgd_step(net, x, y):
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.1, momentum=0.9)

    def step():
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()

    return step


def count_tiny(device="cpu", backend=None, **kw):
    with torch.device(device):
        net = tiny_vit(**kw)
        x, y = torch.randn(N, 3, 8, 8), torch.randint(0, K, (N,))
    with sdpa_kernel(backend) if backend is not None else nullcontext():
        return count_step(sgd_step(net, x, y), net)[1]


class Spy(TorchDispatchMode):
    """Which ops dispatch (to check that a test exercised the kernel it names)."""

    def __init__(self):
        super().__init__()
        self.seen = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.seen.add(func._overloadpacket)
        return func(*args, **(kwargs or {}))


def test_hand_derived_forward_and_backward_macs():
    p = count_tiny()
    assert (p.fwd_macs, p.bwd_input_macs, p.bwd_weight_macs) == (FWD, BWD_INPUT, BWD_WEIGHT)
    assert p.bwd_input_macs + p.bwd_weight_macs == 2 * p.fwd_macs - PATCH  # the per-layer rule
    attn = {layer.name: layer for layer in p.layers}["encoder.layers.encoder_layer_0.self_attention"]
    assert (attn.fwd_macs, attn.bwd_input_macs, attn.bwd_weight_macs) == (QKV + QK + PV + OUT,
                                                                         QKV + 2 * (QK + PV) + OUT, QKV + OUT)


def test_every_attention_kernel_gives_the_same_counts():
    spy = Spy()
    with spy:
        cpu = count_tiny()
    assert aten._scaled_dot_product_flash_attention_for_cpu in spy.seen  # the fused CPU kernel ran
    math_path = count_tiny(backend=SDPBackend.MATH)  # unfused: bmm, softmax, bmm
    meta = count_tiny("meta")
    for other in (math_path, meta):
        assert (other.fwd_macs, other.bwd_input_macs, other.bwd_weight_macs) == (cpu.fwd_macs, cpu.bwd_input_macs,
                                                                                 cpu.bwd_weight_macs)
        assert (other.ew_fwd_ops, other.ew_bwd_ops) == (cpu.ew_fwd_ops, cpu.ew_bwd_ops)
    # memory traffic is the kernel's own: the math path writes the scores out, the fused one never does
    scores = N * H * S * S
    fused = {layer.name: layer for layer in cpu.layers}["encoder.layers.encoder_layer_0.self_attention"]
    unfused = {layer.name: layer for layer in math_path.layers}["encoder.layers.encoder_layer_0.self_attention"]
    assert unfused.out_elems - fused.out_elems == scores


B_, H_, S_, D_ = 2, 3, 5, 4
CUDA_KERNELS = {
    "flash": lambda q, k, v: aten._scaled_dot_product_flash_attention(q, k, v)[0],
    "efficient": lambda q, k, v: aten._scaled_dot_product_efficient_attention(q, k, v, None, True)[0],
    "cudnn": lambda q, k, v: aten._scaled_dot_product_cudnn_attention(q, k, v, None, True)[0],
    "overrideable": lambda q, k, v: aten._scaled_dot_product_fused_attention_overrideable(q, k, v)[0],
    "cpu flash": lambda q, k, v: aten._scaled_dot_product_flash_attention_for_cpu(q, k, v)[0],
    # the kernels under them, in (batch, seq, heads, dim) layout
    "flash forward": lambda q, k, v: aten._flash_attention_forward(
        *(t.transpose(1, 2) for t in (q, k, v)), None, None, S_, S_, 0.0, False, False)[0],
    "efficient forward": lambda q, k, v: aten._efficient_attention_forward(
        *(t.transpose(1, 2) for t in (q, k, v)), None, None, None, S_, S_, 0.0, 0, True)[0],
}


@pytest.mark.parametrize("kernel", list(CUDA_KERNELS))
def test_fused_kernels_forward_and_backward_on_the_meta_device(kernel):
    """The CUDA kernels run here on meta tensors: same ops, same arguments, shapes only."""
    q, k, v = (torch.randn(B_, H_, S_, D_, device="meta", requires_grad=True) for _ in range(3))
    _, p = count_step(lambda: CUDA_KERNELS[kernel](q, k, v).sum().backward())
    qk = B_ * H_ * S_ * S_ * D_
    assert (p.fwd_macs, p.bwd_input_macs, p.bwd_weight_macs) == (2 * qk, 4 * qk, 0)
    scores, rows, n = B_ * H_ * S_ * S_, B_ * H_ * S_, B_ * H_ * S_ * D_
    # forward: q and k scaled, softmax (2 mults per score; max, subtract, sum: 3 adds per score less 2 per row),
    # then the .sum() of the output; backward: softmax gradient and the scalings' gradients
    assert p.ew_fwd_ops == (2 * n + 2 * scores) + (3 * scores - 2 * rows) + (n - 1)
    assert p.ew_bwd_ops == (2 * scores + 2 * n) + (2 * scores - rows)
    assert p.uncounted_ops == {}


def test_masks_dropout_and_grouped_queries():
    q = torch.randn(2, 4, 6, 8, requires_grad=True)
    k, v = (torch.randn(2, 2, 7, 8, requires_grad=True) for _ in range(2))  # 2 key/value heads for 4 query heads
    mask = torch.zeros(6, 7)

    def count(**kw):
        q.grad = k.grad = v.grad = None  # (accumulating into old gradients would add adds)
        return count_step(lambda: nn.functional.scaled_dot_product_attention(q, k, v, enable_gqa=True, **kw)
                          .sum().backward())[1]

    spy = Spy()
    with spy:
        plain = count()
    assert aten._scaled_dot_product_flash_attention_for_cpu in spy.seen
    masked = count(attn_mask=mask)
    torch.manual_seed(0)
    dropped = count(dropout_p=0.5)  # the math path: bmm, softmax, dropout, bmm
    with sdpa_kernel(SDPBackend.MATH):
        math_path = count()
    qk = 2 * 4 * 6 * 7 * 8  # every query head, against its group's keys
    scores = 2 * 4 * 6 * 7
    for p in (plain, masked, dropped, math_path):
        assert (p.fwd_macs, p.bwd_input_macs) == (2 * qk, 4 * qk)
    assert masked.ew_fwd_ops - plain.ew_fwd_ops == scores  # the mask is added to every score
    assert dropped.ew_fwd_ops - plain.ew_fwd_ops == 3 * scores  # draw and compare, scale, apply
    assert dropped.ew_bwd_ops - plain.ew_bwd_ops == scores  # the gradient through the (scaled) mask
    # the fused kernel is priced as the math path runs: scalings of the repeated keys, their gradients
    # summed back over each group
    assert (math_path.ew_fwd_ops, math_path.ew_bwd_ops) == (plain.ew_fwd_ops, plain.ew_bwd_ops)


def test_inference_fast_paths_count_as_the_training_path():
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(E, H, batch_first=True)
    layer = nn.TransformerEncoderLayer(E, H, dim_feedforward=M, dropout=0.0, batch_first=True, activation="gelu")
    x = torch.randn(N, S, E)
    for module, call, fast in ((mha, lambda: mha(x, x, x, need_weights=False), aten._native_multi_head_attention),
                               (layer, lambda: layer(x), aten._transformer_encoder_layer_fwd)):
        module.train()
        _, slow = count_forward(call, module)
        module.eval()
        spy = Spy()
        with spy:
            _, quick = count_forward(call, module)
        assert fast in spy.seen
        assert quick.fwd_macs == slow.fwd_macs > 0
        assert quick.ew_fwd_ops == slow.ew_fwd_ops
        assert quick.uncounted_ops == {}


def layers_by_name(p):
    return {layer.name: layer for layer in p.layers}


def test_layer_norm_softmax_and_gelu_by_hand():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln = nn.LayerNorm(E)
            self.act = nn.GELU()
            self.fc = nn.Linear(E, E)

        def forward(self, x):
            return self.fc(self.act(self.ln(x))).softmax(-1)

    net = Block()
    x = torch.randn(N, S, E, requires_grad=True)
    _, p = count_step(lambda: net(x).pow(2).sum().backward(), net)
    n, rows = N * S * E, N * S
    ln, act, model = (layers_by_name(p)[k] for k in ("ln", "act", "(model)"))
    # layer norm: mean, x - mean, square, variance, rsqrt, normalise, scale, shift
    assert (ln.ew_fwd_mults, ln.ew_fwd_adds) == (3 * n + 3 * rows, 4 * n - rows)
    # its backward: x-hat again (n, n); input gradient (5n + rows mults, 4n - 2 rows adds); weight and bias
    # gradients (n mults; n - E adds each)
    assert (ln.ew_bwd_mults, ln.ew_bwd_adds) == (n + 5 * n + rows + n, n + 4 * n - 2 * rows + 2 * (n - E))
    # it reads x (forward); grad, x, mean, rstd, weight, bias (backward); writes y, mean, rstd, then dx, dw, db
    assert (ln.ew_reads, ln.ew_writes) == (n + (2 * n + 2 * rows + 2 * E), (n + 2 * rows) + (n + 2 * E))
    assert ln.ew_peak == (2 * n + 2 * rows + 2 * E) + (n + 2 * E)  # its largest op: the backward
    # GELU (erf): 4 mults and 1 add per element; its gradient 9 and 2
    assert (act.ew_fwd_mults, act.ew_fwd_adds, act.ew_bwd_mults, act.ew_bwd_adds) == (4 * n, n, 9 * n, 2 * n)
    # softmax over E per row (in the module's own forward): 2 mults, 3 adds per element less 2 per row;
    # its gradient 2 mults, 2 adds per element less 1 per row
    assert (model.ew_fwd_mults, model.ew_fwd_adds) == (2 * n, 3 * n - 2 * rows)
    assert (model.ew_bwd_mults, model.ew_bwd_adds) == (2 * n, 2 * n - rows)


@pytest.mark.parametrize("make", [
    lambda: tiny_vit(),
    lambda: tiny_vit(dropout=0.1, attention_dropout=0.1),  # dropout: the math path and native_dropout
])
@pytest.mark.parametrize("frozen", [0, 2])
def test_a_vit_step_leaves_nothing_uncounted(make, frozen):
    net = make()
    for i, module in enumerate([net.conv_proj, *net.encoder.layers][:frozen]):
        module.requires_grad_(False)
        module.eval()  # a frozen block: the inference fast path
    x, y = torch.randn(N, 3, 8, 8), torch.randint(0, K, (N,))
    _, p = count_step(sgd_step(net, x, y), net)
    assert p.uncounted_ops == {} and not p.notes
    net.eval()
    _, q = count_forward(lambda: net(x), net)
    assert q.uncounted_ops == {} and q.fwd_macs == p.fwd_macs


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_swin_step_leaves_nothing_uncounted(device):
    with torch.device(device):
        net = build_net("swin_t", (3, 32, 32), 5)
        x, y = torch.randn(2, 3, 32, 32), torch.randint(0, 5, (2,))
    net.freeze_blocks(4)
    _, p = count_step(sgd_step(net, x, y), net)
    assert p.uncounted_ops == {} and not p.notes


# torchvision's published "GFLOPS" (weights meta `_ops`) of its transformers are MACs, attention included.
PUBLISHED = {"vit_b_16": (17.564, 17_563_828_224), "vit_b_32": (4.409, 4_409_186_304),
             "vit_l_16": (61.555, 61_554_712_576), "swin_t": (4.491, 4_490_566_656)}


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_transformer_forward_macs_match_published(name):
    from torchvision import models as tvm

    weights = {"vit_b_16": tvm.ViT_B_16_Weights, "vit_b_32": tvm.ViT_B_32_Weights, "vit_l_16": tvm.ViT_L_16_Weights,
               "swin_t": tvm.Swin_T_Weights}[name]
    published, exact = PUBLISHED[name]
    assert weights.IMAGENET1K_V1.meta["_ops"] == published
    with torch.device("meta"):
        net = build_net(name, (3, 224, 224), 1000)
        x = torch.randn(1, 3, 224, 224)
    macs = count_forward(lambda: net(x), net)[1].fwd_macs
    assert macs == exact and round(macs / 1e9, 3) == published


def test_vit_b_16_energy_falls_at_every_cut():
    """Computation energy per training step at 3x224x224 against every encoder-block boundary."""
    from energybench.models import build_backbone
    from energybench.models.surgery import boundaries

    with torch.device("meta"):
        cuts = boundaries(build_backbone("vit_b_16", (3, 224, 224)))  # after 0, 1, ... 14 blocks
    table = load_energy_table()
    energies, ew = [], []
    for blocks in range(0, 14):  # 0 .. 13 of its 14 blocks frozen (embedding, 12 encoder blocks, final norm)
        net, cut, p = profile_training_step("vit_b_16", (3, 224, 224), 1000, 1, cuts[blocks], device="meta")
        assert cut.blocks == blocks
        if blocks == 0:
            assert p.fwd_macs == 17_563_828_224
            assert p.bwd_input_macs + p.bwd_weight_macs == 2 * p.fwd_macs - p.layers[0].fwd_macs
        energies.append(compute_energy_pj(p.train_macs, p.update_mults, p.update_adds, table, "fp32"))
        ew.append(elementwise_energy(p, table).compute_j)
    assert all(b < a for a, b in zip(energies, energies[1:])), energies
    assert all(b < a for a, b in zip(ew, ew[1:])), ew
    assert energies[-1] / energies[0] == pytest.approx(0.332, abs=0.001)
