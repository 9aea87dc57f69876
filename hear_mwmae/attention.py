"""Multi-Window Multi-Head Attention (MW-MHA), docs/design.md §D6 and §D27.

One module covers plain multi-head attention (all heads global) and MW-MHA (per-head window
sizes). Parity-critical semantics of the official code:

* one shared ``qkv`` projection, channels laid out [q | k | v], head-major inside each;
* window ``0`` = global head: softmax(q kᵀ / √d) v over all tokens, **no** bias;
* window ``w > 0``: non-overlapping contiguous windows of the *flattened* token sequence
  (tokens [m·w, (m+1)·w)), not a sliding window; logits get a learned 1-D relative-position
  bias, table[i − j + w − 1], one table of 2w − 1 entries per windowed head;
* per-head outputs are concatenated in head order, then ``proj``.

Two options the official code has or lacks (hear_mwmae/windows.py): shifted windows (the official
``shifting_windows``: boundaries moved by w // 2) and padding (ours: a window size need not divide
the sequence length; the last window is shorter).

Beside those, window ``-1`` (``DEFORMABLE``) is a deformable head (ours, DATAR-style, not in the
official code; docs/design.md §D25): its keys and values are read at learned positions of the
(time × frequency) grid that an offset network derives from the head's query map; with zero
offsets, stride 1 and a zero bias it equals a global head.

Three paths share the parameters and compute the same function:

* the fused path (default): every global and windowed head in **one** attention call per layer,
  the windows an additive mask (hear_mwmae/fused_attention.py);
* the grouped path (``forward_grouped``, a reference): one batched call per window size over the
  windows laid out as blocks;
* the explicit path: full N × N weights, returned for analysis tools.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .cpu_kernels import linear
from .deformable import DeformableBias, OffsetNetwork, bilinear_sample, bilinear_weights, sample_positions
from .fused_attention import attend, flat_bias, multi_window_attend, window_mask
from .windows import DEFORMABLE, WindowLayout, block_positions, relative_position_index, same_window, shift_for, to_blocks

__all__ = ["DEFORMABLE", "MultiWindowAttention", "attend", "relative_position_index", "same_window"]


class MultiWindowAttention(nn.Module):
    """Multi-head self-attention whose heads may attend within local windows.

    Args:
        dim: token width D.
        num_heads: number of heads H (head dim D / H).
        window_sizes: one int per head (0 = global, -1 = deformable); empty = all heads global.
        shift_windows: move every window's boundaries by w // 2 (the official ``shifting_windows``,
            which shifts the odd-numbered blocks of a stack).

    Shapes: ``forward(x)`` with x (B, N, D) returns (B, N, D); with ``return_attention=True``
    it returns ``(out, attn)`` with attn (B, H, N, N) (zero outside a head's windows).
    Any N works: a window size that does not divide N leaves a shorter last window.
    """

    def __init__(self, dim: int, num_heads: int, window_sizes: tuple[int, ...] = (), *,
                 shift_windows: bool = False, grid: tuple[int, int] | None = None,
                 deform_stride: tuple[int, int] = (1, 1), deform_kernel: tuple[int, int] = (5, 3),
                 deform_range: float = 2.0) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        window_sizes = tuple(window_sizes) or (0,) * num_heads
        if len(window_sizes) != num_heads:
            raise ValueError(f"need one window size per head ({num_heads}), got {window_sizes}")
        if any(w < DEFORMABLE for w in window_sizes):
            raise ValueError(f"window sizes must be >= 0, or {DEFORMABLE} for a deformable head: {window_sizes}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.window_sizes = window_sizes
        self.shift_windows = bool(shift_windows)
        self.shifts = tuple(shift_for(w, self.shift_windows) for w in window_sizes)
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
        if self.deformable_heads:
            if grid is None:
                raise ValueError("deformable heads (window -1) need the token grid (T_p, F_p)")
            self.grid, self.deform_range = tuple(grid), float(deform_range)
            self.offset_net = OffsetNetwork(self.head_dim, self.grid, deform_stride, deform_kernel)
            self.deformable_bias = DeformableBias(len(self.deformable_heads), self.grid)
        self.is_global = all(w == 0 for w in window_sizes)
        # The heads the fused call covers (all but deformable ones), and the order that puts
        # [fused heads, deformable heads] back in head order (None: already in order). Plain tuples
        # and a plain dict of layouts, not buffers: the module holds only parameters, so it can be
        # built on the meta device and filled from a file.
        self.attended_heads = tuple(h for h, w in enumerate(window_sizes) if w != DEFORMABLE)
        order = [*self.attended_heads, *self.deformable_heads]
        self.head_order = None if order == list(range(num_heads)) else tuple(order.index(h) for h in range(num_heads))
        self._layouts: dict = {}

    # ---- windows ------------------------------------------------------------------------------
    def layout(self, n: int, device=None, heads: tuple[int, ...] | None = None) -> WindowLayout:
        """The (cached) window layout of ``heads`` (default: all) at sequence length n."""
        heads = tuple(range(self.num_heads)) if heads is None else heads
        key = (n, str(device), heads)
        if key not in self._layouts:
            self._layouts[key] = WindowLayout.build(n, tuple(self.window_sizes[h] for h in heads),
                                                    tuple(self.shifts[h] for h in heads), device)
        return self._layouts[key]

    def _flat_bias(self, heads: tuple[int, ...]) -> torch.Tensor:
        tables = [self.relative_position_bias[f"head{h}"] for h in heads if self.window_sizes[h] > 0]
        if not tables:  # all global: an empty table vector on the parameters' device and dtype
            tables = [self.qkv.bias[:0]]
        return flat_bias(tables)

    def window_bias(self, window: int, heads: tuple[int, ...]) -> torch.Tensor:
        """(len(heads), w, w) relative-position bias of the given heads (all of window w)."""
        tables = torch.stack([self.relative_position_bias[f"head{h}"] for h in heads])
        return tables[:, relative_position_index(window, device=tables.device)]

    def attention_mask(self, n: int, device=None, dtype=torch.float32) -> torch.Tensor:
        """(H, N, N) additive logits mask: bias inside windows, −inf outside, 0 for global (and
        deformable, computed apart) heads."""
        flat = self._flat_bias(tuple(range(self.num_heads))).to(device=device, dtype=dtype)
        return window_mask(flat, self.layout(n, device))[0]

    def _check_length(self, n: int) -> None:
        if self.deformable_heads and n != self.grid[0] * self.grid[1]:
            raise ValueError(f"deformable heads work on the full {self.grid[0]}x{self.grid[1]} token grid "
                             f"({self.grid[0] * self.grid[1]} tokens), got {n}")

    # ---- deformable heads -------------------------------------------------------------------
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

    # ---- forward paths ------------------------------------------------------------------------
    def _qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, n, _ = x.shape
        return linear(self.qkv, x).view(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)

    def _merge(self, parts: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """Per-head outputs (B, h_i, N, hd), in attended-then-deformable order -> proj (B, N, D)."""
        b, n, d = x.shape
        out = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        if self.head_order is not None:
            out = out.index_select(1, torch.tensor(self.head_order, device=x.device))  # back to head order
        return linear(self.proj, out.transpose(1, 2).reshape(b, n, d))

    def forward(
        self, x: torch.Tensor, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        n = x.shape[1]
        self._check_length(n)
        if return_attention:
            return self._forward_explicit(x)
        if self.weight_filter is not None:  # the filter edits explicit weights: never skip it silently
            return self._forward_explicit(x)[0]
        q, k, v = self._qkv(x)  # each (B, H, N, hd)
        if self.is_global:
            return self._merge([attend(q, k, v)], x)
        heads = self.attended_heads
        parts = []
        if heads:
            sel = (lambda z: z) if len(heads) == self.num_heads else (lambda z: z[:, list(heads)])  # noqa: E731
            layout = self.layout(n, x.device, heads)
            parts.append(multi_window_attend(sel(q), sel(k), sel(v), self._flat_bias(heads), layout))
        if self.deformable_heads:
            dh = list(self.deformable_heads)
            parts.append(self._deformable(q[:, dh], k[:, dh], v[:, dh])[0])
        return self._merge(parts, x)

    def forward_grouped(self, x: torch.Tensor) -> torch.Tensor:
        """Reference path: one batched attention call per window size, over the windows laid out as
        blocks (padding slots masked). Same function as ``forward``; tests hold them together."""
        n = x.shape[1]
        self._check_length(n)
        q, k, v = self._qkv(x)
        parts = [None] * self.num_heads
        groups: dict[int, list[int]] = {}
        for h, w in enumerate(self.window_sizes):
            groups.setdefault(w, []).append(h)
        for w, hs in groups.items():
            if w == 0:
                o = attend(q[:, hs], k[:, hs], v[:, hs])
            elif w == DEFORMABLE:
                o = self._deformable(q[:, hs], k[:, hs], v[:, hs])[0]
            else:
                o = self._windows_as_blocks(q[:, hs], k[:, hs], v[:, hs], w, self.shifts[hs[0]], hs)
            for i, h in enumerate(hs):
                parts[h] = o[:, i:i + 1]
        out = torch.cat(parts, dim=1)
        b, _, d = x.shape
        return self.proj(out.transpose(1, 2).reshape(b, n, d))

    def _windows_as_blocks(self, q, k, v, w: int, shift: int, heads: list[int]) -> torch.Tensor:
        """q, k, v (B, g, N, hd) of heads sharing window w -> (B, g, N, hd), one call for all windows."""
        b, g, n, hd = q.shape
        positions = block_positions(n, w, shift, q.device)  # (nB, w), n = a padding slot
        key_pad = torch.zeros(positions.shape, dtype=q.dtype, device=q.device).masked_fill(positions == n, -math.inf)
        bias = self.window_bias(w, tuple(heads)).to(q.dtype)[:, None] + key_pad[:, None, :]  # (g, nB, w, w)
        o = attend(*(to_blocks(z, positions) for z in (q, k, v)), bias)  # (B, g, nB, w, hd)
        front = (w - shift) % w
        return o.reshape(b, g, -1, hd)[:, :, front:front + n]

    def _forward_explicit(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, n, d = x.shape
        q, k, v = self._qkv(x)
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
