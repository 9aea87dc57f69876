"""Reconstruction PNGs: input log-mel, the masked input, and the model's reconstruction."""

from __future__ import annotations

from pathlib import Path

import torch

from hear_mwmae.atomic import atomic_write
from hear_mwmae.embed import patchify, unpatchify


@torch.no_grad()
def save_reconstruction(model, clip: torch.Tensor, noise: torch.Tensor, path: Path, title: str = "") -> Path:
    """clip (200, 80) normalised log-mel; noise (1, N) fixed masking noise -> a 3-panel PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = model.config
    was_training = model.training
    model.eval()
    x = clip[None].to(next(model.parameters()).device)
    loss, pred, mask = model(x, noise=noise.to(x.device))
    model.train(was_training)
    patches = patchify(x, cfg.patch_size)
    visible = patches * (1 - mask[..., None])
    masked = unpatchify(visible, cfg.patch_size, cfg.grid_size)
    # Show the visible patches as they are and the model's prediction where it had to guess.
    recon = unpatchify(visible + pred.float() * mask[..., None], cfg.patch_size, cfg.grid_size)
    panels = [("input", x[0]), ("masked input", masked[0]), (f"reconstruction (loss {float(loss):.3f})", recon[0])]
    fig, axes = plt.subplots(3, 1, figsize=(8, 7), constrained_layout=True)
    lo, hi = float(x.min()), float(x.max())
    for ax, (name, img) in zip(axes, panels):
        ax.imshow(img.float().cpu().numpy().T, origin="lower", aspect="auto", vmin=lo, vmax=hi, cmap="magma")
        ax.set_title(name)
        ax.set_ylabel("mel bin")
    axes[-1].set_xlabel("frame (10 ms)")
    if title:
        fig.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=80, format="png"))
    plt.close(fig)
    return path
