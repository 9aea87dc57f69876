"""The time × frequency patch grid that attention is measured on (docs/design.md §D16).

Tokens are time-major: patch index n = t·F_p + f (frequency fastest). A spectrogram grid is not
isotropic (one time step = patch_t frames = 40 ms, one frequency step = patch_f mel bins), so
distances come in labelled variants instead of one "pixel" distance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# variant -> (unit, description); `euclid_bins` is the naive ViT-pixel port, for comparison only.
DISTANCE_VARIANTS: dict[str, tuple[str, str]] = {
    "euclid_patch": ("patches", "Euclidean on the patch grid"),
    "time": ("ms", "time"),
    "freq": ("mel bins", "frequency"),
    "time_patch": ("patches", "time"),
    "freq_patch": ("patches", "frequency"),
    "euclid_bins": ("frames/mel bins", "Euclidean in spectrogram cells"),
}
DEFAULT_VARIANTS = tuple(DISTANCE_VARIANTS)


def check_variants(variants) -> tuple[str, ...]:
    """Validate a list of distance variant names; returns them as a tuple."""
    if isinstance(variants, str):
        variants = (variants,)
    variants = tuple(variants)
    bad = [v for v in variants if v not in DISTANCE_VARIANTS]
    if bad or not variants:
        raise ValueError(f"unknown distance variant(s) {bad or variants}; choose from {list(DISTANCE_VARIANTS)}")
    return variants


def distance_label(variant: str) -> str:
    """Axis label, e.g. ``"mean attention distance, time (ms)"``."""
    unit, what = DISTANCE_VARIANTS[check_variants(variant)[0]]
    return f"mean attention distance, {what} ({unit})"


@dataclass(frozen=True)
class TokenGrid:
    """Geometry of the patch tokens of one model.

    Args:
        grid: (T_p time steps, F_p frequency bands), e.g. (50, 5).
        patch_size: (frames, mel bins) per patch, e.g. (4, 16).
        hop_ms: spectrogram hop in ms (10 for the MW-MAE frontend).
        num_prefix: tokens before the patches in the sequence (1 = CLS of the MAE baseline).
    """

    grid: tuple[int, int]
    patch_size: tuple[int, int] = (4, 16)
    hop_ms: float = 10.0
    num_prefix: int = 0

    def __post_init__(self) -> None:
        for name in ("grid", "patch_size"):
            value = getattr(self, name)
            if len(value) != 2 or any(int(v) != v or v < 1 for v in value):
                raise ValueError(f"{name} must be two positive ints, got {value!r}")
            object.__setattr__(self, name, (int(value[0]), int(value[1])))
        if self.num_prefix not in (0, 1):
            raise ValueError(f"num_prefix must be 0 or 1, got {self.num_prefix!r}")

    @classmethod
    def from_config(cls, config) -> "TokenGrid":
        """From a ``ModelConfig`` (its spectrogram hop, CLS iff ``use_cls_token``)."""
        hop_ms = config.frame_ms / config.patch_size[0]
        return cls(tuple(config.grid_size), tuple(config.patch_size), hop_ms, 1 if config.use_cls_token else 0)

    @property
    def num_patches(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def step_ms(self) -> float:
        """Duration of one time step of the grid (40 ms for 4-frame patches)."""
        return self.patch_size[0] * self.hop_ms

    def coords(self) -> np.ndarray:
        """(N, 2) int array of (t, f) for patch index n = t·F_p + f."""
        n = np.arange(self.num_patches)
        return np.stack([n // self.grid[1], n % self.grid[1]], axis=1)

    def distance_matrix(self, variant: str = "euclid_patch") -> np.ndarray:
        """(N, N) float64 distance between patch centres, in the variant's unit."""
        check_variants(variant)
        c = self.coords().astype(np.float64)
        dt = np.abs(c[:, None, 0] - c[None, :, 0])  # (N, N) time steps
        df = np.abs(c[:, None, 1] - c[None, :, 1])  # (N, N) frequency steps
        pt, pf = self.patch_size
        return {
            "euclid_patch": lambda: np.hypot(dt, df),
            "time": lambda: dt * self.step_ms,
            "freq": lambda: df * pf,
            "time_patch": lambda: dt,
            "freq_patch": lambda: df,
            "euclid_bins": lambda: np.hypot(pt * dt, pf * df),
        }[variant]()

    def to_dict(self) -> dict:
        return {"grid": list(self.grid), "patch_size": list(self.patch_size), "hop_ms": self.hop_ms,
                "num_prefix": self.num_prefix, "step_ms": self.step_ms}
