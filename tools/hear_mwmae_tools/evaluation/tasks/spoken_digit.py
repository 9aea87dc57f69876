"""spoken_digit: the real HEAR task (hear-2021.0.6, Free Spoken Digit Dataset), resampled to 16 kHz.

The source is the HEAR organisers' preprocessed tarball (44.1 kHz only, 100 one-second clips
in 5 folds, scored with top1_acc). Metadata, vocabulary and fold files are kept as they are;
every WAV is resampled to 16 kHz (windowed sinc, torchaudio) and written as 16-bit PCM.

One deliberate change: the tarball's clips are stored at a tiny level (int16 values within
±3, RMS ≈ 2e-5 — the speech survives only as the sign pattern of 1–3 LSBs). Re-quantising
the resampled signal at that level would destroy what is left, so each clip is scaled to a
peak of :data:`PEAK` after resampling (a per-clip gain: scale-invariant models see no
difference). The metadata records it as ``"gain": "peak-normalised"``.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from hear_mwmae.audio_io import load_mono

from .audio import require, shared_data_dir
from .hearformat import TaskWriter

NAME = "spoken_digit"
DESCRIPTION = "real HEAR task (Free Spoken Digit Dataset, 10 digits, 5 folds) resampled 44.1 -> 16 kHz"
TARBALL = "hear-2021.0.6-spoken_digit-1.0.9-small-44100.tar.gz"
PEAK = 0.5


def _normalise(audio):
    peak = float(abs(audio).max()) if len(audio) else 0.0
    return audio * (PEAK / peak) if peak > 0 else audio


def build(tasks_dir: str | Path, limit: int | None = None, source: str | Path | None = None) -> Path:
    """Write ``tasks_dir/spoken_digit-1.0.9-small``; ``limit`` keeps the first N clips of each fold."""
    tarball = require(Path(source) if source else shared_data_dir() / TARBALL, what="the HEAR spoken_digit tarball",
                      hint="it ships in shared/data/hear/; set HEAR_MWMAE_SHARED to the shared/ folder or pass --source")
    with tarfile.open(tarball) as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        meta_name = next((n for n in members if n.endswith("/task_metadata.json")), None)
        if meta_name is None:
            raise ValueError(f"{tarball} holds no task_metadata.json; is it a HEAR task tarball?")
        root = meta_name.rsplit("/", 1)[0]
        meta = json.loads(tar.extractfile(members[meta_name]).read())
        writer = TaskWriter(tasks_dir, {**meta, "gain": "peak-normalised"}, meta["splits"], build_limit=limit)
        for split in meta["splits"]:
            labels = json.loads(tar.extractfile(members[f"{root}/{split}.json"]).read())
            for name in sorted(labels)[:limit]:
                wav = members.get(f"{root}/44100/{split}/{name}")
                if wav is None:
                    raise ValueError(f"{tarball}: {split}/{name} is listed but has no 44100 Hz WAV")
                writer.add(split, name, _normalise(load_mono(tar.extractfile(wav).read())), labels[name])
    return writer.finish()
