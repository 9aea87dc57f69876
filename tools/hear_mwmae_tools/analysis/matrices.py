"""Similarity matrices (head × head, layer × layer, model A × model B) and permutation nulls (docs/design.md §D19).

Each representation is prepared once (centred, orthonormal basis, singular values); a block of
pairs then costs one matrix product of stacked bases plus one small SVD per pair.
"""

from __future__ import annotations

import numpy as np

from .similarity import DIRECTIONS, METRICS, Prepared, as_matrix, pair_value, prepare


def _check_metric(metric: str, direction: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")


def _check_all(reps, name: str) -> list[np.ndarray]:
    """Validated (datapoints, neurons) matrices, all with the same datapoints."""
    if not isinstance(reps, (list, tuple)) or not reps:
        raise TypeError(f"{name} must be a non-empty list of (datapoints, neurons) arrays")
    mats = [as_matrix(r, f"{name}[{i}]") for i, r in enumerate(reps)]
    rows = {m.shape[0] for m in mats}
    if len(rows) != 1:
        raise ValueError(f"all representations need the same datapoints (rows), got {sorted(rows)}")
    return mats


def _prepare_all(reps, name: str) -> list[Prepared]:
    return [prepare(m) for m in _check_all(reps, name)]


def _blocks(count: int, size: int = 16):
    return [list(range(s, min(count, s + size))) for s in range(0, count, size)]


def similarity_matrix(reps_a, reps_b=None, metric: str = "pwcca", *, direction: str = "mean",
                      threshold: float = 0.99) -> np.ndarray:
    """(len(a), len(b)) similarities between every pair of representations.

    Args:
        reps_a: list of (n, d_i) arrays (e.g. one per head, rows = the same tokens of the same clips).
        reps_b: second list (another model, same datapoints); None = ``reps_a`` (within a model).
        metric: ``"pwcca"`` | ``"svcca"`` | ``"cca"`` (mean ρ) | ``"cka"``.
        direction: PWCCA weighting side; ``"mean"`` (default) gives ½(s_xy + s_yx), symmetric.
        threshold: SVCCA variance threshold.
    """
    _check_metric(metric, direction)
    pa = _prepare_all(reps_a, "reps_a")
    pb = pa if reps_b is None else _prepare_all(reps_b, "reps_b")
    if pa[0].basis.shape[0] != pb[0].basis.shape[0]:
        raise ValueError("reps_a and reps_b need the same datapoints (rows)")
    out = np.full((len(pa), len(pb)), np.nan)
    for ba in _blocks(len(pa)):
        stack_a = np.concatenate([pa[i].basis for i in ba], axis=1)
        offs_a = np.cumsum([0] + [pa[i].rank for i in ba])
        for bb in _blocks(len(pb)):
            if reps_b is None and bb[-1] < ba[0]:
                continue  # lower triangle: filled by symmetry below
            stack_b = np.concatenate([pb[j].basis for j in bb], axis=1)
            offs_b = np.cumsum([0] + [pb[j].rank for j in bb])
            cross = stack_a.T @ stack_b  # all QₐᵀQ_b of the block at once
            for ii, i in enumerate(ba):
                for jj, j in enumerate(bb):
                    if reps_b is None and j < i:
                        continue
                    block = cross[offs_a[ii]:offs_a[ii + 1], offs_b[jj]:offs_b[jj + 1]]
                    out[i, j] = pair_value(pa[i], pb[j], metric, cross=block, direction=direction,
                                           threshold=threshold)
                    if reps_b is None and direction in ("x", "y", "smaller") and metric == "pwcca" and i != j:
                        other = "y" if direction == "x" else "x" if direction == "y" else direction
                        out[j, i] = pair_value(pa[i], pb[j], metric, cross=block, direction=other)
                    elif reps_b is None:
                        out[j, i] = out[i, j]
    return out


def permutation_null(x, y, metric: str = "pwcca", n_perm: int = 10, seed: int = 0, *, direction: str = "x",
                     threshold: float = 0.99) -> np.ndarray:
    """(n_perm,) similarities of x with row-shuffled copies of y: the level unrelated data reach.

    Shuffling rows keeps y's columns centred and its basis orthonormal, so each permutation costs
    one product and one small SVD.
    """
    _check_metric(metric, direction)
    if isinstance(n_perm, bool) or not isinstance(n_perm, int) or n_perm < 1:
        raise ValueError(f"n_perm must be a positive int, got {n_perm!r}")
    a, b = prepare(as_matrix(x, "x")), prepare(as_matrix(y, "y"))
    if a.basis.shape[0] != b.basis.shape[0]:
        raise ValueError("x and y need the same datapoints (rows)")
    return _null(a, b, metric, n_perm, np.random.default_rng(seed), direction, threshold)


def _null(a: Prepared, b: Prepared, metric, n_perm, rng, direction, threshold) -> np.ndarray:
    vals = []
    for _ in range(n_perm):
        perm = rng.permutation(b.basis.shape[0])
        shuffled = Prepared(b.basis[perm], b.sv, b.vt, b.kept)
        vals.append(pair_value(a, shuffled, metric, direction=direction, threshold=threshold))
    return np.asarray(vals)


def matrix_null(reps_a, reps_b=None, metric: str = "pwcca", n_perm: int = 5, seed: int = 0, *,
                direction: str = "mean", threshold: float = 0.99) -> np.ndarray:
    """(n_perm,) null values for random pairs of a matrix (one random pair per permutation)."""
    _check_metric(metric, direction)
    if n_perm < 1:
        return np.zeros(0)
    rng = np.random.default_rng(seed)
    ma = _check_all(reps_a, "reps_a")
    mb = ma if reps_b is None else _check_all(reps_b, "reps_b")
    cache: dict[tuple[int, int], Prepared] = {}

    def prepared(mats: list[np.ndarray], i: int) -> Prepared:  # only the sampled heads are decomposed
        key = (id(mats), i)
        if key not in cache:
            cache[key] = prepare(mats[i])
        return cache[key]

    vals = []
    for _ in range(n_perm):
        a = prepared(ma, int(rng.integers(len(ma))))
        b = prepared(mb, int(rng.integers(len(mb))))
        vals.append(_null(a, b, metric, 1, rng, direction, threshold)[0])
    return np.asarray(vals)
