"""Per-clip statistics of attention maps on the patch grid (docs/design.md §D17, §D18, §D21).

Everything here works on a batch of maps A (B, H, n, n) (rows = queries, post-softmax) and reduces
each head of each clip to one number per statistic, in float64:

* ``entropy``: mean over queries of −Σ_j A_ij ln A_ij (nats, 0·ln 0 = 0) = SAT globalness;
* ``entropy_norm``: the same divided by ln K_i, K_i = keys the query may see (window or all);
* ``dist_<variant>``: mean over queries of Σ_j A_ij δ(i, j) (see ``grid.DISTANCE_VARIANTS``);
* ``max_weight``: mean over queries of max_j A_ij (the "weight" pruning baseline);
* ``cls_mass``: mean attention a patch query puts on the CLS key (0 without CLS);
* ``verticality`` (and ``_time``, ``_freq``): −entropy of the key-marginal (1/T) Σ_q A_q, over all
  patch keys, over time steps, or over frequency bands (SAT; docs/design.md §D21);
* ``key_marginal``: that marginal scattered onto the N grid positions, (B, H, N).

CLS (MAE baseline, ``grid.num_prefix == 1``): the CLS query row is always dropped; with
``cls_policy="renormalize"`` (default) patch-key weights are renormalised to sum to 1, with
``"raw"`` they are kept as they are (entropy then is that of the full row, CLS key included).
"""

from __future__ import annotations

import functools

import torch

from hear_mwmae.attention import same_window
from .grid import DEFAULT_VARIANTS, TokenGrid, check_variants

CLS_POLICIES = ("renormalize", "raw")
_TINY = 1e-300


def window_mask(window_sizes, n: int, device=None) -> torch.Tensor:
    """(H, n, n) bool: True where key j is in query i's window (all True for a global head, w = 0).

    The same windows as the model's attention mask (:func:`hear_mwmae.attention.same_window`).
    """
    return torch.stack([same_window(n, w, device) for w in window_sizes])


def uniform_attention(window_sizes, num_patches: int, num_prefix: int = 0, device=None) -> torch.Tensor:
    """(H, P + N, P + N) float64 maps that are uniform over each head's allowed patch keys.

    The baseline of docs/design.md §D17: a head that attends evenly to everything it may see. Prefix (CLS) keys
    get weight 0; prefix query rows are uniform too (they are dropped by the statistics).
    """
    allowed = window_mask(window_sizes, num_patches, device).double()  # (H, N, N)
    a = torch.zeros(len(window_sizes), num_prefix + num_patches, num_prefix + num_patches, dtype=torch.float64,
                    device=device)
    a[:, num_prefix:, num_prefix:] = allowed / allowed.sum(-1, keepdim=True)
    a[:, :num_prefix, num_prefix:] = 1.0 / num_patches
    return a


@functools.lru_cache(maxsize=64)
def _distance_table(grid: TokenGrid, variant: str) -> torch.Tensor:
    """(N, N) float64 CPU tensor, built once per (grid, variant); never modified by callers."""
    return torch.from_numpy(grid.distance_matrix(variant))


def _entropy(p: torch.Tensor) -> torch.Tensor:
    """−Σ p ln p over the last axis, with 0·ln 0 = 0."""
    return -torch.special.xlogy(p, p).sum(-1)


def _check_inputs(attn, grid, positions, query_mask):
    if not isinstance(attn, torch.Tensor):
        raise TypeError(f"attn must be a torch.Tensor (B, H, n, n), got {type(attn).__name__}")
    if attn.ndim != 4 or attn.shape[-1] != attn.shape[-2]:
        raise ValueError(f"attn must be (B, H, n, n), got {tuple(attn.shape)}")
    b, n = attn.shape[0], attn.shape[-1] - grid.num_prefix
    if n < 1:
        raise ValueError(f"attn has {attn.shape[-1]} tokens, not more than the {grid.num_prefix} prefix token(s)")
    if positions is None:
        if n != grid.num_patches:
            raise ValueError(f"attn covers {n} patch tokens but the grid has {grid.num_patches}; "
                             f"pass positions (B, {n}) for a subset (e.g. the visible tokens)")
        positions = torch.arange(n, device=attn.device).expand(b, n)
    elif tuple(positions.shape) != (b, n):
        raise ValueError(f"positions must be (B, K) = {(b, n)}, got {tuple(positions.shape)}")
    elif positions.min() < 0 or positions.max() >= grid.num_patches:
        raise ValueError(f"positions must be patch indices in [0, {grid.num_patches})")
    if query_mask is None:
        query_mask = torch.ones(b, n, dtype=torch.bool, device=attn.device)
    elif tuple(query_mask.shape) != (b, n):
        raise ValueError(f"query_mask must be (B, K) = {(b, n)}, got {tuple(query_mask.shape)}")
    if not bool(query_mask.any(-1).all()):
        raise ValueError("query_mask selects no query for at least one clip")
    return positions.to(attn.device).long(), query_mask.to(attn.device).bool()


