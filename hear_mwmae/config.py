"""Model configurations: frozen dataclasses and the named presets of the paper.

Every size of the paper (tiny … huge), every decoder depth (1, 2, 4, 8) and every patch
size (4×16, 8×16, 8×8, 4×8, 5×5) has a name, e.g. ``mwmae_base_4x16_384d-8h-4l`` or
``mae_tiny_8x8_384d-8h-1l``; ``mwmae_base`` / ``mae_base`` (etc.) alias the official default
(4×16 patches, 384-d 4-layer decoder). A checkpoint stores its ``ModelConfig`` as JSON.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field

# (embed_dim, depth, num_heads) of each encoder size, docs/design.md §D5.
ENCODER_SIZES: dict[str, tuple[int, int, int]] = {
    "tiny": (192, 12, 3),
    "small": (384, 12, 6),
    "medium": (512, 12, 8),
    "base": (768, 12, 12),
    "large": (1024, 24, 16),
    "huge": (1280, 32, 16),
}
PATCH_SIZES: tuple[tuple[int, int], ...] = ((4, 16), (8, 16), (8, 8), (4, 8), (5, 5))
DECODER_DEPTHS: tuple[int, ...] = (1, 2, 4, 8)
DECODER_DIM = 384
VARIANTS = ("mwmae", "mae")
DEFORMABLE = -1  # a decoder window code: a deformable head (DATAR-style; docs/design.md §D25)


def window_sizes_for(num_patches: int) -> tuple[int, ...]:
    """The paper's decoder window rule (docs/design.md §D7).

    Every divisor > 1 of the patch count is one head's window; the patch count itself is a
    global head (written 0: global attention *without* a relative-position bias), and one
    extra global head is added. 250 patches -> (2, 5, 10, 25, 50, 125, 0, 0).
    """
    if num_patches < 2:
        raise ValueError(f"num_patches must be >= 2, got {num_patches}")
    local = [d for d in range(2, num_patches) if num_patches % d == 0]
    return tuple(local) + (0, 0)


def num_kept(num_tokens: int, mask_ratio: float) -> int:
    """Visible tokens; computed as the official code does to dodge 0.19999… (250, 0.8 -> 50)."""
    return int(num_tokens * (100 - 100 * mask_ratio) / 100)


def _as_int_tuple(value, name: str) -> tuple[int, ...]:
    if isinstance(value, bool) or not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be a list or tuple of ints, got {value!r}")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise TypeError(f"{name} must hold ints only, got {value!r}")
    return tuple(value)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of an MW-MAE / MAE model (encoder, decoder, masking).

    Window sizes: one entry per head, ``0`` = global head, ``-1`` = deformable head (decoder only;
    ``deform_stride``, ``deform_kernel``, ``deform_range`` set its offset network); an empty tuple
    means all heads global (standard multi-head attention). ``use_cls_token`` is True for the MAE baseline
    and must be False whenever a window size is > 0 (windows lie on patches only).
    ``shifting_windows`` moves the windows of every odd-numbered block (2nd, 4th, ...) of a stack by w // 2.
    ``encoder_only`` checkpoints carry no decoder (enough for embeddings).
    """

    variant: str = "mwmae"
    img_size: tuple[int, int] = (200, 80)  # (time frames, mel bins)
    patch_size: tuple[int, int] = (4, 16)  # (frames, mel bins) per patch
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    encoder_window_sizes: tuple[int, ...] = ()
    decoder_embed_dim: int = DECODER_DIM
    decoder_depth: int = 4
    decoder_num_heads: int = 8
    decoder_window_sizes: tuple[int, ...] = (2, 5, 10, 25, 50, 125, 0, 0)
    shifting_windows: bool = False  # the official option: odd-numbered blocks shift windows by w // 2
    use_cls_token: bool = False
    mask_ratio: float = 0.8
    norm_pix_loss: bool = False
    encoder_only: bool = False
    deform_stride: tuple[int, int] = (1, 1)  # reference-grid downsampling (time, frequency)
    deform_kernel: tuple[int, int] = (5, 3)  # the offset network's depthwise conv
    deform_range: float = 2.0  # offsets bounded to this many reference cells (< 0: unbounded, clamped)
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        # JSON gives lists; normalise to tuples so configs hash and compare.
        for f in ("img_size", "patch_size", "encoder_window_sizes", "decoder_window_sizes", "deform_stride",
                  "deform_kernel"):
            object.__setattr__(self, f, _as_int_tuple(getattr(self, f), f))
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        for f in ("embed_dim", "depth", "num_heads", "decoder_embed_dim", "decoder_depth", "decoder_num_heads"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{f} must be a positive int, got {v!r}")
        if len(self.img_size) != 2 or len(self.patch_size) != 2:
            raise ValueError("img_size and patch_size must be (time, freq) pairs")
        for i, (s, p) in enumerate(zip(self.img_size, self.patch_size)):
            if p < 1 or s % p:
                raise ValueError(f"patch_size {self.patch_size} must divide img_size {self.img_size} (axis {i})")
        if self.embed_dim % self.num_heads or self.decoder_embed_dim % self.decoder_num_heads:
            raise ValueError("embed_dim / decoder_embed_dim must be divisible by their head counts")
        if not 0.0 <= self.mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in [0, 1), got {self.mask_ratio}")
        if not self.mlp_ratio > 0:
            raise ValueError(f"mlp_ratio must be > 0, got {self.mlp_ratio}")
        for f, heads in (("encoder_window_sizes", self.num_heads), ("decoder_window_sizes", self.decoder_num_heads)):
            ws = getattr(self, f)
            if ws and len(ws) != heads:
                raise ValueError(f"{f} needs one entry per head ({heads}), got {len(ws)}: {ws}")
            if f == "encoder_window_sizes" and DEFORMABLE in ws:
                # Why: in pretraining the encoder sees a random subset of the tokens, not the grid the
                # offsets move on; deformable heads go in the decoder, which sees every position.
                raise ValueError(f"{f}: deformable heads ({DEFORMABLE}) need the full token grid; use them in "
                                 f"decoder_window_sizes")
            if any(w < DEFORMABLE for w in ws):
                raise ValueError(f"{f} must be >= 0 (0 = global head) or {DEFORMABLE} (deformable), got {ws}")
            # A window size need not divide the token count (the last window is shorter: padding,
            # docs/design.md §D27); the official configs all divide it.
            if any(ws) and self.use_cls_token:
                raise ValueError(f"{f}: windowed or deformable heads need use_cls_token=False (a cls token "
                                 f"breaks the windows and the grid)")
        if not isinstance(self.shifting_windows, bool):
            raise TypeError(f"shifting_windows must be True or False, got {self.shifting_windows!r}")
        for f in ("deform_stride", "deform_kernel"):
            if len(getattr(self, f)) != 2 or min(getattr(self, f)) < 1:
                raise ValueError(f"{f} must be two positive ints (time, frequency), got {getattr(self, f)}")

    # ---- derived values (computed here, never stored) -----------------------------------
    @property
    def grid_size(self) -> tuple[int, int]:
        """Patch grid (time steps, frequency bands), e.g. (50, 5) for 200×80 and 4×16."""
        return self.img_size[0] // self.patch_size[0], self.img_size[1] // self.patch_size[1]

    @property
    def num_patches(self) -> int:
        return self.grid_size[0] * self.grid_size[1]

    @property
    def patch_dim(self) -> int:
        """Values per patch (the reconstruction target width)."""
        return self.patch_size[0] * self.patch_size[1]

    @property
    def frame_embedding_size(self) -> int:
        """Width of one HEAR frame embedding: the frequency bands concatenated (5·D for 4×16)."""
        return self.grid_size[1] * self.embed_dim

    @property
    def frame_ms(self) -> float:
        """Duration of one patch column (one HEAR frame) in ms at 10 ms per spectrogram frame."""
        return 10.0 * self.patch_size[0]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        """Build from a dict (e.g. config.json); unknown keys are an error."""
        return _from_dict(cls, data)

    def replace(self, **changes) -> "ModelConfig":
        return dataclasses.replace(self, **changes)


def _from_dict(cls, data: dict):
    """``cls(**data)`` for a config class; a non-dict or unknown keys are an error naming the valid ones."""
    if not isinstance(data, dict):
        raise TypeError(f"a model config must be a dict, got {type(data).__name__}")
    valid = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise ValueError(f"unknown model config keys {unknown}; valid keys: {valid}")
    return cls(**data)


def _preset(variant: str, size: str, patch: tuple[int, int], dec_depth: int, deform: bool = False) -> ModelConfig:
    dim, depth, heads = ENCODER_SIZES[size]
    grid = (200 // patch[0]) * (80 // patch[1])
    windows = window_sizes_for(grid)
    if deform:  # the paper's extra global head becomes a deformable one
        windows = windows[:-1] + (DEFORMABLE,)
    name = f"{variant}_{size}_{patch[0]}x{patch[1]}_{DECODER_DIM}d-{len(windows)}h-{dec_depth}l" + ("-deform" if deform else "")
    return ModelConfig(
        variant=variant,
        patch_size=patch,
        embed_dim=dim,
        depth=depth,
        num_heads=heads,
        decoder_depth=dec_depth,
        decoder_num_heads=len(windows),  # the paper's head counts: 4 / 8 / 12 / 16 (docs/design.md §D7)
        decoder_window_sizes=windows if variant == "mwmae" else (),
        use_cls_token=variant == "mae",
        name=name,
    )


def _build_registry() -> dict[str, ModelConfig]:
    reg: dict[str, ModelConfig] = {}
    for variant in VARIANTS:
        for size in ENCODER_SIZES:
            for patch in PATCH_SIZES:
                for d in DECODER_DEPTHS:
                    for deform in (False, True) if variant == "mwmae" else (False,):
                        cfg = _preset(variant, size, patch, d, deform)
                        reg[cfg.name] = cfg
            default = reg[f"{variant}_{size}_4x16_384d-8h-4l"]
            reg[f"{variant}_{size}"] = default  # short alias: the official default geometry
            if variant == "mwmae":
                reg[f"mwmae_{size}_deform"] = reg[f"mwmae_{size}_4x16_384d-8h-4l-deform"]
    return reg


@dataclass(frozen=True)
class DatarConfig:
    """A DATAR-style supervised audio classifier (docs/design.md §D26): a pyramid of stages over the
    log-mel patch grid, local-window attention alternating with deformable attention in each stage,
    patch merging between stages, an optional learnable input adaptor, a linear head.

    Grids: the stem's patches give ``img_size / stem_patch`` (50 × 10 for 4×8); each merge divides
    it (``merges[i]`` between stage i and i + 1). Local attention uses windows of ``local_steps``
    time steps (all bands); ``deform_groups`` per stage. ``num_classes`` 0 = backbone only.
    """

    family: str = "datar"
    img_size: tuple[int, int] = (200, 80)
    stem_patch: tuple[int, int] = (4, 8)
    dims: tuple[int, ...] = (64, 128, 256)
    depths: tuple[int, ...] = (2, 2, 2)
    heads: tuple[int, ...] = (2, 4, 8)
    merges: tuple[tuple[int, int], ...] = ((2, 2), (1, 5))
    local_steps: int = 5
    deform_groups: tuple[int, ...] = (1, 2, 4)
    deform_stride: tuple[int, int] = (1, 1)
    deform_kernel: tuple[int, int] = (5, 3)
    deform_range: float = 2.0
    mlp_ratio: float = 4.0
    input_adaptor: str = "conv"  # "conv" (zero-initialised residual conv stem + per-bin affine) or "none"
    num_classes: int = 0
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        for f in ("img_size", "stem_patch", "dims", "depths", "heads", "deform_groups", "deform_stride", "deform_kernel"):
            object.__setattr__(self, f, _as_int_tuple(getattr(self, f), f))
        object.__setattr__(self, "merges", tuple(_as_int_tuple(m, "merges") for m in self.merges))
        if self.family != "datar":
            raise ValueError(f"DatarConfig.family must be 'datar', got {self.family!r}")
        stages = len(self.dims)
        if not (len(self.depths) == len(self.heads) == len(self.deform_groups) == stages) or len(self.merges) != stages - 1:
            raise ValueError(f"dims, depths, heads, deform_groups need one entry per stage ({stages}) and merges "
                             f"one between stages ({stages - 1})")
        if self.input_adaptor not in ("conv", "none"):
            raise ValueError(f"input_adaptor must be 'conv' or 'none', got {self.input_adaptor!r}")
        if isinstance(self.num_classes, bool) or not isinstance(self.num_classes, int) or self.num_classes < 0:
            raise ValueError(f"num_classes must be an int >= 0, got {self.num_classes!r}")
        grid = [s // p if p >= 1 and s % p == 0 else None for s, p in zip(self.img_size, self.stem_patch)]
        if None in grid:
            raise ValueError(f"stem_patch {self.stem_patch} must divide img_size {self.img_size}")
        for i, (dim, heads, groups) in enumerate(zip(self.dims, self.heads, self.deform_groups)):
            if dim % heads or heads % groups:
                raise ValueError(f"stage {i + 1}: dim {dim} must divide by heads {heads}, and heads by deform_groups "
                                 f"{groups}")
            if grid[0] % self.local_steps:
                raise ValueError(f"stage {i + 1}: {grid[0]} time steps are not divisible by local_steps "
                                 f"{self.local_steps}")
            if i < len(self.merges):
                mt, mf = self.merges[i]
                if grid[0] % mt or grid[1] % mf:
                    raise ValueError(f"merge {self.merges[i]} after stage {i + 1} does not divide its grid {tuple(grid)}")
                grid = [grid[0] // mt, grid[1] // mf]

    @property
    def stage_grids(self) -> tuple[tuple[int, int], ...]:
        grid = (self.img_size[0] // self.stem_patch[0], self.img_size[1] // self.stem_patch[1])
        grids = [grid]
        for mt, mf in self.merges:
            grid = (grid[0] // mt, grid[1] // mf)
            grids.append(grid)
        return tuple(grids)

    # The HEAR runtime reads these (as it does for ModelConfig): the last stage's grid is the output.
    @property
    def grid_size(self) -> tuple[int, int]:
        return self.stage_grids[-1]

    @property
    def patch_size(self) -> tuple[int, int]:
        """Log-mel frames × mel bins behind one output token."""
        return self.img_size[0] // self.grid_size[0], self.img_size[1] // self.grid_size[1]

    @property
    def embed_dim(self) -> int:
        return self.dims[-1]

    @property
    def depth(self) -> int:
        return sum(self.depths)

    @property
    def frame_embedding_size(self) -> int:
        return self.grid_size[1] * self.dims[-1]

    @property
    def frame_ms(self) -> float:
        return 10.0 * self.patch_size[0]

    variant = "datar"
    use_cls_token = False
    encoder_only = False

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "DatarConfig":
        return _from_dict(cls, data)

    def replace(self, **changes) -> "DatarConfig":
        return dataclasses.replace(self, **changes)


def config_from_dict(data: dict):
    """A config.json's dict -> ``ModelConfig`` (MW-MAE / MAE) or ``DatarConfig`` (``"family": "datar"``)."""
    if not isinstance(data, dict):
        raise TypeError(f"a model config must be a dict, got {type(data).__name__}")
    return DatarConfig.from_dict(data) if data.get("family") == "datar" else ModelConfig.from_dict(data)


DATAR_PRESETS = {
    # CPU-sized: 50×10 -> 25×5 -> 25×1 grids, 80 ms frames, 256-d embeddings, ~2.5 M parameters.
    "datar_tiny": DatarConfig(name="datar_tiny"),
    "datar_small": DatarConfig(dims=(96, 192, 384), depths=(2, 4, 2), heads=(3, 6, 12), deform_groups=(1, 2, 4),
                               name="datar_small"),
}

CONFIGS: dict[str, ModelConfig] = {**_build_registry(), **DATAR_PRESETS}


def list_configs() -> list[str]:
    """All preset names, sorted."""
    return sorted(CONFIGS)


def get_config(name: str, **overrides) -> ModelConfig:
    """Preset by name (see ``list_configs()``), optionally with fields replaced."""
    if not isinstance(name, str):
        raise TypeError(f"config name must be a str, got {type(name).__name__}")
    if name not in CONFIGS:
        close = difflib.get_close_matches(name, CONFIGS, n=3)
        hint = f" Did you mean {close}?" if close else ""
        raise ValueError(f"unknown config name {name!r}.{hint} See hear_mwmae.list_configs() for all names.")
    cfg = CONFIGS[name]
    return cfg.replace(**overrides) if overrides else cfg
