"""Multi-Window Multi-Head Attention (MW-MHA), docs/design.md §D6.

One module covers plain multi-head attention (all heads global) and MW-MHA (per-head window
sizes). Parity-critical semantics of the official code:

* one shared ``qkv`` projection, channels laid out [q | k | v], head-major inside each;
* window ``0`` = global head: softmax(q kᵀ / √d) v over all tokens, **no** bias;
* window ``w > 0``: non-overlapping contiguous windows of the *flattened* token sequence
  (tokens [m·w, (m+1)·w)), not a sliding window; logits get a learned 1-D relative-position
  bias, table[i − j + w − 1], one table of 2w − 1 entries per windowed head;
* per-head outputs are concatenated in head order, then ``proj``.

Beside those, window ``-1`` (``DEFORMABLE``) is a deformable head (ours, DATAR-style, not in the
official code; docs/design.md §D25): its keys and values are read at learned positions of the
(time × frequency) grid that an offset network derives from the head's query map; with zero
offsets, stride 1 and a zero bias it equals a global head.

Two paths share the parameters: the fused path (default) groups heads of equal window size
into one batched SDPA call per group (no per-head loop); the explicit path builds full
N × N block-diagonal weights and returns them, for analysis tools.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .deformable import DeformableBias, OffsetNetwork, bilinear_sample, bilinear_weights, sample_positions

DEFORMABLE = -1  # window code of a deformable head


def relative_position_index(window: int, device=None) -> torch.Tensor:
    """(w, w) long tensor of i − j + w − 1 (the official ``relative_position_index``)."""
    pos = torch.arange(window, device=device)
    return pos[:, None] - pos[None, :] + window - 1


def same_window(n: int, window: int, device=None) -> torch.Tensor:
    """(n, n) bool: key j is in query i's window. Windows are contiguous chunks [m·w, (m+1)·w) of
    the token *sequence* (MW-MHA); ``window`` 0 is a global head and −1 a deformable one (all True)."""
    if window < DEFORMABLE or (window > 0 and n % window):
        raise ValueError(f"window size {window} does not divide the sequence length {n}")
    if window in (0, DEFORMABLE):  # a deformable head may read any token, as a global head does
        return torch.ones(n, n, dtype=torch.bool, device=device)
    pos = torch.arange(n, device=device)
    return (pos[:, None] // window) == (pos[None, :] // window)


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


class MultiWindowAttention(nn.Module):
    """Multi-head self-attention whose heads may attend within local windows.

    Args:
        dim: token width D.
        num_heads: number of heads H (head dim D / H).
        window_sizes: one int per head (0 = global); empty = all heads global.

    Shapes: ``forward(x)`` with x (B, N, D) returns (B, N, D); with ``return_attention=True``
    it returns ``(out, attn)`` with attn (B, H, N, N) (zero outside a head's windows).
    N must be divisible by every window size > 0.
    """

    def __init__(self, dim: int, num_heads: int, window_sizes: tuple[int, ...] = (), *,
                 grid: tuple[int, int] | None = None, deform_stride: tuple[int, int] = (1, 1),
                 deform_kernel: tuple[int, int] = (5, 3), deform_range: float = 2.0) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        window_sizes = tuple(window_sizes) or (0,) * num_heads
        if len(window_sizes) != num_heads:
            raise ValueError(f"need one window size per head ({num_heads}), got {window_sizes}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.window_sizes = window_sizes
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        # Optional (B, H, N, N) -> (B, H, N, N) edit of the attention weights before they mix the
        # values, on the explicit path only; analysis hooks set it (span limits), nothing else does.
        self.weight_filter = None
        self.last_sample_positions = None  # deformable heads: (B, g, S, 2) (t, f) sampled in the last pass
        # One bias table per windowed head, keyed by head index ("head3"), shape (2w - 1,).
        self.relative_position_bias = nn.ParameterDict(
            {f"head{h}": nn.Parameter(torch.zeros(2 * w - 1)) for h, w in enumerate(window_sizes) if w > 0}
        )
        # Deformable heads: one offset network shared by them (as DAT shares it across groups), a
        # bias table each. They need the token grid (the decoder's; N = T_p·F_p, no cls token).
        self.deformable_heads = tuple(h for h, w in enumerate(window_sizes) if w == DEFORMABLE)
        if any(w < DEFORMABLE for w in window_sizes):
            raise ValueError(f"window sizes must be >= 0, or {DEFORMABLE} for a deformable head: {window_sizes}")
        if self.deformable_heads:
            if grid is None:
                raise ValueError("deformable heads (window -1) need the token grid (T_p, F_p)")
            self.grid, self.deform_range = tuple(grid), float(deform_range)
            self.offset_net = OffsetNetwork(self.head_dim, self.grid, deform_stride, deform_kernel)
            self.deformable_bias = DeformableBias(len(self.deformable_heads), self.grid)
        # Heads grouped by window size, so each group is one batched call. A group whose heads are
        # adjacent is taken as a slice (a view: no gather forward, no scatter backward).
        groups: dict[int, list[int]] = {}
        for h, w in enumerate(window_sizes):
            groups.setdefault(w, []).append(h)
        ordered = sorted(groups.items(), key=lambda item: item[1][0])  # by first head
        # (window, heads, selector into the head axis) per group.
        self.groups = tuple((w, tuple(hs), slice(hs[0], hs[-1] + 1) if hs == list(range(hs[0], hs[-1] + 1)) else hs)
                            for w, hs in ordered)
        order = [h for _, hs, _ in self.groups for h in hs]
        self.is_global = all(w == 0 for w in window_sizes)
        # Group outputs are concatenated in group order; this puts heads back in head order
        # (None when that order already is head order). Plain tuples, not buffers: the module
        # holds only parameters, so it can be built on the meta device and filled from a file.
        self.head_order = None if order == list(range(num_heads)) else tuple(order.index(h) for h in range(num_heads))

    def window_bias(self, window: int, heads: tuple[int, ...]) -> torch.Tensor:
        """(len(heads), w, w) relative-position bias of the given heads (all of window w)."""
        tables = torch.stack([self.relative_position_bias[f"head{h}"] for h in heads])
        return tables[:, relative_position_index(window, device=tables.device)]

    def _check_windows(self, n: int) -> None:
        bad = [w for w in self.window_sizes if w > 0 and n % w]
        if bad:
            raise ValueError(f"sequence length {n} is not divisible by window sizes {bad}")
        if self.deformable_heads and n != self.grid[0] * self.grid[1]:
            raise ValueError(f"deformable heads work on the full {self.grid[0]}x{self.grid[1]} token grid "
                             f"({self.grid[0] * self.grid[1]} tokens), got {n}")

    def _deformable(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
        """The deformable heads: q, k, v (B, g, N, hd) -> out (B, g, N, hd), weights over the samples
        (B, g, N, S) and the sample positions (B, g, S, 2) (t, f) in token cells."""
        b, g, n, hd = q.shape
        t, f = self.grid
        as_maps = lambda z: z.transpose(-2, -1).reshape(b * g, hd, t, f)  # noqa: E731  (B·g, hd, T_p, F_p)
        raw = self.offset_net(as_maps(q))
        positions = sample_positions(raw, self.grid, self.offset_net.stride, self.deform_range).reshape(b * g, -1, 2)
        # Sampling commutes with the (per-token, affine) projection: read the projected keys/values.
        ks, vs = (bilinear_sample(as_maps(z), positions).view(b, g, -1, hd) for z in (k, v))
        positions = positions.view(b, g, -1, 2)
        self.last_sample_positions = positions.detach()  # for analysis (hear-mwmae analyze deform)
        logits = (q @ ks.transpose(-2, -1)) * self.scale + self.deformable_bias(positions).to(q.dtype)
        weights = logits.softmax(dim=-1)
        return weights @ vs, weights, positions

    def forward(
        self, x: torch.Tensor, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        b, n, d = x.shape
        self._check_windows(n)
        if return_attention:
            return self._forward_explicit(x)
        if self.weight_filter is not None:  # the filter edits explicit weights: never skip it silently
            return self._forward_explicit(x)[0]
        qkv = self.qkv(x).view(b, n, 3, self.num_heads, self.head_dim)
        if self.is_global:
            q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, H, N, hd)
            out = attend(q, k, v)
            return self.proj(out.transpose(1, 2).reshape(b, n, d))
        outs = []
        for w, heads, selector in self.groups:
            g = len(heads)
            sel = qkv[:, :, :, selector]  # (B, N, 3, g, hd)
            if w == 0:
                q, k, v = sel.permute(2, 0, 3, 1, 4).unbind(0)  # (B, g, N, hd)
                o = attend(q, k, v)  # (B, g, N, hd)
                outs.append(o.transpose(1, 2))  # (B, N, g, hd)
                continue
            if w == DEFORMABLE:
                o, _, _ = self._deformable(*sel.permute(2, 0, 3, 1, 4).unbind(0))
                outs.append(o.transpose(1, 2))
                continue
            nw = n // w
            # (B, nW, w, 3, g, hd) -> (3, B·nW, g, w, hd): every window of every group head at once.
            win = sel.reshape(b, nw, w, 3, g, self.head_dim).permute(3, 0, 1, 4, 2, 5)
            q, k, v = win.reshape(3, b * nw, g, w, self.head_dim).unbind(0)
            bias = self.window_bias(w, heads).to(q.dtype)  # (g, w, w), broadcast over B·nW
            o = attend(q, k, v, bias)  # (B·nW, g, w, hd)
            outs.append(o.view(b, nw, g, w, self.head_dim).permute(0, 1, 3, 2, 4).reshape(b, n, g, self.head_dim))
        out = torch.cat(outs, dim=2)  # (B, N, H, hd)
        if self.head_order is not None:
            out = out.index_select(2, torch.tensor(self.head_order, device=x.device))  # back to head order
        return self.proj(out.reshape(b, n, d))

    def attention_mask(self, n: int, device=None, dtype=torch.float32) -> torch.Tensor:
        """(H, N, N) additive logits mask: bias inside windows, −inf outside, 0 for global heads."""
        mask = torch.zeros(self.num_heads, n, n, device=device, dtype=dtype)
        pos = torch.arange(n, device=device)
        for h, w in enumerate(self.window_sizes):
            if w <= 0:  # global, or deformable (its weights are computed apart, see _forward_explicit)
                continue
            rel = (pos[:, None] % w) - (pos[None, :] % w) + w - 1  # i − j + w − 1 inside a window
            bias = self.relative_position_bias[f"head{h}"].to(device=device, dtype=dtype)[rel]
            mask[h] = torch.where(same_window(n, w, device), bias, torch.full_like(bias, -math.inf))
        return mask

    def _forward_explicit(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        logits = (q @ k.transpose(-2, -1)) * self.scale  # (B, H, N, N)
        if not self.is_global:
            logits = logits + self.attention_mask(n, device=x.device, dtype=logits.dtype)
        attn = logits.softmax(dim=-1)
        if self.deformable_heads:
            # A deformable head attends to samples, each a bilinear mix of up to 4 tokens: its weights
            # over tokens are the sample weights spread by those mixes (rows still sum to 1).
            dh = list(self.deformable_heads)
            _, weights, positions = self._deformable(q[:, dh], k[:, dh], v[:, dh])
            spread = bilinear_weights(positions.flatten(0, 1), self.grid).view(*positions.shape[:3], n)
            attn = attn.clone()
            attn[:, dh] = (weights @ spread.to(weights.dtype)).to(attn.dtype)
        if self.weight_filter is not None:
            attn = self.weight_filter(attn)
        out = (attn @ v).transpose(1, 2).reshape(b, n, d)
        return self.proj(out), attn
