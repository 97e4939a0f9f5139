"""The trainer's running figures for epoch callbacks: training MACs so far equal what the phase's
ledger books, and a callback's own time (a test-set evaluation for an accuracy trace) is not
training time."""

import time

import torch
import torch.nn.functional as F

from energybench.data import load_source
from energybench.data.scenario import build_scenario
from energybench.training.trainer import Trainer


def trainer(epochs=2):
    scenario = build_scenario(load_source("digits", None), "B4-3x2", "natural", 0)
    return scenario, Trainer(scenario, torch.device("cpu"), epochs=epochs, batch_size=64, lr=0.05, momentum=0.9,
                             weight_decay=0.0, milestones=[], gamma=0.1, augment=None, seed=0, progress=False)


def ce(net, batch):
    return F.cross_entropy(net(batch.x), batch.y)


def test_steps_and_train_macs_so_far_match_the_ledger():
    scenario, tr = trainer()
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 4))
    idx = scenario.train_indices(0)
    seen = []
    tr.fit(net, idx, ce, on_epoch_end=lambda e, loss: seen.append((tr.steps_taken(), tr.train_macs())) and False)
    # 8x8 digits -> Linear(64, 4): per sample 256 forward MACs and 256 weight-gradient MACs; the
    # first layer's input needs no gradient. Every batch holds 64 samples but the epoch's last.
    steps, last = -(-len(idx) // 64), len(idx) % 64 or 64
    epoch_macs = (steps - 1) * 2 * 256 * 64 + 2 * 256 * last
    assert seen == [(steps, epoch_macs), (2 * steps, 2 * epoch_macs)]
    assert tr.iters == tr.steps_taken() == 2 * steps
    assert tr.end_phase().row(None)["train_macs"] == 2 * epoch_macs


def test_callback_time_is_not_training_time():
    scenario, tr = trainer()
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 4))
    elapsed = []

    def slow_callback(epoch, loss):
        time.sleep(0.4)  # stands for a test-set evaluation
        elapsed.append(tr.elapsed()[0])  # the training clock stopped when the callback began
        return False

    t0 = time.perf_counter()
    result = tr.fit(net, scenario.train_indices(0), ce, on_epoch_end=slow_callback)
    wall = time.perf_counter() - t0
    assert wall >= 0.8
    assert result.time_s < wall - 0.75  # both sleeps excluded
    assert tr.train_time_s == result.time_s
    assert 0 < elapsed[0] <= elapsed[1] <= result.time_s  # running training time, sleeps excluded
    assert tr.elapsed()[0] == tr.train_time_s  # outside fit: the phase's total
