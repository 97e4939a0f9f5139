"""sharing: incremental learning by partial network sharing (Sarwar et al., ICLR 2018 submission).

The base network is trained on the base classes. For each new class set, the part of the
backbone above the sharing cut is cloned and retrained on the new data only, with the shared
trunk frozen; it becomes a new branch with its own output layer (the new classes only). At
inference the trunk runs once, every branch runs on its output, and the prediction is the
class with the largest softmax probability over all branches (the paper's "updated network").
At sharing 0 the whole network is cloned per class set: the paper's "without sharing".

Which network a branch is cloned from: the paper trains "a clone of the base network" for every
new class set (section 3.4), so the default `clone_from: base` clones the base network's
unshared blocks each time; `clone_from: latest` clones the newest branch instead (features
tuned to the previous class set). The trunk is the base network's either way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from energybench.data.scenario import Phase, take
from energybench.methods.base import Method
from energybench.methods.options import choice
from energybench.models import IncrementalNet
from energybench.models.surgery import branch, cut_at
from energybench.training.trainer import EVAL_BATCH, Batch

CLONE_FROM = ("base", "latest")


class BranchedNet(nn.Module):
    """The base network and its branches; the first `shared_blocks` backbone blocks of every
    branch are the base network's own modules, so the trunk is stored and run once."""

    def __init__(self, base: IncrementalNet):
        super().__init__()
        self.base = base
        self.branches = nn.ModuleList()
        self.shared_blocks = 0

    @property
    def nets(self) -> list[IncrementalNet]:
        return [self.base, *self.branches]

    def branch_logits(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each network's logits over its own classes; the shared trunk runs once."""
        h = self.base.backbone.forward_until(x, self.shared_blocks)
        return [net(h, start=self.shared_blocks) for net in self.nets]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Per-branch softmax probabilities side by side: argmax is the max-softmax rule."""
        return combine(self.branch_logits(x))


def combine(logits: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([F.softmax(z, dim=1) for z in logits], dim=1)


class Sharing(Method):
    name = "sharing"
    description = "partial network sharing: a frozen shared trunk and one cloned, retrained branch per class set"
    options = {"clone_from": choice(*CLONE_FROM)}

    def __init__(self, ctx):
        super().__init__(ctx)
        self.net: BranchedNet | None = None

    def begin_phase(self, phase: Phase) -> None:
        if phase.index == 0:
            # One module holding every branch: evaluate attributes counted work to method.net.
            self.net = BranchedNet(self.new_net(len(phase.classes)))
            return
        net = self.net
        self.cut = cut_at(net.base.backbone, self.ctx.sharing)
        net.shared_blocks = self.cut.blocks
        source = net.branches[-1] if self.opts["clone_from"] == "latest" and len(net.branches) else net.base
        # The trunk is always the base network's blocks: a branch's trunk blocks are the base's
        # very modules, so cloning from the latest branch shares the same ones.
        net.branches.append(branch(source, self.cut, len(phase.classes)))

    def learn(self, phase: Phase) -> None:
        if phase.index == 0:
            self.fit(self.net.base, phase.train_idx, desc=f"{self.name} phase 0")
            return
        first = phase.first_class  # a branch's outputs are its own classes only

        def loss(net: nn.Module, batch: Batch) -> torch.Tensor:
            return F.cross_entropy(net(batch.x, start=batch.start), batch.y - first)

        self.fit(self.net.branches[-1], phase.train_idx, loss, kind="branch_ce",
                 desc=f"{self.name} phase {phase.index}")

    def end_phase(self, phase: Phase) -> None:
        self.extra.update(self.branch_accuracy(phase))

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-branch softmax probabilities over all seen classes (argmax: max-softmax rule)."""
        self.net.eval()
        return {"cnn": self.net(x)}

    @torch.no_grad()
    def branch_accuracy(self, phase: Phase) -> dict[str, float]:
        """Each branch's accuracy on its own classes' test samples, choosing among its own
        classes only (the paper's per-class-set accuracies, Tables 2-3)."""
        self.net.eval()
        scenario, device = self.ctx.scenario, self.ctx.device
        groups = [p.classes for p in scenario.phases[: phase.index + 1]]
        hits = [0] * len(groups)
        counts = [0] * len(groups)
        for i in range(0, len(phase.test_idx), EVAL_BATCH):
            x, y = take(scenario, "test", phase.test_idx[i:i + EVAL_BATCH])
            logits = self.net.branch_logits(x.to(device))
            for k, (classes, z) in enumerate(zip(groups, logits)):
                mine = (y >= classes[0]) & (y <= classes[-1])
                pred = z[mine.to(z.device)].argmax(1).cpu() + classes[0]
                hits[k] += int((pred == y[mine]).sum())
                counts[k] += int(mine.sum())
        return {f"branch{k}_acc": 100.0 * h / n if n else float("nan") for k, (h, n) in enumerate(zip(hits, counts))}

    def storage_modules(self) -> list[nn.Module]:
        # Every branch holds the trunk's very tensors, so storage counts the trunk once.
        return [self.net]
