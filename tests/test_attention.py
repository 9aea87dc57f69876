"""MW-MHA: the batched (fused) path, the explicit path and a brute-force reference agree."""

import copy
import math

import pytest
import torch

from hear_mwmae.attention import MultiWindowAttention
from hear_mwmae.config import window_sizes_for


def brute_force(attn: MultiWindowAttention, x: torch.Tensor) -> torch.Tensor:
    """Straight from the spec (docs/design.md §D6): one head at a time, one window at a time, float64."""
    b, n, d = x.shape
    hd = attn.head_dim
    qkv = torch.nn.functional.linear(x, attn.qkv.weight, attn.qkv.bias).view(b, n, 3, attn.num_heads, hd)
    heads = []
    for h, w in enumerate(attn.window_sizes):
        q, k, v = qkv[:, :, 0, h], qkv[:, :, 1, h], qkv[:, :, 2, h]  # (B, N, hd)
        out = torch.empty_like(q)
        span = w if w > 0 else n
        for m in range(n // span):
            sl = slice(m * span, (m + 1) * span)
            logits = q[:, sl] @ k[:, sl].transpose(1, 2) / math.sqrt(hd)
            if w > 0:
                table = attn.relative_position_bias[f"head{h}"].detach()
                bias = torch.tensor([[table[i - j + w - 1] for j in range(w)] for i in range(w)], dtype=x.dtype)
                logits = logits + bias
            out[:, sl] = logits.softmax(-1) @ v[:, sl]
        heads.append(out)
    return torch.nn.functional.linear(torch.cat(heads, -1), attn.proj.weight, attn.proj.bias)


def masked_full_attention(attn: MultiWindowAttention, x: torch.Tensor) -> torch.Tensor:
    """Full N × N attention per head with a hand-built mask: −inf across windows, bias inside."""
    b, n, d = x.shape
    hd = attn.head_dim
    qkv = torch.nn.functional.linear(x, attn.qkv.weight, attn.qkv.bias).view(b, n, 3, attn.num_heads, hd)
    heads = []
    for h, w in enumerate(attn.window_sizes):
        mask = torch.zeros(n, n, dtype=x.dtype)
        if w > 0:
            table = attn.relative_position_bias[f"head{h}"].detach()
            i = torch.arange(w)
            window_bias = table[i[:, None] - i[None, :] + w - 1]  # bias[i, j] = table[i − j + w − 1]
            inside = torch.block_diag(*[torch.ones(w, w)] * (n // w)) > 0
            mask = torch.where(inside, torch.block_diag(*[window_bias] * (n // w)), torch.tensor(-math.inf, dtype=x.dtype))
        q, k, v = qkv[:, :, 0, h], qkv[:, :, 1, h], qkv[:, :, 2, h]
        heads.append(((q @ k.transpose(1, 2)) / math.sqrt(hd) + mask).softmax(-1) @ v)
    return torch.nn.functional.linear(torch.cat(heads, -1), attn.proj.weight, attn.proj.bias)


def _module(n_patches: int, dim_per_head: int = 8, std: float = 0.5) -> MultiWindowAttention:
    windows = window_sizes_for(n_patches)
    torch.manual_seed(0)
    m = MultiWindowAttention(dim_per_head * len(windows), len(windows), windows).double()
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, std)
    return m


@pytest.mark.parametrize("n_patches", [250, 125, 500, 640])
def test_batched_equals_explicit_equals_brute_force(n_patches):
    m = _module(n_patches)
    x = torch.randn(2, n_patches, m.qkv.in_features, dtype=torch.float64)
    fused = m(x)
    explicit, weights = m(x, return_attention=True)
    reference = brute_force(m, x)
    torch.testing.assert_close(masked_full_attention(m, x), reference, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(fused, reference, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(explicit, reference, rtol=1e-9, atol=1e-9)
    assert weights.shape == (2, m.num_heads, n_patches, n_patches)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, m.num_heads, n_patches, dtype=torch.float64))


def test_attention_weights_zero_outside_windows_and_bias_enters():
    m = _module(250)
    x = torch.randn(1, 250, m.qkv.in_features, dtype=torch.float64)
    _, weights = m(x, return_attention=True)
    idx = torch.arange(250)
    for h, w in enumerate(m.window_sizes):
        if w == 0:
            assert (weights[0, h] > 0).all()
            continue
        outside = (idx[:, None] // w) != (idx[None, :] // w)
        assert (weights[0, h][outside] == 0).all()
    # Changing one window head's table changes the output: the bias is used.
    before = m(x)
    with torch.no_grad():
        m.relative_position_bias["head0"][0] += 3.0
    assert not torch.allclose(before, m(x))


def test_global_only_module_has_no_bias_and_matches_brute_force():
    torch.manual_seed(1)
    m = MultiWindowAttention(32, 4).double()
    assert len(m.relative_position_bias) == 0 and m.is_global
    x = torch.randn(3, 251, 32, dtype=torch.float64)  # any length works for global heads
    torch.testing.assert_close(m(x), brute_force(m, x))
    torch.testing.assert_close(m(x, return_attention=True)[0], m(x))


def test_grouped_heads_in_any_order():
    """Heads of equal window in non-adjacent positions still come back in head order."""
    windows = (5, 0, 2, 5, 0, 2)
    torch.manual_seed(2)
    m = MultiWindowAttention(24, 6, windows).double()
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 0.5)
    x = torch.randn(2, 50, 24, dtype=torch.float64)
    torch.testing.assert_close(m(x), brute_force(m, x))


def test_float32_paths_agree():
    m = _module(250, std=0.1).float()
    x = torch.randn(2, 250, m.qkv.in_features)
    torch.testing.assert_close(m(x), m(x, return_attention=True)[0], rtol=1e-5, atol=1e-5)


def test_gradients_flow_to_bias_tables():
    m = _module(250).float()
    m(torch.randn(1, 250, m.qkv.in_features)).sum().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert m.relative_position_bias["head5"].grad.abs().sum() > 0


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="divisible"):
        MultiWindowAttention(10, 3)
    with pytest.raises(ValueError, match="one window size per head"):
        MultiWindowAttention(16, 4, (2, 0))


def test_bf16_training_path_matches_reference_outputs_and_gradients():
    """bf16 autocast with grad on CPU takes the explicit softmax (attend); it must agree with
    the float64 module (fused path, checked against the brute force above), forward and
    backward, to bf16 precision."""
    m = _module(250, std=0.1).float()
    ref = copy.deepcopy(m).double()
    x = torch.randn(2, 250, m.qkv.in_features, dtype=torch.float64)
    expected = ref(x)
    torch.testing.assert_close(expected, brute_force(ref, x))
    expected.square().sum().backward()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = m(x.float())
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.double(), expected, rtol=0.05, atol=0.02)
    out.float().square().sum().backward()
    ref_grads = dict(ref.named_parameters())
    for name, p in m.named_parameters():
        g, r = p.grad.double().flatten(), ref_grads[name].grad.flatten()
        cos = torch.nn.functional.cosine_similarity(g, r, dim=0)
        assert cos > 0.99, (name, float(cos))
