"""Scenario splits: notation, class counts, disjointness, determinism, validation."""

import pytest
import torch

from energybench.data import load_source
from energybench.data.scenario import build_scenario, parse_split, take
from energybench.errors import UserError


@pytest.fixture(scope="module")
def digits():
    return load_source("digits")


@pytest.mark.parametrize("spec,sizes", [
    ("B4-3x2", [4, 3, 3]), ("B50-10x5", [50] + [10] * 5), ("B50-10-20-20", [50, 10, 20, 20]),
    ("B2-2x4", [2, 2, 2, 2, 2]), ("50,10,20,20", [50, 10, 20, 20]), ([3, 3, 4], [3, 3, 4]), ("B10", [10]),
])
def test_parse_split(spec, sizes):
    assert parse_split(spec) == sizes


@pytest.mark.parametrize("spec", ["4-3x2", "B4-3y2", "B0", "B0-0x2", "B4-0x2", "", "B4--3"])
def test_parse_split_rejects(spec):
    with pytest.raises(UserError):
        parse_split(spec)


def test_phases_partition_the_classes(digits):
    sc = build_scenario(digits, "B4-3x2", seed=0)
    assert [p.classes for p in sc.phases] == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert [p.seen for p in sc.phases] == [4, 7, 10]
    seen_train = [set(sc.train_y[p.train_idx].tolist()) for p in sc.phases]
    assert seen_train == [{0, 1, 2, 3}, {4, 5, 6}, {7, 8, 9}]
    # train sets are disjoint and cover the training split
    all_idx = torch.cat([p.train_idx for p in sc.phases])
    assert len(set(all_idx.tolist())) == len(all_idx) == len(digits.train)
    # test sets hold every class seen so far, and grow
    assert set(sc.test_y[sc.phases[1].test_idx].tolist()) == set(range(7))
    assert len(sc.phases[2].test_idx) == len(digits.test)


def test_class_order_is_seeded_and_recorded(digits):
    a, b, c = (build_scenario(digits, "B4-3x2", seed=s) for s in (1, 1, 2))
    assert a.class_order == b.class_order != c.class_order
    assert sorted(a.class_order) == list(range(10))
    # remapped label k is original class class_order[k]
    x, y = take(a, "train", a.phases[1].train_idx[:20])
    originals = digits.train.y[a.phases[1].train_idx[:20]]
    assert [a.class_order[k] for k in y.tolist()] == originals.tolist()


def test_explicit_and_natural_orders(digits):
    assert build_scenario(digits, "B4-3x2", class_order="natural").class_order == list(range(10))
    order = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
    assert build_scenario(digits, "B4-3x2", class_order=order).class_order == order


@pytest.mark.parametrize("order,msg", [
    ([0, 1, 2], "lists 3 classes but the scenario covers 10"),
    ([0, 0, 1, 2, 3, 4, 5, 6, 7, 7], "repeats classes 0, 7"),
    ([0, 1, 2, 3, 4, 5, 6, 7, 8, 12], "outside 0..9"),
    ("sorted", "must be 'seeded', 'natural', 'pycil' or a list"),
])
def test_bad_class_orders(digits, order, msg):
    with pytest.raises(UserError, match=msg):
        build_scenario(digits, "B4-3x2", class_order=order)


def test_split_larger_than_dataset(digits):
    with pytest.raises(UserError, match="covers 14 classes but digits has only 10"):
        build_scenario(digits, "B8-3x2")


def test_subset_of_classes_and_caps(digits):
    sc = build_scenario(digits, "B2-2x2", seed=0, train_per_class=10, test_per_class=5)
    assert sc.num_classes == 6 and len(sc.class_order) == 6
    assert [len(p.train_idx) for p in sc.phases] == [20, 20, 20]
    assert [len(p.test_idx) for p in sc.phases] == [10, 20, 30]
    again = build_scenario(digits, "B2-2x2", seed=0, train_per_class=10, test_per_class=5)
    assert torch.equal(sc.phases[1].train_idx, again.phases[1].train_idx)


def test_pycil_order_is_numpy_seed_1993(digits):
    # np.random.seed(1993); np.random.permutation(10), as PyCIL and iCaRL draw it
    assert build_scenario(digits, "B4-3x2", class_order="pycil", seed=5).class_order == [4, 2, 7, 6, 0, 3, 5, 8, 9, 1]
    from energybench.data.scenario import pycil_order

    # FACIL's cifar100_icarl order (src/datasets/dataset_config.py), its first 28 classes
    assert pycil_order(100)[:28] == [68, 56, 78, 8, 23, 84, 90, 65, 74, 76, 40, 89, 3, 92, 55, 9, 26, 80, 43, 38, 58,
                                     70, 77, 1, 85, 19, 17, 50]


@pytest.mark.parametrize("preset,sizes", [
    ("B0-10x10", [10] * 10), ("B50-10x5", [50] + [10] * 5), ("B50-5x10", [50] + [5] * 10), ("B0-20x5", [20] * 5),
    ("B0-5x20", [5] * 20), ("B0-3x2", [3, 3]),
])
def test_presets(preset, sizes):
    from energybench.data.scenario import PRESETS

    assert parse_split(preset, 100) == sizes
    assert preset in PRESETS or preset == "B0-3x2"


def test_the_notation_reads_in_any_case_and_a_split_too_large_names_the_same_split_of_the_dataset():
    assert parse_split("b4-3X2") == parse_split("B4-3x2") == [4, 3, 3]
    for spec, same in [("B0-10x10", "B0-1x10"), ("B50-10x5", "B5-1x5"), ("B50-10-20-20", "B5-1-2-2"),
                       ("B0-20x5", "B0-2x5")]:
        with pytest.raises(UserError) as err:
            parse_split(spec, 10, "digits")
        assert str(err.value) == (f"scenario '{spec}' covers 100 classes but digits has only 10; the same split of "
                                  f"the 10 classes of digits: {same}")
        assert sum(parse_split(same, 10, "digits")) == 10
    with pytest.raises(UserError) as err:  # 5 of 100 classes is half a class of 10: no such split
        parse_split("B50-5x10", 10, "digits")
    assert str(err.value) == "scenario 'B50-5x10' covers 100 classes but digits has only 10"
