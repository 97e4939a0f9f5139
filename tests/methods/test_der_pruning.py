"""DER's mask-based pruning (methods/der_pruning.py) on a quarter-width tiny_cnn (digits 8x8).

tiny_cnn at width 0.25 (blocks: conv 1->4, conv 4->8 + pool, conv 8->16 + pool, linear 16->16, every
conv 3x3 with batch norm): the three convs are masked (the linear makes the features). Pruned to
KEPT = 2, 5, 10 channels:
    conv 1->2:  2*9 = 18 weights + 2*2 BN  = 22      MACs 8*8 * 1*2*9  = 1152
    conv 2->5:  2*5*9 = 90 + 5*2           = 100     MACs 8*8 * 2*5*9  = 5760
    conv 5->10: 5*10*9 = 450 + 10*2        = 470     MACs 4*4 * 5*10*9 = 7200
    linear 10->16: 160 + 16                = 176     MACs 160
    -> P' = 768 parameters, M' = 14272 MACs (whole: P = 1804, M = 39424).
"""

import pytest
import torch

from energybench.cli import main
from energybench.cost.counter import count_forward
from energybench.errors import UserError
from energybench.methods import der_pruning
from energybench.methods.der import DER
from energybench.models.resnet_cifar import cifar_resnet
from energybench.models.small_nets import tiny_cnn
from energybench.models.transformers import tiny_vit

from .digits_ctx import make_ctx
from .test_expansion import D, M, P, params, per_sample_eval, run_phases, train_profile

KEPT = [2, 5, 10]
P_PRUNED, M_PRUNED = 768, 14272


def branch():
    torch.manual_seed(0)
    return torch.nn.Sequential(*tiny_cnn((1, 8, 8), 0.25).blocks)


def set_masks(pruner, kept):
    """Embeddings +1 on the first `k` channels of each mask, -1 elsewhere: at s_max = 400 the masks
    are 1 and 0 to float precision, so exactly the first `k` survive."""
    with torch.no_grad():
        for site, k in zip(pruner.sites, kept):
            site.mask.e.fill_(-1.0)
            site.mask.e[:k] = 1.0


def test_pruning_a_branch_to_known_channels_gives_the_hand_counted_parameters_and_macs():
    net = branch().eval()
    pruner = der_pruning.Pruner(net, s_max=400.0, weight=1.0, threshold=0.5)
    pruner.attach()
    assert len(pruner.sites) == 3
    set_masks(pruner, KEPT)
    x = torch.randn(5, 1, 8, 8)
    masked = net(x)
    assert pruner.prune() == KEPT
    assert sum(p.numel() for p in net.parameters()) == P_PRUNED
    out, prof = count_forward(lambda: net(x), net)
    assert prof.fwd_macs == 5 * M_PRUNED
    assert torch.allclose(out, masked, atol=1e-5)  # the kept masks were folded in: same function
    assert not any(isinstance(m, der_pruning.ChannelMask) for m in net.modules())


