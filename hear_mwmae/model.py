"""MW-MAE and the MAE baseline in PyTorch, an exact port of the official JAX/Flax model.

Paper: Yadav et al., "Masked Autoencoders with Multi-Window Local-Global Attention Are
Better Audio Learners", ICLR 2024. Official code: SarthakYadav/mwmae-jax-official.
Spec: docs/design.md §D3–D8. Tokens are (B, N, D); N = 250 for 200×80 inputs and 4×16 patches.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .attention import MultiWindowAttention
from .checkpoint_format import SafetensorsHubMixin
from .config import ModelConfig
from .cpu_kernels import linear, linear_add
from .embed import PatchEmbed, patchify, sincos_1d, sincos_2d
from .masking import random_masking

# Why: Flax defaults differ from PyTorch's (docs/design.md §D5).
LAYER_NORM_EPS = 1e-6  # flax.linen.LayerNorm default (PyTorch: 1e-5)
GELU_APPROXIMATE = "tanh"  # flax.linen.gelu default is the tanh approximation


def _layer_norm(dim: int) -> nn.LayerNorm:
    return nn.LayerNorm(dim, eps=LAYER_NORM_EPS)


def _trunc_normal_fan_in(tensor: torch.Tensor, scale: float, fan_in: int) -> None:
    """Flax ``variance_scaling(scale, "fan_in", "truncated_normal")``: ±2σ, variance-corrected."""
    std = math.sqrt(scale / fan_in) / 0.87962566103423978
    nn.init.trunc_normal_(tensor, std=std, a=-2 * std, b=2 * std)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        """fc2(GELU(fc1(x))) [+ residual]; (…, D) -> (…, D). In CPU inference, GELU and the residual
        add run inside oneDNN's GEMMs (hear_mwmae/cpu_kernels.py; same maths, checked in tests)."""
        h = linear(self.fc1, x, "gelu", GELU_APPROXIMATE)
        return linear(self.fc2, h) if residual is None else linear_add(self.fc2, h, residual)


