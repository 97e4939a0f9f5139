"""EEIL: per-head distillation (the official code's gradient, no T^2 unless asked), the balanced
fine-tuning set (every stored exemplar, new classes reduced), the run's data pipeline by default
and the paper's augmentation on request, the base phase's epochs, before/after accuracy, the old
model's forward in the step profile, and the protocol notes the report prints."""

import math

import pytest
import torch
import torch.nn.functional as F

from energybench.cost.counter import count_forward, count_step
from energybench.data.augment import CopiesAugment
from energybench.errors import UserError
from energybench.methods import check_methods
from energybench.methods.distill import features_with_old, head_spans, snapshot, soft_kd
from energybench.methods.eeil import EEIL
from energybench.methods.lucir import LUCIR
from energybench.methods.lwf import LwF
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


def test_cross_distilled_value_and_gradient_are_the_official_codes(tmp_path):
    """Hand-built batch: CE + per old head KL(softmax(old/T) || softmax(new/T)); the logits'
    gradient of a distillation term is (softmax(new/T) - softmax(old/T)) / T / N, as in the
    official vl_nnsoftmaxdiff (no T^2), and kd_t2 multiplies the term by exactly T^2."""
    net = build_net("tiny_cnn", (1, 8, 8), 2)
    net.head.add_classes(2)
    teacher = snapshot(net)
    net.head.add_classes(1)
    with torch.no_grad():  # the current model's old heads drift away from the teacher's
        net.head.chunks[0].weight.mul_(1.5)
        net.head.chunks[1].bias.add_(0.7)
    net.eval()
    x, y = torch.randn(3, 1, 8, 8), torch.tensor([0, 2, 4])
    batch = Batch(x, y, torch.arange(3))
    logits, t_logits = net(x).detach(), teacher(x).detach()
    T = 2.0

    def kl(a, b):  # sum over classes of p log(p / q), p = softmax(b / T), q = softmax(a / T), batch mean
        p, q = torch.softmax(b / T, 1), torch.softmax(a / T, 1)
        return float((p * (p.log() - q.log())).sum(1).mean())

    ce = float(-torch.log_softmax(logits, 1)[torch.arange(3), y].mean())
    kd = kl(logits[:, :2], t_logits[:, :2]) + kl(logits[:, 2:4], t_logits[:, 2:4])
    for t2, scale in ((False, 1.0), (True, T * T)):
        loss = EEIL(make_ctx(tmp_path, options={"eeil": {"kd_t2": t2}})).cross_distilled(teacher)
        z = logits.clone().requires_grad_(True)
        # the loss sees these logits (a hook replaces the head's output), so their gradient can be read
        hook = net.head.register_forward_hook(lambda module, inputs, output, z=z: z)
        try:
            value = loss(net, batch)
            value.backward()
        finally:
            hook.remove()
        assert value.item() == pytest.approx(ce + scale * kd, rel=1e-6)
        want = (torch.softmax(logits, 1) - F.one_hot(y, 5)) / 3  # cross-entropy's part
        for a, b in ((0, 2), (2, 4)):
            want[:, a:b] += (scale * (torch.softmax(logits[:, a:b] / T, 1) - torch.softmax(t_logits[:, a:b] / T, 1))
                             / T / 3)
        torch.testing.assert_close(z.grad, want, rtol=1e-5, atol=1e-7)


def test_the_run_pipeline_by_default_and_the_paper_augmentation_on_request(tmp_path):
    assert EEIL(make_ctx(tmp_path)).augmentation() is None  # the trainer's, i.e. the run's
    assert EEIL(make_ctx(tmp_path, options={"eeil": {"augment": False}})).augmentation() is None  # the old `false`
    ctx = make_ctx(tmp_path, options={"eeil": {"augment": "paper"}})
    aug = EEIL(ctx).augmentation()
    (mean,), (std,) = ctx.scenario.source.train.normalisation()
    assert isinstance(aug, CopiesAugment)
    assert (aug.crop_pad, aug.mirror, aug.contrast) == (1, False, 0.8)  # 8x8 digits: pad 8 // 8, no mirror
    assert aug.brightness == pytest.approx((63 / 255 / std,)) and aug.lo == pytest.approx((-mean / std,))
    ctx = make_ctx(tmp_path, options={"eeil": {"augment": "paper", "mirror": True, "crop_pad": 0, "brightness": 0.1,
                                               "contrast": 0.5}})
    aug = EEIL(ctx).augmentation()
    assert (aug.crop_pad, aug.mirror, aug.contrast) == (0, True, 0.5) and aug.brightness == pytest.approx((0.1 / std,))
    with pytest.raises(UserError, match="option 'augment' of method eeil must be one of run .*, paper .*got True"):
        check_methods(["eeil"], {"eeil": {"augment": True}})


