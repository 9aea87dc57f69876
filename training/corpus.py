"""Audio corpora: folders of files and manifests -> {path: source label}; decoding to 16 kHz mono."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from hear_mwmae.audio_io import AUDIO_SUFFIXES, audio_files, load_mono


def list_audio(sources: list[str]) -> dict[Path, str]:
    """Folders (searched recursively), audio files, and manifests (.txt: one path a line; .csv:
    a ``path`` column or the first column) -> {path: source label}, sorted by path, unique.

    The label is a CSV manifest's ``source`` column where it has one, else the folder, file or
    manifest given. A file named by several sources counts once, under the first source listed.
    Relative manifest entries are relative to the manifest."""
    found: dict[Path, str] = {}
    for src in sources:
        p = Path(src)
        if p.is_dir():
            for f in _folder_audio(p):
                found.setdefault(f, src)
        elif p.suffix.lower() in (".txt", ".csv") and p.is_file():
            for f, label in _read_manifest(p):
                found.setdefault(f, label or src)
        elif p.is_file():
            found.setdefault(p, src)
        else:
            raise FileNotFoundError(f"no such audio folder, file or manifest: {src}")
    if not found:
        raise ValueError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) in {sources}")
    return dict(sorted(found.items()))


def _folder_audio(folder: Path) -> list[Path]:
    """The audio files under a folder, spelled from the folder as given (the runtime's walker, which
    names each by its path inside the folder); a folder without audio is not an error here."""
    try:
        return [folder / name for _, name in audio_files([folder])]
    except ValueError:  # no audio files in this folder
        return []


def _read_manifest(path: Path) -> list[tuple[Path, str | None]]:
    """(path, source label or None) per manifest entry."""
    if path.suffix.lower() == ".txt":
        lines = [line.strip() for line in path.read_text().splitlines()]
        return [(_resolve(path, e), None) for e in lines if e and not e.startswith("#")]
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return []
    header = [h.strip().lower() for h in rows[0]]
    has_header = "path" in header
    col = header.index("path") if has_header else 0
    label_col = header.index("source") if has_header and "source" in header else None
    entries = []
    for r in rows[1 if has_header else 0:]:
        if not r or not r[col].strip():
            continue
        label = r[label_col].strip() if label_col is not None and label_col < len(r) else ""
        entries.append((_resolve(path, r[col].strip()), label or None))
    return entries


def _resolve(manifest: Path, entry: str) -> Path:
    """A manifest entry as a path: relative entries are relative to the manifest's folder."""
    return Path(entry) if Path(entry).is_absolute() else manifest.parent / entry


def decode(path: Path) -> np.ndarray:
    """Any file libsndfile reads -> float32 mono at 16 kHz (torchaudio resampling)."""
    return load_mono(path)