class Block(nn.Module):
    """Pre-norm transformer block: x + Attn(LN(x)), then x + MLP(LN(x)). No dropout, no LayerScale."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, window_sizes: tuple[int, ...] = (),
                 **attention_options) -> None:
        super().__init__()
        self.norm1 = _layer_norm(dim)
        self.attn = MultiWindowAttention(dim, num_heads, window_sizes, **attention_options)
        self.norm2 = _layer_norm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        if return_attention:
            a, weights = self.attn(self.norm1(x), return_attention=True)
            x = x + a
            return self.mlp(self.norm2(x), residual=x), weights
        x = x + self.attn(self.norm1(x))
        return self.mlp(self.norm2(x), residual=x)


class Encoder(nn.Module):
    """ViT encoder over log-mel patches: patch embed + learned pos table [+ cls], blocks, norm."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        c = config
        self.config = c
        self.num_prefix = 1 if c.use_cls_token else 0
        self.patch_embed = PatchEmbed(c.patch_size, c.embed_dim)
        # Why a Parameter: the official tables are sin-cos *initialised* but trained and
        # weight-decayed (docs/design.md §D4), so they are always loaded, never regenerated.
        self.pos_embed = nn.Parameter(torch.zeros(1, c.num_patches + self.num_prefix, c.embed_dim))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.embed_dim)) if c.use_cls_token else None
        self.blocks = nn.ModuleList(
            # Why i % 2: the official code shifts the windows of odd-indexed blocks when asked to.
            Block(c.embed_dim, c.num_heads, c.mlp_ratio, c.encoder_window_sizes,
                  shift_windows=c.shifting_windows and i % 2 == 1) for i in range(c.depth)
        )
        self.norm = _layer_norm(c.embed_dim)

    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 3 or tuple(x.shape[1:]) != self.config.img_size:
            raise ValueError(f"encoder input must be (batch, {self.config.img_size[0]}, {self.config.img_size[1]}) "
                             f"log-mel frames, got {tuple(x.shape)}")

    def _prepend_cls(self, x: torch.Tensor) -> torch.Tensor:
        if self.cls_token is None:
            return x
        # Why after masking: the official MAE prepends cls (+ its pos row 0) to the kept tokens.
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(x.shape[0], -1, -1)
        return torch.cat([cls, x], dim=1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, F) log-mel -> (B, N, D) patch tokens with positions (no cls)."""
        self._check_input(x)
        return self.patch_embed(x) + self.pos_embed[:, self.num_prefix :]

    def check_layer(self, layer: int | None) -> int:
        """``None`` -> depth (the official output); else a block count in 1..depth."""
        if layer is None:
            return self.config.depth
        if isinstance(layer, bool) or not isinstance(layer, int) or not 1 <= layer <= self.config.depth:
            raise ValueError(f"embedding_layer must be an int in 1..{self.config.depth} (blocks run before the "
                             f"final norm) or None for the last block, got {layer!r}")
        return layer

    def forward_features(self, x: torch.Tensor, layer: int | None = None) -> torch.Tensor:
        """Unmasked encoder: (B, T, F) -> (B, [1 +] N, D) normed tokens (cls first if any).

        ``layer`` = k runs only the first k blocks, then the final norm (``None``: all blocks).
        """
        n_blocks = self.check_layer(layer)
        x = self._prepend_cls(self.embed(x))
        for blk in self.blocks[:n_blocks]:
            x = blk(x)
        return self.norm(x)

    def frame_embeddings(self, x: torch.Tensor, layer: int | None = None) -> torch.Tensor:
        """HEAR features: (B, T, F) -> (B, T', F'·D), i.e. "b (t f) d -> b t (f d)" after dropping cls."""
        tokens = self.forward_features(x, layer)[:, self.num_prefix :]
        t_grid = self.config.grid_size[0]
        return tokens.reshape(tokens.shape[0], t_grid, -1)

    def forward_masked(self, x: torch.Tensor, mask_ratio: float, noise: torch.Tensor | None = None):
        """Encoder on the visible tokens only -> (latent (B, [1 +] K, D), mask (B, N), ids_restore (B, N))."""
        x, mask, ids_restore = random_masking(self.embed(x), mask_ratio, noise)
        x = self._prepend_cls(x)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x), mask, ids_restore


class Decoder(nn.Module):
    """Lightweight decoder: embed, mask tokens, un-shuffle, 1-D pos table, (MW-MHA) blocks, pred."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        c = config
        self.num_prefix = 1 if c.use_cls_token else 0
        self.num_patches = c.num_patches
        self.embed = nn.Linear(c.embed_dim, c.decoder_embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, c.decoder_embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, c.num_patches + self.num_prefix, c.decoder_embed_dim))
        self.blocks = nn.ModuleList(
            Block(c.decoder_embed_dim, c.decoder_num_heads, c.mlp_ratio, c.decoder_window_sizes, grid=c.grid_size,
                  shift_windows=c.shifting_windows and i % 2 == 1, deform_stride=c.deform_stride,
                  deform_kernel=c.deform_kernel, deform_range=c.deform_range)
            for i in range(c.decoder_depth)
        )
        self.norm = _layer_norm(c.decoder_embed_dim)
        self.pred = nn.Linear(c.decoder_embed_dim, c.patch_dim)

    def forward(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        """latent (B, [1 +] K, D_enc), ids_restore (B, N) -> predicted patches (B, N, patch_dim)."""
        x = self.embed(latent)
        p = self.num_prefix
        b, kept, d = x.shape[0], x.shape[1] - p, x.shape[2]
        x_ = torch.cat([x[:, p:], self.mask_token.expand(b, self.num_patches - kept, -1)], dim=1)
        x_ = torch.gather(x_, 1, ids_restore.unsqueeze(-1).expand(-1, -1, d))  # un-shuffle
        x = torch.cat([x[:, :p], x_], dim=1) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.pred(self.norm(x))[:, p:]


class MaskedAutoencoder(
    nn.Module,
    SafetensorsHubMixin,
    library_name="hear_mwmae",
    tags=["audio", "hear", "mw-mae", "self-supervised"],
):
    """MW-MAE (``variant="mwmae"``: no cls token, MW-MHA decoder) or the MAE baseline.

    ``forward(x)`` takes per-clip-normalised log-mel crops (B, 200, 80) and returns
    ``(loss, pred (B, N, patch_dim), mask (B, N))``. Checkpoints: ``save_pretrained(dir)``
    writes ``config.json`` + ``model.safetensors``; ``from_pretrained(dir_or_repo)`` reads them.
    """

    def __init__(self, config: ModelConfig | dict) -> None:
        super().__init__()
        if isinstance(config, dict):
            config = ModelConfig.from_dict(config)
        if not isinstance(config, ModelConfig):
            raise TypeError(f"config must be a ModelConfig or dict, got {type(config).__name__}")
        self.config = config
        self._hub_mixin_config = config.to_dict()  # config.json is always the flat ModelConfig
        self.encoder = Encoder(config)
        self.decoder = None if config.encoder_only else Decoder(config)
        if self.encoder.pos_embed.device.type != "meta":  # built on meta = about to be loaded
            self.init_weights()

    @torch.no_grad()
    def init_weights(self) -> None:
        """Initialise as the official code does from scratch (docs/design.md §D9)."""
        c = self.config
        for name, m in self.named_modules():
            if isinstance(m, nn.Linear):
                if name in ("decoder.embed", "decoder.pred"):
                    _trunc_normal_fan_in(m.weight, 1.0, m.in_features)  # Flax default lecun_normal
                else:
                    nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, MultiWindowAttention):
                for key, table in m.relative_position_bias.items():
                    _trunc_normal_fan_in(table, 0.02, table.numel())  # fan_in = 2w − 1
        # Flax xavier on the (4, 16, 1, D) kernel: fan_in 64, fan_out 64·D — what torch computes too.
        nn.init.xavier_uniform_(self.encoder.patch_embed.proj.weight)
        nn.init.zeros_(self.encoder.patch_embed.proj.bias)
        enc_pos = sincos_2d(c.embed_dim, c.grid_size, cls_token=c.use_cls_token)
        self.encoder.pos_embed.copy_(torch.from_numpy(enc_pos).float().unsqueeze(0))
        if self.encoder.cls_token is not None:
            nn.init.normal_(self.encoder.cls_token, std=0.02)
        if self.decoder is not None:
            table = sincos_1d(c.decoder_embed_dim, np.arange(c.num_patches))
            dec_pos = torch.from_numpy(table).float()
            if c.use_cls_token:
                dec_pos = torch.cat([torch.zeros(1, c.decoder_embed_dim), dec_pos])
            self.decoder.pos_embed.copy_(dec_pos.unsqueeze(0))
            nn.init.normal_(self.decoder.mask_token, std=0.02)

    def forward_loss(self, x: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """MSE per patch, averaged over masked patches only. x (B, T, F), pred (B, N, P), mask (B, N)."""
        target = patchify(x, self.config.patch_size).detach()
        if self.config.norm_pix_loss:
            mean, var = target.mean(-1, keepdim=True), target.var(-1, keepdim=True)
            target = (target - mean) / (var + 1e-6) ** 0.5
        loss = ((pred.float() - target.float()) ** 2).mean(-1)
        return (loss * mask).sum() / mask.sum()

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None, mask_ratio: float | None = None):
        """Masked forward pass -> (loss, pred (B, N, patch_dim), mask (B, N), 1 = removed)."""
        if self.decoder is None:
            raise ValueError("this is an encoder-only checkpoint (encoder_only=True): it cannot reconstruct; "
                             "load a full checkpoint for pretraining or use it for embeddings only")
        ratio = self.config.mask_ratio if mask_ratio is None else mask_ratio
        latent, mask, ids_restore = self.encoder.forward_masked(x, ratio, noise)
        pred = self.decoder(latent, ids_restore)
        return self.forward_loss(x, pred, mask), pred, mask


    def encoder_only_copy(self) -> "MaskedAutoencoder":
        """A model with this encoder's weights and no decoder (``encoder_only=True``; for embeddings)."""
        slim = MaskedAutoencoder(self.config.replace(encoder_only=True))
        slim.encoder.load_state_dict(self.encoder.state_dict())
        return slim.eval()

    def num_params(self, encoder_only: bool = False) -> int:
        module = self.encoder if encoder_only else self
        return sum(p.numel() for p in module.parameters())
