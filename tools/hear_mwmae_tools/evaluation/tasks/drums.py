"""drums: one-shot drum hits labelled by instrument family; folds split by kit.

Two kinds of kits, both Debian packages held out of pretraining (``training/reserved.py``):

- the Hydrogen kits of ``hydrogen-drumkits``: every velocity layer of every labelled
  instrument is one clip; the family comes from the instrument names in each kit's
  ``drumkit.xml`` (:mod:`.hydrogen`);
- the General-MIDI drum kits (:data:`GM_KIT_PROGRAMS`) of three SoundFonts
  (:data:`SOUNDFONTS`), rendered with FluidSynth on the percussion channel: every drum of the
  GM key map that has a family (:data:`GM_DRUM_FAMILIES`) at two velocities. A SoundFont that
  lacks a kit falls back to its standard kit; such renders repeat earlier clips sample for
  sample and are left out (one copy of each distinct clip is kept, across the whole task).

Families: kick, snare, hihat, tom, cymbal, clap, percussion. Clips are mono, 16 kHz, 1 s.
Kits are dealt to the dev and release copies (:mod:`.parts`), then within each copy to 5 folds
balanced by clip count, so no kit is in two folds: the task asks whether a representation
recognises a kind of drum on a kit it has not heard.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from hear_mwmae.audio_io import load_mono

from .audio import limit_peak, require, slug
from .fluidsynth import Note, check_tools, render_notes
from .hearformat import TaskWriter, fit_length
from .hydrogen import all_samples, balanced_groups, spread_families
from .parts import mode_of, part_groups

NAME = "drums"
DESCRIPTION = "drum one-shots (Hydrogen kits + GM kits of 3 SoundFonts), 7 families, 5 folds split by kit"
VERSION = "kits2"
N_FOLDS = 5
CLIP_S, HOLD_S = 1.0, 0.5
VELOCITIES = (60, 115)
SILENT = 1e-4  # peak below this: the SoundFont has no sample for that drum
# SoundFont name -> (file, Debian package)
SOUNDFONTS = {
    "fluidr3": ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "fluid-soundfont-gm"),
    "musescore": ("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3", "musescore-general-soundfont-small"),
    "timgm6mb": ("/usr/share/sounds/sf2/TimGM6mb.sf2", "timgm6mb-soundfont"),
}
# GM / GS drum-kit programs: Standard, Room, Power, Electronic, TR-808, Jazz, Brush, Orchestra
GM_KIT_PROGRAMS = (0, 8, 16, 24, 25, 32, 40, 48)
# GM percussion key map -> family (keys without a family, e.g. whistles and scratches, are not used)
GM_DRUM_FAMILIES = {
    35: "kick", 36: "kick", 37: "snare", 38: "snare", 40: "snare", 39: "clap",
    42: "hihat", 44: "hihat", 46: "hihat",
    41: "tom", 43: "tom", 45: "tom", 47: "tom", 48: "tom", 50: "tom",
    49: "cymbal", 51: "cymbal", 52: "cymbal", 53: "cymbal", 55: "cymbal", 57: "cymbal", 59: "cymbal",
    **{k: "percussion" for k in (54, 56, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 75, 76, 77, 80, 81)},
}


def gm_kits(limit: int | None = None) -> dict[str, list[tuple[str, str, np.ndarray]]]:
    """{kit name: [(clip name, family, 1 s audio)]} for every GM kit of every SoundFont."""
    kits = {}
    drums = sorted(GM_DRUM_FAMILIES)
    if limit is not None:
        drums = drums[:: max(1, len(drums) // limit)][:limit]
    for sf_name, (path, package) in SOUNDFONTS.items():
        sf2 = require(path, package, what=f"the {sf_name} SoundFont")
        check_tools(sf2)
        for program in GM_KIT_PROGRAMS:
            notes = [Note(program, key, v, HOLD_S) for key in drums for v in VELOCITIES]
            audio = render_notes(notes, CLIP_S, sf2, channel=9)
            kits[f"{sf_name}-kit{program:03d}"] = [
                (f"{sf_name}-kit{program:03d}-key{n.pitch:03d}-vel{n.velocity:03d}.wav",
                 GM_DRUM_FAMILIES[n.pitch], limit_peak(a)) for n, a in zip(notes, audio)]
    return kits


def hydrogen_kits(source=None, limit: int | None = None) -> dict[str, list[tuple[str, str, np.ndarray]]]:
    """{kit name: [(clip name, family, audio)]} of the Hydrogen kits."""
    kits = all_samples(source)
    if limit is not None:
        kits = {k: spread_families(v, limit) for k, v in kits.items()}
    return {f"hydrogen-{slug(k)}": [(f"hydrogen-{slug(k)}-{slug(s.instrument)}-{s.layer}.wav", s.family,
                                     s.path) for s in v] for k, v in kits.items()}


def build(tasks_dir: str | Path, limit: int | None = None, source: str | Path | None = None,
          part: str = "release") -> Path:
    """Write ``tasks_dir/drums-kits2-full`` (``part="dev"``: ``-dev``); ``limit`` keeps N drums of each kit."""
    kits = {**hydrogen_kits(source, limit), **gm_kits(limit)}
    chosen = part_groups(kits, part)
    seen: set[bytes] = set()
    clips: dict[str, list] = {}
    for kit in sorted(kits):  # de-duplicate over all kits, so both copies drop the same fallbacks
        for name, family, audio in kits[kit]:
            audio = load_mono(audio) if isinstance(audio, Path) else audio
            audio = fit_length(np.asarray(audio, dtype=np.float32), round(CLIP_S * 16000))
            digest = hashlib.sha256(np.round(audio * 32768).astype(np.int16).tobytes()).digest()
            if float(np.abs(audio).max()) < SILENT or digest in seen:
                continue
            seen.add(digest)
            if kit in chosen:
                clips.setdefault(kit, []).append((name, family, audio))
    folds = balanced_groups({k: len(v) for k, v in clips.items()}, N_FOLDS)
    splits = [f"fold{i:02d}" for i in range(N_FOLDS)]
    meta = {"task_name": NAME, "version": VERSION, "mode": mode_of(part, limit), "part": part,
            "embedding_type": "scene", "prediction_type": "multiclass", "split_mode": "new_split_kfold",
            "sample_duration": CLIP_S, "evaluation": ["top1_acc", "mAP", "d_prime", "aucroc"],
            "default_mode": "full", "source": "Debian hydrogen-drumkits; GM kits of " + ", ".join(
                p for _, p in SOUNDFONTS.values()) + " rendered with fluidsynth",
            "split_groups": {s: kit_names for s, kit_names in zip(splits, folds)}}
    writer = TaskWriter(tasks_dir, meta, splits, build_limit=limit)
    for split, kit_names in zip(splits, folds):
        for kit in kit_names:
            for name, family, audio in clips[kit]:
                writer.add(split, name, audio, [family])
    return writer.finish()
