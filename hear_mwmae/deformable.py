"""Deformable attention over the (time × frequency) patch grid, DAT-style (docs/design.md §D25).

Deformable attention (Xia et al., DAT, CVPR 2022) lets each group of heads attend to keys and
values *sampled* at learned positions instead of at every token: an offset network looks at the
query map, moves a grid of reference points, and the features are read there by bilinear
interpolation. DATAR (Zhu, arXiv 2312.16228) applies the idea to audio spectrograms; it has no
public code, so everything here is "DATAR-style": our reading of DAT on audio patch grids.

Our choices (not the papers'):

* **Units.** Positions are in token cells of the grid, (t, f) with t in [0, T_p − 1], f in
  [0, F_p − 1]; reference points sit at i·r (the centres of the offset network's strided conv),
  so with stride 1 they are exactly the tokens.
* **Range.** ``offset_range`` s ≥ 0 bounds an offset to s·r cells per axis (s·tanh), the
  DAT rule in our units; s < 0 leaves it unbounded, and positions are clamped to the grid.
* **Tiny axes.** The frequency axis may be only 5 patches tall (or 1): stride and conv kernel
  are clipped per axis to the axis length, and an axis of length 1 never moves (its offset is 0).
* **Bias.** A learned (2T_p − 1) × (2F_p − 1) table per head, read bilinearly at the
  continuous query-to-sample displacement (DAT's "deformable relative position bias").
* **Sampling commutes with linear maps.** Reading a linear projection of the tokens at a point
  equals projecting the features read there (bilinear weights sum to 1), so keys and values can be
  projected per token first and then sampled: a deformable head fits inside MW-MHA's shared qkv.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _axis_params(size: int, stride: int, kernel: int) -> tuple[int, int]:
    """(stride, kernel) clipped to an axis of ``size`` tokens (odd kernel ≤ 2·size − 1, stride ≤ size)."""
    stride = max(1, min(stride, size))
    kernel = max(1, min(kernel, 2 * size - 1))
    return stride, kernel if kernel % 2 else kernel - 1


def reference_points(grid: tuple[int, int], stride: tuple[int, int], device=None) -> torch.Tensor:
    """(H_k, W_k, 2) reference positions (t, f) in token cells: i·r_t, j·r_f for the strided grid."""
    (t, f), (rt, rf) = grid, stride
    ts = torch.arange(0, t, rt, device=device, dtype=torch.float32)
    fs = torch.arange(0, f, rf, device=device, dtype=torch.float32)
    return torch.stack(torch.meshgrid(ts, fs, indexing="ij"), dim=-1)


class OffsetNetwork(nn.Module):
    """DAT's offset generator: depthwise conv (stride r) -> LayerNorm -> GELU -> 1×1 conv to 2 channels.

    ``forward(q_map)`` with q_map (B', C, T_p, F_p) returns raw offsets (B', H_k, W_k, 2) (t, f).
    The last conv starts at zero, so a fresh network gives zero offsets (samples at the references).
    """

    def __init__(self, channels: int, grid: tuple[int, int], stride: tuple[int, int], kernel: tuple[int, int]) -> None:
        super().__init__()
        (st, kt), (sf, kf) = _axis_params(grid[0], stride[0], kernel[0]), _axis_params(grid[1], stride[1], kernel[1])
        self.stride, self.kernel = (st, sf), (kt, kf)
        self.dwconv = nn.Conv2d(channels, channels, (kt, kf), stride=(st, sf), padding=(kt // 2, kf // 2), groups=channels)
        self.norm = nn.LayerNorm(channels)
        self.act = nn.GELU()
        self.proj = nn.Conv2d(channels, 2, 1, bias=False)
        nn.init.zeros_(self.proj.weight)

    def forward(self, q_map: torch.Tensor) -> torch.Tensor:
        h = self.dwconv(q_map)  # (B', C, H_k, W_k)
        h = self.act(self.norm(h.permute(0, 2, 3, 1)))  # channels last for the norm
        return self.proj(h.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)  # (B', H_k, W_k, 2)


def sample_positions(raw: torch.Tensor, grid: tuple[int, int], stride: tuple[int, int], offset_range: float) -> torch.Tensor:
    """Raw offsets (B', H_k, W_k, 2) -> sampling positions (B', H_k, W_k, 2) (t, f) in token cells, on the grid."""
    ref = reference_points(grid, stride, device=raw.device).to(raw.dtype)
    scale = torch.tensor(stride, device=raw.device, dtype=raw.dtype)  # one reference cell per axis
    moves = torch.tensor([size > 1 for size in grid], device=raw.device, dtype=raw.dtype)  # a 1-token axis stays put
    offset = (offset_range * torch.tanh(raw) if offset_range >= 0 else raw) * scale * moves
    limit = torch.tensor([grid[0] - 1, grid[1] - 1], device=raw.device, dtype=raw.dtype)
    return torch.minimum(torch.clamp(ref + offset, min=0), limit)


def _normalised(pos: torch.Tensor, sizes: tuple[int, int]) -> torch.Tensor:
    """(…, 2) (t, f) token cells -> grid_sample's (x = f, y = t) in [−1, 1] (align_corners=True)."""
    t, f = pos.unbind(-1)
    nt = 2 * t / (sizes[0] - 1) - 1 if sizes[0] > 1 else torch.zeros_like(t)
    nf = 2 * f / (sizes[1] - 1) - 1 if sizes[1] > 1 else torch.zeros_like(f)
    return torch.stack([nf, nt], dim=-1)