def clip_head_stats(
    attn: torch.Tensor,
    grid: TokenGrid,
    *,
    positions: torch.Tensor | None = None,
    query_mask: torch.Tensor | None = None,
    window_sizes=None,
    variants=DEFAULT_VARIANTS,
    cls_policy: str = "renormalize",
) -> dict[str, torch.Tensor]:
    """Per-clip, per-head statistics of attention maps (see module docstring).

    Args:
        attn: (B, H, n, n) row-stochastic maps, n = num_prefix + K tokens.
        grid: the model's patch grid (``num_prefix`` tells whether token 0 is CLS).
        positions: (B, K) patch index of every non-prefix token (None: all N patches in order).
            Needed for the masked encoder, whose K visible tokens sit at scattered positions.
        query_mask: (B, K) bool, the queries to average over (None: all).
        window_sizes: per-head window sizes (0 = global) for ``entropy_norm``; None = all global.
        variants: distance variants to compute.
        cls_policy: ``"renormalize"`` or ``"raw"`` (only matters with a CLS token).

    Returns:
        dict of float64 tensors: (B, H) per statistic, and ``key_marginal`` (B, H, N).
    """
    variants = check_variants(variants)
    if cls_policy not in CLS_POLICIES:
        raise ValueError(f"cls_policy must be one of {CLS_POLICIES}, got {cls_policy!r}")
    positions, qm = _check_inputs(attn, grid, positions, query_mask)
    p = grid.num_prefix
    b, h, n = attn.shape[0], attn.shape[1], attn.shape[-1] - p
    window_sizes = tuple(window_sizes) if window_sizes else (0,) * h
    if len(window_sizes) != h:
        raise ValueError(f"need one window size per head ({h}), got {window_sizes}")
    rows = attn.detach().double()[:, :, p:, :]  # (B, H, K, n): CLS query dropped
    patch = rows[..., p:]  # (B, H, K, K)
    out: dict[str, torch.Tensor] = {}
    qw = qm.double() / qm.sum(-1, keepdim=True)  # (B, K) query weights, sum 1 per clip

    def query_mean(v: torch.Tensor) -> torch.Tensor:  # (B, H, K) -> (B, H)
        return (v * qw[:, None]).sum(-1)

    out["cls_mass"] = query_mean(rows[..., :p].sum(-1)) if p else torch.zeros(b, h, dtype=torch.float64,
                                                                               device=attn.device)
    if cls_policy == "renormalize":
        patch = patch / patch.sum(-1, keepdim=True).clamp_min(_TINY)
        ent = _entropy(patch)
    else:
        ent = _entropy(rows)
    out["entropy"] = query_mean(ent)
    keys = torch.tensor([float(w if w > 0 else n) for w in window_sizes], dtype=torch.float64,
                        device=attn.device)  # global and deformable heads may see every token
    log_keys = (keys + (p if cls_policy == "raw" else 0)).log()[:, None]  # (H, 1): ln K_i, the same for every query
    out["entropy_norm"] = query_mean(torch.where(log_keys > 0, ent / log_keys.clamp_min(_TINY), torch.zeros_like(ent)))
    out["max_weight"] = query_mean(patch.amax(-1))
    in_order = bool((positions == torch.arange(n, device=attn.device)).all()) and n == grid.num_patches
    for v in variants:
        table = _distance_table(grid, v).to(attn.device)
        dist = table[None] if in_order else table[positions[:, :, None], positions[:, None, :]]  # (1 or B, K, K)
        out[f"dist_{v}"] = query_mean((patch * dist[:, None]).sum(-1))
    marg = (patch * qw[:, None, :, None]).sum(-2)  # (B, H, K): key-marginal over the selected queries
    full = torch.zeros(b, h, grid.num_patches, dtype=torch.float64, device=attn.device)
    full.scatter_add_(-1, positions[:, None].expand(b, h, n), marg)
    full = full / full.sum(-1, keepdim=True).clamp_min(_TINY)
    out["key_marginal"] = full
    out["verticality"] = -_entropy(full)
    by_tf = full.view(b, h, grid.grid[0], grid.grid[1])
    out["verticality_time"] = -_entropy(by_tf.sum(-1))
    out["verticality_freq"] = -_entropy(by_tf.sum(-2))
    return out


def uniform_baseline(
    grid: TokenGrid, window_sizes, *, positions=None, query_mask=None, variants=DEFAULT_VARIANTS,
    cls_policy: str = "renormalize", batch: int = 1, device=None,
) -> dict[str, torch.Tensor]:
    """:func:`clip_head_stats` of uniform attention (docs/design.md §D17 baselines): (B, H) per statistic.

    Computed once per distinct window size and spread over the heads. ``positions`` / ``query_mask``
    are those of the real run (they change the baseline when tokens are masked).
    """
    window_sizes = tuple(window_sizes)
    unique = sorted(set(window_sizes))
    if positions is not None:
        batch = positions.shape[0]
        device = positions.device
    k = grid.num_patches if positions is None else positions.shape[1]
    a = uniform_attention(unique, k, grid.num_prefix, device)
    stats = clip_head_stats(a.unsqueeze(0).expand(batch, -1, -1, -1), grid, positions=positions,
                            query_mask=query_mask, window_sizes=unique, variants=variants, cls_policy=cls_policy)
    index = torch.tensor([unique.index(w) for w in window_sizes], device=a.device)
    return {key: v.index_select(1, index) for key, v in stats.items()}
