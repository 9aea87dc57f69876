"""AdamW parameter groups and the learning-rate schedule of the official recipe (docs/design.md §D10)."""

from __future__ import annotations

import math

import torch


def effective_lr(base_lr: float, batch_size: int, accum_steps: int = 1, world_size: int = 1) -> float:
    """lr = base lr × effective batch / 256 (official: 1.5e-5 × 1024 / 256 = 6e-5)."""
    return base_lr * batch_size * accum_steps * world_size / 256


def lr_at(step: int, peak_lr: float, warmup_steps: int, total_steps: int) -> float:
    """Linear warm-up from 0 over ``warmup_steps``, then cosine decay to 0 at ``total_steps``."""
    if step < warmup_steps:
        return peak_lr * step / warmup_steps
    if total_steps <= warmup_steps:
        return peak_lr
    progress = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))
    return peak_lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def param_groups(model: torch.nn.Module, weight_decay: float, decay_all: bool = True) -> list[dict]:
    """AdamW groups. Why decay everything by default: the official optax.adamw has no mask, so
    biases, norms, positional tables, tokens and relative-position tables are all decayed.
    ``decay_all=False`` follows MAE/nanoGPT instead: no decay on biases, norms, relative-position
    tables (fewer than 2 dims) and on the (1, N, D) tokens and positional tables."""
    params = [p for p in model.parameters() if p.requires_grad]
    if decay_all:
        return [{"params": params, "weight_decay": weight_decay}]
    decay = [p for p in params if p.dim() >= 2 and p.shape[0] != 1]  # (1, N, D) tables/tokens excluded
    rest = [p for p in params if not (p.dim() >= 2 and p.shape[0] != 1)]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


def make_adamw(groups: list[dict], lr: float, betas: tuple[float, float]) -> torch.optim.AdamW:
    """AdamW (eps 1e-8, the optax default) with the fused kernel: one pass over all parameters
    instead of ~10 small ops per tensor (CPU and CUDA; same maths)."""
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=1e-8, fused=True)