def bilinear_sample(maps: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Read (B', C, T_p, F_p) feature maps at (B', S, 2) positions (t, f) -> (B', S, C), bilinearly."""
    grid = _normalised(positions, maps.shape[-2:])[:, :, None, :]  # (B', S, 1, 2)
    out = F.grid_sample(maps, grid.to(maps.dtype), mode="bilinear", padding_mode="border", align_corners=True)
    return out[..., 0].transpose(1, 2)  # (B', S, C)


def bilinear_weights(positions: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(B', S, 2) positions -> (B', S, N) weights of the N = T_p·F_p tokens (token t·F_p + f) that a
    bilinear read at each position mixes; rows sum to 1. For analysis: spreads attention over samples
    back onto tokens."""
    t, f = positions.unbind(-1)
    t0, f0 = t.floor().clamp(0, grid[0] - 1), f.floor().clamp(0, grid[1] - 1)
    wt, wf = t - t0, f - f0
    out = positions.new_zeros(*positions.shape[:-1], grid[0] * grid[1])
    for dt, at in ((0, 1 - wt), (1, wt)):
        for df, af in ((0, 1 - wf), (1, wf)):
            ti, fi = (t0 + dt).clamp(max=grid[0] - 1), (f0 + df).clamp(max=grid[1] - 1)
            out.scatter_add_(-1, (ti * grid[1] + fi).long()[..., None], (at * af)[..., None])
    return out


class DeformableBias(nn.Module):
    """Per-head learned relative-position table (2T_p − 1, 2F_p − 1), read bilinearly at the continuous
    displacement query − sample. ``forward(samples (B, G, S, 2))`` -> (B, heads, N, S); heads are split
    evenly over the G sample groups."""

    def __init__(self, num_heads: int, grid: tuple[int, int]) -> None:
        super().__init__()
        self.grid = grid
        self.table = nn.Parameter(torch.zeros(num_heads, 1, 2 * grid[0] - 1, 2 * grid[1] - 1))
        nn.init.trunc_normal_(self.table, std=0.02)

    def forward(self, samples: torch.Tensor) -> torch.Tensor:
        b, g, s, _ = samples.shape
        heads = self.table.shape[0]
        tokens = reference_points(self.grid, (1, 1), device=samples.device).reshape(-1, 2).to(samples.dtype)  # (N, 2)
        disp = tokens[None, None, :, None, :] - samples[:, :, None, :, :]  # (B, G, N, S, 2), in [−(T−1), T−1]
        sizes = (2 * self.grid[0] - 1, 2 * self.grid[1] - 1)
        where = _normalised(disp + torch.tensor([self.grid[0] - 1, self.grid[1] - 1], device=disp.device, dtype=disp.dtype),
                            sizes)  # table cell of each displacement
        per_group = heads // g
        where = where.repeat_interleave(per_group, dim=1).reshape(b * heads, tokens.shape[0], s, 2)
        table = self.table.to(samples.dtype).repeat(b, 1, 1, 1)  # (B·heads, 1, 2T−1, 2F−1)
        bias = F.grid_sample(table, where, mode="bilinear", padding_mode="border", align_corners=True)
        return bias.view(b, heads, tokens.shape[0], s)


class DeformableAttention(nn.Module):
    """DAT-style deformable multi-head attention over a (T_p × F_p) token grid.

    Args:
        dim: token width D; num_heads: heads H (D / H per head); grid: (T_p, F_p), N = T_p·F_p.
        groups: offset groups G (H divisible by G); each group shares one set of sampling points.
        stride: (r_t, r_f) downsampling of the reference grid; kernel: the offset conv's size.
        offset_range: s ≥ 0 bounds offsets to s reference cells (s·tanh); s < 0 unbounded + clamped.
        position_bias: the deformable relative-position bias (off: plain dot products).

    ``forward(x)`` with x (B, N, D) returns (B, N, D); with ``return_info=True`` it returns
    ``(out, info)``: ``positions`` (B, G, S, 2) sampled (t, f) in token cells, ``references``
    (S, 2), ``offsets`` (B, G, S, 2) = positions − references, ``attention`` (B, H, N, S).
    """

    def __init__(self, dim: int, num_heads: int, grid: tuple[int, int], *, groups: int = 1,
                 stride: tuple[int, int] = (1, 1), kernel: tuple[int, int] = (5, 3), offset_range: float = 2.0,
                 position_bias: bool = True) -> None:
        super().__init__()
        check_deformable(dim, num_heads, grid, groups, stride, kernel)
        self.dim, self.num_heads, self.groups, self.grid = dim, num_heads, groups, tuple(grid)
        self.head_dim = dim // num_heads
        self.offset_range = float(offset_range)
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        self.offset_net = OffsetNetwork(dim // groups, self.grid, stride, kernel)
        self.bias = DeformableBias(num_heads, self.grid) if position_bias else None
        self.last_sample_positions = None  # (B, G, S, 2) (t, f) sampled in the last pass, for analysis

    def forward(self, x: torch.Tensor, return_info: bool = False):
        b, n, d = x.shape
        t, f = self.grid
        if n != t * f:
            raise ValueError(f"deformable attention over a {t}x{f} grid needs {t * f} tokens, got {n}")
        g, cg = self.groups, d // self.groups
        q = self.q(x)  # (B, N, D)
        q_map = q.transpose(1, 2).reshape(b * g, cg, t, f)  # per group: its channels as a map
        raw = self.offset_net(q_map)  # (B·G, H_k, W_k, 2)
        positions = sample_positions(raw, self.grid, self.offset_net.stride, self.offset_range).reshape(b * g, -1, 2)
        kv_map = self.kv(x).view(b, n, 2, g, cg).permute(2, 0, 3, 4, 1).reshape(2, b * g, cg, t, f)
        k, v = (bilinear_sample(m, positions) for m in kv_map)  # (B·G, S, cg) each
        s, hg = positions.shape[1], self.num_heads // g
        k = k.view(b, g, s, hg, self.head_dim).permute(0, 1, 3, 2, 4).reshape(b, self.num_heads, s, self.head_dim)
        v = v.view(b, g, s, hg, self.head_dim).permute(0, 1, 3, 2, 4).reshape(b, self.num_heads, s, self.head_dim)
        qh = q.view(b, n, self.num_heads, self.head_dim).transpose(1, 2)  # (B, H, N, hd)
        logits = (qh @ k.transpose(-2, -1)) / math.sqrt(self.head_dim)  # (B, H, N, S)
        samples = positions.view(b, g, s, 2)
        self.last_sample_positions = samples.detach()
        if self.bias is not None:
            logits = logits + self.bias(samples)
        attn = logits.softmax(dim=-1)
        out = self.proj((attn @ v).transpose(1, 2).reshape(b, n, d))
        if not return_info:
            return out
        references = reference_points(self.grid, self.offset_net.stride, device=x.device).reshape(-1, 2)
        return out, {"positions": samples, "references": references, "offsets": samples - references,
                     "attention": attn}


def check_deformable(dim: int, num_heads: int, grid: tuple[int, int], groups: int, stride, kernel) -> None:
    """Clear errors for configurations deformable attention cannot run."""
    if dim % num_heads:
        raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
    if groups < 1 or num_heads % groups:
        raise ValueError(f"num_heads {num_heads} must be divisible by the offset groups {groups}")
    if len(grid) != 2 or min(grid) < 1:
        raise ValueError(f"grid must be (T_p, F_p) with both >= 1, got {grid}")
    for name, pair in (("stride", stride), ("kernel", kernel)):
        if len(pair) != 2 or min(pair) < 1:
            raise ValueError(f"{name} must be two positive ints (time, frequency), got {pair}")
