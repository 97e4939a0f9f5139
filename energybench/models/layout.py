"""The memory layout a network trains in: channels-last, except where oneDNN is unsafe.

Channels-last weights and activations train 1.0-1.46x (mostly 1.15-1.3x) faster on CPU for the small backbones
(benchmarks/channels_last.py); copies and checkpoints keep the layout. The exception: oneDNN
computes the weight gradient of a 1x1 strided convolution in channels-last (nhwc) layout through
a "reduce to unit stride" workspace sized for the input channels but written a whole channel
block at a time, so with fewer input channels than a block (8 on AVX2, 16 on AVX-512) the
backward pass writes past it: heap corruption, a hang or wrong weight gradients
(uxlfoundation/oneDNN#6035). Seen here with torch 2.14.1 on AVX2 for 2-7 input channels, e.g.
ResNet-20's shortcut at width 0.25 on 28x28 inputs; at width 0.5 it would hit AVX-512 machines.
Those convolutions keep NCHW weights and, on the CPU, are fed NCHW inputs (a copy of a small tensor).
"""

from __future__ import annotations

import torch
from torch import nn

# Above AVX-512's 16-channel f32 block, with margin for wider blocks; costs a layout copy only.
SAFE_CHANNELS = 32


def unsafe_in_channels_last(module: nn.Module) -> bool:
    """A 1x1 strided convolution with too few input channels for oneDNN's nhwc backward."""
    return (isinstance(module, nn.Conv2d) and module.kernel_size == (1, 1) and module.stride != (1, 1)
            and module.in_channels < SAFE_CHANNELS)


def _nchw_input(module: nn.Module, args: tuple) -> tuple | None:
    # A module-level function, not a lambda: hooks travel with deepcopy and pickling.
    # oneDNN runs on the CPU only; elsewhere (cuDNN) the input is left as it is.
    x = args[0]
    return (x.contiguous(), *args[1:]) if x.device.type == "cpu" else None


def to_training_layout(net: nn.Module) -> nn.Module:
    """Convert `net` to channels-last in place, keeping the unsafe convolutions NCHW."""
    net.to(memory_format=torch.channels_last)
    for module in net.modules():
        if unsafe_in_channels_last(module):
            # clone, not contiguous(): a 1x1 kernel counts as contiguous in either layout,
            # and its channels-last strides still steer the convolution to nhwc.
            module.weight.data = module.weight.data.clone(memory_format=torch.contiguous_format)
            module.register_forward_pre_hook(_nchw_input)
    return net
