"""Audio helpers shared by the task builders: reading, resampling, levels, source checks."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hear_mwmae.frontend import SAMPLE_RATE  # noqa: F401  (the builders write 16 kHz clips)


class SourceMissingError(FileNotFoundError):
    """The source audio of a task builder is not installed (the message says how to get it)."""


def require(path: str | Path, apt_package: str | None = None, what: str = "source audio", hint: str = "") -> Path:
    """Return ``path`` if it exists, else raise :class:`SourceMissingError` naming the fix."""
    path = Path(path)
    if path.exists():
        return path
    fix = f"install the Debian package with `apt-get install {apt_package}`" if apt_package else hint
    raise SourceMissingError(f"{what} not found at {path}: {fix}" + (f" ({hint})" if apt_package and hint else ""))


def shared_data_dir() -> Path:
    """``$HEAR_MWMAE_SHARED/data/hear``; without the variable, ``../shared/data/hear`` from the current
    folder (a checkout's root, with ``shared/`` beside it). Builders also take ``--source``."""
    shared = os.environ.get("HEAR_MWMAE_SHARED")
    root = Path(shared) if shared else Path.cwd().parent / "shared"
    return root / "data" / "hear"


def frame_rms(audio: np.ndarray, frame: int = 160) -> np.ndarray:
    """RMS of consecutive ``frame``-sample frames (10 ms at 16 kHz); the tail frame is partial."""
    n = max(1, int(np.ceil(len(audio) / frame)))
    padded = np.zeros(n * frame, dtype=np.float64)
    padded[: len(audio)] = audio
    return np.sqrt((padded.reshape(n, frame) ** 2).mean(axis=1))


def active_extent(audio: np.ndarray, threshold_db: float = -40.0, frame: int = 160) -> tuple[int, int]:
    """(first, last) sample of the part whose 10 ms RMS is within ``threshold_db`` of the loudest frame.

    Returns (0, 0) for silence. Used to label an event's onset/offset from the sound itself.
    """
    rms = frame_rms(audio, frame)
    peak = rms.max()
    if peak <= 0:
        return 0, 0
    active = np.flatnonzero(rms >= peak * 10 ** (threshold_db / 20))
    return int(active[0] * frame), int(min(len(audio), (active[-1] + 1) * frame))


def limit_peak(audio: np.ndarray, ceiling: float = 0.99) -> np.ndarray:
    """``audio`` scaled down so that its peak is at most ``ceiling`` (scaled rather than clipped)."""
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    return audio * (ceiling / peak) if peak > ceiling else audio


def round_robin(items: list, key) -> list:
    """``items`` interleaved over their groups (``key(item)``, groups in first-seen order): the
    first of every group, then the second of every group, … — a prefix keeps every group present."""
    groups: dict = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    out: list = []
    for k in range(max(map(len, groups.values()), default=0)):
        out += [g[k] for g in groups.values() if k < len(g)]
    return out


def slug(text: str) -> str:
    """A file-name-safe form of ``text``: letters, digits, ``_``; other runs become ``_``."""
    out = "".join(c if c.isascii() and c.isalnum() else "_" for c in text.strip().lower())
    return "_".join(filter(None, out.split("_"))) or "x"


def safe_name(text: str) -> str:
    """``text`` with every character but ASCII letters, digits, ``-`` and ``_`` replaced by ``_`` (case kept)."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in text)
