"""Counted work must not depend on the device: one training step of each backbone, with and
without a frozen prefix, counted on the CPU and on a CUDA GPU, must give the same forward,
backward-to-input, backward-to-weights and update counts, module by module. cuDNN and the CPU
kernels differ in which helper ops they dispatch (layout copies, workspace views), so those
may differ, and the script lists them; MAC and update counts may not. For transformers the
attention kernels differ too (CPU flash, CUDA flash / memory-efficient / cuDNN): MACs must
still agree. Element-wise ops and ops left uncounted are listed, not required to agree (cuDNN's
batch-norm backward computes every gradient where the CPU's computes only those needed).

    python benchmarks/cuda_count_parity.py [--models tiny_cnn,lenet,resnet20,resnet18,tiny_vit,swin_t] [--json]

Exits 1 when a count differs, 2 when no CUDA device is available.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch
from torch import nn

from energybench.cost.counter import count_step
from energybench.models import build_net

SHAPES = {"tiny_cnn": (1, 8, 8), "lenet": (1, 28, 28), "nin": (3, 32, 32), "resnet20": (3, 32, 32),
          "resnet32": (3, 32, 32), "resnet18": (3, 32, 32), "vgg19": (3, 32, 32), "tiny_vit": (1, 28, 28),
          "swin_t": (3, 32, 32), "vit_b_16": (3, 32, 32)}
TOTALS = ("fwd_macs", "bwd_input_macs", "bwd_weight_macs", "update_mults", "update_adds")


def profile(model: str, device: str, frozen_fraction: float, batch: int = 16) -> dict:
    torch.manual_seed(0)
    shape = SHAPES[model]
    net = build_net(model, shape, 10, cifar_stem=model.startswith(("resnet18", "vgg"))).to(device).train()
    params = list(net.parameters())
    for p in params[: int(len(params) * frozen_fraction)]:  # a frozen prefix, as sharing makes
        p.requires_grad_(False)
    opt = torch.optim.SGD([p for p in params if p.requires_grad], lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, *shape, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,), device=device)

    def step():
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()

    step()  # momentum buffers exist from here on: count the steady-state step
    _, prof = count_step(step, net)
    return {"totals": {k: getattr(prof, k) for k in TOTALS},
            "layers": {layer.name: (layer.fwd_macs, layer.bwd_input_macs, layer.bwd_weight_macs,
                                    layer.trainable_elems) for layer in prof.layers if layer.fwd_macs
                       or layer.weight_elems},  # (layers of element-wise work alone are not MAC layers)
            "elementwise": (prof.ew_fwd_ops, prof.ew_bwd_ops),
            "uncounted": dict(prof.uncounted_ops), "update_source": prof.update_source}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="tiny_cnn,lenet,resnet20,resnet18")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: this check needs one", file=sys.stderr)
        return 2
    rows, bad = [], 0
    for model in args.models.split(","):
        for frozen in (0.0, 0.5):
            cpu, gpu = profile(model, "cpu", frozen), profile(model, "cuda", frozen)
            same = cpu["totals"] == gpu["totals"] and cpu["layers"] == gpu["layers"]
            bad += not same
            rows.append({"model": model, "frozen_param_fraction": frozen, "same_counts": same,
                         "cpu": cpu["totals"], "cuda": gpu["totals"],
                         "elementwise_fwd_bwd_cpu": cpu["elementwise"], "elementwise_fwd_bwd_cuda": gpu["elementwise"],
                         "uncounted_only_cpu": sorted(set(cpu["uncounted"]) - set(gpu["uncounted"])),
                         "uncounted_only_cuda": sorted(set(gpu["uncounted"]) - set(cpu["uncounted"]))})
    if args.json:
        print(json.dumps({"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "rows": rows}, indent=2))
    else:
        print(f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}")
        for r in rows:
            c = r["cuda"]
            print(f"{r['model']:>9} frozen {r['frozen_param_fraction']:.1f}: "
                  f"{'same' if r['same_counts'] else 'DIFFERENT'}"
                  f"  fwd {c['fwd_macs']:,} bwd_in {c['bwd_input_macs']:,} bwd_w {c['bwd_weight_macs']:,}"
                  f" update {c['update_mults'] + c['update_adds']:,}")
            if not r["same_counts"]:
                print(f"           cpu {r['cpu']}")
            if r["elementwise_fwd_bwd_cpu"] != r["elementwise_fwd_bwd_cuda"]:
                print(f"           element-wise ops (fwd, bwd) cpu {r['elementwise_fwd_bwd_cpu']}, "
                      f"cuda {r['elementwise_fwd_bwd_cuda']}")
            if r["uncounted_only_cpu"] or r["uncounted_only_cuda"]:
                print(f"           uncounted ops only on cpu {r['uncounted_only_cpu']}, "
                      f"only on cuda {r['uncounted_only_cuda']}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
