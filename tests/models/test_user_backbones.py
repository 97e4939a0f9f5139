"""Your own network as a backbone: `package.module:factory` and the `energybench.backbones`
entry-point group; blocks from `blocks` or the top-level children; every wrong factory is one
clear UserError."""

from __future__ import annotations

import sys
import textwrap

import pytest
import torch

from energybench.errors import UserError
from energybench.models import build_backbone, build_net, check_backbone_name, valid_backbones


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """Write a module into a directory on sys.path; forget it (and what it imported) afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)

    def write(name: str, code: str) -> str:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(code))
        return name

    yield write
    for name in set(sys.modules) - before:
        del sys.modules[name]


NETS = """
    import torch
    from torch import nn

    def sequential(in_shape):                      # top-level children are the blocks
        c = in_shape[0]
        return nn.Sequential(nn.Conv2d(c, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())

    class Listed(nn.Module):                        # an explicit list of blocks, and a forward that runs them
        def __init__(self, in_shape=(1, 8, 8), width=1.0):
            super().__init__()
            c = max(1, round(8 * width))
            self.blocks = nn.ModuleList([nn.Sequential(nn.Conv2d(in_shape[0], c, 3), nn.ReLU()),
                                         nn.Sequential(nn.Conv2d(c, c, 3), nn.ReLU()),
                                         nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())])

        def forward(self, x):
            for b in self.blocks:
                x = b(x)
            return x

    def no_args():
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 5))

    def raises(in_shape):
        raise ValueError("needs 3 channels")

    def not_a_module():
        return 42

    def spatial(in_shape):
        return nn.Sequential(nn.Conv2d(in_shape[0], 4, 3, padding=1))

    def pair(in_shape):
        class Two(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(64, 3)
            def forward(self, x):
                return self.fc(x.flatten(1)), x
        return Two()

    class Residual(nn.Module):                      # its forward adds a skip: chaining children differs
        def __init__(self):
            super().__init__()
            self.flat = nn.Flatten()
            self.a = nn.Linear(64, 64)
            self.b = nn.Linear(64, 64)
        def forward(self, x):
            x = self.flat(x)
            return self.b(self.a(x)) + x

    class PoolsInForward(nn.Module):                # its children run, but stop short of its features
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
        def forward(self, x):
            return self.conv(x).mean(dim=(2, 3))

    class FlattensInForward(nn.Module):             # its children alone cannot run in a chain
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(64, 4)
        def forward(self, x):
            return self.fc(x.flatten(1))

    class Stray(nn.Module):                          # a parameter outside every block
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Flatten(), nn.Linear(64, 4)])
            self.scale = nn.Parameter(torch.ones(1))

    def broken_forward(in_shape):
        return nn.Sequential(nn.Linear(3, 3))

    NOT_CALLABLE = 3
