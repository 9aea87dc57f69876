import numpy as np
import pytest
import torch

from hear_mwmae import MaskedAutoencoder, get_config
from hear_mwmae.embed import patchify, sincos_2d, unpatchify
from hear_mwmae.masking import num_kept, random_masking


@pytest.fixture(scope="module", params=["mwmae_tiny", "mae_tiny"])
def tiny(request):
    torch.manual_seed(0)
    return MaskedAutoencoder(get_config(request.param, depth=2, decoder_depth=2))


def test_forward_backward_shapes(tiny):
    x = torch.randn(2, 200, 80)
    loss, pred, mask = tiny(x)
    assert pred.shape == (2, 250, 64) and mask.shape == (2, 250)
    assert torch.isfinite(loss)
    assert mask.sum(1).tolist() == [200.0, 200.0]
    loss.backward()
    missing = [n for n, p in tiny.named_parameters() if p.grad is None]
    assert missing == []  # every parameter (pos tables, tokens, bias tables) is trained


def test_masking_contract():
    torch.manual_seed(0)
    x = torch.randn(3, 250, 8)
    noise = torch.rand(3, 250)
    kept, mask, ids_restore = random_masking(x, 0.8, noise)
    assert num_kept(250, 0.8) == 50 and kept.shape == (3, 50, 8)
    order = noise.argsort(1)
    torch.testing.assert_close(kept, torch.gather(x, 1, order[:, :50, None].expand(-1, -1, 8)))
    torch.testing.assert_close(torch.gather(order, 1, ids_restore), torch.arange(250).expand(3, -1))
    assert ((mask == 0).nonzero()[:, 1].view(3, 50).sort(1).values == order[:, :50].sort(1).values).all()
    with pytest.raises(ValueError, match="noise must have shape"):
        random_masking(x, 0.8, torch.rand(3, 10))


def test_injected_noise_is_deterministic(tiny):
    x = torch.randn(2, 200, 80)
    noise = torch.rand(2, 250)
    with torch.no_grad():
        a, b = tiny(x, noise=noise), tiny(x, noise=noise)
    torch.testing.assert_close(a[1], b[1])


def test_patchify_round_trip_and_order():
    x = torch.arange(200 * 80, dtype=torch.float32).view(1, 200, 80)
    p = patchify(x, (4, 16))
    # token 6 = (t=1, f=1): frames 4..7, mel bins 16..31, time-in-patch major
    np.testing.assert_array_equal(p[0, 6].view(4, 16).numpy(), x[0, 4:8, 16:32].numpy())
    torch.testing.assert_close(unpatchify(p, (4, 16), (50, 5)), x)


def test_sincos_layout_frequency_first():
    table = sincos_2d(8, (50, 5))
    # row n = 5 t + f; first half depends on f only, second half on t only.
    np.testing.assert_allclose(table[5 * 3 + 2, :4], table[5 * 7 + 2, :4])
    np.testing.assert_allclose(table[5 * 3 + 2, 4:], table[5 * 3 + 4, 4:])
    assert sincos_2d(8, (50, 5), cls_token=True)[0].tolist() == [0.0] * 8


def test_init_follows_official_recipe():
    torch.manual_seed(0)
    m = MaskedAutoencoder(get_config("mwmae_tiny"))
    np.testing.assert_allclose(m.encoder.pos_embed[0].detach().numpy(), sincos_2d(192, (50, 5)), atol=1e-6)
    assert torch.all(m.encoder.blocks[0].attn.qkv.bias == 0)
    t = m.decoder.blocks[0].attn.relative_position_bias["head5"]  # w = 125 -> 249 entries
    std = (0.02 / 249) ** 0.5 / 0.87962566103423978
    assert t.abs().max() <= 2 * std + 1e-7 and 0.5 * std < t.std() < 1.5 * std
    assert abs(float(m.decoder.mask_token.detach().std()) - 0.02) < 0.01


def test_encoder_rejects_wrong_input_shape(tiny):
    with pytest.raises(ValueError, match=r"encoder input must be \(batch, 200, 80\)"):
        tiny(torch.randn(2, 80, 200))


def test_windows_that_do_not_divide_the_tokens_and_shifted_windows_train():
    """Encoder windows of 5 over 128 visible tokens, a decoder window of 3 over 640: shorter last
    windows (padding). With shifting_windows, odd-numbered blocks shift (as the official code does)."""
    cfg = get_config("mwmae_tiny_5x5_384d-16h-1l", depth=2, encoder_window_sizes=(5, 3, 0),
                     decoder_window_sizes=(3,) + (0,) * 15, shifting_windows=True)
    m = MaskedAutoencoder(cfg)
    shifts = [blk.attn.shift_windows for blk in m.encoder.blocks]
    assert shifts == [False, True] and m.decoder.blocks[0].attn.shift_windows is False
    loss, pred, mask = m(torch.randn(2, 200, 80))
    loss.backward()
    assert torch.isfinite(loss) and m.encoder.blocks[1].attn.relative_position_bias["head0"].grad.abs().sum() > 0


def test_encoder_only_cannot_reconstruct():
    m = MaskedAutoencoder(get_config("mwmae_tiny", depth=1, encoder_only=True))
    assert m.decoder is None
    with pytest.raises(ValueError, match="encoder-only"):
        m(torch.randn(1, 200, 80))


def test_mwmha_in_encoder_and_other_patch_sizes():
    cfg = get_config("mwmae_tiny_5x5_384d-16h-1l", depth=1, encoder_window_sizes=(2, 4, 0))
    m = MaskedAutoencoder(cfg)
    assert m.encoder.forward_features(torch.randn(1, 200, 80)).shape == (1, 640, 192)
    loss, pred, _ = m(torch.randn(1, 200, 80))
    assert pred.shape == (1, 640, 25) and torch.isfinite(loss)
    assert m.encoder.frame_embeddings(torch.randn(1, 200, 80)).shape == (1, 40, 16 * 192)


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.bfloat16, 5e-2)])
def test_inference_fast_path_matches_plain_path(dtype, tol):
    """Under no_grad on CPU the MLP uses fused oneDNN kernels; with grad it runs plain ops."""
    torch.manual_seed(0)
    enc = MaskedAutoencoder(get_config("mwmae_tiny", depth=2, decoder_depth=1)).encoder.to(dtype)
    x = torch.randn(3, 200, 80).to(dtype)
    plain = enc.frame_embeddings(x).detach().float()  # grad enabled: plain ops
    with torch.inference_mode():
        fast = enc.frame_embeddings(x).float()
    rel = (fast - plain).norm() / plain.norm()
    assert rel < tol, rel


def test_onednn_linear_steps_aside_under_autocast():
    """oneDNN's kernels are not autocast-aware: under autocast the plain path runs, so the GEMM is in
    the autocast dtype (it once ran in fp32 there, as slow as no autocast at all)."""
    from hear_mwmae.cpu_kernels import linear, linear_add

    layer = torch.nn.Linear(8, 4)
    x = torch.randn(2, 8)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert linear(layer, x).dtype == torch.bfloat16
        assert linear(layer, x, "gelu", "tanh").dtype == torch.bfloat16
    with torch.inference_mode():
        torch.testing.assert_close(linear(layer, x, "gelu", "tanh"), torch.nn.functional.gelu(layer(x), approximate="tanh"))
        torch.testing.assert_close(linear_add(layer, x, torch.ones(2, 4)), layer(x) + 1)
