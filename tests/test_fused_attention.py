"""MW-MHA in one call (hear_mwmae/fused_attention.py): the same function as the grouped and explicit
paths and as straight-from-the-spec references, forward and backward, for every window layout the
configs use, shifted windows and lengths a window does not divide."""

import copy
import math

import pytest
import torch

from hear_mwmae import fused_attention
from hear_mwmae.attention import MultiWindowAttention
from hear_mwmae.config import DatarConfig, window_sizes_for
from hear_mwmae.windows import block_positions, segment_ids


def _runs(n: int, w: int, s: int) -> list[range]:
    """The windows as runs of token indices, from the definition: boundaries at s + m·w, clipped."""
    cuts = sorted({0, n, *range(s, n, w)} if s else {*range(0, n, w), n})
    return [range(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]


def spec_reference(attn: MultiWindowAttention, x: torch.Tensor) -> torch.Tensor:
    """One head at a time, one window at a time, float64 loops (global, windowed heads only)."""
    b, n, _ = x.shape
    hd = attn.head_dim
    qkv = torch.nn.functional.linear(x, attn.qkv.weight, attn.qkv.bias).view(b, n, 3, attn.num_heads, hd)
    heads = []
    for h, (w, s) in enumerate(zip(attn.window_sizes, attn.shifts)):
        q, k, v = qkv[:, :, 0, h], qkv[:, :, 1, h], qkv[:, :, 2, h]
        out = torch.empty_like(q)
        for run in (_runs(n, w, s) if w > 0 else [range(n)]):
            sl = slice(run.start, run.stop)
            logits = q[:, sl] @ k[:, sl].transpose(1, 2) / math.sqrt(hd)
            if w > 0:
                table = attn.relative_position_bias[f"head{h}"]
                idx = torch.tensor([[i - j + w - 1 for j in run] for i in run])
                logits = logits + table[idx]
            out[:, sl] = logits.softmax(-1) @ v[:, sl]
        heads.append(out)
    return torch.nn.functional.linear(torch.cat(heads, -1), attn.proj.weight, attn.proj.bias)


def official_shifted(attn: MultiWindowAttention, x: torch.Tensor) -> torch.Tensor:
    """The official shifted-window head, as its code computes it: roll by −w//2, plain windows, Swin's
    −100 between the wrapped parts of the last window, bias of rolled positions, roll back."""
    b, n, _ = x.shape
    hd = attn.head_dim
    qkv = torch.nn.functional.linear(x, attn.qkv.weight, attn.qkv.bias).view(b, n, 3, attn.num_heads, hd)
    heads = []
    for h, w in enumerate(attn.window_sizes):
        q, k, v = qkv[:, :, 0, h], qkv[:, :, 1, h], qkv[:, :, 2, h]
        if w == 0:
            heads.append(((q @ k.transpose(1, 2)) / math.sqrt(hd)).softmax(-1) @ v)
            continue
        s = w // 2
        q, k, v = (torch.roll(t, -s, dims=1) for t in (q, k, v))
        region = torch.zeros(n)
        region[n - w:n - s], region[n - s:] = 1, 2
        table = attn.relative_position_bias[f"head{h}"]
        i = torch.arange(w)
        bias = table[i[:, None] - i[None, :] + w - 1]
        out = torch.empty_like(q)
        for m in range(n // w):
            sl = slice(m * w, (m + 1) * w)
            r = region[sl]
            swin = torch.where(r[:, None] != r[None, :], -100.0, 0.0).double()
            logits = q[:, sl] @ k[:, sl].transpose(1, 2) / math.sqrt(hd) + bias + swin
            out[:, sl] = logits.softmax(-1) @ v[:, sl]
        heads.append(torch.roll(out, s, dims=1))
    return torch.nn.functional.linear(torch.cat(heads, -1), attn.proj.weight, attn.proj.bias)


def _module(windows, dim_per_head=4, std=0.5, shift=False, seed=0, **kw) -> MultiWindowAttention:
    torch.manual_seed(seed)
    m = MultiWindowAttention(dim_per_head * len(windows), len(windows), windows, shift_windows=shift, **kw).double()
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, std)
    return m


# Every window layout a config uses: the MW-MAE decoders of the four patch grids (250, 125, 500 and
# 640 patches) and a DATAR-style local stage (all heads one window of whole time steps).
_DATAR = DatarConfig()
LAYOUTS = [(n, window_sizes_for(n)) for n in (250, 125, 500, 640)] + [
    (_DATAR.img_size[0] // _DATAR.patch_size[0] * 5, (_DATAR.local_steps * 5,) * 2)]


@pytest.mark.parametrize("shift", [False, True])
@pytest.mark.parametrize("n, windows", LAYOUTS)
def test_fused_equals_grouped_explicit_and_spec(n, windows, shift):
    m = _module(windows, shift=shift)
    x = torch.randn(2, n, m.qkv.in_features, dtype=torch.float64)
    reference = spec_reference(m, x)
    torch.testing.assert_close(m(x), reference, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(m.forward_grouped(x), reference, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(m(x, return_attention=True)[0], reference, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("n, windows", LAYOUTS[:2])
def test_shifted_windows_equal_the_official_roll_and_mask(n, windows):
    m = _module(windows, shift=True)
    x = torch.randn(2, n, m.qkv.in_features, dtype=torch.float64)
    torch.testing.assert_close(m(x), official_shifted(m, x), rtol=1e-10, atol=1e-10)
    # and the shift is real: without it the output differs
    plain = copy.deepcopy(m)
    plain.shift_windows, plain.shifts, plain._layouts = False, (0,) * m.num_heads, {}
    assert not torch.allclose(plain(x), m(x), atol=1e-3)


@pytest.mark.parametrize("n", [251, 97, 7])
@pytest.mark.parametrize("shift", [False, True])
def test_lengths_a_window_does_not_divide_are_padded(n, shift):
    """A shorter last window: the spec's runs, and the grouped path, which literally pads the
    sequence to whole windows and masks the padded keys."""
    m = _module(window_sizes_for(250), shift=shift)
    x = torch.randn(2, n, m.qkv.in_features, dtype=torch.float64)
    reference = spec_reference(m, x)
    torch.testing.assert_close(m(x), reference, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(m.forward_grouped(x), reference, rtol=1e-10, atol=1e-10)


def test_windows_layout_helpers():
    assert segment_ids(7, 3).tolist() == [0, 0, 0, 1, 1, 1, 2]
    assert segment_ids(7, 3, 1).tolist() == [0, 1, 1, 1, 2, 2, 2]
    assert block_positions(5, 3, 1).tolist() == [[5, 5, 0], [1, 2, 3], [4, 5, 5]]
    with pytest.raises(ValueError, match="shift"):
        segment_ids(5, 3, 3)


def _grads(m, x, path):
    m.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_(True)
    out = m(x) if path == "fused" else m.forward_grouped(x)
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    (out.double() * weights).sum().backward()
    return out.detach(), {"x": x.grad, **{k: p.grad for k, p in m.named_parameters()}}


@pytest.mark.parametrize("shift", [False, True])
@pytest.mark.parametrize("n, windows", LAYOUTS + [(251, window_sizes_for(250))])
def test_fused_gradients_equal_the_grouped_path_float64(n, windows, shift):
    m = _module(windows, shift=shift)
    x = torch.randn(2, n, m.qkv.in_features, dtype=torch.float64)
    out_f, g_f = _grads(m, x, "fused")
    out_g, g_g = _grads(m, x, "grouped")
    torch.testing.assert_close(out_f, out_g, rtol=1e-10, atol=1e-10)
    for name in g_g:
        torch.testing.assert_close(g_f[name], g_g[name], rtol=1e-9, atol=1e-9, msg=name)
    assert g_f["relative_position_bias.head0"].abs().sum() > 0


def test_fused_path_takes_the_custom_cpu_backward():
    """On CPU the fused path's gradients come from the fused kernel plus the block-local table gradient:
    breaking the table gradient must break the bias gradients (so the test above checks that code)."""
    m = _module(window_sizes_for(250))
    x = torch.randn(1, 250, m.qkv.in_features, dtype=torch.float64)
    _, good = _grads(m, x, "fused")
    original = fused_attention.table_gradients
    try:
        fused_attention.table_gradients = lambda *a: original(*a) * 2
        _, bad = _grads(m, x, "fused")
    finally:
        fused_attention.table_gradients = original
    torch.testing.assert_close(bad["relative_position_bias.head3"], 2 * good["relative_position_bias.head3"])


def test_float32_fused_equals_grouped():
    """float32: the fused kernel and the grouped path agree to float32 rounding, forward and backward."""
    m = _module(window_sizes_for(250), dim_per_head=16, std=0.1).float()
    x = torch.randn(4, 250, m.qkv.in_features)
    out_f, g_f = _grads(m, x, "fused")
    out_g, g_g = _grads(m, x, "grouped")
    torch.testing.assert_close(out_f, out_g, rtol=1e-5, atol=1e-5)
    for name in g_g:
        scale = g_g[name].abs().max()
        torch.testing.assert_close(g_f[name] / scale, g_g[name] / scale, rtol=0, atol=1e-5, msg=name)


def test_bf16_fused_gradients_follow_float64():
    m = _module(window_sizes_for(250), dim_per_head=16, std=0.1).float()
    ref = copy.deepcopy(m).double()
    x = torch.randn(4, 250, m.qkv.in_features)
    out_r, g_r = _grads(ref, x.double(), "grouped")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out_b, g_b = _grads(m, x, "fused")
    assert out_b.dtype == torch.bfloat16
    torch.testing.assert_close(out_b.double(), out_r, rtol=0.05, atol=0.02)
    for name in g_r:
        cos = torch.nn.functional.cosine_similarity(g_b[name].double().flatten(), g_r[name].flatten(), dim=0)
        assert cos > 0.99, (name, float(cos))


def test_deformable_heads_beside_the_fused_call():
    m = _module((5, -1, 0, 2), grid=(10, 5), seed=3)
    x = torch.randn(2, 50, m.qkv.in_features, dtype=torch.float64)
    out_f, g_f = _grads(m, x, "fused")
    out_g, g_g = _grads(m, x, "grouped")
    torch.testing.assert_close(out_f, out_g, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(m(x, return_attention=True)[0], out_f, rtol=1e-10, atol=1e-10)
    for name in g_g:
        torch.testing.assert_close(g_f[name], g_g[name], rtol=1e-9, atol=1e-9, msg=name)
