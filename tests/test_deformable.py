"""Deformable attention (DAT-style) and deformable heads inside MW-MHA (docs/design.md §D25)."""

import numpy as np
import pytest
import torch

import hear_mwmae
from hear_mwmae import MaskedAutoencoder, get_config
from hear_mwmae.attention import DEFORMABLE, MultiWindowAttention
from hear_mwmae.deformable import (DeformableAttention, bilinear_sample, bilinear_weights, reference_points,
                                   sample_positions)

# Every grid the configs allow: 4x16 -> 50x5, 8x16 -> 25x5, 8x8 -> 25x10, 4x8 -> 50x10, 5x5 -> 40x16.
GRIDS = [(50, 5), (25, 5), (25, 10), (50, 10), (40, 16)]


def _plain_attention(module: DeformableAttention, x: torch.Tensor) -> torch.Tensor:
    """Multi-head attention over all tokens with the module's own projections (no bias)."""
    b, n, d = x.shape
    h, hd = module.num_heads, module.head_dim
    q = module.q(x).view(b, n, h, hd).transpose(1, 2)
    k, v = module.kv(x).view(b, n, 2, h, hd).permute(2, 0, 3, 1, 4)
    attn = ((q @ k.transpose(-2, -1)) / hd**0.5).softmax(-1)
    return module.proj((attn @ v).transpose(1, 2).reshape(b, n, d))


@pytest.mark.parametrize("grid", GRIDS)
def test_zero_offsets_stride_1_no_bias_equal_plain_attention(grid):
    torch.manual_seed(0)
    module = DeformableAttention(32, 4, grid, groups=2, stride=(1, 1), position_bias=False).eval()
    x = torch.randn(2, grid[0] * grid[1], 32)
    with torch.no_grad():
        out, info = module(x, return_info=True)  # a fresh offset network outputs exactly zero
        torch.testing.assert_close(out, _plain_attention(module, x), atol=1e-5, rtol=1e-5)
    assert torch.equal(info["offsets"], torch.zeros_like(info["offsets"]))
    assert info["positions"].shape == (2, 2, grid[0] * grid[1], 2) and info["attention"].shape[-1] == grid[0] * grid[1]


def test_bilinear_sampling_matches_hand_computed_values():
    # A 3 x 4 map whose value at (t, f) is 10 t + f (+ a second channel 100 - value): bilinear reads
    # of a linear function are exact, and the corners are the cells themselves.
    t, f = torch.meshgrid(torch.arange(3.0), torch.arange(4.0), indexing="ij")
    value = 10 * t + f
    maps = torch.stack([value, 100 - value])[None]  # (1, 2, 3, 4)
    points = torch.tensor([[[0.0, 0.0], [2.0, 3.0], [0.5, 0.5], [1.25, 2.75], [2.0, 0.4]]])
    got = bilinear_sample(maps, points)[0]  # (5, 2)
    expected = torch.tensor([[0.0, 100.0], [23.0, 77.0], [5.5, 94.5], [15.25, 84.75], [20.4, 79.6]])
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    # The token weights of a read: (0.5, 0.5) mixes tokens 0, 1, 4, 5 equally; rows sum to 1.
    w = bilinear_weights(points, (3, 4))[0]
    torch.testing.assert_close(w.sum(-1), torch.ones(5))
    torch.testing.assert_close(w[2, [0, 1, 4, 5]], torch.full((4,), 0.25))
    torch.testing.assert_close(w @ maps[0].reshape(2, -1).T, expected, atol=1e-4, rtol=0)


def test_offsets_are_bounded_clamped_and_tiny_axes_stay_put():
    raw = torch.full((1, 5, 1, 2), 50.0)  # huge raw offsets on a 5 x 1 grid
    pos = sample_positions(raw, (5, 1), (1, 1), offset_range=2.0)
    assert torch.equal(pos[..., 1], torch.zeros_like(pos[..., 1]))  # the 1-token axis never moves
    ref = reference_points((5, 1), (1, 1))
    assert (pos[..., 0] - ref[None, ..., 0]).max() <= 2.0 + 1e-6 and pos[..., 0].max() <= 4  # s cells, inside
    unbounded = sample_positions(raw, (5, 1), (1, 1), offset_range=-1.0)
    assert unbounded[..., 0].max() == 4 and unbounded[..., 0].min() == 4  # clamped to the grid's end
    strided = reference_points((50, 5), (4, 2))
    assert strided.shape == (13, 3, 2) and strided[1, 1].tolist() == [4.0, 2.0]


def test_gradients_reach_the_offset_network():
    torch.manual_seed(0)
    module = DeformableAttention(32, 4, (50, 5), groups=2, stride=(2, 1))
    with torch.no_grad():  # leave zero, so that the offsets (and their effect) are not trivially 0
        module.offset_net.proj.weight.normal_(std=0.1)
    x = torch.randn(2, 250, 32)
    module(x).square().mean().backward()
    for name, p in module.named_parameters():
        if name.startswith("offset_net"):
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert module.bias.table.grad.abs().sum() > 0


