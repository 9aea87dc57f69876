"""voices: which recorded voice speaks a word or letter it was not trained on (speech, held out of pretraining).

Sources: the spoken words of KTuberling (``ktuberling-data``: object names, one recording
set per language) and the spoken letters and syllables of KLettres (``klettres-data``: one
set per language, letters and syllables). Both are Debian packages reserved for evaluation
(``training/reserved.py``). The label is the recording set, ``<package>-<language>``: one
voice in one language, so the task is language identification with the speaker confounded
(HEAR's closest tasks are language ID and speaker ID). Files repeated sample for sample
(KTuberling's Serbian scripts share recordings) are kept once; sets with fewer than
:data:`MIN_CLIPS` distinct clips are left out and larger ones capped at :data:`MAX_CLIPS`
(spread over the set, so KLettres' 521 Malayalam syllables do not dominate).

Clips are 3 s (zero-padded; the longest letters are trimmed). Within each set, the clips
(sorted by name) are dealt in turn to the dev copy and the release copy (:mod:`.parts`), then
to 5 folds, so every set is in every fold and no recording is in two folds.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from hear_mwmae.audio_io import load_mono

from .audio import limit_peak, require, safe_name
from .hearformat import TaskWriter, fit_length
from .parts import DEV_EVERY, mode_of

NAME = "voices"
DESCRIPTION = "KTuberling words + KLettres letters, one label per voice/language set, 5 folds"
VERSION = "kde1"
SOURCES = {  # package -> (folder, glob below it, language = path part index from the folder)
    "ktuberling-data": (Path("/usr/share/ktuberling/sounds"), "*/*.ogg"),
    "klettres-data": (Path("/usr/share/klettres"), "*/*/*.ogg"),
}
CLIP_S = 3.0
MIN_CLIPS, MAX_CLIPS = 40, 120
N_FOLDS = 5


def recording_sets(limit: int | None = None) -> dict[str, list[Path]]:
    """{``<package>-<language>``: files, sorted} for every set of both packages."""
    sets: dict[str, list[Path]] = {}
    for package, (folder, pattern) in SOURCES.items():
        require(folder, package, what=f"the {package} recordings")
        for f in sorted(folder.glob(pattern)):
            lang = f.relative_to(folder).parts[0]
            sets.setdefault(f"{package.split('-')[0]}-{lang}", []).append(f)
    if not sets:
        raise ValueError("no recordings found under " + ", ".join(str(f) for f, _ in SOURCES.values()))
    return sets


def _spread(items: list, n: int) -> list:
    """``n`` items evenly spread over ``items`` (all of them when there are no more than ``n``)."""
    if len(items) <= n:
        return items
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)]


def build(tasks_dir: str | Path, limit: int | None = None, part: str = "release") -> Path:
    """Write ``tasks_dir/voices-kde1-full`` (``part="dev"``: ``-dev``); ``limit`` keeps N clips of each set per fold."""
    n_samples = round(CLIP_S * 16000)
    seen: set[bytes] = set()
    chosen: dict[str, list[tuple[str, np.ndarray]]] = {}
    # a subset decodes only the first files of each set (enough for either copy)
    enough = None if limit is None else limit * N_FOLDS * DEV_EVERY
    for name, files in sorted(recording_sets().items()):
        clips = []
        for f in files:
            if enough is not None and len(clips) >= enough:
                break
            audio = fit_length(load_mono(f), n_samples)
            digest = hashlib.sha256(np.round(audio * 32768).astype(np.int16).tobytes()).digest()
            if digest not in seen and float(np.abs(audio).max()) > 1e-4:
                seen.add(digest)
                clips.append((f"{name}-{f.parent.name}-{f.stem}", limit_peak(audio)))
        if len(clips) < (MIN_CLIPS if limit is None else enough):
            continue
        clips = _spread(clips, MAX_CLIPS)
        mine = [c for i, c in enumerate(clips) if (i % DEV_EVERY == DEV_EVERY - 1) == (part == "dev")]
        chosen[name] = mine[: limit * N_FOLDS] if limit is not None else mine
    splits = [f"fold{i:02d}" for i in range(N_FOLDS)]
    meta = {"task_name": NAME, "version": VERSION, "mode": mode_of(part, limit), "part": part,
            "embedding_type": "scene", "prediction_type": "multiclass", "split_mode": "new_split_kfold",
            "sample_duration": CLIP_S, "evaluation": ["top1_acc", "mAP", "d_prime", "aucroc"],
            "default_mode": "full", "source": "Debian " + ", ".join(SOURCES), "recording_sets": sorted(chosen)}
    writer = TaskWriter(tasks_dir, meta, splits, build_limit=limit)
    for name, clips in chosen.items():
        for i, (clip, audio) in enumerate(clips):
            writer.add(splits[i % N_FOLDS], f"{safe_name(clip)}.wav", audio, [name])
    return writer.finish()
