"""Audio files in: finding them under folders, naming them, decoding them to 16 kHz mono.

The one audio reader of the package and of the tools beside it (evaluation, analysis, training).
Decoding is libsndfile's (``soundfile``: wav, flac, ogg, mp3, aiff, au, …); resampling is
torchaudio's. torch and soundfile load inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

SAMPLE_RATE = 16000  # = frontend.SAMPLE_RATE (kept here so that this module imports no torch)
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif", ".au")


def is_audio_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES


def audio_files(inputs: list[str | Path]) -> list[tuple[Path, str]]:
    """Every audio file given or found (recursively, sorted) under the folders given, with a name each.

    A name is the file's path relative to the inputs' common root: the folder itself for one folder,
    the parent for one file, their common ancestor for several (``a/x.wav b/x.wav`` -> ``a/x.wav``,
    ``b/x.wav``), so that two inputs never share a name. A file reached twice (given twice, a file
    and its folder, a symbolic link to it) is kept once, under its first name.

    Raises:
        FileNotFoundError: an input does not exist.
        ValueError: no audio files at all.
    """
    roots, found = [], []
    for item in inputs:
        p = Path(os.path.abspath(item))  # absolute, '..' folded, symlinks kept: names follow what was given
        if p.is_dir():
            roots.append(p)
            found += [f for f in sorted(p.rglob("*")) if is_audio_file(f)]
        elif p.is_file():
            roots.append(p.parent)
            found.append(p)
        else:
            raise FileNotFoundError(f"no such audio file or folder: {item}")
    if not found:
        raise ValueError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) found in {[str(i) for i in inputs]}")
    root = Path(os.path.commonpath(roots))
    files, names, seen = [], {}, set()
    for f in found:
        if f.resolve() in seen:
            continue  # the same file reached twice (given twice, or a file and its folder, or a link to it)
        seen.add(f.resolve())
        name = f.relative_to(root).as_posix()
        if name in names:  # distinct paths under one root cannot share a relative name; kept as a guard
            raise ValueError(f"two inputs would share the output name {name!r}: {names[name]} and {f}")
        names[name] = f
        files.append((f, name))
    return files


def read_audio(source, name: str | None = None):
    """An audio file (a path, or an open binary file with ``name`` for messages), any sample rate and
    channel count -> (1, n) float32 16 kHz mono tensor (mean of the channels, torchaudio resampling).

    Raises:
        ValueError: the file cannot be decoded or holds no samples.
    """
    import soundfile as sf
    import torch
    import torchaudio

    name = name or str(source)
    try:
        data, rate = sf.read(source if hasattr(source, "read") else str(source), dtype="float32", always_2d=True)
    except Exception as e:  # libsndfile raises its own error type
        raise ValueError(f"cannot decode {name}: {e}") from e
    if data.shape[0] == 0:
        raise ValueError(f"{name} holds no samples")
    audio = torch.from_numpy(data.mean(axis=1))[None]
    if rate != SAMPLE_RATE:
        audio = torchaudio.functional.resample(audio, rate, SAMPLE_RATE)
    return audio


def load_mono(source: str | Path | bytes, name: str | None = None):
    """A file's path or its bytes -> (n,) float32 NumPy array, 16 kHz mono (see :func:`read_audio`)."""
    if isinstance(source, (bytes, bytearray)):
        return read_audio(io.BytesIO(source), name=name or "audio bytes")[0].numpy()
    return read_audio(source, name=name)[0].numpy()
