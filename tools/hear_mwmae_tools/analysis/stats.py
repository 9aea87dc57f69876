"""Streaming attention statistics over a dataset (docs/design.md §D18).

Full maps are never stored: each batch's maps are reduced at once to per-clip, per-head float64
numbers (``metrics.clip_head_stats``), which is all that is kept (K clips × L × H per statistic,
a few kB), plus the summed key-marginals (L × H × N). Means, spreads over clips (std, sem) and
the uniform-attention baselines are derived from those.
"""

from __future__ import annotations

import numpy as np
import torch

from .conditions import check_condition, run_batches
from .grid import DEFAULT_VARIANTS, TokenGrid, check_variants
from .hooks import AttentionHooks, attention_layers
from .metrics import CLS_POLICIES, clip_head_stats, uniform_baseline


class AttentionStats:
    """Accumulates per-clip head statistics layer by layer.

    Args:
        grid: the model's patch grid.
        num_layers, num_heads: L and H of the analysed part.
        window_sizes: per-head window sizes (0 = global), the same in every layer.
        variants: distance variants; cls_policy: ``"renormalize"`` | ``"raw"``.

    Call ``update(layer, attn, positions, query_mask)`` for every layer of every batch (in the
    same clip order for every layer), then ``result()``.
    """

    def __init__(self, grid: TokenGrid, num_layers: int, num_heads: int, window_sizes=(),
                 variants=DEFAULT_VARIANTS, cls_policy: str = "renormalize") -> None:
        if cls_policy not in CLS_POLICIES:
            raise ValueError(f"cls_policy must be one of {CLS_POLICIES}, got {cls_policy!r}")
        self.grid, self.num_layers, self.num_heads = grid, int(num_layers), int(num_heads)
        self.window_sizes = tuple(window_sizes) or (0,) * self.num_heads
        if len(self.window_sizes) != self.num_heads:
            raise ValueError(f"need one window size per head ({self.num_heads}), got {self.window_sizes}")
        self.variants, self.cls_policy = check_variants(variants), cls_policy
        self._clips: list[dict[str, list[np.ndarray]]] = [{} for _ in range(self.num_layers)]
        self._baseline: list[dict[str, list[np.ndarray]]] = [{} for _ in range(self.num_layers)]
        self._marginal = np.zeros((self.num_layers, self.num_heads, grid.num_patches))
        self._fixed_baseline: dict[str, torch.Tensor] | None = None

    def update(self, layer: int, attn: torch.Tensor, positions=None, query_mask=None) -> None:
        """Reduce one batch of maps attn (B, H, n, n) of ``layer`` into the accumulators."""
        if not 0 <= layer < self.num_layers:
            raise ValueError(f"layer {layer} out of range [0, {self.num_layers})")
        if attn.ndim != 4 or attn.shape[1] != self.num_heads:
            raise ValueError(f"attn must be (B, {self.num_heads}, n, n), got {tuple(attn.shape)}")
        kw = dict(positions=positions, query_mask=query_mask, variants=self.variants, cls_policy=self.cls_policy)
        stats = clip_head_stats(attn, self.grid, window_sizes=self.window_sizes, **kw)
        base = self._uniform(attn.shape[0], attn.device, kw)
        self._marginal[layer] += stats.pop("key_marginal").sum(0).cpu().numpy()
        base.pop("key_marginal")
        for store, values in ((self._clips[layer], stats), (self._baseline[layer], base)):
            for key, v in values.items():
                store.setdefault(key, []).append(v.cpu().numpy())

    def _uniform(self, batch: int, device, kw: dict) -> dict[str, torch.Tensor]:
        """Uniform-attention baseline; computed once when it cannot change (all tokens, all queries)."""
        if kw["positions"] is not None or kw["query_mask"] is not None:
            return uniform_baseline(self.grid, self.window_sizes, batch=batch, device=device, **kw)
        if self._fixed_baseline is None:
            self._fixed_baseline = uniform_baseline(self.grid, self.window_sizes, device=device, **kw)
        return {k: v.expand(batch, *v.shape[1:]) for k, v in self._fixed_baseline.items()}

    @property
    def num_clips(self) -> int:
        counts = {sum(len(a) for a in store.get("entropy", [])) for store in self._clips}
        if len(counts) != 1:
            raise ValueError(f"layers saw different numbers of clips: {sorted(counts)}")
        return counts.pop()

    def result(self) -> dict[str, np.ndarray]:
        """Arrays: ``<stat>`` (L, H) mean over clips, ``<stat>_std`` / ``<stat>_sem`` (L, H),
        ``clips_<stat>`` (K, L, H), ``uniform_<stat>`` (L, H), ``key_marginal`` (L, H, N)."""
        k = self.num_clips
        if k == 0:
            raise ValueError("no clips were accumulated")
        out: dict[str, np.ndarray] = {}
        for key in self._clips[0]:
            per_clip = np.stack([np.concatenate(store[key]) for store in self._clips], axis=1)  # (K, L, H)
            out[key] = per_clip.mean(0)
            out[f"{key}_std"] = per_clip.std(0, ddof=1) if k > 1 else np.zeros_like(out[key])
            out[f"{key}_sem"] = out[f"{key}_std"] / np.sqrt(k)
            out[f"clips_{key}"] = per_clip
            base = np.stack([np.concatenate(store[key]) for store in self._baseline], axis=1)
            out[f"uniform_{key}"] = base.mean(0)
        out["key_marginal"] = self._marginal / k
        out["window_sizes"] = np.asarray(self.window_sizes)
        return out


@torch.no_grad()
def collect_attention_stats(model, logmel: torch.Tensor, part: str = "encoder", *, mask_ratio: float = 0.0,
                            seed: int = 0, batch_size: int = 8, query_set: str = "all",
                            variants=DEFAULT_VARIANTS, cls_policy: str = "renormalize", device=None,
                            progress: bool = False) -> dict[str, np.ndarray]:
    """Attention statistics of every layer of ``part`` over clips, streamed batch by batch.

    Args:
        model: a ``MaskedAutoencoder`` (eval mode is set here).
        logmel: (K, T, F) normalised log-mel crops (the model's ``img_size``).
        part: ``"encoder"`` or ``"decoder"``; mask_ratio: 0 = unmasked (encoder only);
        seed: mask seed; query_set: ``"all"`` | ``"masked"`` | ``"visible"`` (decoder).

    Returns:
        :meth:`AttentionStats.result` arrays (L, H) etc.
    """
    check_condition(part, mask_ratio, query_set)
    model = model.eval()
    if device is not None:
        model = model.to(device)
    layers = attention_layers(model, part)
    windows = layers[0].window_sizes
    acc = AttentionStats(TokenGrid.from_config(model.config), len(layers), layers[0].num_heads, windows,
                         variants, cls_policy)
    with AttentionHooks(model, part, weights=True) as hooks:
        for _, _, cond in run_batches(model, logmel, part, hooks, mask_ratio=mask_ratio, seed=seed,
                                      query_set=query_set, batch_size=batch_size,
                                      progress=f"attention ({part})" if progress else None):
            for i in range(len(layers)):
                acc.update(i, hooks.attention[i], cond["positions"], cond["query_mask"])
    return acc.result()
