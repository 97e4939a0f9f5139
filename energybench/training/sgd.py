"""PyTorch's SGD, without importing torch._dynamo.

torch.optim wraps Optimizer.add_param_group (called by every constructor), zero_grad,
state_dict, load_state_dict and each step in torch.compile's guards, and those import
torch._dynamo (with sympy) on their first call: 1.4 s on a 2-core machine, before a run's first
step, in every process that trains (the driver, each Ray worker, a test's subprocess), and no
run here is compiled. This class calls the same functions without the guards: the arithmetic is
torch's own (_single_tensor_sgd on the CPU), the class keeps the name SGD (the op counter's
update table and the optimizer named in a profile go by it), and the global step hooks, which
the op counter counts updates by, still run (Optimizer.__init__ wraps this step in them).
"""

from __future__ import annotations

import inspect

import torch

_Optimizer = torch.optim.Optimizer
# inspect.unwrap: the function under the guard's functools.wraps (the same function if a later
# torch leaves it unguarded; SGD.step may carry Optimizer's profile hook wrapper too)
_STEP = inspect.unwrap(torch.optim.SGD.step)


class SGD(torch.optim.SGD):
    add_param_group = inspect.unwrap(_Optimizer.add_param_group)
    zero_grad = inspect.unwrap(_Optimizer.zero_grad)
    state_dict = inspect.unwrap(_Optimizer.state_dict)
    load_state_dict = inspect.unwrap(_Optimizer.load_state_dict)

    def step(self, closure=None):
        # what torch's guard does outside torch.compile: no autograd graph for the update
        with torch.set_grad_enabled(self.defaults["differentiable"]):
            return _STEP(self, closure)
