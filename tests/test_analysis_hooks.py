"""Capture / head-mask / span hooks on the official micro models (docs/design.md §D23)."""

import copy
import math

import pytest
import torch
from torch import nn

from hear_mwmae_tools.analysis.conditions import check_condition, mask_noise, run_condition
from hear_mwmae_tools.analysis.hooks import AttentionHooks, attention_layers, head_masks


@pytest.fixture(scope="module")
def x():
    return torch.randn(2, 200, 80, generator=torch.Generator().manual_seed(0))


def _record_attention_io(model, part):
    """Plain hooks: (input, output) of every attention module of ``part``."""
    seen, handles = {}, []
    for i, m in enumerate(attention_layers(model, part)):
        handles.append(m.register_forward_hook(lambda mod, a, o, i=i: seen.__setitem__(i, (a[0].detach(), o.detach()))))
    return seen, handles


@pytest.mark.parametrize("name", ["mw", "mae"])
def test_captured_weights_and_head_outputs_match_the_module(name, request, x):
    model = request.getfixturevalue(name)
    noise = mask_noise(range(2), 250, seed=0)
    seen, handles = _record_attention_io(model, "decoder")
    with torch.no_grad():
        _, ref_pred, _ = model(x, noise=noise)
    for h in handles:
        h.remove()
    with AttentionHooks(model, "decoder", weights=True, head_outputs=True) as hooks, torch.no_grad():
        _, pred, _ = model(x, noise=noise)
    torch.testing.assert_close(pred, ref_pred, atol=1e-5, rtol=1e-5)  # explicit path = fused path
    n = 251 if name == "mae" else 250
    for i, m in enumerate(attention_layers(model, "decoder")):
        xin, out = seen[i]
        with torch.no_grad():
            _, attn = m(xin, return_attention=True)
        torch.testing.assert_close(hooks.attention[i], attn, atol=1e-6, rtol=1e-5)
        heads = hooks.head_outputs[i]
        assert heads.shape == (2, n, 8, 4)
        torch.testing.assert_close(m.proj(heads.flatten(2)), out, atol=1e-5, rtol=1e-5)


def test_hooks_leave_no_trace(mw, x):
    with torch.no_grad():
        before = mw.encoder.forward_features(x)
        with AttentionHooks(mw, "encoder", weights=True, head_outputs=True, head_mask={0: torch.tensor([0.0, 1.0])},
                            span=3):
            during = mw.encoder.forward_features(x)
        after = mw.encoder.forward_features(x)
    assert torch.equal(before, after) and not torch.allclose(before, during)
    for m in attention_layers(mw, "encoder"):
        assert not (m._forward_hooks or m._forward_pre_hooks or m.proj._forward_pre_hooks)
        assert m.weight_filter is None


class _NoBranch(nn.Module):
    def forward(self, x, return_attention=False):
        return torch.zeros_like(x)


@pytest.mark.parametrize("part,layer", [("encoder", 1), ("decoder", 0)])
def test_masking_every_head_of_a_layer_removes_the_branch(mw, x, part, layer):
    model = copy.deepcopy(mw)
    blk = getattr(model, part).blocks[layer]
    noise = mask_noise(range(2), 250, seed=1)
    with torch.no_grad():
        _, unpruned, _ = model(x, noise=noise)
        with AttentionHooks(model, part, head_mask={layer: torch.zeros(8 if part == "decoder" else 2)}):
            _, pruned, _ = model(x, noise=noise)
        bias = blk.attn.proj.bias.clone()
        blk.attn.proj.bias.zero_()
        with AttentionHooks(model, part, head_mask={layer: torch.zeros(8 if part == "decoder" else 2)}):
            _, pruned_no_bias, _ = model(x, noise=noise)
        attn, blk.attn = blk.attn, _NoBranch()  # the attention branch removed altogether
        _, removed, _ = model(x, noise=noise)
        blk.attn = attn
        blk.attn.proj.bias.copy_(bias)
        _, restored, _ = model(x, noise=noise)
    torch.testing.assert_close(pruned_no_bias, removed, atol=1e-6, rtol=1e-6)
    assert not torch.allclose(pruned, unpruned, atol=1e-4)
    torch.testing.assert_close(restored, unpruned)


def test_single_head_mask_equals_zeroing_its_projection_columns(mw, x):
    model = copy.deepcopy(mw)
    head, hd = 5, 4
    noise = mask_noise(range(2), 250, seed=2)
    with torch.no_grad(), AttentionHooks(model, "decoder", head_mask=head_masks([(1, head)], 2, 8)):
        _, masked, _ = model(x, noise=noise)
    with torch.no_grad():
        model.decoder.blocks[1].attn.proj.weight[:, head * hd:(head + 1) * hd] = 0
        _, zeroed, _ = model(x, noise=noise)
    torch.testing.assert_close(masked, zeroed, atol=1e-6, rtol=1e-6)


