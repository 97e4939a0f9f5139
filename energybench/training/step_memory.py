"""Whether one training step can fit in memory, asked before it runs: a step too large for the
machine's RAM is otherwise ended by the kernel's OOM killer, with no message, once it has filled it.

The bound is a floor, never a guess: every storage a step must hold at once when its forward ends,
each counted once (the parameters and buffers, the input, and every tensor autograd saves for the
backward), found by running the forward on the meta device, where only shapes exist, or on a few
samples (step_profile.check_step_memory).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

MEMINFO = Path("/proc/meminfo")


def held_at_forward_end(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    """Bytes alive together when the forward of a cross-entropy step of `net` on (x, y) ends:
    every distinct storage among its parameters, buffers, input and saved tensors (on the meta
    device, shapes only; on a real one, that forward runs)."""
    storages: dict[int, int] = {}

    def keep(t: torch.Tensor) -> None:
        s = t.untyped_storage()
        storages[s._cdata] = s.nbytes()  # a view and its base share one storage: counted once

    for t in (*net.parameters(), *net.buffers(), x, y):
        keep(t)

    def pack(t: torch.Tensor) -> torch.Tensor:
        keep(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        nn.functional.cross_entropy(net(x), y)
    return sum(storages.values())


def free_bytes(device: torch.device) -> int | None:
    """Memory a new allocation on `device` can take now: CUDA's free memory, the kernel's
    MemAvailable for the CPU on Linux; None where it cannot be read (the step then just runs)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    if device.type != "cpu":
        return None
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        return None
    return None
