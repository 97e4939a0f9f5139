"""Real offline sources: bundled digits and (where installed) Debian's Fashion-MNIST."""

from pathlib import Path

import pytest
import torch
from conftest import require_fashion_mnist

from energybench.data import load_source
from energybench.errors import UserError

FASHION = Path("/usr/share/datasets/fashion-mnist")


def test_digits_split_is_fixed_and_stratified():
    a, b = load_source("digits"), load_source("digits")
    assert len(a.train) == 1257 and len(a.test) == 540  # 1797 samples, 30% test
    assert torch.equal(a.train.y, b.train.y) and torch.equal(a.test.x, b.test.x)
    per_class = torch.bincount(torch.cat([a.train.y, a.test.y]))
    # stratified: every class keeps its 30% share in the test split, to within one sample
    assert (torch.bincount(a.test.y) - 0.3 * per_class).abs().max() <= 1
    x, _ = a.train.take(torch.arange(len(a.train)))
    assert abs(x.mean().item()) < 1e-4 and abs(x.std().item() - 1) < 0.02  # normalised


def test_fashion_mnist_from_the_debian_path():
    require_fashion_mnist()
    src = load_source("fashion-mnist")
    assert src.location == str(FASHION)
    assert (len(src.train), len(src.test)) == (60000, 10000)
    assert torch.bincount(src.train.y).tolist() == [6000] * 10
    assert src.class_names[0] == "T-shirt/top"


def test_cifar_without_root_explains(tmp_path):
    with pytest.raises(UserError, match="--data-root"):
        load_source("cifar10")
    with pytest.raises(UserError, match=r"not found or corrupt under .*--download"):
        load_source("cifar100", str(tmp_path))


def test_imagefolder_checks_layout(tmp_path):
    with pytest.raises(UserError, match=r"train is not a directory"):
        load_source("imagefolder", str(tmp_path))


def test_imagefolder_reads_a_class_subset(tmp_path):
    import numpy as np
    from PIL import Image

    for part in ("train", "val"):
        for cls in ("cat", "dog", "eel"):
            d = tmp_path / part / cls
            d.mkdir(parents=True)
            for i in range(2):
                Image.fromarray(np.full((40, 40, 3), 40 * i, np.uint8)).save(d / f"{i}.png")
    src = load_source("imagefolder", str(tmp_path), classes=["dog", "eel"], image_size=32)
    assert src.class_names == ["dog", "eel"] and len(src.train) == 4
    x, y = src.train.take(torch.tensor([0, 3]))
    assert x.shape == (2, 3, 32, 32) and y.tolist() == [0, 1]


def test_imagefolder_class_subset_and_crop_from_the_command_line(tmp_path, capsys):
    import csv

    import numpy as np
    import yaml
    from PIL import Image

    from energybench.cli import main

    for part in ("train", "val"):
        for cls in ("cat", "dog", "eel"):
            d = tmp_path / "f" / part / cls
            d.mkdir(parents=True)
            for i in range(3):
                Image.fromarray(np.full((40, 40, 3), 40 * i, np.uint8)).save(d / f"{i}.png")
    code = main(["run", "--dataset", "imagefolder", "--data-root", str(tmp_path / "f"), "--classes", "dog,eel",
                 "--image-size", "16", "--backbone", "tiny_cnn", "--scenario", "B1-1x1", "--method", "finetune",
                 "--sharing", "0", "--epochs", "1", "--no-power", "--no-report", "--quiet", "--out",
                 str(tmp_path / "runs"), "--run-id", "r"])
    assert code == 0, capsys.readouterr().err
    config = yaml.safe_load((tmp_path / "runs" / "r" / "config.yaml").read_text())
    assert config["classes"] == ["dog", "eel"] and config["image_size"] == 16
    rows = list(csv.DictReader(open(tmp_path / "runs" / "r" / "metrics.csv")))
    assert [r["classes_seen"] for r in rows] == ["1", "2"] and rows[0]["train_samples"] == "3"  # 3 images a class


def test_unknown_dataset():
    with pytest.raises(UserError, match="unknown dataset 'svhn'; valid datasets: digits"):
        load_source("svhn")
