"""Representation similarity: CCA, SVCCA, PWCCA, linear CKA, permutation null (docs/design.md §D19).

Layout: rows are datapoints (tokens × clips), columns are neurons (e.g. the head_dim channels of
one head's output). Everything is float64. The clean form of docs/design.md §D19 is used throughout: centre,
take an orthonormal basis Q of each column space by a thin SVD with a relative rank tolerance
(never an inverse), and read the canonical correlations off the SVD of the small matrix QₓᵀQ_y.
Every quantity then follows from the per-representation basis, singular values and right
vectors (``Prepared``), so head × head matrices cost one small SVD per pair.

PWCCA weights α_i ∝ Σ_j |⟨h_i, x_j⟩| (h_i canonical variates, x_j centred neurons of the
weighting side) sum to 1; the similarity is Σ α_i ρ_i and the PWCCA distance is 1 − that.
``mode="svcca_compat"`` reproduces the google/svcca conventions listed in docs/design.md §D19 instead.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

METRICS = ("pwcca", "svcca", "cca", "cka")
DIRECTIONS = ("x", "y", "smaller", "mean")
MODES = ("paper", "svcca_compat")


@dataclass(frozen=True)
class Prepared:
    """One centred representation: basis (n, r) orthonormal, sv (r,) descending, vt (r, p), kept (p,) bool."""

    basis: np.ndarray
    sv: np.ndarray
    vt: np.ndarray
    kept: np.ndarray

    @property
    def rank(self) -> int:
        return len(self.sv)

    def svcca_rank(self, threshold: float) -> int:
        """Smallest k whose top-k directions explain ``threshold`` of the variance."""
        if self.rank == 0:
            return 0
        var = np.cumsum(self.sv**2) / np.sum(self.sv**2)
        return int(min(self.rank, np.searchsorted(var, threshold - 1e-12) + 1))


def as_matrix(x, name: str = "x") -> np.ndarray:
    """Validate a (datapoints, neurons) array and return it as float64."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array or torch tensor (datapoints, neurons), got {type(x).__name__}")
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise ValueError(f"{name} must be 2-D (datapoints >= 2, neurons >= 1), got shape {x.shape}")
    x = x.astype(np.float64)
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or Inf")
    return x


def prepare(x, rank_tol: float = 1e-8, drop_tol: float = 1e-12) -> Prepared:
    """Centre the columns, drop near-constant ones (variance <= drop_tol · max), thin SVD.

    Singular directions below ``rank_tol`` · σ_max are discarded (rank robustness). An all-constant
    input gives rank 0 (every metric then returns NaN).
    """
    x = as_matrix(x)
    xc = x - x.mean(0)
    var = xc.var(0)
    kept = var > drop_tol * var.max() if var.max() > 0 else np.zeros(x.shape[1], dtype=bool)
    if not kept.any():
        return Prepared(np.zeros((x.shape[0], 0)), np.zeros(0), np.zeros((0, int(kept.sum()))), kept)
    u, s, vt = np.linalg.svd(xc[:, kept], full_matrices=False)
    r = int(np.sum(s > rank_tol * s[0]))
    return Prepared(u[:, :r], s[:r], vt[:r], kept)


def _check_pair(a: Prepared, b: Prepared) -> None:
    if a.basis.shape[0] != b.basis.shape[0]:
        raise ValueError(f"x and y must have the same datapoints (rows): {a.basis.shape[0]} vs {b.basis.shape[0]}")


def canonical(a: Prepared, b: Prepared, cross: np.ndarray | None = None, ka=None, kb=None):
    """(ρ (k,) in [0, 1] descending, U (ka, k), Vt (k, kb)) from the SVD of QₐᵀQ_b[:ka, :kb]."""
    ka = a.rank if ka is None else ka
    kb = b.rank if kb is None else kb
    m = (a.basis.T @ b.basis if cross is None else cross)[:ka, :kb]
    u, s, vt = np.linalg.svd(m, full_matrices=False)
    return np.clip(s, 0.0, 1.0), u, vt


