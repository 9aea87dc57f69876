"""Per-head features for similarity analyses (docs/design.md §D20).

A head's representation is its context vector softmax(qkᵀ/√d)v *before* the output projection
(head_dim channels), at a random subset of tokens per clip (tokens of one clip are correlated:
many clips × few tokens beats few clips × all tokens). The token subset is seeded per clip, so two
models given the same clips and seeds are compared on exactly the same tokens.
"""

from __future__ import annotations

import numpy as np
import torch

from .conditions import check_condition, run_batches
from .hooks import AttentionHooks, attention_layers


def token_subset(eligible: np.ndarray, count: int, seed: int, clip_id: int) -> np.ndarray:
    """Sorted indices of ``count`` tokens drawn from the ``eligible`` indices (all if fewer)."""
    if count >= len(eligible):
        return np.sort(eligible)
    return np.sort(np.random.default_rng([int(seed), int(clip_id), 1]).choice(eligible, count, replace=False))


@torch.no_grad()
def collect_head_features(model, logmel: torch.Tensor, part: str = "encoder", *, layers=None,
                          tokens_per_clip: int = 50, mask_ratio: float = 0.0, seed: int = 0,
                          query_set: str = "all", batch_size: int = 8, device=None,
                          progress: bool = False) -> dict[int, np.ndarray]:
    """Per-head outputs at sampled tokens: {layer: (clips · tokens, H, head_dim) float32}.

    Args:
        model: ``MaskedAutoencoder``; logmel: (K, T, F) crops; part: ``"encoder"`` | ``"decoder"``.
        layers: layer indices (None = all); tokens_per_clip: tokens sampled per clip (patch tokens
            only, CLS excluded, within ``query_set`` for the decoder); mask_ratio / seed: condition.
    """
    check_condition(part, mask_ratio, query_set)
    if isinstance(tokens_per_clip, bool) or not isinstance(tokens_per_clip, int) or tokens_per_clip < 1:
        raise ValueError(f"tokens_per_clip must be a positive int, got {tokens_per_clip!r}")
    model = model.eval() if device is None else model.to(device).eval()
    num = len(attention_layers(model, part))
    layers = list(range(num)) if layers is None else [int(i) for i in layers]
    prefix = getattr(model, part).num_prefix
    out: dict[int, list[np.ndarray]] = {i: [] for i in layers}
    with AttentionHooks(model, part, layers=layers, head_outputs=True) as hooks:
        for start, stop, cond in run_batches(model, logmel, part, hooks, mask_ratio=mask_ratio, seed=seed,
                                             query_set=query_set, batch_size=batch_size,
                                             progress=f"head features ({part})" if progress else None):
            for b, clip in enumerate(range(start, stop)):
                qm = cond["query_mask"]
                n_tok = hooks.head_outputs[layers[0]].shape[1] - prefix
                eligible = np.arange(n_tok) if qm is None else np.flatnonzero(qm[b].cpu().numpy())
                rows = token_subset(eligible, tokens_per_clip, seed, clip) + prefix
                for i in layers:
                    out[i].append(hooks.head_outputs[i][b, rows].float().cpu().numpy())
    return {i: np.concatenate(v) for i, v in out.items()}


def head_representations(features: dict[int, np.ndarray]) -> tuple[list[np.ndarray], list[tuple[int, int]]]:
    """Flatten {layer: (n, H, hd)} into one (n, hd) array per (layer, head), in layer-major order."""
    reps, labels = [], []
    for layer in sorted(features):
        f = features[layer]
        for h in range(f.shape[1]):
            reps.append(f[:, h])
            labels.append((layer, h))
    return reps, labels


def layer_representations(features: dict[int, np.ndarray]) -> tuple[list[np.ndarray], list[int]]:
    """One (n, H·hd) array per layer (all heads concatenated, i.e. the input of the projection)."""
    layers = sorted(features)
    return [features[i].reshape(features[i].shape[0], -1) for i in layers], layers
