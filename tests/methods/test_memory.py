"""Exemplar memory: herding order (hand-computed), capacity rules, removal, storage, NME."""

import math
from types import SimpleNamespace

import pytest
import torch

from energybench.data import load_source
from energybench.data.scenario import build_scenario
from energybench.errors import UserError
from energybench.methods.memory import ExemplarMemory, class_means, extract_features, herding_order, nme_scores
from energybench.models import build_net
from energybench.training.trainer import EVAL_BATCH


def test_herding_follows_the_iterative_mean_matching_rule():
    # Raw 2-D features; herding works on their L2-normalised versions:
    #   f0 (2,0)->(1,0)  f1 (0,3)->(0,1)  f2 (3,4)->(0.6,0.8)  f3 (1,1)->(0.70711,0.70711)
    # mu = (0.576777, 0.626777).
    # k=1: |mu - f|^2 = f0 0.571967, f1 0.471967, f2 0.030545, f3 0.023439        -> f3
    # k=2: |mu - (f3+f)/2|^2 = f0 0.151257, f1 0.101257, f2 0.021967              -> f2
    # k=3: |mu - (f3+f2+f)/3|^2 = f0 0.052441, f1 0.063552                         -> f0
    # (plain distance-to-mean ranking would give f3, f2, f1, f0: herding balances the sum)
    f = torch.tensor([[2.0, 0.0], [0.0, 3.0], [3.0, 4.0], [1.0, 1.0]])
    assert herding_order(f, 4).tolist() == [3, 2, 0, 1]
    assert herding_order(f, 2).tolist() == [3, 2]  # a prefix: shrinking keeps the first ones
    assert herding_order(f, 9).tolist() == [3, 2, 0, 1]  # capped by the class size
    assert herding_order(f * torch.tensor([[5.0], [0.1], [2.0], [7.0]]), 4).tolist() == [3, 2, 0, 1]


def test_quota_fixed_total_or_per_class():
    assert ExemplarMemory(None, 20, "herding", 0).quota(7) == 20
    fixed = ExemplarMemory(2000, 20, "herding", 0)  # memory_size wins over memory_per_class
    assert [fixed.quota(c) for c in (10, 30, 100)] == [200, 66, 20]  # floor(K / classes)
    with pytest.raises(UserError, match="cannot hold one exemplar for each of 11 classes"):
        ExemplarMemory(10, None, "random", 0).quota(11)
    with pytest.raises(UserError, match="not one of herding, random"):
        ExemplarMemory(None, 20, "closest", 0)


@pytest.fixture(scope="module")
def digits():
    return build_scenario(load_source("digits", None), "B4-3x2", "natural", seed=0)


class CountingTrainer:
    def __init__(self):
        self.keys = []

    def count_eval(self, key, fn, model):
        self.keys.append(key)
        return fn()


def ctx_for(scenario):
    return SimpleNamespace(scenario=scenario, device=torch.device("cpu"), trainer=CountingTrainer())


def test_update_shrinks_from_the_end_and_selects_new_classes(digits):
    ctx = ctx_for(digits)
    mem = ExemplarMemory(12, None, "random", seed=3)
    p0, p1 = digits.phases[0], digits.phases[1]
    mem.update(ctx, None, p0.train_idx, p0.seen)  # 4 classes: 3 each, no forward pass needed
    assert sorted(mem.classes) == [0, 1, 2, 3] and all(len(v) == 3 for v in mem.classes.values())
    for c, v in mem.classes.items():
        assert set(v.tolist()) <= set(p0.train_idx[digits.train_y[p0.train_idx] == c].tolist())
    before = {c: v.clone() for c, v in mem.classes.items()}
    mem.update(ctx, None, p1.train_idx, p1.seen)  # 7 classes: 12 // 7 = 1 each
    assert len(mem) == 7 and ctx.trainer.keys == []
    assert all(torch.equal(mem.classes[c], before[c][:1]) for c in range(4))  # removal from the end
    again = ExemplarMemory(12, None, "random", seed=3)
    again.update(ctx, None, p0.train_idx, p0.seen)
    assert all(torch.equal(again.classes[c], before[c]) for c in range(4))  # seeded
    assert mem.nbytes((1, 8, 8)) == 7 * 64 == mem.indices().numel() * 64


def test_herding_update_counts_its_feature_passes(digits):
    ctx = ctx_for(digits)
    net = build_net("tiny_cnn", (1, 8, 8), 4).eval()
    p0 = digits.phases[0]
    mem = ExemplarMemory(None, 5, "herding", seed=0)
    mem.update(ctx, net, p0.train_idx, p0.seen)
    assert len(ctx.trainer.keys) == math.ceil(len(p0.train_idx) / EVAL_BATCH)
    feats = extract_features(ctx_for(digits), net, p0.train_idx)
    labels = digits.train_y[p0.train_idx]
    for c in range(4):
        members = p0.train_idx[labels == c]
        expect = members[herding_order(feats[labels == c], 5)]
        assert torch.equal(mem.classes[c], expect)


def test_class_means_are_normalised_exemplar_means_and_nme_picks_the_nearest(digits):
    ctx = ctx_for(digits)
    net = build_net("tiny_cnn", (1, 8, 8), 4).eval()
    mem = ExemplarMemory(None, 4, "random", seed=1)
    mem.update(ctx, net, digits.phases[0].train_idx, 4)
    means = class_means(ctx, net, mem, 4)
    feats = torch.nn.functional.normalize(extract_features(ctx_for(digits), net, mem.classes[2]), dim=1)
    expect = feats.mean(0) / feats.mean(0).norm()
    assert torch.allclose(means[2], expect, atol=1e-6) and torch.allclose(means.norm(dim=1), torch.ones(4))
    scores = nme_scores(torch.stack([means[1] * 3.0, means[3] * 0.5]), means)
    assert scores.argmax(1).tolist() == [1, 3]