def test_base_phase_epochs(tmp_path):
    ctx = make_ctx(tmp_path, epochs=1, options={"eeil": {"base_epochs": 3}})
    method = EEIL(ctx)
    p0 = ctx.scenario.phases[0]
    method.begin_phase(p0)
    method.learn(p0)
    assert ctx.trainer.iters == 3 * math.ceil(len(p0.train_idx) / 64)


def test_protocol_notes_name_every_departure_from_the_run(tmp_path):
    cfg = make_ctx(tmp_path, epochs=4).cfg
    # the paper's fixed fine-tuning schedule is named: it is not the run's 4 epochs
    assert EEIL.protocol_notes(EEIL.check_options({}), cfg) == [
        "adds 30 epochs of balanced fine-tuning (finetune_epochs) to each incremental phase, whatever the run's "
        "epochs (4); they are in its iterations, time and energy"]
    notes = EEIL.protocol_notes(EEIL.check_options({"augment": "paper", "kd_t2": True, "base_epochs": 12,
                                                    "balanced_finetune": False}), cfg)
    assert notes == ["trains with the EEIL paper's augmentation (one of 12 copies per image: brightness ±63/255, "
                     "contrast 0.2–1.8, crop after side/8 padding), not the run's (none)",
                     "distillation terms scaled by T² = 4 (not in the paper)",
                     "base phase trains 12 epochs (the run: 4)", "no balanced fine-tuning"]
    assert LUCIR.protocol_notes(LUCIR.check_options({"cbf_epochs": 7}), cfg) == [
        "adds 7 epochs of class-balanced fine-tuning of the classifier on the exemplars (cbf_epochs) to each "
        "incremental phase, whatever the run's epochs (4); they are in its iterations, time and energy"]
    assert LUCIR.protocol_notes(LUCIR.check_options({"cb_finetune": False}), cfg) == []
    assert LwF.protocol_notes(LwF.check_options({}), cfg) == []
    assert LwF.protocol_notes(LwF.check_options({"ce": "new"}), cfg) == [
        "cross-entropy on the new classes only, earlier heads frozen (ce: new, FACIL's form), "
        "not LwF.MC's over all classes"]


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
    assert kw["augment"] is None  # the run's pipeline (augment off)
    assert set(method.extra) == {"acc_before_finetune", "acc_before_finetune_old", "acc_before_finetune_new"}
    assert 0.0 <= method.extra["acc_before_finetune"] <= 100.0
    assert any(k[0] == "acc_before_finetune" for k in ctx.trainer.profiles)  # its evaluation was counted
    assert sorted(method.memory.classes) == list(range(7)) and len(method.memory) == 35
    assert method.exemplar_bytes() == 35 * 64


def test_balanced_set_with_a_fixed_memory_uses_every_stored_exemplar(tmp_path):
    """K = 20 on B4-3x2: 5 exemplars per base class; phase 1's balanced set keeps all of them
    and reduces each new class to 5 (official code: n = the old classes' count), then the memory
    shrinks to 20 // 7 = 2 per class. (Before the fix n was 20 // 7 = 2 for every class.)"""
    ctx = make_ctx(tmp_path, memory_size=20, memory_per_class=None, options={"eeil": {"finetune_epochs": 1}})
    method = EEIL(ctx)
    sets = []
    real_fit = method.fit

    def recording_fit(net, idx, loss=None, kind="ce", **kw):
        if kind == "eeil_balanced":
            sets.append(idx.clone())
        return real_fit(net, idx, loss, kind, **kw)

    method.fit = recording_fit
    for p in ctx.scenario.phases[:2]:
        method.begin_phase(p)
        if p.index == 1:
            stored = {c: v.clone() for c, v in method.memory.classes.items()}
        method.learn(p)
        method.end_phase(p)
    y = ctx.scenario.train_y[sets[0]]
    assert [int((y == c).sum()) for c in range(7)] == [5] * 7
    assert all(set(stored[c].tolist()) == set(sets[0][y == c].tolist()) for c in range(4))
    assert [len(method.memory.classes[c]) for c in range(7)] == [2] * 7


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
