"""Attention viewer for one clip (docs/design.md §D24): a head's full map and one
query's attention over the time × frequency grid, drawn on the log-mel."""

from __future__ import annotations

import numpy as np
import torch

from .grid import TokenGrid
from .hooks import AttentionHooks


@torch.no_grad()
def clip_attention(model, logmel: torch.Tensor, part: str, layer: int, *, mask_ratio: float = 0.0, seed: int = 0,
                   cls_policy: str = "renormalize") -> np.ndarray:
    """(H, N, N) patch-to-patch maps of one (T, F) clip for one layer, in grid order.

    The CLS row/column is dropped (rows renormalised unless ``cls_policy="raw"``). For a masked
    encoder, only visible tokens have rows and columns; the others stay 0.
    """
    from .conditions import run_condition

    if logmel.ndim != 2:
        raise ValueError(f"logmel must be one clip (T, F), got {tuple(logmel.shape)}")
    dev = next(model.parameters()).device
    grid = TokenGrid.from_config(model.config)
    with AttentionHooks(model, part, layers=[layer], weights=True) as hooks:
        cond = run_condition(model.eval(), logmel[None].to(dev, torch.float32), part, mask_ratio=mask_ratio, seed=seed,
                             clip_ids=[0])
        attn = hooks.attention[layer][0].double()  # (H, n, n)
    p = grid.num_prefix
    patch = attn[:, p:, p:]
    if cls_policy == "renormalize":
        patch = patch / patch.sum(-1, keepdim=True).clamp_min(1e-300)
    pos = torch.arange(grid.num_patches) if cond["positions"] is None else cond["positions"][0].cpu()
    full = torch.zeros(attn.shape[0], grid.num_patches, grid.num_patches, dtype=torch.float64)
    full[:, pos[:, None], pos[None, :]] = patch.cpu()
    return full.numpy()


def attention_view(logmel: np.ndarray, head_map: np.ndarray, grid: TokenGrid, query: tuple[int, int], *,
                   title: str = ""):
    """Figure: (left) the N × N map with lines every 5 time steps (5·F_p tokens); (right) the log-mel (time → x,
    mel → y) with the query's attention over the grid overlaid and the query patch outlined.

    Args:
        logmel: (T, F) the clip; head_map: (N, N) one head's patch-to-patch map (rows = queries).
        grid: the model's grid; query: (t, f) grid coordinates of the query patch.
    """
    from .plots import new_figure

    t_q, f_q = query
    tp, fp = grid.grid
    if not (0 <= t_q < tp and 0 <= f_q < fp):
        raise ValueError(f"query {query} is outside the {tp}x{fp} grid")
    head_map = np.asarray(head_map)
    if head_map.shape != (grid.num_patches, grid.num_patches):
        raise ValueError(f"head_map must be ({grid.num_patches}, {grid.num_patches}), got {head_map.shape}")
    fig, axes = new_figure(11.0, 4.0, ncols=2, width_ratios=[1, 2.2])
    ax = axes[0][0]
    ax.imshow(head_map, cmap="viridis", interpolation="nearest", vmin=0, vmax=max(1e-12, head_map.max()))
    for k in range(5 * fp, grid.num_patches, 5 * fp):  # time-step boundaries every 5 steps (tokens are t·F_p + f)
        ax.axhline(k - 0.5, color="white", lw=0.3, alpha=0.6)
        ax.axvline(k - 0.5, color="white", lw=0.3, alpha=0.6)
    ax.set_xlabel("key token (t·F_p + f)")
    ax.set_ylabel("query token")
    ax.set_title(f"attention map (lines every {5 * fp} tokens = 5 time steps)", fontsize=8)
    ax = axes[0][1]
    pt, pf = grid.patch_size
    ax.imshow(np.asarray(logmel).T, origin="lower", aspect="auto", cmap="gray",
              extent=(0, tp * pt * grid.hop_ms, 0, fp * pf))
    row = head_map[t_q * fp + f_q].reshape(tp, fp)  # (T_p, F_p)
    row = np.ma.masked_where(row <= 0, row)  # keys outside the window / not visible stay uncovered
    ax.imshow(row.T, origin="lower", aspect="auto", cmap="inferno", alpha=0.6, interpolation="nearest",
              extent=(0, tp * pt * grid.hop_ms, 0, fp * pf))
    x0, y0 = t_q * pt * grid.hop_ms, f_q * pf
    ax.add_patch(_rectangle((x0, y0), pt * grid.hop_ms, pf))
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("mel bin")
    ax.set_title(f"query (t={t_q}, f={f_q}): attention over the grid on the log-mel", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def _rectangle(xy, width, height):
    from matplotlib.patches import Rectangle

    return Rectangle(xy, width, height, fill=False, edgecolor="cyan", lw=1.5)
