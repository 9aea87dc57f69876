"""A DATAR-style audio classifier: pyramid stages, local-window and deformable attention (docs/design.md §D26).

DATAR (Zhu, arXiv 2312.16228) puts deformable attention on a pyramid transformer backbone and adds a
learnable input adaptor; it has no public code. This is our reading ("DATAR-style"): DAT's pattern
of local attention alternating with deformable attention inside each stage, on the log-mel patch
grid, with patch merging between stages. It exposes the HEAR API through
``load_model("random:datar_tiny")`` or a trained checkpoint (embeddings from the last stage).

Shapes: ``forward(logmel (B, 200, 80))`` -> logits (B, num_classes) (or pooled features when
``num_classes`` is 0); ``encoder.frame_embeddings(x)`` -> (B, T_last, F_last · D_last).
"""

from __future__ import annotations

import torch
from torch import nn

from .attention import MultiWindowAttention
from .checkpoint_format import SafetensorsHubMixin
from .config import DatarConfig, config_from_dict
from .deformable import DeformableAttention
from .model import Mlp, _layer_norm


class InputAdaptor(nn.Module):
    """The learnable input adaptor: x + conv(x) on the (T, F) log-mel, then a per-mel-bin scale and shift.

    Why this form: DATAR adds trainable signals to the input so that the offsets are computed from a
    richer picture than raw log-mel patches. A small residual conv stem (3×3 conv to 8 channels,
    GELU, 1×1 back to 1) adds local time-frequency context (onsets, slopes) before patching; the
    per-bin affine lets it re-weight bands. Its last conv and the shift start at zero and the scale
    at one, so a fresh adaptor is the identity and switching it on changes nothing at first.
    """

    def __init__(self, n_mels: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.GELU(), nn.Conv2d(8, 1, 1))
        nn.init.zeros_(self.conv[2].weight)
        nn.init.zeros_(self.conv[2].bias)
        self.scale = nn.Parameter(torch.ones(n_mels))
        self.shift = nn.Parameter(torch.zeros(n_mels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, F) -> (B, T, F)
        return (x + self.conv(x[:, None])[:, 0]) * self.scale + self.shift


class PatchMerge(nn.Module):
    """(B, T·F, C) on a (T, F) grid -> (B, T/mt · F/mf, C') by concatenating mt×mf neighbours, norm, linear."""

    def __init__(self, grid: tuple[int, int], merge: tuple[int, int], dim: int, out_dim: int) -> None:
        super().__init__()
        self.grid, self.merge = grid, merge
        self.norm = nn.LayerNorm(merge[0] * merge[1] * dim)
        self.reduce = nn.Linear(merge[0] * merge[1] * dim, out_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (t, f), (mt, mf) = self.grid, self.merge
        b, _, c = x.shape
        x = x.view(b, t // mt, mt, f // mf, mf, c).permute(0, 1, 3, 2, 4, 5).reshape(b, (t // mt) * (f // mf), -1)
        return self.reduce(self.norm(x))


class DatarBlock(nn.Module):
    """Pre-norm block whose attention is local (windows of whole time steps) or deformable."""

    def __init__(self, dim: int, heads: int, grid: tuple[int, int], kind: str, config: DatarConfig, groups: int) -> None:
        super().__init__()
        self.kind = kind
        self.norm1, self.norm2 = _layer_norm(dim), _layer_norm(dim)
        if kind == "local":
            window = config.local_steps * grid[1]  # tokens are time-major: a window is whole time steps
            self.attn = MultiWindowAttention(dim, heads, (window,) * heads)
        else:
            self.attn = DeformableAttention(dim, heads, grid, groups=groups, stride=config.deform_stride,
                                            kernel=config.deform_kernel, offset_range=config.deform_range)
        self.mlp = Mlp(dim, int(dim * config.mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return self.mlp(self.norm2(x), residual=x)


class DatarBackbone(nn.Module):
    """Adaptor -> patch stem -> stages (local, deformable, local, … blocks) with merges -> final norm."""

    def __init__(self, config: DatarConfig) -> None:
        super().__init__()
        c = self.config = config
        self.adaptor = InputAdaptor(c.img_size[1]) if c.input_adaptor == "conv" else nn.Identity()
        self.stem = nn.Conv2d(1, c.dims[0], c.stem_patch, stride=c.stem_patch)
        grids = c.stage_grids
        self.pos_embed = nn.Parameter(torch.zeros(1, grids[0][0] * grids[0][1], c.dims[0]))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.stages = nn.ModuleList(
            nn.ModuleList(DatarBlock(c.dims[i], c.heads[i], grids[i], "local" if j % 2 == 0 else "deformable", c,
                                     c.deform_groups[i]) for j in range(c.depths[i]))
            for i in range(len(c.dims)))
        self.merges = nn.ModuleList(PatchMerge(grids[i], c.merges[i], c.dims[i], c.dims[i + 1])
                                    for i in range(len(c.merges)))
        self.norm = _layer_norm(c.dims[-1])

    def check_layer(self, layer: int | None) -> int:
        """HEAR's ``embedding_layer``: only the last stage's output is an embedding here."""
        if layer is not None and layer != self.config.depth:
            raise ValueError(f"embedding_layer: a DATAR-style model gives embeddings from its last stage only "
                             f"(block {self.config.depth}); got {layer!r}")
        return self.config.depth

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, F) log-mel -> (B, N_last, D_last) normed tokens of the last stage."""
        if x.ndim != 3 or tuple(x.shape[1:]) != self.config.img_size:
            raise ValueError(f"input must be (batch, {self.config.img_size[0]}, {self.config.img_size[1]}) log-mel "
                             f"frames, got {tuple(x.shape)}")
        x = self.stem(self.adaptor(x)[:, None]).flatten(2).transpose(1, 2) + self.pos_embed  # (B, N0, D0)
        for i, blocks in enumerate(self.stages):
            for blk in blocks:
                x = blk(x)
            if i < len(self.merges):
                x = self.merges[i](x)
        return self.norm(x)

    def frame_embeddings(self, x: torch.Tensor, layer: int | None = None) -> torch.Tensor:
        """HEAR features: (B, T, F) -> (B, T_last, F_last · D_last) (the bands of a time step concatenated)."""
        self.check_layer(layer)
        tokens = self.forward_features(x)
        return tokens.reshape(tokens.shape[0], self.config.grid_size[0], -1)


class DatarClassifier(nn.Module, SafetensorsHubMixin, library_name="hear_mwmae", tags=["audio", "datar-style"]):
    """The backbone (``.encoder``, what the HEAR runtime embeds with) and a linear head on the mean token."""

    def __init__(self, config: DatarConfig | dict) -> None:
        super().__init__()
        self.config = config_from_dict(config) if isinstance(config, dict) else config
        if not isinstance(self.config, DatarConfig):
            raise TypeError("DatarClassifier needs a DatarConfig (family 'datar')")
        self.encoder = DatarBackbone(self.config)
        self.head = nn.Linear(self.config.dims[-1], self.config.num_classes) if self.config.num_classes else None

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 200, 80) -> (B, D_last): the mean of the last stage's normed tokens (what the head reads)."""
        return self.encoder.forward_features(x).mean(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 200, 80) -> logits (B, num_classes), or the pooled (B, D_last) features without a head."""
        pooled = self.pooled(x)
        return self.head(pooled) if self.head is not None else pooled

    def num_params(self, encoder_only: bool = False) -> int:
        return sum(p.numel() for p in (self.encoder if encoder_only else self).parameters())