def test_span_limit(mw, x):
    seen, handles = _record_attention_io(mw, "encoder")
    with torch.no_grad():
        ref = mw.encoder.forward_features(x)
    for h in handles:
        h.remove()
    with torch.no_grad():
        for mode in ("renormalize", "zero"):
            with AttentionHooks(mw, "encoder", span=49, span_mode=mode):  # T_p − 1: no limit at all
                torch.testing.assert_close(mw.encoder.forward_features(x), ref, atol=1e-5, rtol=1e-5)
        with AttentionHooks(mw, "encoder", layers=[0], weights=True, head_outputs=True, span=2) as hooks:
            mw.encoder.forward_features(x)
        limited, heads = hooks.attention[0], hooks.head_outputs[0]
        with AttentionHooks(mw, "encoder", layers=[0], weights=True, span=2, span_mode="zero") as hooks:
            mw.encoder.forward_features(x)
        zero_only = hooks.attention[0]
    # Renormalised span = softmax with a −inf band on the logits (computed by hand here).
    m = attention_layers(mw, "encoder")[0]
    q, k, v = m.qkv(seen[0][0]).view(2, 250, 3, 2, 32).permute(2, 0, 3, 1, 4).unbind(0)
    t = torch.arange(250) // 5
    band = torch.where((t[:, None] - t[None, :]).abs() <= 2, 0.0, -math.inf)
    manual = ((q @ k.transpose(-2, -1)) / math.sqrt(32) + band).softmax(-1)
    torch.testing.assert_close(limited, manual.detach(), atol=1e-6, rtol=1e-5)
    assert torch.all(zero_only.sum(-1) < 1) and torch.all(zero_only[..., band.isinf()] == 0)
    # the heads mix the values with the limited weights
    torch.testing.assert_close(heads, (limited @ v).transpose(1, 2).detach(), atol=1e-5, rtol=1e-5)


def test_span_on_the_masked_encoder_uses_true_positions(mw, x):
    noise = mask_noise(range(2), 250, seed=3)
    with torch.no_grad(), AttentionHooks(mw, "encoder", weights=True, span=0) as hooks:
        with pytest.raises(ValueError, match="positions"):
            mw.encoder.forward_masked(x, 0.8, noise)
        cond = run_condition(mw, x, "encoder", mask_ratio=0.8, seed=3, clip_ids=[0, 1])
        attn = hooks.attention[0]
    t = cond["positions"] // 5  # (B, 50) time step of every visible token
    same_step = (t[:, :, None] == t[:, None, :])[:, None]
    assert torch.all(attn[~same_step.expand_as(attn)] == 0)
    torch.testing.assert_close(attn.sum(-1), torch.ones(2, 2, 50))
    # positions are the tokens the model kept (mask 0), in the encoder's order (ascending noise)
    kept = torch.zeros(2, 250, dtype=torch.bool).scatter_(1, cond["positions"], True)
    assert torch.equal(kept, cond["mask"] == 0)
    assert torch.all(noise.gather(1, cond["positions"]).diff(dim=1) >= 0)


def test_block_callers_asking_for_weights_still_get_them(mw, x):
    blk = mw.encoder.blocks[0]
    h = mw.encoder.embed(x)
    with torch.no_grad(), AttentionHooks(mw, "encoder", head_outputs=True, weights=True) as hooks:
        out, w = blk(h, return_attention=True)
        plain = blk(h)
    assert w.shape == (2, 2, 250, 250) and torch.equal(w, hooks.attention[0])
    torch.testing.assert_close(out, plain)


def test_masks_are_seeded_per_clip():
    a = mask_noise([3, 4], 250, seed=7)
    b = mask_noise([4], 250, seed=7)
    assert torch.equal(a[1], b[0]) and not torch.equal(a[0], a[1])
    assert not torch.equal(mask_noise([4], 250, seed=8), b)


def test_hook_arguments_are_validated(mw):
    with pytest.raises(ValueError, match="part"):
        AttentionHooks(mw, "middle")
    with pytest.raises(ValueError, match="out of range"):
        AttentionHooks(mw, "encoder", layers=[5])
    with pytest.raises(ValueError, match="shape"):
        AttentionHooks(mw, "encoder", head_mask={0: torch.ones(3)})
    with pytest.raises(ValueError, match="span"):
        AttentionHooks(mw, "encoder", span=-1)
    with pytest.raises(ValueError, match="out of range"):
        head_masks([(2, 0)], 2, 2)


def test_condition_arguments_are_validated():
    with pytest.raises(ValueError, match=r"mask_ratio must be in \[0, 1\)"):
        check_condition("encoder", 1.0, "all")
    with pytest.raises(ValueError, match="query_set must be one of"):
        check_condition("decoder", 0.5, "hidden")
    with pytest.raises(ValueError, match="encoder sees only visible"):
        check_condition("encoder", 0.5, "masked")
    # Nothing is masked at ratio 0: rejected up front, for every analysis that runs a condition.
    with pytest.raises(ValueError, match="needs mask_ratio > 0"):
        check_condition("decoder", 0.0, "masked")
    check_condition("decoder", 0.0, "visible")


def test_a_second_span_limit_is_refused_without_leaving_hooks(mw, x):
    with torch.no_grad(), AttentionHooks(mw, "encoder", span=1):
        with pytest.raises(RuntimeError, match="span limit is active"):
            AttentionHooks(mw, "encoder", span=2).__enter__()
        limited = mw.encoder.forward_features(x)  # the filter also applies when nobody asks for weights
    for m in attention_layers(mw, "encoder"):
        assert not (m._forward_hooks or m._forward_pre_hooks) and m.weight_filter is None
    with torch.no_grad():
        assert not torch.allclose(limited, mw.encoder.forward_features(x))
