"""iCaRL and LwF baselines: their distillation terms (hand values, zero for an identical model),
what each trains on, and iCaRL's NME prediction."""

import math

import pytest
import torch
import torch.nn.functional as F

from energybench.methods.distill import binary_kd, soft_kd
from energybench.methods.icarl import ICaRL
from energybench.methods.lwf import LwF
from energybench.models import build_net
from energybench.training.trainer import Batch

from .digits_ctx import make_ctx


def test_binary_kd_hand_value_and_zero_for_an_identical_model():
    # q = sigmoid(ln 3) = 3/4, g = sigmoid(0) = 1/2: KL = 3/4 ln(3/2) + 1/4 ln(1/2)
    got = binary_kd(torch.zeros(1, 1), torch.tensor([[math.log(3.0)]]))
    assert got.item() == pytest.approx(0.75 * math.log(1.5) + 0.25 * math.log(0.5))
    z = torch.randn(4, 3)
    assert binary_kd(z, z.clone()).abs().max().item() < 1e-6


def phase1_method(cls, tmp_path, **cfg):
    ctx = make_ctx(tmp_path, **cfg)
    method = cls(ctx)
    method.net = build_net("tiny_cnn", (1, 8, 8), 4)
    method.begin_phase(ctx.scenario.phases[1])  # snapshot the previous model, add 3 classes
    method.net.eval()
    return ctx, method


def test_icarl_loss_is_new_class_bce_plus_vanishing_distillation(tmp_path):
    _, method = phase1_method(ICaRL, tmp_path)
    x, y = torch.randn(5, 1, 8, 8), torch.tensor([0, 2, 4, 5, 6])
    loss = ICaRL.loss(4, 7, method.old)(method.net, Batch(x, y, torch.arange(5)))
    logits = method.net(x)
    onehot = F.one_hot(y, 7).float()
    # old-class outputs equal the old model's: only the new classes' BCE remains, averaged over 5 x 7
    expect = F.binary_cross_entropy_with_logits(logits[:, 4:], onehot[:, 4:], reduction="sum") / 35
    assert loss.item() == pytest.approx(expect.item(), rel=1e-5)
    with torch.no_grad():
        method.net.head.chunks[0].bias.add_(1.0)
    moved = method.net(x)
    expect = (F.binary_cross_entropy_with_logits(moved[:, 4:], onehot[:, 4:], reduction="sum")
              + binary_kd(moved[:, :4], method.old(x)).sum()) / 35
    got = ICaRL.loss(4, 7, method.old)(method.net, Batch(x, y, torch.arange(5)))
    assert got.item() == pytest.approx(expect.item(), rel=1e-5) and got.item() > loss.item()


def test_lwf_multi_class_loss_and_facil_variant(tmp_path):
    _, method = phase1_method(LwF, tmp_path)
    assert [c.weight.requires_grad for c in method.net.head.chunks] == [True, True]
    x, y = torch.randn(5, 1, 8, 8), torch.tensor([4, 5, 6, 4, 6])
    batch = Batch(x, y, torch.arange(5))
    logits = method.net(x)
    # identical to its previous copy: only the cross-entropy over all 7 classes remains
    assert method.loss(4, method.old)(method.net, batch).item() == pytest.approx(
        F.cross_entropy(logits, y).item(), rel=1e-5)
    with torch.no_grad():
        method.net.backbone.blocks[-1][0].weight.mul_(1.5)
    logits = method.net(x)
    expect = F.cross_entropy(logits, y) + soft_kd(logits[:, :4], method.old(x), 2.0)
    assert method.loss(4, method.old)(method.net, batch).item() == pytest.approx(expect.item(), rel=1e-5)
    assert method.exemplar_bytes() == 0
    # FACIL's exemplar-free form: CE over the new head only, previous heads fixed
    _, facil = phase1_method(LwF, tmp_path, options={"lwf": {"ce": "new"}})
    assert [c.weight.requires_grad for c in facil.net.head.chunks] == [False, True]
    logits = facil.net(x)
    assert facil.loss(4, facil.old)(facil.net, batch).item() == pytest.approx(
        F.cross_entropy(logits[:, 4:], y - 4).item(), rel=1e-5)


def test_icarl_trains_on_new_data_and_exemplars_and_predicts_by_nme(tmp_path):
    ctx = make_ctx(tmp_path, memory_size=20)
    method = ICaRL(ctx)
    seen = []
    real_fit = method.fit
    method.fit = lambda net, idx, loss=None, kind="ce", **kw: (seen.append((kind, idx.clone())),
                                                                real_fit(net, idx, loss, kind, **kw))
    p0, p1 = ctx.scenario.phases[:2]
    for p in (p0, p1):
        method.begin_phase(p)
        if p.index == 1:
            stored = method.memory.indices()
            assert len(stored) == 20  # K = 20 over 4 classes
        method.learn(p)
        method.end_phase(p)
    assert [k for k, _ in seen] == ["icarl", "icarl"]
    assert torch.equal(seen[1][1], torch.cat([p1.train_idx, stored]))
    assert [len(method.memory.classes[c]) for c in range(7)] == [2] * 7  # 20 // 7
    out = method.predict(torch.randn(3, 1, 8, 8))
    assert list(out) == ["nme", "cnn"] and out["nme"].shape == (3, 7)
    feats = method.net.features(torch.zeros(1, 1, 8, 8))
    nearest = ((F.normalize(feats, dim=1) - method.means) ** 2).sum(1).argmin()
    assert method.predict(torch.zeros(1, 1, 8, 8))["nme"].argmax(1).item() == nearest.item()
