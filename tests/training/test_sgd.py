"""energybench's SGD: torch's own update, without the torch._dynamo import torch's guards make."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook

from energybench.training.sgd import SGD


def _train(opt_class, **hp):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    opt = opt_class(net.parameters(), **hp)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [2], gamma=0.1)
    x, y = torch.randn(8, 6), torch.randint(0, 3, (8,))
    for _ in range(4):
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
        sched.step()
    return net, opt


@pytest.mark.parametrize("hp", [
    dict(lr=0.1, momentum=0.9, weight_decay=5e-4),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.1, momentum=0.5, dampening=0.2, weight_decay=1e-3),
    dict(lr=0.1),
])
def test_the_same_parameters_and_state_as_torchs_sgd_bit_for_bit(hp):
    ours, ours_opt = _train(SGD, **hp)
    theirs, theirs_opt = _train(torch.optim.SGD, **hp)
    for a, b in zip(ours.parameters(), theirs.parameters()):
        assert torch.equal(a, b)
    a, b = ours_opt.state_dict(), theirs_opt.state_dict()
    assert a["param_groups"] == b["param_groups"]
    assert a["state"].keys() == b["state"].keys() and all(a["state"][k].keys() == b["state"][k].keys()
                                                          for k in b["state"])
    for key in b["state"]:
        for name, value in b["state"][key].items():
            assert torch.equal(a["state"][key][name], value)
    reloaded = SGD(ours.parameters(), lr=1.0)
    reloaded.load_state_dict(theirs_opt.state_dict())
    assert reloaded.param_groups[0]["lr"] == theirs_opt.param_groups[0]["lr"]


def test_the_global_step_hooks_the_op_counter_uses_still_run():
    seen = []
    handle = register_optimizer_step_post_hook(lambda opt, args, kwargs: seen.append(type(opt).__name__))
    try:
        _train(SGD, lr=0.1, momentum=0.9)
    finally:
        handle.remove()
    assert seen == ["SGD"] * 4  # the name the counter's update table goes by


def test_a_training_run_never_imports_torch_dynamo(tmp_path):
    """torch.optim's guards, a dispatch mode's and the meta device's Python references import
    torch._dynamo (1.4 s) on first use; a run (pre-flight check, counted steps, training) needs none."""
    code = ("import sys; from energybench.cli import main; "
            "code = main(['run', '--method', 'finetune,lwf', '--sharing', '0,0.5', '--epochs', '1', '--no-report', "
            f"'--no-power', '--quiet', '--out', {str(tmp_path)!r}]); "
            "print(code, 'torch._dynamo' in sys.modules, 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-3:] == ["0", "False", "True"]
