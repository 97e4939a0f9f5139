"""EEIL: per-head distillation, the balanced fine-tuning set, augmentation, before/after accuracy,
and the old model's forward in the step profile."""

import math

import pytest
import torch
import torch.nn.functional as F

from energybench.cost.counter import count_forward, count_step
from energybench.methods.distill import features_with_old, head_spans, snapshot, soft_kd
from energybench.methods.eeil import EEIL
from energybench.models import build_net
from energybench.training.trainer import Batch

from .digits_ctx import make_ctx


def test_soft_kd_hand_value_and_zero_for_an_identical_model():
    # T=2: old logits (2 ln 3, 0) -> softmax(old/2) = (3/4, 1/4); new (0, 0) -> (1/2, 1/2)
    # KL = 3/4 ln(3/2) + 1/4 ln(1/2) = 0.1308120
    old = torch.tensor([[2 * math.log(3.0), 0.0]])
    assert soft_kd(torch.zeros(1, 2), old, 2.0).item() == pytest.approx(0.75 * math.log(1.5) + 0.25 * math.log(0.5))
    x = torch.randn(5, 4)
    assert soft_kd(x, x.clone(), 2.0).abs().item() < 1e-7


def test_one_distillation_term_per_old_head(tmp_path):
    ctx = make_ctx(tmp_path)
    method = EEIL(ctx)
    net = build_net("tiny_cnn", (1, 8, 8), 4)
    net.head.add_classes(3)
    teacher = snapshot(net)
    net.head.add_classes(3)
    assert head_spans(net.head) == [(0, 4), (4, 7), (7, 10)] and head_spans(teacher.head) == [(0, 4), (4, 7)]
    x, y = torch.randn(6, 1, 8, 8), torch.tensor([0, 3, 5, 7, 8, 9])
    net.eval()
    batch = Batch(x, y, torch.arange(6))
    loss = method.cross_distilled(teacher)
    # The model equals its previous copy on the old heads: both distillation terms vanish.
    assert loss(net, batch).item() == pytest.approx(F.cross_entropy(net(x), y).item(), abs=1e-6)
    with torch.no_grad():
        net.head.chunks[1].weight.add_(0.5)
    logits, t_logits = net(x), teacher(x)
    expect = (F.cross_entropy(logits, y) + soft_kd(logits[:, :4], t_logits[:, :4], 2.0)
              + soft_kd(logits[:, 4:7], t_logits[:, 4:7], 2.0))  # per head, not one softmax over both
    joint = F.cross_entropy(logits, y) + soft_kd(logits[:, :7], t_logits[:, :7], 2.0)
    got = loss(net, batch)
    assert got.item() == pytest.approx(expect.item(), rel=1e-5) and abs(got.item() - joint.item()) > 1e-4


def test_augmentation_ranges_per_dataset(tmp_path):
    aug = EEIL(make_ctx(tmp_path)).augmentation()
    assert (aug.crop_pad, aug.mirror, aug.brightness, aug.contrast) == (1, False, 0.5, 0.5)  # 8x8 digits
    ctx = make_ctx(tmp_path, options={"eeil": {"mirror": True, "crop_pad": 0, "brightness": 1.2, "contrast": 0.8}})
    aug = EEIL(ctx).augmentation()
    assert (aug.crop_pad, aug.mirror, aug.brightness, aug.contrast) == (0, True, 1.2, 0.8)
    assert EEIL(make_ctx(tmp_path, options={"eeil": {"augment": False}})).augmentation() is None


def test_incremental_phase_trains_then_balances_then_updates_memory(tmp_path):
    ctx = make_ctx(tmp_path, memory_per_class=5, options={"eeil": {"finetune_epochs": 2}})
    method = EEIL(ctx)
    calls = []
    real_fit = method.fit

    def recording_fit(net, idx, loss=None, kind="ce", **kw):
        calls.append((kind, idx.clone(), kw, [c.weight.requires_grad for c in net.head.chunks]))
        return real_fit(net, idx, loss, kind, **kw)

    method.fit = recording_fit
    p0, p1 = ctx.scenario.phases[:2]
    for p in (p0, p1):
        method.begin_phase(p)
        if p.index == 1:
            memory_before = {c: v.clone() for c, v in method.memory.classes.items()}
        method.learn(p)
        method.end_phase(p)
    kinds = [c[0] for c in calls]
    assert kinds == ["eeil_ce", "eeil", "eeil_balanced"]
    _, idx, kw, _ = calls[1]
    assert torch.equal(idx, torch.cat([p1.train_idx, torch.cat([memory_before[c] for c in range(4)])]))
    _, idx, kw, _ = calls[2]
    y = ctx.scenario.train_y[idx]
    assert [int((y == c).sum()) for c in range(7)] == [5] * 7  # the same number per class
    assert kw["lr"] == pytest.approx(ctx.cfg.lr * 0.1) and kw["epochs"] == 2
    assert all(set(memory_before[c].tolist()) == set(idx[y == c].tolist()) for c in range(4))
    assert kw["augment"].brightness == 0.5
    assert set(method.extra) == {"acc_before_finetune", "acc_before_finetune_old", "acc_before_finetune_new"}
    assert 0.0 <= method.extra["acc_before_finetune"] <= 100.0
    assert any(k[0] == "acc_before_finetune" for k in ctx.trainer.profiles)  # its evaluation was counted
    assert sorted(method.memory.classes) == list(range(7)) and len(method.memory) == 35
    assert method.exemplar_bytes() == 35 * 64


@pytest.mark.parametrize("sharing", [0.0, 0.5])
def test_old_model_forward_macs_appear_in_the_step_profile(tmp_path, sharing):
    ctx = make_ctx(tmp_path, sharing=sharing)
    method = EEIL(ctx)
    method.net = build_net("tiny_cnn", (1, 8, 8), 4)
    p1 = ctx.scenario.phases[1]
    method.begin_phase(p1)  # snapshot, grow the head, freeze the shared prefix
    net, old, k = method.net, method.old, method.net.frozen_blocks
    assert (k > 0) == (sharing > 0)
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 7, (8,))
    batch = Batch(x, y, torch.arange(8))
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.0)

    def step(loss_fn):
        def run():
            opt.zero_grad()
            loss_fn(net, batch).backward()
            opt.step()
        return run

    _, with_old = count_step(step(method.cross_distilled(old)), net)
    _, without = count_step(step(lambda n, b: F.cross_entropy(n(b.x), b.y)), net)
    # The old model's unshared blocks and head; its shared prefix output is reused from the current model.
    old_macs = count_forward(lambda: old.head(old.backbone(old.backbone.forward_until(x, k), start=k)), old)[1].fwd_macs
    old_prefix = count_forward(lambda: old.backbone.forward_until(x, k), old)[1].fwd_macs
    assert old_macs - old_prefix > 0
    assert with_old.fwd_macs - without.fwd_macs == old_macs - old_prefix
    assert with_old.bwd_input_macs == without.bwd_input_macs and with_old.bwd_weight_macs == without.bwd_weight_macs
    if k == 0:
        assert with_old.fwd_macs == 2 * without.fwd_macs - net.head.chunks[-1].in_features * 3 * 8
    feats, old_feats = features_with_old(net, old, x)
    net.eval()
    assert torch.allclose(old_feats, old.features(x), atol=1e-6)