def _weights(side: Prepared, rot: np.ndarray) -> np.ndarray:
    """PWCCA α over the canonical variates H = Q·rot of one side: Σ_j |Hᵀ x_j|, normalised."""
    # Hᵀ X_c = rotᵀ Qᵀ (Q S Vᵀ) = rotᵀ S Vᵀ: no n-sized product needed.
    raw = np.abs(rot.T @ (side.sv[:, None] * side.vt)).sum(1)
    return raw / raw.sum()


def _pwcca_terms(a: Prepared, b: Prepared, cross=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ρ, α of side x, α of side y): one canonical SVD for every PWCCA direction."""
    rho, u, vt = canonical(a, b, cross)
    return rho, _weights(a, u), _weights(b, vt.T)


def _side(direction: str, a: Prepared, b: Prepared) -> str:
    """Resolve ``"smaller"`` to the side with fewer kept neurons."""
    if direction == "smaller":
        return "x" if a.kept.sum() <= b.kept.sum() else "y"
    return direction


def _pwcca_value(rho: np.ndarray, wx: np.ndarray, wy: np.ndarray, side: str) -> float:
    sx, sy = float(wx @ rho), float(wy @ rho)
    return {"x": sx, "y": sy, "mean": 0.5 * (sx + sy)}[side]


def pair_value(a: Prepared, b: Prepared, metric: str = "pwcca", *, cross=None, direction: str = "x",
               threshold: float = 0.99) -> float:
    """One similarity between two prepared representations (NaN if either has rank 0)."""
    if a.rank == 0 or b.rank == 0:
        return float("nan")
    if cross is None:
        _check_pair(a, b)
        cross = a.basis.T @ b.basis
    if metric == "cka":
        num = np.sum((a.sv[:, None] * cross * b.sv[None, :]) ** 2)
        return float(num / (np.sqrt(np.sum(a.sv**4)) * np.sqrt(np.sum(b.sv**4))))
    if metric == "svcca":
        rho, _, _ = canonical(a, b, cross, a.svcca_rank(threshold), b.svcca_rank(threshold))
        return float(rho.mean())
    if metric == "cca":
        return float(canonical(a, b, cross)[0].mean())
    if metric != "pwcca":
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    return _pwcca_value(*_pwcca_terms(a, b, cross), _side(direction, a, b))


def _warn_if_few(n: int, p: int, q: int) -> None:
    if n < 10 * max(p, q):
        warnings.warn(f"only {n} datapoints for {max(p, q)} neurons: CCA overfits (ρ -> 1 for random data) "
                      f"unless datapoints >= 10 x neurons; compare with permutation_null", stacklevel=3)


@dataclass(frozen=True)
class PWCCAResult:
    similarity: float  # Σ α_i ρ_i (distance = 1 − similarity)
    rho: np.ndarray  # all canonical correlations, descending
    alpha: np.ndarray  # weights of the chosen side (sum 1)
    mean_cca: float
    direction: str

    @property
    def distance(self) -> float:
        return 1.0 - self.similarity


def cca(x, y, rank_tol: float = 1e-8) -> np.ndarray:
    """Canonical correlations ρ (k,) of x (n, p) and y (n, q), descending, k = min(ranks)."""
    a, b = prepare(x, rank_tol), prepare(y, rank_tol)
    _check_pair(a, b)
    _warn_if_few(a.basis.shape[0], len(a.kept), len(b.kept))
    if a.rank == 0 or b.rank == 0:
        return np.full(0, np.nan)
    return canonical(a, b)[0]


def svcca(x, y, threshold: float = 0.99) -> float:
    """Mean CCA after reducing each side to the top SVD directions explaining ``threshold`` variance."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    a, b = prepare(x), prepare(y)
    _check_pair(a, b)
    return pair_value(a, b, "svcca", threshold=threshold)


