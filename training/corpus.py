"""Audio corpora: folders of files and manifests -> a sorted list of paths; decoding to 16 kHz mono."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif", ".au")


def list_audio(sources: list[str]) -> list[Path]:
    """Folders (searched recursively), audio files, and manifests (.txt: one path a line; .csv:
    a ``path`` column or the first column) -> sorted unique paths. Relative manifest entries are
    relative to the manifest."""
    found: set[Path] = set()
    for src in sources:
        p = Path(src)
        if p.is_dir():
            found.update(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES)
        elif p.suffix.lower() in (".txt", ".csv") and p.is_file():
            found.update(_read_manifest(p))
        elif p.is_file():
            found.add(p)
        else:
            raise FileNotFoundError(f"no such audio folder, file or manifest: {src}")
    if not found:
        raise ValueError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) in {sources}")
    return sorted(found)


def source_labels(sources: list[str]) -> dict[str, str]:
    """{file: source label}: a manifest's ``source`` column where it has one, else the folder/manifest given."""
    labels: dict[str, str] = {}
    for src in sources:
        p = Path(src)
        if p.suffix.lower() == ".csv" and p.is_file():
            with open(p, newline="") as f:
                for row in csv.DictReader(f):
                    if row.get("path"):
                        labels[str(_resolve(p, row["path"]))] = row.get("source") or src
    return labels


def _read_manifest(path: Path) -> list[Path]:
    if path.suffix.lower() == ".txt":
        entries = [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    else:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        if not rows:
            return []
        header = [h.strip().lower() for h in rows[0]]
        col = header.index("path") if "path" in header else 0
        start = 1 if "path" in header else 0
        entries = [r[col].strip() for r in rows[start:] if r and r[col].strip()]
    return [_resolve(path, e) for e in entries]


def _resolve(manifest: Path, entry: str) -> Path:
    """A manifest entry as a path: relative entries are relative to the manifest's folder."""
    return Path(entry) if Path(entry).is_absolute() else manifest.parent / entry


def decode(path: Path) -> np.ndarray:
    """Any file libsndfile reads -> float32 mono at 16 kHz (torchaudio resampling)."""
    from hear_mwmae.cli import read_audio

    return read_audio(path)[0].numpy()
