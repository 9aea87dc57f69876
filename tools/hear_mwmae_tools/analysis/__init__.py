"""Attention-head analyses for MW-MAE / MAE (docs/design.md §D16–D24).

* capture: :class:`AttentionHooks` (weights, per-head outputs, head mask, span limit); nothing stays once removed;
* metrics on the time × frequency grid: :class:`TokenGrid`, :func:`clip_head_stats`,
  :func:`collect_attention_stats` (streamed, float64, with uniform baselines and CLS handling);
* similarity: :func:`cca`, :func:`svcca`, :func:`pwcca`, :func:`linear_cka`,
  :func:`permutation_null`, :func:`similarity_matrix`;
* SAT: :func:`sat_scores`, :func:`classify_heads`, :func:`rank_heads`, :func:`pruning_curve`,
  :func:`span_curve`, scorers;
* plots (``pip install -e 'tools/[analysis]'``): ``hear_mwmae_tools.analysis.plots`` / ``.viewer``;
* CLI: ``hear-mwmae analyze attention|similarity|prune|viz|compare``.

The package imports its modules lazily (on first attribute access), so ``hear-mwmae`` can register
the ``analyze`` command without loading any of them.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "conditions": ("mask_noise", "run_condition"),
    "data": ("load_clips",),
    "features": ("collect_head_features", "head_representations", "layer_representations"),
    "grid": ("DISTANCE_VARIANTS", "TokenGrid"),
    "hooks": ("AttentionHooks", "attention_layers", "head_masks"),
    "io": ("load_result", "save_result"),
    "matrices": ("matrix_null", "permutation_null", "similarity_matrix"),
    "metrics": ("clip_head_stats", "uniform_attention", "uniform_baseline"),
    "pruning": ("pruning_curve", "random_band", "span_curve"),
    "sat": ("classify_heads", "rank_heads", "sat_scores"),
    "scorers": ("LinearProbeScorer", "ReconstructionScorer"),
    "similarity": ("cca", "linear_cka", "pwcca", "pwcca_compat", "svcca"),
    "stats": ("AttentionStats", "collect_attention_stats"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
