"""Analysis inputs: fixed, seeded 2 s log-mel crops from audio files or synthetic audio (docs/design.md §D18).

Every clip goes through the model's own frontend (log-mel standardised over the whole file, as
the HEAR runtime does); a crop of ``img_size[0]`` frames is then taken at a seeded offset
(reflect-padded when the file is shorter), so a run is reproducible from (source, n, seed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hear_mwmae.frontend import SAMPLE_RATE, LogMelFrontend, reflect_index

SYNTHETIC = "synthetic"


def synthetic_audio(index: int, seed: int = 0, seconds: float = 2.0) -> torch.Tensor:
    """(L,) float32 16 kHz test signal: a few gliding, amplitude-modulated tones plus noise."""
    rng = np.random.default_rng([int(seed), int(index), 7])
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    x = 0.02 * rng.standard_normal(len(t))
    for _ in range(rng.integers(2, 5)):
        f0, f1 = rng.uniform(100, 4000, size=2)
        phase = 2 * np.pi * (f0 * t + 0.5 * (f1 - f0) * t**2 / seconds)
        envelope = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.5, 4) * t + rng.uniform(0, 2 * np.pi))
        x += rng.uniform(0.05, 0.3) * envelope * np.sin(phase)
    return torch.from_numpy(np.clip(x, -1, 1).astype(np.float32))


def audio_files(source: str | Path) -> list[Path]:
    """Audio files of a file or a folder (recursive, sorted)."""
    from hear_mwmae.audio_io import audio_files as find_audio

    if not Path(source).exists():
        raise FileNotFoundError(f"no such audio file or folder: {source} (or use '{SYNTHETIC}')")
    return [f for f, _ in find_audio([source])]


def crop(logmel: torch.Tensor, frames: int, rng: np.random.Generator) -> tuple[torch.Tensor, int]:
    """(T, F) -> (frames, F) at a random offset (reflect-padded if T < frames); returns (crop, offset)."""
    t = logmel.shape[0]
    offset = int(rng.integers(0, t - frames + 1)) if t >= frames else 0
    index = torch.from_numpy(reflect_index(t, frames, offset=offset))
    return logmel.index_select(0, index), offset


def load_clips(source: str | Path, n_clips: int, seed: int = 0, frames: int = 200) -> tuple[torch.Tensor, list[str]]:
    """(n_clips, frames, 80) float32 log-mel crops and a name per clip (``file@offset``).

    Args:
        source: an audio file, a folder (e.g. a HEAR task folder, searched recursively), or
            ``"synthetic"`` (seeded test signals, no data needed).
        n_clips: crops to return. With more files than that, a seeded subset is used; with fewer,
            files are reused at other offsets.
        seed: crop and subset seed. frames: crop length (the model's ``img_size[0]``).
    """
    if isinstance(n_clips, bool) or not isinstance(n_clips, int) or n_clips < 1:
        raise ValueError(f"n_clips must be a positive int, got {n_clips!r}")
    frontend = LogMelFrontend()
    out, names = [], []
    if str(source) == SYNTHETIC:
        for i in range(n_clips):
            mel = frontend(synthetic_audio(i, seed, frames / 100.0 + 0.01)[None])[0]
            out.append(mel[:frames])
            names.append(f"{SYNTHETIC}:{seed}:{i}")
        return torch.stack(out), names
    from hear_mwmae.audio_io import read_audio

    files = audio_files(source)
    if len(files) > n_clips:
        files = [files[i] for i in sorted(np.random.default_rng([int(seed), 0]).choice(len(files), n_clips, replace=False))]
    cache: dict[int, torch.Tensor] = {}
    root = Path(source) if Path(source).is_dir() else Path(source).parent
    for i in range(n_clips):
        k = i % len(files)
        if k not in cache:
            cache[k] = frontend(read_audio(files[k]))[0]
        mel, offset = crop(cache[k], frames, np.random.default_rng([int(seed), k, i // len(files)]))
        out.append(mel)
        names.append(f"{files[k].relative_to(root)}@{offset}")
    return torch.stack(out), names