def pwcca(x, y, direction: str = "x", mode: str = "paper", var_threshold: float | None = None) -> PWCCAResult:
    """Projection-weighted CCA (Morcos et al. 2018), weights from ``direction`` ("x", "y",
    "smaller": the side with fewer kept neurons, or "mean" of both).

    ``var_threshold`` optionally SVD-reduces both sides first (off by default, as published);
    ``mode="svcca_compat"`` follows google/svcca instead (see :func:`pwcca_compat`).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    if mode == "svcca_compat":
        return pwcca_compat(x, y)
    a, b = prepare(x), prepare(y)
    _check_pair(a, b)
    _warn_if_few(a.basis.shape[0], len(a.kept), len(b.kept))
    if a.rank == 0 or b.rank == 0:
        return PWCCAResult(float("nan"), np.full(0, np.nan), np.full(0, np.nan), float("nan"), direction)
    ka = a.svcca_rank(var_threshold) if var_threshold else None
    kb = b.svcca_rank(var_threshold) if var_threshold else None
    if ka is not None:  # reduced representations: the kept SVD directions are the new neurons
        a = Prepared(a.basis[:, :ka], a.sv[:ka], np.eye(ka), np.ones(ka, dtype=bool))
        b = Prepared(b.basis[:, :kb], b.sv[:kb], np.eye(kb), np.ones(kb, dtype=bool))
    rho, wx, wy = _pwcca_terms(a, b)
    side = _side(direction, a, b)
    alpha = wx if side in ("x", "mean") else wy
    return PWCCAResult(_pwcca_value(rho, wx, wy, side), rho, alpha, float(rho.mean()), side)


def pwcca_compat(x, y, epsilon: float = 0.0) -> PWCCAResult:
    """PWCCA with the google/svcca conventions (docs/design.md §D19), for comparison with published numbers.

    Covariance route with the max-|entry| rescaling, pseudo-inverse square roots (eigenvalues
    clipped at 0), |singular values| as ρ, "directions" = Uᵀ applied to the centred activations
    with the neuron means added back, QR-orthonormalised, and weights against the *uncentred*
    activations of the side with fewer neurons (the y-branch indexing bug of the reference is
    not reproduced: that branch would crash).
    """
    x, y = as_matrix(x, "x"), as_matrix(y, "y")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must have the same datapoints (rows): {x.shape[0]} vs {y.shape[0]}")
    if x.shape[1] > y.shape[1]:  # the reference weights the side with fewer neurons
        res = pwcca_compat(y, x, epsilon)
        return PWCCAResult(res.similarity, res.rho, res.alpha, res.mean_cca, "y")
    n, p = x.shape
    if max(p, y.shape[1]) >= n:
        raise ValueError(f"svcca_compat needs fewer neurons than datapoints, got {max(p, y.shape[1])} >= {n}")
    cov = np.cov(np.concatenate([x, y], axis=1), rowvar=False)
    sxx, sxy, syy = cov[:p, :p], cov[:p, p:], cov[p:, p:]
    mx, my = np.abs(sxx).max(), np.abs(syy).max()
    if mx == 0 or my == 0:
        return PWCCAResult(float("nan"), np.full(0, np.nan), np.full(0, np.nan), float("nan"), "x")
    sxx, syy, sxy = sxx / mx, syy / my, sxy / np.sqrt(mx * my)

    def inv_sqrt(s: np.ndarray) -> np.ndarray:
        w, v = np.linalg.eigh(np.linalg.pinv(s + epsilon * np.eye(len(s))))
        return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T

    u, s, _ = np.linalg.svd(inv_sqrt(sxx) @ sxy @ inv_sqrt(syy))
    rho = np.abs(s)
    mean = x.mean(0)
    dirns = (x - mean) @ u + mean  # (n, p): Uᵀ on centred activations, means added back
    q, _ = np.linalg.qr(dirns)
    raw = np.abs(q.T @ x).sum(1)[: len(rho)]  # against the uncentred activations
    alpha = raw / raw.sum()
    return PWCCAResult(float(alpha @ rho), rho, alpha, float(rho.mean()), "x")


def linear_cka(x, y) -> float:
    """Linear CKA = ‖Y_cᵀX_c‖²_F / (‖X_cᵀX_c‖_F ‖Y_cᵀY_c‖_F), in [0, 1] (NaN for constant input)."""
    a, b = prepare(x, rank_tol=0.0), prepare(y, rank_tol=0.0)
    _check_pair(a, b)
    return pair_value(a, b, "cka")
