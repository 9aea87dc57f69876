"""Where deformable heads sample: positions over the log-mel and offset magnitudes per block (docs/design.md §D25).

Works on MW-MAE models with deformable decoder heads (``mwmae_*_deform``; the decoder runs under
the pretraining mask, as in ``analyze attention --part decoder``) and on DATAR-style classifiers
(every deformable block of the pyramid, on unmasked input). Attention distance and entropy of
deformable heads come from ``analyze attention``: their weights over samples are spread onto the
tokens by the bilinear reads (hear_mwmae.attention, explicit path).
"""

from __future__ import annotations

import numpy as np
import torch

from hear_mwmae.deformable import reference_points
from .conditions import run_condition


def deformable_layers(model) -> list[tuple[str, torch.nn.Module, tuple[int, int]]]:
    """(label, attention module, its (T_p, F_p) grid) of every deformable attention, in forward order."""
    if getattr(model.config, "variant", "") == "datar":
        out, k = [], 0
        for i, stage in enumerate(model.encoder.stages):
            for blk in stage:
                k += 1
                if blk.kind == "deformable":
                    out.append((f"stage {i + 1}, B{k}", blk.attn, blk.attn.grid))
        return out
    if model.decoder is None:
        return []
    return [(f"decoder B{k + 1}", blk.attn, blk.attn.grid) for k, blk in enumerate(model.decoder.blocks)
            if getattr(blk.attn, "deformable_heads", ())]


@torch.no_grad()
def collect_sample_positions(model, logmel: torch.Tensor, *, mask_ratio: float, seed: int, batch_size: int = 8) -> dict:
    """Sampled positions of every deformable layer over (n, T, F) log-mel crops.

    Returns ``{"labels": [...], "grids": [(T_p, F_p)], "positions": [(n, G, S, 2) float32 (t, f) in
    grid cells], "references": [(S, 2)]}``.
    """
    layers = deformable_layers(model)
    if not layers:
        raise ValueError("this model has no deformable attention: use a mwmae_*_deform or datar_* model")
    model.eval()
    device = next(model.parameters()).device
    found: list[list[np.ndarray]] = [[] for _ in layers]
    for start in range(0, logmel.shape[0], batch_size):
        x = logmel[start : start + batch_size].to(device, torch.float32)
        if getattr(model.config, "variant", "") == "datar":
            model.encoder.forward_features(x)
        else:
            run_condition(model, x, "decoder", mask_ratio=mask_ratio, seed=seed,
                          clip_ids=list(range(start, start + x.shape[0])))
        for i, (_, module, _) in enumerate(layers):
            found[i].append(module.last_sample_positions.float().cpu().numpy())
    positions = [np.concatenate(f) for f in found]
    references = []
    for (_, module, grid), pos in zip(layers, positions):
        net = getattr(module, "offset_net")
        references.append(reference_points(grid, net.stride).reshape(-1, 2).numpy())
    return {"labels": [label for label, _, _ in layers], "grids": [grid for _, _, grid in layers],
            "positions": positions, "references": references}


def offset_summary(result: dict, img_size: tuple[int, int]) -> dict[str, np.ndarray]:
    """Per layer: mean |Δt| and |Δf| of the samples from their reference points, in grid cells and in
    log-mel units (10 ms frames, mel bins), and the per-clip values of |Δt| in ms."""
    rows = {k: [] for k in ("dt_cells", "df_cells", "dt_ms", "df_bins")}
    per_clip = []
    for grid, pos, ref in zip(result["grids"], result["positions"], result["references"]):
        delta = np.abs(pos - ref[None, None])  # (n, G, S, 2)
        frames, bins = img_size[0] / grid[0], img_size[1] / grid[1]
        rows["dt_cells"].append(delta[..., 0].mean())
        rows["df_cells"].append(delta[..., 1].mean())
        rows["dt_ms"].append(delta[..., 0].mean() * frames * 10.0)
        rows["df_bins"].append(delta[..., 1].mean() * bins)
        per_clip.append(delta[..., 0].mean(axis=(1, 2)) * frames * 10.0)
    out = {k: np.asarray(v, dtype=np.float64) for k, v in rows.items()}
    out["dt_ms_per_clip"] = np.stack(per_clip)  # (layers, n)
    return out


def sample_points_figure(logmel: np.ndarray, result: dict, img_size: tuple[int, int], clip: int = 0, title: str = ""):
    """One panel per deformable layer: the clip's log-mel, reference points (grey) and where each
    offset group sampled (coloured), in ms × mel bins."""
    from .plots import new_figure

    n = len(result["labels"])
    fig, axes = new_figure(5.5 * min(n, 3), 3.2 * -(-n // 3), ncols=min(n, 3), nrows=-(-n // 3))
    flat = [ax for row in axes for ax in row]
    for ax, label, grid, pos, ref in zip(flat, result["labels"], result["grids"], result["positions"], result["references"]):
        frames, bins = img_size[0] / grid[0], img_size[1] / grid[1]
        to_xy = lambda p: ((p[..., 0] + 0.5) * frames * 10.0, (p[..., 1] + 0.5) * bins)  # noqa: E731  (cell centres)
        ax.imshow(np.asarray(logmel).T, origin="lower", aspect="auto", cmap="gray", extent=(0, img_size[0] * 10.0, 0, img_size[1]))
        rx, ry = to_xy(ref)
        ax.scatter(rx, ry, s=3, color="0.7", label="reference")
        for g in range(pos.shape[1]):
            x, y = to_xy(pos[clip, g])
            ax.scatter(x, y, s=5, alpha=0.8, label=f"group {g + 1}")
        ax.set_title(label, fontsize=8)
        ax.set_xlabel("time (ms)")
        ax.set_ylabel("mel bin")
    for ax in flat[n:]:
        ax.set_visible(False)
    flat[0].legend(fontsize=6, loc="upper right")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def offset_figure(summary: dict, labels: list[str], title: str = ""):
    """Mean offset magnitude per deformable layer: |Δt| in ms and |Δf| in mel bins."""
    from .plots import new_figure

    fig, axes = new_figure(7.0, 3.0, ncols=2)
    x = np.arange(len(labels))
    for ax, key, unit in ((axes[0][0], "dt_ms", "|Δt| (ms)"), (axes[0][1], "df_bins", "|Δf| (mel bins)")):
        ax.bar(x, summary[key], color="tab:blue")
        ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=7)
        ax.set_ylabel(unit)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
