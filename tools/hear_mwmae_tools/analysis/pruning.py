"""Head pruning and attention-span curves (SAT; docs/design.md §D22).

Pruning zeroes heads through a head mask on their outputs (before the output projection), at
inference, cumulatively along a ranking (``sat.rank_heads``). A random-ranking band (several
seeds) is the reference every informed ranking is judged against.
"""

from __future__ import annotations

import numpy as np

from .hooks import AttentionHooks, SPAN_MODES, attention_layers, head_masks
from .sat import rank_heads


def default_steps(total: int, count: int = 9) -> list[int]:
    """About ``count`` evenly spaced pruning counts from 0 to ``total`` (both included)."""
    if total < 1:
        raise ValueError(f"total must be >= 1, got {total}")
    return sorted({int(round(v)) for v in np.linspace(0, total, max(2, count))})


def _check_steps(steps, total: int) -> list[int]:
    steps = [int(s) for s in steps]
    if not steps or any(s < 0 or s > total for s in steps):
        raise ValueError(f"steps must be pruning counts in [0, {total}], got {steps}")
    return steps


def pruning_curve(model, part: str, order, scorer, steps, progress: bool = False) -> np.ndarray:
    """(len(steps),) scores with the first ``k`` heads of ``order`` zeroed, for every k in ``steps``.

    Args:
        model: ``MaskedAutoencoder``; part: ``"encoder"`` | ``"decoder"`` (the heads ranked).
        order: (layer, head) pairs, pruned first to last (e.g. ``sat.rank_heads``).
        scorer: ``scorer(model) -> float`` (``scorers.ReconstructionScorer`` / ``LinearProbeScorer``).
        steps: numbers of pruned heads.
    """
    layers = attention_layers(model, part)
    num_layers, num_heads = len(layers), layers[0].num_heads
    order = [tuple(map(int, p)) for p in order]
    steps = _check_steps(steps, len(order))
    it = steps
    if progress:
        from tqdm import tqdm

        it = tqdm(steps, desc=f"pruning ({part})", unit="step")
    scores = []
    for k in it:
        mask = head_masks(order[:k], num_layers, num_heads)
        with AttentionHooks(model, part, head_mask=mask):
            scores.append(float(scorer(model)))
    return np.asarray(scores)


def random_band(model, part: str, scorer, steps, seeds=(0, 1, 2), progress: bool = False) -> np.ndarray:
    """(len(seeds), len(steps)) pruning curves of random rankings (the reference band)."""
    layers = attention_layers(model, part)
    shape_stats = {"entropy": np.zeros((len(layers), layers[0].num_heads))}
    return np.stack([pruning_curve(model, part, rank_heads(shape_stats, "random", num_time_steps=1, seed=s),
                                   scorer, steps, progress) for s in seeds])


def span_curve(model, part: str, radii, scorer, mode: str = "renormalize", progress: bool = False) -> np.ndarray:
    """(len(radii),) scores with every head limited to |Δt| <= r time steps (None = no limit)."""
    if mode not in SPAN_MODES:
        raise ValueError(f"mode must be one of {SPAN_MODES}, got {mode!r}")
    it = list(radii)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc=f"span ({part})", unit="radius")
    scores = []
    for r in it:
        with AttentionHooks(model, part, span=None if r is None else int(r), span_mode=mode):
            scores.append(float(scorer(model)))
    return np.asarray(scores)
