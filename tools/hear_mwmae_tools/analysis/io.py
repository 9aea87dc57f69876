"""Result files: ``<name>.npz`` (arrays) + ``<name>.json`` (every parameter of the run), written atomically."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hear_mwmae.atomic import atomic_savez, atomic_write, atomic_write_bytes


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None  # strict JSON has no NaN/Inf
    if isinstance(value, Path):
        return str(value)
    return value


def save_result(out_dir: str | Path, name: str, arrays: dict[str, np.ndarray], metadata: dict) -> tuple[Path, Path]:
    """Write ``out_dir/name.npz`` and ``out_dir/name.json``; returns both paths."""
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict, got {type(metadata).__name__}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    npz = atomic_savez(out / f"{name}.npz", {k: np.asarray(v) for k, v in arrays.items()})
    meta = atomic_write_bytes(out / f"{name}.json", (json.dumps(_jsonable(metadata), indent=2) + "\n").encode())
    return npz, meta


def load_result(path: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """Read a result written by :func:`save_result` (give the .npz, the .json or the stem)."""
    p = Path(path)
    stem = p.with_suffix("") if p.suffix in (".npz", ".json") else p
    npz, meta = stem.with_suffix(".npz"), stem.with_suffix(".json")
    if not npz.is_file():
        raise FileNotFoundError(f"no result file {npz}")
    with np.load(npz) as data:
        arrays = {k: data[k] for k in data.files}
    return arrays, json.loads(meta.read_text()) if meta.is_file() else {}


def save_figure(fig, path: str | Path, dpi: int = 110) -> Path:
    """Save a matplotlib figure (see ``plots.new_figure``) as PNG, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png"))