def test_impossible_configurations_fail_clearly():
    with pytest.raises(ValueError, match="offset groups"):
        DeformableAttention(32, 4, (50, 5), groups=3)
    with pytest.raises(ValueError, match="needs 250 tokens"):
        DeformableAttention(32, 4, (50, 5))(torch.randn(1, 251, 32))
    with pytest.raises(ValueError, match="full token grid"):
        get_config("mwmae_tiny", encoder_window_sizes=(0, 0, DEFORMABLE))
    with pytest.raises(ValueError, match="use_cls_token"):
        get_config("mwmae_tiny_deform", use_cls_token=True)
    with pytest.raises(ValueError, match="token grid"):
        MultiWindowAttention(32, 2, (0, DEFORMABLE))
    with pytest.raises(ValueError, match="deform_stride"):
        get_config("mwmae_tiny_deform", deform_stride=(0, 1))


@pytest.mark.parametrize("grid", GRIDS)
def test_deformable_head_in_mw_mha_fused_equals_explicit_and_global_at_zero(grid):
    torch.manual_seed(0)
    n = grid[0] * grid[1]
    mw = MultiWindowAttention(32, 4, (grid[1], 0, DEFORMABLE, DEFORMABLE), grid=grid, deform_stride=(1, 1))
    reference = MultiWindowAttention(32, 4, (grid[1], 0, 0, 0))
    reference.load_state_dict(mw.state_dict(), strict=False)
    with torch.no_grad():
        mw.deformable_bias.table.zero_()
        x = torch.randn(2, n, 32)
        torch.testing.assert_close(mw(x), reference(x), atol=1e-5, rtol=1e-5)  # zero offsets and bias: global
        mw.offset_net.proj.weight.normal_(std=0.2)
        mw.deformable_bias.table.normal_(std=0.1)
        fused = mw(x)
        explicit, attn = mw(x, return_attention=True)
    torch.testing.assert_close(fused, explicit, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(attn.sum(-1), torch.ones(2, 4, n), atol=1e-5, rtol=0)
    assert mw.last_sample_positions.shape == (2, 2, n, 2)
    assert not torch.allclose(fused, reference(x), atol=1e-3)  # the offsets do move the samples


def test_deform_config_trains_exports_and_loads(tmp_path):
    cfg = get_config("mwmae_tiny_deform", depth=1, decoder_depth=1)
    assert cfg.decoder_window_sizes == (2, 5, 10, 25, 50, 125, 0, DEFORMABLE)
    assert "mwmae_tiny_4x16_384d-8h-4l-deform" in hear_mwmae.list_configs()
    torch.manual_seed(0)
    model = MaskedAutoencoder(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(2, 200, 80)
    before = model.decoder.blocks[0].attn.offset_net.proj.weight.detach().clone()
    for _ in range(2):
        loss, _, _ = model(x)
        loss.backward()
        opt.step()
        opt.zero_grad()
    assert not torch.equal(before, model.decoder.blocks[0].attn.offset_net.proj.weight)
    model.eval().save_pretrained(tmp_path / "m")
    back = hear_mwmae.load_model(str(tmp_path / "m"))  # the HEAR path runs the encoder only
    assert back.config.decoder_window_sizes[-1] == DEFORMABLE
    loaded = MaskedAutoencoder.from_pretrained(str(tmp_path / "m"))
    noise = torch.rand(2, 250)
    with torch.no_grad():
        a, b = model(x, noise=noise)[0], loaded(x, noise=noise)[0]
    assert float(a) == float(b)
    assert np.isfinite(float(a))


def _moved(model):
    """The model with its offset networks' last conv randomised (a fresh one gives zero offsets)."""
    torch.manual_seed(3)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "offset_net.proj" in name:
                p.normal_(std=0.5)
    return model.eval()


@pytest.mark.parametrize("config", ["mwmae_tiny_deform", "datar_tiny"])
def test_analyze_deform_writes_positions_offsets_and_figures(config, tmp_path):
    from hear_mwmae.checkpoint import model_class
    from hear_mwmae.cli import main

    cfg = get_config(config, **({"depth": 1, "decoder_depth": 2} if config.startswith("mwmae") else {}))
    folder = tmp_path / "model"
    _moved(model_class(cfg)(cfg)).save_pretrained(folder)
    out = tmp_path / "an"
    assert main(["analyze", "deform", "--model", str(folder), "--n-clips", "3", "--out", str(out), "--quiet"]) == 0
    data = np.load(out / "deform.npz")
    layers = 2 if config.startswith("mwmae") else 3
    assert data["dt_ms"].shape == (layers,) and (data["dt_ms"] > 0).all()  # the offsets moved the samples
    assert data["dt_ms_per_clip"].shape == (layers, 3)
    pos, ref = data["positions_1"], data["references_1"]
    assert pos.shape[0] == 3 and pos.shape[-1] == 2 and pos.shape[2] == ref.shape[0]
    assert (out / "deform_points.png").stat().st_size > 1000 and (out / "deform_offsets.png").stat().st_size > 1000


def test_attention_analysis_covers_deformable_heads(tmp_path):
    """analyze attention on a deform model: the deformable head's spread weights are a distribution,
    and its distance is computed like any head's."""
    from hear_mwmae.cli import main

    cfg = get_config("mwmae_tiny_deform", depth=1, decoder_depth=1)
    _moved(MaskedAutoencoder(cfg)).save_pretrained(tmp_path / "m")
    out = tmp_path / "an"
    assert main(["analyze", "attention", "--model", str(tmp_path / "m"), "--part", "decoder", "--n-clips", "2",
                 "--no-plots", "--out", str(out), "--quiet"]) == 0
    data = np.load(out / "attention_decoder.npz")
    assert data["entropy"].shape == (1, 8) and np.isfinite(data["dist_time"]).all()
    assert data["dist_time"][0, 7] > 0  # the deformable head (last) attends beyond its own time step
