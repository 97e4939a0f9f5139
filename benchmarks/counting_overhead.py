"""Wall-time cost of the op counter: one counted training step vs one plain step, and what
that means for a whole run, where the trainer counts only the first step of each kind.

Run overhead = profiled steps x (counted - plain step time) / (all steps x plain step time).
Per phase the trainer profiles about two step kinds (full batches and the last, partial one),
so a run of P phases profiles ~2P of its P x epochs x steps-per-epoch steps. The target is
far below 2%.

    python benchmarks/counting_overhead.py [--backbone resnet20] [--input 3x32x32] [--batch-size 32]
        [--repeats 5] [--phases 5] [--epochs 30] [--steps-per-epoch 40] [--kinds-per-phase 2]
        [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch import nn

from energybench.commands.cost import parse_shape
from energybench.cost.counter import count_step
from energybench.models import build_net


def make_step(model: str, shape, batch: int, classes: int = 10, device: str = "cpu"):
    """The trainer's step (zero_grad, forward, loss, backward, SGD momentum update)."""
    torch.manual_seed(0)
    net = build_net(model, shape, classes).to(device).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    # as the trainer feeds it
    x = torch.randn(batch, *shape, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, classes, (batch,), device=device)

    def step() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss

    return net, step


def timed(fn) -> float:
    sync = torch.cuda.synchronize if torch.cuda.is_initialized() else (lambda: None)
    sync()  # GPU steps are asynchronous: time them from an idle device to a finished one
    t0 = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backbone", default="resnet20")
    p.add_argument("--input", default="3x32x32")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=5, help="timed steps of each kind, alternating (default 5)")
    p.add_argument("--phases", type=int, default=5)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--steps-per-epoch", type=int, default=40)
    p.add_argument("--kinds-per-phase", type=int, default=2, help="profiled step kinds per phase (default 2)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    net, step = make_step(args.backbone, parse_shape(args.input), args.batch_size, device=args.device)
    step(), count_step(step, net)  # warm up both paths (allocator, lazy imports)
    plain, counted = [], []
    for _ in range(args.repeats):  # alternate so drifting machine load hits both alike
        plain.append(timed(step))
        counted.append(timed(lambda: count_step(step, net)))
    t_plain, t_counted = statistics.median(plain), statistics.median(counted)
    total = args.phases * args.epochs * args.steps_per_epoch
    profiled = args.phases * args.kinds_per_phase
    run_overhead = profiled * max(t_counted - t_plain, 0.0) / (total * t_plain)
    out = {"model": args.backbone, "input": args.input, "batch": args.batch_size, "device": args.device,
           "threads": torch.get_num_threads(),
           "plain_step_s": t_plain, "counted_step_s": t_counted, "step_ratio": t_counted / t_plain,
           "run_steps": total, "profiled_steps": profiled, "run_overhead": run_overhead}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{args.backbone} {args.input} batch {args.batch_size} on {args.device}, {out['threads']} threads,"
              f" median of {args.repeats}:")
        print(f"  plain step   {t_plain * 1e3:9.1f} ms")
        print(f"  counted step {t_counted * 1e3:9.1f} ms  ({out['step_ratio']:.2f}x)")
        print(f"  run of {total} steps, {profiled} profiled: overhead {run_overhead:.4%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
