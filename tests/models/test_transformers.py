"""Vision transformers as block lists: the same computation as torchvision's models, cuts on
encoder-block boundaries, and local weights loaded by torchvision's or energybench's key names."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.models.vision_transformer import VisionTransformer

from energybench.errors import UserError
from energybench.models import build_backbone, build_net
from energybench.models.surgery import boundaries, cut_at
from energybench.models.transformers import TINY_VIT, swin_t, tiny_vit, vit


def test_vit_blocks_compute_torchvisions_features():
    torch.manual_seed(0)
    bb, source = vit("vit_b_32", (3, 64, 64))
    assert len(bb.blocks) == 1 + 12 + 1 and bb.out_dim == 768
    source.heads = nn.Identity()  # torchvision's class-token features, before its classifier
    source.eval(), bb.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(bb(x), source(x))
    # every Parameter of the backbone is torchvision's own (the same tensors, not copies)
    assert {id(p) for p in bb.parameters()} <= {id(p) for p in source.parameters()}


def test_swin_blocks_compute_torchvisions_features():
    torch.manual_seed(0)
    bb, source = swin_t((3, 32, 32))
    # patch embedding, 2 + 2 + 6 + 2 Swin blocks (a merging travels with its stage's first block), final norm
    assert len(bb.blocks) == 1 + 12 + 1 and bb.out_dim == 768
    source.head = nn.Identity()
    source.eval(), bb.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(bb(x), source(x))


@pytest.mark.parametrize("shape,tokens", [((1, 28, 28), 7 * 7), ((3, 32, 32), 8 * 8)])
def test_tiny_vit_sizes(shape, tokens):
    bb, _ = tiny_vit(shape)
    assert len(bb.blocks) == 8 and bb.out_dim == 64
    assert bb.blocks[0].pos_embedding.shape == (1, tokens + 1, 64)
    assert bb(torch.randn(2, *shape)).shape == (2, 64)
    wide, _ = tiny_vit(shape, width=2.0)
    assert wide.out_dim == 128 and wide.blocks[1].mlp[0].out_features == 256


def test_cuts_fall_on_encoder_block_boundaries():
    bb = build_backbone("tiny_vit", (1, 28, 28))
    sizes = bb.block_params()
    embed, block, norm = sizes[0], sizes[1], sizes[-1]
    assert sizes[1:-1] == [block] * 6 and norm == 2 * 64
    # conv 1x4x4 -> 64 (+ bias), class token, position embedding for 50 tokens
    assert embed == 16 * 64 + 64 + 64 + 50 * 64
    total = sum(sizes)
    assert boundaries(bb)[1:3] == [embed / total, (embed + block) / total]
    cut = cut_at(bb, 0.5)
    assert cut.blocks == 4 and cut.achieved == pytest.approx((embed + 3 * block) / total)


@pytest.mark.parametrize("name,shape,message", [
    ("vit_b_16", (3, 32, 48), "needs square inputs, got 32x48"),
    ("vit_b_16", (3, 40, 40), "the input side must be a multiple of 16, got 40"),
    ("tiny_vit", (1, 30, 30), "multiple of 4, got 30"),
])
def test_input_sizes_a_transformer_cannot_take(name, shape, message):
    with pytest.raises(UserError, match=f"backbone '{name}' cannot take input .*{message}"):
        build_backbone(name, shape)


def test_one_channel_inputs_get_their_own_patch_convolution():
    with torch.device("meta"):
        bb = build_backbone("vit_b_16", (1, 32, 32))
        assert bb.blocks[0].conv_proj.weight.shape == (768, 1, 16, 16)
        assert bb(torch.randn(1, 1, 32, 32)).shape == (1, 768)


def test_torchvision_checkpoint_loads_by_its_own_names(tmp_path):
    torch.manual_seed(1)
    trained = VisionTransformer(image_size=32, num_classes=1000, **TINY_VIT)  # tiny_vit's torchvision model
    for p in trained.parameters():
        p.data.normal_()
    path = tmp_path / "vit.pth"
    torch.save(trained.state_dict(), path)  # torchvision's keys, its 1000-class head included
    bb = build_backbone("tiny_vit", (3, 32, 32), weights=str(path))
    assert torch.equal(bb.blocks[0].conv_proj.weight, trained.conv_proj.weight)
    assert torch.equal(bb.blocks[0].pos_embedding, trained.encoder.pos_embedding)
    assert torch.equal(bb.blocks[5].mlp[3].bias, trained.encoder.layers[4].mlp[3].bias)
    assert torch.equal(bb.blocks[-1].ln.weight, trained.encoder.ln.weight)


def test_backbone_state_dict_loads_back(tmp_path):
    torch.manual_seed(2)
    net = build_net("tiny_vit", (1, 28, 28), 4)
    path = tmp_path / "bb.pt"
    torch.save(net.backbone.state_dict(), path)
    again = build_net("tiny_vit", (1, 28, 28), 4, weights=str(path))
    for (k, a), b in zip(net.backbone.state_dict().items(), again.backbone.state_dict().values()):
        assert torch.equal(a, b), k


def test_bad_weights_files_are_clear(tmp_path):
    shape = (1, 28, 28)
    missing = tmp_path / "missing.pt"
    with pytest.raises(UserError, match="does not exist"):
        build_backbone("tiny_vit", shape, weights=str(missing))
    partial = tmp_path / "partial.pt"
    state = build_backbone("tiny_vit", shape).state_dict()
    torch.save({k: v for k, v in state.items() if not k.startswith("blocks.3.")}, partial)
    with pytest.raises(UserError, match=r"lacks \d+ of the backbone's \d+ tensors, e.g. 'blocks.3.ln_1.weight'"):
        build_backbone("tiny_vit", shape, weights=str(partial))
    other = tmp_path / "other.pt"
    torch.save(build_backbone("tiny_vit", (1, 32, 32)).state_dict(), other)  # 65 position embeddings, not 50
    with pytest.raises(UserError, match=r"'blocks.0.pos_embedding' has shape \(1, 65, 64\), the backbone's has "
                                        r"\(1, 50, 64\)"):
        build_backbone("tiny_vit", shape, weights=str(other))
    extra = tmp_path / "extra.pt"
    torch.save({**state, "blocks.9.weight": torch.zeros(1)}, extra)
    with pytest.raises(UserError, match="tensors the network lacks, e.g. 'blocks.9.weight'"):
        build_backbone("tiny_vit", shape, weights=str(extra))


class Payload:
    """Anything but tensors: weights_only=True refuses to unpickle it."""

    def __reduce__(self):
        return (print, ("this must never run",))


def test_a_weights_file_never_runs_code(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"blocks.0.conv_proj.weight": Payload()}, path)
    with pytest.raises(UserError, match="is not a loadable state dict"):
        build_backbone("tiny_vit", (1, 28, 28), weights=str(path))
    assert "this must never run" not in capsys.readouterr().out
