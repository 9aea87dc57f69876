"""Patch embedding and sin-cos positional tables (docs/design.md §D3–D4)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def sincos_1d(dim: int, positions: np.ndarray) -> np.ndarray:
    """(len(positions), dim) table: [sin(p·ω_k) | cos(p·ω_k)], ω_k = 10000^(−k/(dim/2))."""
    if dim % 2:
        raise ValueError(f"sin-cos embedding needs an even dim, got {dim}")
    omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
    angles = np.outer(positions.reshape(-1).astype(np.float64), omega)
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)


def sincos_2d(dim: int, grid: tuple[int, int], cls_token: bool = False) -> np.ndarray:
    """(T·F [+1], dim) table for a (T time, F freq) grid, row n = F·t + f.

    Why this layout: the official MAE meshgrid convention puts the *frequency* index in the
    first dim/2 channels and the time index in the second half (verified to 3e-6, docs/design.md §D4).
    The cls row (MAE baseline) starts at zero.
    """
    if dim % 4:
        raise ValueError(f"2-D sin-cos embedding needs dim divisible by 4, got {dim}")
    t, f = np.meshgrid(np.arange(grid[0]), np.arange(grid[1]), indexing="ij")
    table = np.concatenate([sincos_1d(dim // 2, f), sincos_1d(dim // 2, t)], axis=1)
    if cls_token:
        table = np.concatenate([np.zeros((1, dim)), table], axis=0)
    return table


class PatchEmbed(nn.Module):
    """Log-mel (B, T, F) -> patch tokens (B, T/pt · F/pf, D), time-major (n = F'·t + f).

    A conv with kernel = stride = patch size (no norm), i.e. a linear map of each patch.
    """

    def __init__(self, patch_size: tuple[int, int], embed_dim: int) -> None:
        super().__init__()
        self.patch_size = tuple(patch_size)
        self.proj = nn.Conv2d(1, embed_dim, kernel_size=self.patch_size, stride=self.patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x.unsqueeze(1))  # (B, D, T', F')
        return x.flatten(2).transpose(1, 2)  # (B, T'·F', D), frequency fastest


def patchify(x: torch.Tensor, patch_size: tuple[int, int]) -> torch.Tensor:
    """(B, T, F) -> (B, N, pt·pf); inside a patch, time-in-patch major, mel minor (docs/design.md §D8)."""
    b, t, f = x.shape
    pt, pf = patch_size
    x = x.reshape(b, t // pt, pt, f // pf, pf).permute(0, 1, 3, 2, 4)
    return x.reshape(b, (t // pt) * (f // pf), pt * pf)


def unpatchify(patches: torch.Tensor, patch_size: tuple[int, int], grid: tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`patchify`: (B, N, pt·pf) -> (B, T, F)."""
    b = patches.shape[0]
    pt, pf = patch_size
    x = patches.reshape(b, grid[0], grid[1], pt, pf).permute(0, 1, 3, 2, 4)
    return x.reshape(b, grid[0] * pt, grid[1] * pf)
