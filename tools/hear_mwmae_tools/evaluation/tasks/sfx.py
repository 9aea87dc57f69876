"""sfx: which game a sound effect comes from (effects, held out of pretraining).

Sources (licences in docs/evaluation.md): the sound effects of four Debian game packages,
all reserved for evaluation (``training/reserved.py``): Scorched 3D (``scorched3d-data``:
explosions, weapons, weather and animal ambience; its music folder is left out), TripleA (``triplea``: battles, bombing, UI and
turn jingles), OpenTTD's OpenSFX set (``openttd-opensfx``: vehicles, machines, crowds, stored
as RIFF WAVs inside ``opensfx.cat``) and LBreakout2 (``lbreakout2-data``: short arcade hits and
UI clicks). The label is the game: the task asks whether a representation tells apart four
sound palettes (recording chains, synthesis styles, subject matter), the closest a sound-effect
task can get on Debian main, where no sizeable set of effects carries per-clip semantic labels
(docs/evaluation.md, "The task suite"). Files repeated sample for sample are kept once.

Clips are 2 s from the first frame within 40 dB of the loudest (zero-padded; longer ones
trimmed). Within each game, the clips (sorted by name) are dealt in turn to the dev copy and
the release copy (:mod:`.parts`), then to 5 folds, so every game is in every fold.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import numpy as np

from hear_mwmae.audio_io import load_mono

from .audio import active_extent, limit_peak, require, safe_name
from .hearformat import TaskWriter, fit_length
from .parts import DEV_EVERY, mode_of

NAME = "sfx"
DESCRIPTION = "sound effects of 4 games (Scorched 3D, TripleA, OpenTTD OpenSFX, LBreakout2), label = game, 5 folds"
VERSION = "games1"
SOURCES = {  # label -> (Debian package, folder, glob below it)
    "lbreakout2": ("lbreakout2-data", Path("/usr/share/games/lbreakout2"), "**/*.wav"),
    "openttd": ("openttd-opensfx", Path("/usr/share/games/openttd/baseset/opensfx"), "opensfx.cat"),
    "scorched3d": ("scorched3d-data", Path("/usr/share/games/scorched3d/data/globalmods"), "*/data/wav/**/*.wav"),
    "triplea": ("triplea", Path("/usr/share/games/triplea/assets/sounds"), "**/*.mp3"),
}
CLIP_S = 2.0
N_FOLDS = 5


def read_cat(path: str | Path) -> list[tuple[str, bytes]]:
    """The sounds of an OpenTTD ``.cat`` sample file -> [(name, RIFF WAV bytes)].

    Layout (checked on ``opensfx.cat``; docs/evaluation.md): a table of little-endian uint32
    (offset, size) pairs, the offset's top bit a flag to mask off; the first offset is the
    table's length, so it gives the count. Each entry is a length-prefixed name (OpenSFX puts
    its description and licence there) followed by one RIFF WAV; placeholder entries with no
    WAV are skipped.
    """
    data = Path(path).read_bytes()
    if len(data) < 8:
        raise ValueError(f"{path} is not an OpenTTD .cat file (only {len(data)} bytes)")
    count = (struct.unpack_from("<I", data, 0)[0] & 0x7FFFFFFF) // 8
    if not 0 < count * 8 <= len(data):
        raise ValueError(f"{path}: the table's first offset gives {count} entries, which does not fit the file")
    sounds = []
    for i in range(count):
        offset, size = struct.unpack_from("<II", data, 8 * i)
        offset &= 0x7FFFFFFF
        entry = data[offset: offset + size]
        if len(entry) != size or not entry:
            raise ValueError(f"{path}: entry {i} ({offset}+{size}) runs past the end of the file")
        riff = entry.find(b"RIFF", 1 + entry[0])
        if riff < 0:  # a placeholder ("Unused/Nothing": a name and no sound)
            continue
        sounds.append((f"{i:03d}", entry[riff:]))
    return sounds


def game_sounds(label: str):
    """[(clip name, loader)] of one game, sorted by name; loaders decode to 16 kHz mono."""
    package, folder, pattern = SOURCES[label]
    require(folder, package, what=f"the {package} sound effects")
    if pattern.endswith(".cat"):
        cat = folder / pattern
        return [(f"sfx{name}", lambda blob=blob, name=name: load_mono(blob, name=f"{cat}#{name}"))
                for name, blob in read_cat(require(cat, package, what="opensfx.cat"))]
    files = sorted(folder.glob(pattern))
    if not files:
        raise ValueError(f"no sound files match {folder}/{pattern}; is {package} the bookworm version?")
    return [(str(f.relative_to(folder).with_suffix("")), lambda f=f: load_mono(f)) for f in files]


def build(tasks_dir: str | Path, limit: int | None = None, part: str = "release") -> Path:
    """Write ``tasks_dir/sfx-games1-full`` (``part="dev"``: ``-dev``); ``limit`` keeps N clips of each game per fold."""
    n_samples = round(CLIP_S * 16000)
    seen: set[bytes] = set()
    chosen: dict[str, list[tuple[str, np.ndarray]]] = {}
    enough = None if limit is None else limit * N_FOLDS * DEV_EVERY  # a subset decodes only the first files
    for label in sorted(SOURCES):
        clips = []
        for name, load in game_sounds(label):
            if enough is not None and len(clips) >= enough:
                break
            audio = load()
            start, end = active_extent(audio)
            if end <= start:  # silent file
                continue
            audio = fit_length(audio[start:], n_samples)
            digest = hashlib.sha256(np.round(audio * 32768).astype(np.int16).tobytes()).digest()
            if digest not in seen:
                seen.add(digest)
                clips.append((f"{label}-{name}", limit_peak(audio)))
        mine = [c for i, c in enumerate(clips) if (i % DEV_EVERY == DEV_EVERY - 1) == (part == "dev")]
        chosen[label] = mine[: limit * N_FOLDS] if limit is not None else mine
    splits = [f"fold{i:02d}" for i in range(N_FOLDS)]
    meta = {"task_name": NAME, "version": VERSION, "mode": mode_of(part, limit), "part": part,
            "embedding_type": "scene", "prediction_type": "multiclass", "split_mode": "new_split_kfold",
            "sample_duration": CLIP_S, "evaluation": ["top1_acc", "mAP", "d_prime", "aucroc"],
            "default_mode": "full", "source": "Debian " + ", ".join(p for p, _, _ in SOURCES.values()),
            "clips_per_game": {k: len(v) for k, v in chosen.items()}}
    writer = TaskWriter(tasks_dir, meta, splits, build_limit=limit)
    for label, clips in chosen.items():
        for i, (clip, audio) in enumerate(clips):
            writer.add(splits[i % N_FOLDS], f"{safe_name(clip)}.wav", audio, [label])
    return writer.finish()
