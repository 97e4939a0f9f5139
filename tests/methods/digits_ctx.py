"""A method Context on the digits B4-3x2 scenario in natural class order, for unit tests."""

from pathlib import Path

import torch

from energybench.engine.preflight import make_config
from energybench.data import load_source
from energybench.data.scenario import build_scenario
from energybench.methods.base import Context
from energybench.training.trainer import Trainer


def make_ctx(tmp_path: Path, seed=0, sharing=0.0, **cfg):
    cfg = make_config({"dataset": "digits", "scenario": "B4-3x2", "class_order": "natural", "epochs": 1,
                       "batch_size": 64, **cfg})
    scenario = build_scenario(load_source("digits", None), cfg.scenario, cfg.class_order, seed)
    trainer = Trainer(scenario, torch.device("cpu"), epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                      momentum=cfg.momentum, weight_decay=cfg.weight_decay, milestones=cfg.lr_milestones,
                      gamma=cfg.lr_gamma, augment=None, seed=seed, progress=False)
    return Context(cfg, scenario, torch.device("cpu"), trainer, seed, sharing, tmp_path)