def test_a_residual_network_prunes_the_inner_channels_of_each_basic_block():
    """resnet8 at width 0.25 on 3x8x8: stem conv 3->4, blocks 4->4, 4->8 (stride 2), 8->16 (stride 2), the
    latter two with a 1x1 projection. Only each block's inner channels (conv1 -> conv2) are masked;
    kept 1, 2, 3 of 4, 8, 16:
        stem 3*4*9 + 8 = 116                      MACs 64 * 3*4*9 = 6912
        block 1: 4*1*9 + 2 + 1*4*9 + 8 = 82       MACs 64 * (36 + 36) = 4608
        block 2: 4*2*9 + 4 + 2*8*9 + 16 + 32 + 16 = 284    MACs 16 * (72 + 144 + 32) = 3968
        block 3: 8*3*9 + 6 + 3*16*9 + 32 + 128 + 32 = 846  MACs 4 * (216 + 432 + 128) = 3104
    -> 1328 parameters, 18592 MACs."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(*cifar_resnet(8, (3, 8, 8), 0.25).blocks).eval()
    pruner = der_pruning.Pruner(net, s_max=400.0, weight=1.0, threshold=0.5)
    pruner.attach()
    set_masks(pruner, [1, 2, 3])
    x = torch.randn(2, 3, 8, 8)
    masked = net(x)
    assert pruner.prune() == [1, 2, 3]
    assert sum(p.numel() for p in net.parameters()) == 1328
    out, prof = count_forward(lambda: net(x), net)
    assert prof.fwd_macs == 2 * 18592
    assert torch.allclose(out, masked, atol=1e-5)


def test_sparsity_loss_is_the_parameter_weighted_fraction_in_use():
    pruner = der_pruning.Pruner(branch(), s_max=400.0, weight=1.0, threshold=0.5)
    pruner.attach()
    set_masks(pruner, KEPT)
    # masked layers' weights: conv 4*9 + 4*8*9 + 8*16*9 + linear 16*16 = 36 + 288 + 1152 + 256 = 1732;
    # in use: 2*9 + 2*5*9 + 5*10*9 + 10*16 = 18 + 90 + 450 + 160 = 718
    assert pruner.sparsity().item() == pytest.approx(718 / 1732)
    pruner.scale.at(0, 10)  # the first batch of an epoch: s = 1/s_max, masks near 0.5
    assert pruner.scale.s == pytest.approx(1 / 400)
    pruner.scale.at(9, 10)
    assert pruner.scale.s == pytest.approx(400)


def test_the_embedding_gradient_is_compensated_as_in_hat():
    """The embedding's gradient is s_max sigmoid'(e) dL/dm, not s sigmoid'(s e) (at s = 5, e = -1: 400 x 0.197
    against 5 x 0.0066)."""
    scale = der_pruning.Scale(400.0)
    scale.s = 5.0
    mask = der_pruning.ChannelMask(2, scale, torch.zeros(1))
    with torch.no_grad():
        mask.e.copy_(torch.tensor([-1.0, 1.0]))
    mask.values().sum().backward()
    e = torch.tensor([-1.0, 1.0])
    assert torch.allclose(mask.e.grad, 400 * torch.sigmoid(e) * (1 - torch.sigmoid(e)))


class FixedMasks(der_pruning.Pruner):
    """The Pruner with embeddings set to keep KEPT channels and held there: a known pruning."""

    def attach(self):
        super().attach()
        set_masks(self, KEPT)
        for site in self.sites:
            site.mask.e.requires_grad_(False)


def test_der_with_pruning_stores_and_runs_the_pruned_extractor_in_every_later_phase(tmp_path, monkeypatch):
    monkeypatch.setattr(der_pruning, "Pruner", FixedMasks)
    ctx = make_ctx(tmp_path, width=0.25, memory_per_class=2)
    method = DER(ctx)
    method.opts = DER.check_options({"prune": True, "sparsity_weight": 0})
    run_phases(method, 2)
    assert method.kept_channels == KEPT
    # on the phase's rows: masks on the 4, 8 and 16 channels of the new extractor's convolutions, 2 + 5 + 10 kept
    assert {k: method.extra[k] for k in ("masked_channels", "pruned_channels")} == {"masked_channels": 28,
                                                                                   "pruned_channels": 11}
    # masked training: both extractors' MACs as without masks (the masks are element-wise work,
    # counted as such); head 32->7, aux 16->4
    fwd, _, _ = train_profile(ctx, "der_masked")
    assert fwd == 2 * M + 32 * 7 + D * 4
    plain = make_ctx(tmp_path / "plain", width=0.25, memory_per_class=2)
    run_phases(DER(plain), 2)
    masked_ew = next(p for k, p in ctx.trainer.profiles.items() if k[1] == "der_masked").ew_fwd_ops
    plain_ew = next(p for k, p in plain.trainer.profiles.items() if k[1] == "der").ew_fwd_ops
    assert masked_ew > plain_ew
    # stored and run: the whole phase-0 extractor, the pruned one, a head 32->7
    assert params(method) == P + P_PRUNED + 33 * 7
    assert per_sample_eval(method) == M + M_PRUNED + 32 * 7
    run_phases_from(method, 2)
    # phase 2 trains a new whole extractor (a copy of the phase-0 one) beside the two; head 48->10
    masked = [p for k, p in ctx.trainer.profiles.items() if k[0] == "train" and k[1] == "der_masked"]
    # per sample, phase 1's steps and phase 2's (each phase has a full batch and a last, smaller one)
    assert {p.fwd_macs / p.batch_size for p in masked} == {2 * M + 32 * 7 + D * 4, 2 * M + M_PRUNED + 48 * 10 + D * 4}
    assert params(method) == P + 2 * P_PRUNED + 49 * 10


def test_with_a_memory_budget_the_exemplars_take_what_pruning_frees(tmp_path, monkeypatch):
    monkeypatch.setattr(der_pruning, "Pruner", FixedMasks)
    ctx = make_ctx(tmp_path, width=0.25, memory_budget=40000)
    method = DER(ctx)
    method.opts = DER.check_options({"prune": True})
    run_phases(method, 2)
    # the stored model: the whole extractor, the pruned one and a head 32->7, at 4 bytes; 64-byte exemplars
    # (before pruning the budget left (40000 - 4 * (2 * 1804 + 231)) // 64 = 385)
    assert method.memory.total == (40000 - 4 * (P + P_PRUNED + 33 * 7)) // 64 == 449


def run_phases_from(method, start):
    for phase in method.ctx.scenario.phases[start:]:
        method.ctx.trainer.begin_phase()
        method.begin_phase(phase)
        method.learn(phase)
        method.end_phase(phase)


def test_pruning_is_deterministic_under_a_seed(tmp_path):
    states = []
    for run in range(2):
        torch.manual_seed(0)  # the run's seed, as the cell sets it
        ctx = make_ctx(tmp_path / str(run), width=0.25, memory_per_class=2)
        method = DER(ctx)
        method.opts = DER.check_options({"prune": True, "sparsity_weight": 1})
        run_phases(method, 2)
        states.append((method.kept_channels, method.net.state_dict()))
    assert states[0][0] == states[1][0] and sum(states[0][0]) < 4 + 8 + 16  # the pull removed channels
    assert states[0][1].keys() == states[1][1].keys()
    assert all(torch.equal(states[0][1][k], states[1][1][k]) for k in states[0][1])


def test_pruning_off_is_the_default_and_trains_no_masks(tmp_path):
    assert DER.check_options({})["prune"] is False
    ctx = make_ctx(tmp_path, width=0.25, memory_per_class=2)
    run_phases(DER(ctx), 2)
    assert {k[1] for k in ctx.trainer.profiles if k[0] == "train"} == {"der_ce", "der"}


def test_a_backbone_that_cannot_be_pruned_is_refused_naming_the_module():
    torch.manual_seed(0)
    vit = torch.nn.Sequential(*tiny_vit((1, 28, 28), 1.0)[0].blocks)
    with pytest.raises(UserError, match="cannot prune a .*prune: false"):
        der_pruning.plan(vit)


def test_an_invalid_pruning_option_exits_2_naming_the_value(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("methods: [der]\noptions: {der: {prune: true, prune_threshold: 1.5}}\n")
    code = main(["run", str(config), "--out", str(tmp_path / "runs"), "--run-id", "r", "--no-report", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "option 'prune_threshold' of method der must be a finite number > 0 and < 1, got 1.5" in err
    assert not (tmp_path / "runs").exists()
