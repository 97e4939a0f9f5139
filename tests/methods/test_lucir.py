"""LUCIR: cosine layer bounds, imprinting, margin ranking (hand-computed), less-forget, lambda,
last-ReLU removal, frozen old embeddings, class-balanced fine-tuning, CNN + NME prediction."""

import math

import pytest
import torch
import torch.nn.functional as F

from energybench.methods.distill import less_forget, margin_ranking
from energybench.methods.lucir import LUCIR, imprint, lucir_lambda
from energybench.methods.memory import extract_features
from energybench.models import build_backbone
from energybench.models.heads import CosineLinear
from energybench.models.last_relu import RemovedReLU, remove_last_relu

from .digits_ctx import make_ctx


def test_cosine_layer_is_bounded_by_its_scale():
    head = CosineLinear(6, 4)
    with torch.no_grad():
        head.sigma.fill_(2.5)
    out = head(torch.randn(100, 6) * 10)
    assert out.abs().max().item() <= 2.5 + 1e-5
    w = head.chunks[0].weight.detach()
    out = head(torch.stack([w[1] * 7.0, -w[2] * 0.3]))  # parallel / anti-parallel to an embedding
    assert out[0, 1].item() == pytest.approx(2.5) and out[1, 2].item() == pytest.approx(-2.5)
    assert torch.allclose(head.cosine(w), F.normalize(w, dim=1) @ F.normalize(w, dim=1).T)


def test_imprinting_sets_new_embeddings_to_normalised_class_means():
    # class 5: (3,4) and (1,0) -> normalised (0.6,0.8), (1,0) -> mean (0.8,0.4) -> /|.| (0.894427, 0.447214)
    # class 6: (0,2) -> (0,1); scaled by the old embeddings' mean norm 2
    feats = torch.tensor([[3.0, 4.0], [0.0, 2.0], [1.0, 0.0]])
    rows = imprint(feats, torch.tensor([5, 6, 5]), [5, 6], old_norm=2.0)
    assert torch.allclose(rows, torch.tensor([[1.788854, 0.894427], [0.0, 2.0]]), atol=1e-6)


def test_margin_ranking_hand_values_and_hard_negatives():
    # 2 old classes (0, 1), 3 new (2, 3, 4), margin 0.5, K = 2; sample 2 is new (not an anchor).
    cos = torch.tensor([[0.9, 0.1, 0.2, 0.5, 0.3],   # gt 0.9, negatives 0.5, 0.3 -> 0.1, 0
                        [0.2, 0.4, 0.6, -0.1, 0.35],  # gt 0.4, negatives 0.6, 0.35 -> 0.7, 0.45
                        [0.0, 0.0, 0.9, 0.8, 0.1]], requires_grad=True)
    y = torch.tensor([0, 1, 3])
    loss = margin_ranking(cos, y, num_old=2, margin=0.5, k=2)
    assert loss.item() == pytest.approx((0.1 + 0.0 + 0.7 + 0.45) / 4)
    loss.backward()
    expect = torch.tensor([[-0.25, 0, 0, 0.25, 0], [0, -0.5, 0.25, 0, 0.25], [0, 0, 0, 0, 0]])
    assert torch.allclose(cos.grad, expect)  # only the gt and the violating top-K new classes
    ok = torch.tensor([[0.9, 0.1, 0.2, 0.35, 0.3], [0.1, 0.95, 0.4, 0.0, 0.1]])
    assert margin_ranking(ok, torch.tensor([0, 1]), 2, 0.5, 2).item() == 0.0  # margins satisfied
    assert margin_ranking(cos, torch.tensor([2, 3, 4]), 2, 0.5, 2).item() == 0.0  # no old-class anchor


def test_less_forget_and_adaptive_lambda():
    f = torch.randn(5, 8)
    assert less_forget(f, f.clone() * 3.0).abs().item() < 1e-6  # orientation only
    assert less_forget(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])).item() == pytest.approx(1.0)
    # reference code: lambda_base * sqrt(|old| / |new|) (the paper's Eq. 7 prints new / old)
    assert lucir_lambda(5.0, 50, 10) == pytest.approx(5 * math.sqrt(5))
    assert lucir_lambda(5.0, 50, 5) == pytest.approx(5 * math.sqrt(10))
    assert lucir_lambda(5.0, 50, 5, adapt=False) == 5.0


