"""experiments/ files that set up PyCIL's and FACIL's CIFAR-100 runs load, and say what they say."""

from pathlib import Path

import pytest

from energybench.config import load_yaml
from energybench.engine.preflight import make_config
from energybench.data.scenario import parse_split

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


@pytest.mark.parametrize("name,sizes,methods,seeds", [
    ("pycil_cifar100_b0_10x10.yaml", [10] * 10, ["finetune", "lwf", "icarl"], [1993]),
    ("pycil_cifar100_b0_20x5.yaml", [20] * 5, ["finetune", "lwf", "icarl"], [1993]),
    ("pycil_cifar100_b50_10x5.yaml", [50] + [10] * 5, ["finetune", "lwf", "icarl"], [1993]),
    ("facil_cifar100_10tasks.yaml", [10] * 10, ["finetune", "joint", "lwf", "icarl", "eeil", "lucir"],
     list(range(10))),
])
def test_published_setups_load(name, sizes, methods, seeds):
    cfg = make_config(load_yaml(EXPERIMENTS / name))
    assert cfg.dataset == "cifar100" and cfg.class_order == "pycil" and cfg.resolved_backbone() == "resnet32"
    assert parse_split(cfg.scenario, 100) == sizes
    assert cfg.methods == methods and cfg.seeds == seeds
    assert cfg.memory_size == 2000 and cfg.batch_size == 128 and cfg.lr == 0.1
    assert cfg.epochs == (200 if name.startswith("facil") else 170)
    assert f"scenario: {cfg.scenario}" in (EXPERIMENTS / name).read_text()
