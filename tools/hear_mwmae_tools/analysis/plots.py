"""Figures (docs/design.md §D24). matplotlib is the ``analysis`` extra: it is imported
inside the functions only, and figures are drawn with the Agg canvas (no display, no global
pyplot state). Every function returns a ``matplotlib.figure.Figure``; ``io.save_figure`` writes it.
"""

from __future__ import annotations

import numpy as np

from .grid import distance_label


def new_figure(width: float, height: float, ncols: int = 1, nrows: int = 1, **kw):
    """(Figure, axes array) on an Agg canvas."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError("plots need matplotlib: pip install -e 'tools/[analysis]'") from e
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def _window_colors(windows: np.ndarray):
    """Colour per head from its window size (global heads black), and legend entries."""
    from matplotlib import colormaps

    sizes = sorted({int(w) for w in windows if w > 0})
    cmap = colormaps["plasma"]
    lut = {w: cmap(i / max(1, len(sizes))) for i, w in enumerate(sizes)}
    lut[0] = (0.0, 0.0, 0.0, 1.0)
    if any(w < 0 for w in windows):
        lut[-1] = (0.0, 0.6, 0.3, 1.0)  # deformable heads
    return [lut[int(w)] for w in windows], lut


def stat_label(stat: str) -> str:
    if stat.startswith("dist_"):
        return distance_label(stat[len("dist_"):])
    return {"entropy": "attention entropy (nats)", "entropy_norm": "normalised entropy H / ln K",
            "verticality": "verticality (−H of key marginal, nats)", "cls_mass": "attention mass on CLS",
            "max_weight": "mean max attention weight"}.get(stat, stat)


def depth_scatter(results: dict[str, dict], stat: str = "dist_time", title: str = ""):
    """One panel per model: x = block (1…L), y = the statistic of every head, dashed = uniform attention.

    ``results``: {model label: arrays of ``collect_attention_stats``}. Dots are coloured by window
    size when the part has MW-MHA heads; uniform baselines of windowed heads are grey ticks.
    """
    fig, axes = new_figure(4.2 * len(results), 3.4, ncols=len(results), sharey=True)
    for ax, (label, res) in zip(axes[0], results.items()):
        values, base = np.asarray(res[stat]), np.asarray(res[f"uniform_{stat}"])
        sem = np.asarray(res.get(f"{stat}_sem", np.zeros_like(values)))
        num_layers, num_heads = values.shape
        windows = np.asarray(res.get("window_sizes", np.zeros(num_heads)))
        colors, lut = _window_colors(windows)
        offsets = np.linspace(-0.25, 0.25, num_heads) if num_heads > 1 else np.zeros(1)
        for h in range(num_heads):
            x = np.arange(1, num_layers + 1) + offsets[h]
            ax.errorbar(x, values[:, h], yerr=sem[:, h], fmt="o", ms=4, color=colors[h], elinewidth=0.8)
        if np.allclose(base, base.flat[0]):
            ax.axhline(base.flat[0], ls="--", color="grey", lw=1, label="uniform attention")
        else:
            for h in range(num_heads):
                ax.plot(np.arange(1, num_layers + 1) + offsets[h], base[:, h], "_", color="grey", ms=8)
        if windows.any():
            for w, c in lut.items():
                ax.plot([], [], "o", color=c, label="global" if w == 0 else ("deformable" if w < 0 else f"w={w}"))
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("block")
        ax.set_xticks(range(1, num_layers + 1))
        ax.legend(fontsize=7, loc="best")
    axes[0][0].set_ylabel(stat_label(stat))
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def distance_vs_entropy(results: dict[str, dict], variant: str = "time", title: str = ""):
    """One panel per model: x = mean distance, y = entropy, one dot per head coloured by block;
    hollow stars = uniform attention over each head's keys."""
    from matplotlib import colormaps

    fig, axes = new_figure(4.2 * len(results), 3.4, ncols=len(results), sharey=True)
    for ax, (label, res) in zip(axes[0], results.items()):
        d, h = np.asarray(res[f"dist_{variant}"]), np.asarray(res["entropy"])
        ub, uh = np.asarray(res[f"uniform_dist_{variant}"]), np.asarray(res["uniform_entropy"])
        ax.scatter(ub.ravel(), uh.ravel(), marker="*", s=110, facecolors="none", edgecolors="grey", lw=0.8,
                   label="uniform attention", zorder=1)
        cmap = colormaps["viridis"]
        for layer in range(d.shape[0]):
            ax.scatter(d[layer], h[layer], s=20, color=cmap(layer / max(1, d.shape[0] - 1)), zorder=2,
                       edgecolors="none", label=f"block {layer + 1}" if d.shape[0] <= 12 else None)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel(distance_label(variant))
        ax.legend(fontsize=7, loc="lower right", ncols=2 if d.shape[0] > 6 else 1)
    axes[0][0].set_ylabel("attention entropy (nats)")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def similarity_heatmap(matrix: np.ndarray, row_labels, col_labels=None, *, title: str = "", metric: str = "pwcca",
                       block: int | None = None, null_level: float | None = None):
    """Heatmap in [0, 1] with tick labels (e.g. ``L2 w=5``), block separators every ``block`` rows."""
    matrix = np.asarray(matrix, dtype=np.float64)
    col_labels = row_labels if col_labels is None else col_labels
    size = max(4.0, 0.16 * max(matrix.shape) + 2.5)
    fig, axes = new_figure(size + 1.0, size)
    ax = axes[0][0]
    im = ax.imshow(matrix, vmin=0.0, vmax=1.0, cmap="magma", interpolation="nearest")
    for axis, labels in ((ax.set_yticks, row_labels), (ax.set_xticks, col_labels)):
        axis(range(len(labels)), labels=[str(v) for v in labels], fontsize=max(4, 8 - len(labels) // 24))
    ax.tick_params(axis="x", labelrotation=90)
    if block:
        for k in range(block, max(matrix.shape), block):
            ax.axhline(k - 0.5, color="white", lw=0.6)
            ax.axvline(k - 0.5, color="white", lw=0.6)
    note = f" (permutation null ≈ {null_level:.3f})" if null_level is not None and np.isfinite(null_level) else ""
    fig.colorbar(im, ax=ax, shrink=0.8, label=f"{metric.upper()}{note}")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def pruning_plot(steps, curves: dict[str, np.ndarray], random: np.ndarray | None = None, *, ylabel: str = "score",
                 xlabel: str = "heads pruned", title: str = ""):
    """Score vs number of pruned heads per ranking; random rankings as a min–max band and mean."""
    fig, axes = new_figure(5.0, 3.6)
    ax = axes[0][0]
    steps = np.asarray(steps)
    if random is not None and len(random):
        random = np.asarray(random)
        ax.fill_between(steps, random.min(0), random.max(0), color="grey", alpha=0.3, label=f"random ({len(random)} seeds)")
        ax.plot(steps, random.mean(0), "--", color="grey", lw=1)
    for name, scores in curves.items():
        ax.plot(steps, scores, "o-", ms=3, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=10)
    return fig
