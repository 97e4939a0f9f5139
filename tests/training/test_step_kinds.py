"""A step's profile stands for every later step of its kind: two different losses must never be
one kind, even when a method leaves `fit`'s `kind` at its default (a user's method did, and its
second loss, three forwards a step, was priced as the first's one)."""

import functools

import torch
import torch.nn.functional as F

from energybench.data import load_source
from energybench.data.scenario import build_scenario
from energybench.training.trainer import Trainer, loss_code


def trainer():
    scenario = build_scenario(load_source("digits", None), "B4-3x2", "natural", 0)
    return scenario, Trainer(scenario, torch.device("cpu"), epochs=1, batch_size=64, lr=0.05, momentum=0.9,
                             weight_decay=0.0, milestones=[], gamma=0.1, augment=None, seed=0, progress=False)


def net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))


def plain(net, batch):
    return F.cross_entropy(net(batch.x), batch.y)


def heavy(net, batch):  # three forwards a step
    return sum(F.cross_entropy(net(batch.x), batch.y) for _ in range(3))


def test_two_losses_under_the_default_kind_are_counted_apart():
    scenario, tr = trainer()
    idx = scenario.train_indices(0)[:128]  # two full batches
    tr.fit(net(), idx, heavy)
    heavy_macs = tr.train_macs()  # a fresh trainer's count of the heavy loss alone

    scenario, tr = trainer()
    model = net()
    tr.fit(model, idx, plain)
    plain_macs = tr.train_macs()
    tr.fit(model, idx, heavy)  # the same model, structure, batch shape and (default) kind
    assert tr.train_macs() == plain_macs + heavy_macs
    assert heavy_macs > 2 * plain_macs > 0  # (counted as the plain loss, the sum would be 2 x plain)
    ledger = tr.end_phase()
    assert ledger.train_steps == 4


def test_the_code_names_the_loss():
    def make(scale):
        return lambda net, batch: scale * plain(net, batch)

    assert loss_code(make(1)) is loss_code(make(2))  # one def's closures: one code (their `kind` may split them)
    assert loss_code(plain) is not loss_code(heavy)
    assert loss_code(functools.partial(functools.partial(heavy))) is loss_code(heavy)

    class Loss:
        def __call__(self, net, batch):
            return plain(net, batch)

    assert loss_code(Loss()) is Loss
