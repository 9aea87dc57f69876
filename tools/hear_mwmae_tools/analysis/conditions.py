"""Input conditions of an analysis run: unmasked encoder, masked encoder, masked decoder (docs/design.md §D18).

Masks come from per-clip seeded noise, ``rng([seed, clip_index])``, so a clip gets the same mask
whatever the batch size, and two models compared on the same clips see identical masks.
"""

from __future__ import annotations

import numpy as np
import torch

from hear_mwmae.masking import kept_indices
from .hooks import broadcast_positions

QUERY_SETS = ("all", "masked", "visible")


def mask_noise(clip_ids, num_patches: int, seed: int, device=None) -> torch.Tensor:
    """(B, N) float32 uniform noise for ``random_masking``, one seeded stream per clip id."""
    rows = [np.random.default_rng([int(seed), int(i)]).random(num_patches) for i in clip_ids]
    return torch.from_numpy(np.stack(rows).astype(np.float32)).to(device)


def check_condition(part: str, mask_ratio: float, query_set: str) -> None:
    """Validate a (part, mask ratio, query set) combination; raises ValueError."""
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
    if query_set not in QUERY_SETS:
        raise ValueError(f"query_set must be one of {QUERY_SETS}, got {query_set!r}")
    if part == "encoder" and query_set != "all":
        raise ValueError("the encoder sees only visible tokens: use query_set='all' for the encoder")
    if query_set == "masked" and mask_ratio == 0.0:
        raise ValueError("query_set='masked' needs mask_ratio > 0 (nothing is masked at 0)")


@torch.no_grad()
def run_condition(model, logmel: torch.Tensor, part: str, *, mask_ratio: float, seed: int, clip_ids,
                  query_set: str = "all") -> dict[str, torch.Tensor | None]:
    """One forward pass of ``part`` on (B, T, F) log-mel crops under a condition.

    Tells active hooks where the part's tokens sit (:func:`broadcast_positions`). Returns
    ``positions`` (B, K) or None (all N in order), ``query_mask`` (B, K) bool or None (all), and
    ``mask`` (B, N) (1 = removed) or None when nothing is masked.
    """
    check_condition(part, mask_ratio, query_set)
    n = model.config.num_patches
    if part == "encoder" and mask_ratio == 0.0:
        broadcast_positions(model, "encoder", None)
        model.encoder.forward_features(logmel)
        return {"positions": None, "query_mask": None, "mask": None}
    noise = mask_noise(clip_ids, n, seed, logmel.device)
    if part == "encoder":
        positions = kept_indices(noise, mask_ratio)
        broadcast_positions(model, "encoder", positions)
        _, mask, _ = model.encoder.forward_masked(logmel, mask_ratio, noise)
        return {"positions": positions, "query_mask": None, "mask": mask}
    if model.decoder is None:
        raise ValueError("this model has no decoder (encoder-only checkpoint)")
    broadcast_positions(model, "encoder", kept_indices(noise, mask_ratio))
    broadcast_positions(model, "decoder", None)
    latent, mask, ids_restore = model.encoder.forward_masked(logmel, mask_ratio, noise)
    model.decoder(latent, ids_restore)
    query_mask = {"all": None, "masked": mask > 0.5, "visible": mask < 0.5}[query_set]
    return {"positions": None, "query_mask": query_mask, "mask": mask}


def iterate_batches(num: int, batch_size: int):
    """Index ranges [start, stop) of consecutive batches."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return [(s, min(num, s + batch_size)) for s in range(0, num, batch_size)]


def run_batches(model, logmel: torch.Tensor, part: str, hooks, *, mask_ratio: float, seed: int, query_set: str,
                batch_size: int, progress: str | None = None):
    """Run ``part`` under a condition over (K, T, F) crops, batch by batch.

    Yields ``(start, stop, condition)`` (see :func:`run_condition`) while ``hooks`` hold that
    batch's captures; they are cleared before the next batch. ``progress``: a tqdm label, or None.
    """
    dev = next(model.parameters()).device
    batches = iterate_batches(len(logmel), batch_size)
    if progress:
        from tqdm import tqdm

        batches = tqdm(batches, desc=progress, unit="batch")
    for start, stop in batches:
        cond = run_condition(model, logmel[start:stop].to(dev, torch.float32), part, mask_ratio=mask_ratio,
                             seed=seed, clip_ids=range(start, stop), query_set=query_set)
        yield start, stop, cond
        hooks.clear()