"""


def test_blocks_are_the_top_level_children_or_the_listed_ones(user_module):
    user_module("nets_a", NETS)
    seq = build_backbone("nets_a:sequential", (2, 8, 8))
    assert len(seq.blocks) == 4 and seq.out_dim == 4 and seq.name == "nets_a:sequential"
    listed = build_backbone("nets_a:Listed", (1, 8, 8), width=2.0)
    assert len(listed.blocks) == 3 and listed.out_dim == 16
    assert listed(torch.randn(3, 1, 8, 8)).shape == (3, 16)
    assert build_backbone("nets_a:no_args", (1, 8, 8)).out_dim == 5  # no in_shape parameter: called bare
    net = build_net("nets_a:Listed", (1, 8, 8), 7)
    net.freeze_blocks(1)
    assert not any(p.requires_grad for p in net.backbone.blocks[0].parameters())


def test_building_leaves_the_global_random_state_alone(user_module):
    user_module("nets_b", NETS)
    torch.manual_seed(0)
    state = torch.get_rng_state()
    build_backbone("nets_b:sequential", (1, 8, 8))  # (the factory's own initialisation draws, the check does not)
    torch.set_rng_state(state)
    a = torch.nn.Conv2d(1, 4, 3, padding=1).weight
    torch.manual_seed(0)
    b = torch.nn.Conv2d(1, 4, 3, padding=1).weight
    assert torch.equal(a, b)


@pytest.mark.parametrize("name,message", [
    ("nets_c:raises", "backbone 'nets_c:raises': the factory raised ValueError: needs 3 channels"),
    ("nets_c:not_a_module", "the factory returned a int, expected a torch.nn.Module"),
    ("nets_c:NOT_CALLABLE", "backbone 'nets_c:NOT_CALLABLE' is an int, not a factory"),
    ("nets_c:spatial", r"returned a tensor of shape \(2, 4, 8, 8\); expected a feature tensor of shape "
                       r"\(2, features\): end the network with pooling and nn.Flatten\(\)"),
    ("nets_c:pair", "on a 2x1x8x8 input it returned a tuple; expected a feature tensor"),
    ("nets_c:Residual", r"its blocks run in order do not compute what its forward computes \(other values of "
                        r"the same shape\); expose the blocks"),
    ("nets_c:PoolsInForward", r"its blocks run in order do not compute what its forward computes \(shape "
                              r"\(2, 4, 8, 8\) against \(2, 4\)\); expose the blocks"),
    ("nets_c:Stray", "parameter 'scale' is outside its blocks"),
    ("nets_c:broken_forward", "its forward on a 2x1x8x8 input raised RuntimeError: mat1 and mat2"),
    ("nets_c:FlattensInForward", "running its blocks in order on a 2x1x8x8 input raised RuntimeError: .*; expose "
                                 "the blocks as a 'blocks' list"),
    ("nets_c:missing", r"module 'nets_c' \(.*nets_c.py\) has no attribute 'missing'"),
    ("no_such_module_x:net", "backbone 'no_such_module_x:net': no module named 'no_such_module_x' on PYTHONPATH "
                             "or in the current directory"),
    ("nets_c:", "must look like 'package.module:name'"),
])
def test_wrong_factories_say_what_is_wrong(user_module, name, message):
    user_module("nets_c", NETS)
    with pytest.raises(UserError, match=message):
        build_backbone(name, (1, 8, 8))


def test_width_needs_a_width_parameter(user_module):
    user_module("nets_d", NETS)
    with pytest.raises(UserError, match="width 0.5 asked for, but its factory takes no 'width' parameter"):
        build_backbone("nets_d:sequential", (1, 8, 8), width=0.5)
    with pytest.raises(UserError, match="the CIFAR stem does not apply to 'nets_d:sequential'"):
        build_backbone("nets_d:sequential", (1, 8, 8), cifar_stem=True)


def test_a_module_that_fails_to_import_says_why(user_module):
    user_module("nets_e", "import not_installed_dependency_q\n")
    with pytest.raises(UserError,
                       match="importing module 'nets_e' failed: No module named 'not_installed_dependency_q'"):
        check_backbone_name("nets_e:net")
    user_module("nets_f", "raise RuntimeError('configure me first')\n")
    with pytest.raises(UserError, match="importing module 'nets_f' raised RuntimeError: configure me first"):
        check_backbone_name("nets_f:net")


def test_installed_packages_register_backbones_by_name(user_module, tmp_path):
    user_module("nets_g", NETS)
    dist = tmp_path / "nets_g_pkg-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: nets-g-pkg\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[energybench.backbones]\nmy_listed = nets_g:Listed\n"
                                          "resnet20 = nets_g:no_args\nbroken = nets_g:nowhere\n")
    assert "my_listed" in valid_backbones() and "broken" in valid_backbones()
    assert len(build_backbone("my_listed", (1, 8, 8)).blocks) == 3
    assert build_backbone("resnet20", (1, 8, 8)).name == "resnet20"  # a built-in name is never taken over
    with pytest.raises(UserError, match=r"backbone 'broken' \(registered by nets-g-pkg 1.0\): loading nets_g:nowhere "
                                        "raised AttributeError"):
        build_backbone("broken", (1, 8, 8))
