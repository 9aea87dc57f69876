"""Random per-token masking (docs/design.md §D8). Convention: mask 1 = removed, 0 = kept."""

from __future__ import annotations

import torch

from .config import num_kept


def shuffle_order(noise: torch.Tensor) -> torch.Tensor:
    """(B, N) token order for masking: ascending noise; the first ``num_kept`` tokens are kept.

    Stable so that ties keep patch order (parity: injected official noise has no ties, but a
    constant noise must give the same mask on every backend)."""
    return torch.argsort(noise, dim=1, stable=True)


def kept_indices(noise: torch.Tensor, mask_ratio: float) -> torch.Tensor:
    """(B, K) patch indices of the tokens :func:`random_masking` keeps, in the encoder's order."""
    return shuffle_order(noise)[:, : num_kept(noise.shape[1], mask_ratio)]


def random_masking(
    x: torch.Tensor, mask_ratio: float, noise: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Keep a random subset of tokens per sample.

    Args:
        x: (B, N, D) tokens (positional embedding already added).
        mask_ratio: fraction removed.
        noise: optional (B, N) uniform noise; argsort ascending, the first tokens are kept.
            Inject it to reproduce a given mask (e.g. the official one).

    Returns:
        x_kept (B, K, D), mask (B, N) with 1 = removed in patch order, ids_restore (B, N).
    """
    b, n, d = x.shape
    keep = num_kept(n, mask_ratio)
    if noise is None:
        noise = torch.rand(b, n, device=x.device)
    elif noise.shape != (b, n):
        raise ValueError(f"noise must have shape {(b, n)}, got {tuple(noise.shape)}")
    ids_shuffle = shuffle_order(noise)
    ids_restore = torch.argsort(ids_shuffle, dim=1, stable=True)
    ids_keep = ids_shuffle[:, :keep]
    x_kept = torch.gather(x, 1, ids_keep.unsqueeze(-1).expand(-1, -1, d))
    mask = torch.ones(b, n, device=x.device, dtype=x.dtype)
    mask[:, :keep] = 0
    mask = torch.gather(mask, 1, ids_restore)
    return x_kept, mask, ids_restore
