"""SAT head analyses (Yang, Liu & Lee 2020; docs/design.md §D21–D22).

Scores, from the (L, H) arrays of ``collect_attention_stats``:

* globalness G = mean row entropy (nats), the MW-MAE "attention entropy";
* verticality V = −entropy of the key-marginal (per clip, then averaged); also over time steps
  (``verticality_time``) or frequency bands (``verticality_freq``);
* diagonality D = −(mean |Δt| attention distance in time steps) / T_p, SAT's −(1/T²)ΣΣ|q−k|A on
  the patch grid.

Classification: rank all heads by G, by V and by D (rank 0 = highest score); a head belongs to
the category in which its rank is best. Ties go to the first of global, vertical, diagonal.
"""

from __future__ import annotations

import numpy as np

CATEGORIES = ("global", "vertical", "diagonal")
RANKINGS = ("globalness", "verticality", "verticality_time", "verticality_freq", "diagonality", "entropy",
            "distance", "max_weight", "random", "window")


def sat_scores(stats: dict[str, np.ndarray], num_time_steps: int) -> dict[str, np.ndarray]:
    """{"globalness", "verticality", "verticality_time", "verticality_freq", "diagonality"}: (L, H) each."""
    need = ("entropy", "verticality", "dist_time_patch")
    missing = [k for k in need if k not in stats]
    if missing:
        raise ValueError(f"stats lack {missing}: compute them with the 'time_patch' distance variant")
    if num_time_steps < 1:
        raise ValueError(f"num_time_steps must be >= 1, got {num_time_steps}")
    return {
        "globalness": np.asarray(stats["entropy"], dtype=np.float64),
        "verticality": np.asarray(stats["verticality"], dtype=np.float64),
        "verticality_time": np.asarray(stats.get("verticality_time", stats["verticality"]), dtype=np.float64),
        "verticality_freq": np.asarray(stats.get("verticality_freq", stats["verticality"]), dtype=np.float64),
        "diagonality": -np.asarray(stats["dist_time_patch"], dtype=np.float64) / num_time_steps,
    }


def rank_positions(scores: np.ndarray) -> np.ndarray:
    """Rank of every entry when sorted by descending score (0 = highest), same shape; stable."""
    flat = np.asarray(scores, dtype=np.float64).ravel()
    order = np.argsort(-flat, kind="stable")
    ranks = np.empty(len(flat), dtype=np.int64)
    ranks[order] = np.arange(len(flat))
    return ranks.reshape(np.shape(scores))


def classify_heads(globalness, verticality, diagonality) -> np.ndarray:
    """(L, H) array of category names by SAT's rank rule (see module docstring)."""
    g, v, d = (np.asarray(a, dtype=np.float64) for a in (globalness, verticality, diagonality))
    if not g.shape == v.shape == d.shape:
        raise ValueError(f"score arrays must have the same shape, got {g.shape}, {v.shape}, {d.shape}")
    ranks = np.stack([rank_positions(g), rank_positions(v), rank_positions(d)])  # (3, L, H)
    return np.asarray(CATEGORIES)[np.argmin(ranks, axis=0)]


def head_order(scores: np.ndarray) -> list[tuple[int, int]]:
    """(layer, head) pairs from the highest score to the lowest (ties: layer, then head order)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(f"scores must be (layers, heads), got shape {scores.shape}")
    flat = np.argsort(-scores.ravel(), kind="stable")
    return [(int(i // scores.shape[1]), int(i % scores.shape[1])) for i in flat]


def rank_heads(stats: dict[str, np.ndarray], by: str, *, num_time_steps: int, seed: int = 0,
               distance_variant: str = "time_patch") -> list[tuple[int, int]]:
    """Pruning order (first = pruned first) of all (layer, head) pairs.

    ``by``: a SAT score (highest first, as SAT prunes), ``"entropy"`` (= globalness),
    ``"distance"`` (largest mean distance first), ``"max_weight"`` (largest first),
    ``"random"`` (seeded) or ``"window"`` (MW-MHA: smallest window first, global heads last).
    """
    if by not in RANKINGS:
        raise ValueError(f"rank by one of {RANKINGS}, got {by!r}")
    shape = np.shape(stats["entropy"])
    if by == "random":
        rng = np.random.default_rng(seed)
        return [(int(i // shape[1]), int(i % shape[1])) for i in rng.permutation(shape[0] * shape[1])]
    if by == "window":
        windows = np.asarray(stats["window_sizes"], dtype=np.float64)
        if not windows.any():
            raise ValueError("ranking by window needs windowed (MW-MHA) heads; this part has only global heads")
        size = np.where(windows > 0, windows, np.inf)  # global heads last
        return head_order(-np.broadcast_to(size, shape))
    if by in ("entropy", "max_weight"):
        return head_order(stats[by])
    if by == "distance":
        return head_order(stats[f"dist_{distance_variant}"])
    return head_order(sat_scores(stats, num_time_steps)[by])