def test_last_relu_removed_for_every_backbone_kind():
    x28, x32 = torch.randn(4, 1, 28, 28), torch.randn(2, 3, 32, 32)
    cifar = build_backbone("resnet20", (1, 28, 28)).eval()
    assert "last_relu=False" in remove_last_relu(cifar)
    flags = [b.last_relu for b in cifar.blocks if hasattr(b, "last_relu")]
    assert flags == [True] * 8 + [False]
    assert (cifar(x28) < 0).any()  # features may now be negative
    tv = build_backbone("resnet18", (3, 32, 32), cifar_stem=True).eval()
    last = tv.blocks[-2]
    with torch.no_grad():
        h = tv.forward_until(x32, len(tv.blocks) - 2)
        expect = last.bn2(last.conv2(last.relu(last.bn1(last.conv1(h))))) + (h if last.downsample is None
                                                                             else last.downsample(h))
    assert "BasicBlockNoReLU" in remove_last_relu(tv)
    with torch.no_grad():
        assert torch.allclose(last(h), expect) and (tv(x32) < 0).any()
    tiny = build_backbone("tiny_cnn", (1, 8, 8))
    remove_last_relu(tiny)
    assert isinstance(tiny.blocks[-1][1], RemovedReLU)
    relus = sum(isinstance(m, torch.nn.ReLU) for m in tiny.modules())
    remove_last_relu(tiny)  # idempotent: no second ReLU disappears
    assert sum(isinstance(m, torch.nn.ReLU) for m in tiny.modules()) == relus
    nin = build_backbone("nin", (3, 32, 32), width=0.25)  # last block: ..., conv 1x1, ReLU, (avg-pool, flatten)
    remove_last_relu(nin)
    assert isinstance(nin.blocks[-1][-2], RemovedReLU) and isinstance(nin.blocks[-1][-3], torch.nn.Conv2d)
    assert sum(isinstance(m, torch.nn.ReLU) for m in nin.modules()) == 7


def test_phase_freezes_old_embeddings_imprints_and_balances(tmp_path):
    ctx = make_ctx(tmp_path, memory_per_class=5, options={"lucir": {"cbf_epochs": 2}})
    method = LUCIR(ctx)
    calls = []
    real_fit = method.fit

    def recording_fit(net, idx, loss=None, kind="ce", **kw):
        head = net.head
        calls.append(dict(kind=kind, idx=idx.clone(), kw=kw, chunks=[c.weight.requires_grad for c in head.chunks],
                          sigma=head.sigma.requires_grad, frozen=net.frozen_blocks,
                          weights=[c.weight.detach().clone() for c in head.chunks]))
        if kind == "lucir":  # what imprinting should have produced from the model entering the phase
            labels = ctx.scenario.train_y[p1.train_idx]
            old_norm = float(head.chunks[0].weight.detach().norm(dim=1).mean())
            calls[-1]["imprinted"] = imprint(extract_features(ctx, net, p1.train_idx), labels, p1.classes, old_norm)
        real_fit(net, idx, loss, kind, **kw)
        calls[-1]["after"] = [c.weight.detach().clone() for c in head.chunks]

    method.fit = recording_fit
    p0, p1 = ctx.scenario.phases[:2]
    method.begin_phase(p0)
    assert isinstance(method.net.backbone.blocks[-1][1], RemovedReLU)  # tiny_cnn's final ReLU is gone
    method.learn(p0)
    method.end_phase(p0)
    method.begin_phase(p1)
    method.learn(p1)
    method.end_phase(p1)
    base, main, cbf = calls
    assert [c["kind"] for c in calls] == ["ce", "lucir", "lucir_cbf"]
    # main phase: old embeddings frozen (and unchanged), new ones and sigma trained
    assert main["chunks"] == [False, True] and main["sigma"] and main["frozen"] == 0
    assert torch.equal(main["weights"][0], main["after"][0]) and not torch.equal(main["weights"][1], main["after"][1])
    # the new embeddings were imprinted: normalised class means times the old embeddings' mean norm
    assert torch.allclose(main["weights"][1], main["imprinted"], atol=1e-5)
    assert method.extra["lucir_lambda"] == pytest.approx(5 * math.sqrt(4 / 3))
    # class-balanced fine-tuning: the memory only (5 per class), backbone and sigma fixed, all embeddings trained
    y = ctx.scenario.train_y[cbf["idx"]]
    assert [int((y == c).sum()) for c in range(7)] == [5] * 7
    assert cbf["chunks"] == [True, True] and not cbf["sigma"] and cbf["frozen"] == len(method.net.backbone.blocks)
    assert cbf["kw"]["epochs"] == 2 and cbf["kw"]["lr"] == pytest.approx(ctx.cfg.lr * 0.1)
    assert method.net.frozen_blocks == 0 and method.net.head.sigma.requires_grad  # restored
    out = method.predict(torch.randn(3, 1, 8, 8))
    assert list(out) == ["cnn", "nme"] and out["cnn"].shape == out["nme"].shape == (3, 7)
    assert method.means.shape == (7, method.net.backbone.out_dim)
