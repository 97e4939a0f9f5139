"""Training-step time with contiguous (NCHW) against channels-last (NHWC) convolution weights
and inputs, per backbone, measured in one process: the reason `build_net` stores networks
channels-last. Steps of the two layouts alternate, so a load change on a shared machine
hits both alike; the figure is the ratio of medians.

    python benchmarks/channels_last.py [--batch-size 64] [--repeats 15] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from energybench.models import build_net

CASES = [("tiny_cnn", (1, 8, 8)), ("lenet", (1, 28, 28)), ("resnet32", (1, 28, 28)), ("resnet20", (3, 32, 32)),
         ("nin", (3, 32, 32))]


def make_step(model: str, shape, batch: int, layout: torch.memory_format):
    torch.manual_seed(0)
    net = build_net(model, shape, 10).train()  # the training layout (models/layout.py)
    if layout == torch.contiguous_format:
        net.to(memory_format=layout)  # never the reverse: it would undo layout.py's NCHW exceptions
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, *shape).contiguous(memory_format=layout)
    y = torch.randint(0, 10, (batch,))

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()

    return step


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"batch {args.batch_size}, {args.threads} thread(s), median of {args.repeats} alternating steps")
    for model, shape in CASES:
        steps = {"nchw": make_step(model, shape, args.batch_size, torch.contiguous_format),
                 "nhwc": make_step(model, shape, args.batch_size, torch.channels_last)}
        times = {k: [] for k in steps}
        for fn in steps.values():  # warm-up: first steps allocate and pick kernels
            fn(), fn()
        for _ in range(args.repeats):
            for k, fn in steps.items():
                t0 = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - t0)
        a, b = (statistics.median(times[k]) * 1e3 for k in ("nchw", "nhwc"))
        print(f"  {model:9s} {'x'.join(map(str, shape)):8s} NCHW {a:8.2f} ms  channels-last {b:8.2f} ms  "
              f"speed-up {a / b:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
