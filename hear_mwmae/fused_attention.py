"""Every head of an MW-MHA layer in one attention call (docs/design.md §D27).

The windows become an additive (1, H, N, N) logit mask: a windowed head's relative-position bias
inside its windows and −∞ outside, 0 for a global head. One SDPA call then covers all heads, with
no per-window-size loop, whatever mix of windows, shifts and lengths the layer has.

bf16 training on CPU takes plain matmuls and softmax over all heads at once instead, as global heads
do there (``attend``). Why a custom backward on CPU otherwise: PyTorch's fused CPU kernel (flash
attention) takes a float mask but gives it no gradient, and SDPA then falls back to the unfused math path (3–4× slower here). So on
CPU the forward and the q/k/v gradients come from the fused kernel, and the bias tables' gradient,
which only lives inside the windows, is computed block-locally (a few small batched matmuls per
window size, O(N·w) per head instead of O(N²)). On CUDA the memory-efficient kernel computes the
mask's gradient itself, so plain SDPA with a differentiable mask is used there.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .windows import WindowLayout, relative_position_index, to_blocks


def _cpu_flash_ops():
    """PyTorch's fused CPU attention forward/backward (private aten ops; None where a build lacks them)."""
    try:
        return (torch.ops.aten._scaled_dot_product_flash_attention_for_cpu.default,
                torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward.default)
    except (AttributeError, RuntimeError):
        return None


_CPU_FLASH = _cpu_flash_ops()


def flat_bias(tables: list[torch.Tensor]) -> torch.Tensor:
    """The windowed heads' tables (head order) followed by the 0 and −∞ slots that WindowLayout indexes."""
    ref = tables[0] if tables else torch.zeros(())
    tail = torch.tensor([0.0, -float("inf")], dtype=ref.dtype, device=ref.device)
    return torch.cat([*tables, tail])


def window_mask(flat: torch.Tensor, layout: WindowLayout) -> torch.Tensor:
    """(1, H, N, N) additive logits mask (4-D: the only shape PyTorch's fused CPU kernel accepts)."""
    return flat[layout.mask_index].unsqueeze(0)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """softmax(q kᵀ / √hd + bias) v for q, k, v (..., N, hd) and bias broadcastable to (..., N, N).

    Why two paths: on CPU, PyTorch's fused SDPA *backward* in bf16 is 2–5× slower than plain
    matmuls on the AMX units (benchmarks/train_step.py; its forward is the faster one), so bf16
    training on CPU takes the explicit softmax; everything else uses the fused kernel.
    """
    if q.device.type == "cpu" and q.dtype == torch.bfloat16 and q.requires_grad and torch.is_grad_enabled():
        logits = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5
        if bias is not None:
            logits = logits + bias
        return logits.softmax(dim=-1) @ v
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)


def multi_window_attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, flat: torch.Tensor,
                        layout: WindowLayout) -> torch.Tensor:
    """softmax(q kᵀ/√hd + mask) v for all heads at once: q, k, v (B, H, N, hd) -> (B, H, N, hd).

    CPU training outside bf16 takes the fused kernel with the block-local table gradient; everything
    else is ``attend`` with the mask (bf16 CPU training: explicit softmax, the mask's gradient from
    autograd, summed over the batch)."""
    needs_grad = torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v, flat))
    if q.device.type == "cpu" and needs_grad and q.dtype != torch.bfloat16 and _CPU_FLASH is not None:
        return _CpuWindowAttention.apply(q, k, v, flat, layout)
    return attend(q, k, v, window_mask(flat, layout).to(q.dtype))


class _CpuWindowAttention(torch.autograd.Function):
    """The fused CPU kernel forward and backward, plus the bias tables' gradient (see module doc)."""

    @staticmethod
    def forward(ctx, q, k, v, flat, layout):
        forward_op, _ = _CPU_FLASH
        mask = window_mask(flat.detach(), layout)
        out, lse = forward_op(q, k, v, 0.0, False, attn_mask=mask)
        ctx.save_for_backward(q, k, v, out, lse, mask, flat)
        ctx.layout = layout
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, out, lse, mask, flat = ctx.saved_tensors
        _, backward_op = _CPU_FLASH
        grad_out = grad_out.contiguous()
        dq, dk, dv = backward_op(grad_out, q, k, v, out, lse, 0.0, False, attn_mask=mask)
        dflat = None
        if ctx.needs_input_grad[3]:
            with torch.autocast(q.device.type, enabled=False):  # a backward inside autocast: keep fp32
                dflat = table_gradients(q, k, v, out, lse, grad_out, flat, ctx.layout)
        return dq, dk, dv, dflat, None


def _blocks(t: torch.Tensor, heads: list[int], positions: torch.Tensor, fill: float, padded: bool) -> torch.Tensor:
    """(B, H, N, ...) -> (B, g, n_blocks, w, ...): the heads' tokens laid out in their windows, padding
    slots (position N) filled with ``fill``; ``padded`` False (whole windows from token 0) reshapes."""
    n_blocks, w = positions.shape
    sel = t[:, heads[0]:heads[-1] + 1] if heads == list(range(heads[0], heads[-1] + 1)) else t[:, heads]
    if not padded:  # no padding, no shift
        # Why contiguous: batched matmul over a strided view (q, k, v are views of the qkv output)
        # takes a path 3-4x slower than over packed blocks.
        return sel.unflatten(2, (n_blocks, w)).contiguous()
    return to_blocks(sel, positions, fill)


def table_gradients(q, k, v, out, lse, grad_out, flat, layout: WindowLayout) -> torch.Tensor:
    """Gradient of the loss with respect to ``flat`` (the bias tables), computed inside the windows.

    With P = exp(logits − lse) the softmax weights and D_i = dO_i · O_i, the logits' gradient is
    dS = P ⊙ (dO vᵀ − D); a table entry's gradient is the sum of dS over the pairs that read it.
    """
    work = torch.float64 if q.dtype == torch.float64 else torch.float32  # bf16 inputs: accumulate in fp32
    q, k, v, out, grad_out, lse = (t if t.dtype == work else t.to(work) for t in (q, k, v, out, grad_out, lse))
    scale = q.shape[-1] ** -0.5
    d = torch.linalg.vecdot(grad_out, out)  # (B, H, N): D_i = dO_i · O_i
    table = flat.detach().to(work)
    grad = torch.zeros(flat.shape, dtype=work, device=flat.device)
    for w, shift, heads, offsets, positions in layout.groups:
        hs, padded = list(heads), shift > 0 or layout.n % w > 0
        qb, kb, vb, gb = (_blocks(t, hs, positions, 0.0, padded) for t in (q, k, v, grad_out))  # (B, g, nB, w, hd)
        lse_b = _blocks(lse, hs, positions, float("inf"), padded)  # a padding query gets P = 0
        d_b = _blocks(d, hs, positions, 0.0, padded)
        index = torch.tensor(offsets, device=flat.device)[:, None, None] + relative_position_index(w, flat.device)
        bias = table[index][None, :, None]  # (1, g, 1, w, w)
        if padded:
            bias = bias.masked_fill((positions == layout.n)[None, None, :, None, :], -float("inf"))
        p = (qb @ kb.transpose(-2, -1)).mul_(scale).add_(bias).sub_(lse_b[..., None]).exp_()  # (B, g, nB, w, w)
        ds = p.mul_((gb @ vb.transpose(-2, -1)).sub_(d_b[..., None]))
        grad.index_add_(0, index.flatten(), ds.sum((0, 2)).flatten())
    return grad.to(flat.dtype)
