"""pitch: NSynth-like pitch classification of notes rendered with FluidSynth; folds split by instrument.

Each clip is one 4 s note (held for 3 s, then 1 s of release, as NSynth) of one instrument:
a General-MIDI program (:data:`PROGRAMS`, from every melodic GM family) of one of two
SoundFonts (:data:`SOUNDFONTS`, Debian packages held out of pretraining). The label is the
MIDI pitch (:data:`PITCHES`, four octaves C2–C6); the velocity alternates between the two of
:data:`VELOCITIES` from one pitch to the next. The 48 instruments (SoundFont × program) are
dealt to the dev and release copies (:mod:`.parts`), then to 5 folds within each, so test
instruments are never heard in training: the task measures pitch recognition that generalises
across timbre. Scored with ``pitch_acc`` (primary) and ``chroma_acc`` (octave errors forgiven),
like HEAR's NSynth pitch task.
"""

from __future__ import annotations

from pathlib import Path

from .audio import limit_peak, require
from .fluidsynth import Note, check_tools, render_notes
from .hearformat import TaskWriter
from .hydrogen import balanced_groups
from .parts import mode_of, part_groups

NAME = "pitch"
DESCRIPTION = "FluidSynth notes, 49 MIDI pitches, 24 GM programs x 2 SoundFonts, 5 folds split by instrument"
VERSION = "gm2sf"
SOUNDFONTS = {
    "fluidr3": ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "fluid-soundfont-gm"),
    "musescore": ("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3", "musescore-general-soundfont-small"),
}
# GM programs (0-based), two from each melodic family: pianos, chromatic percussion, organs,
# guitars, basses, strings, ensembles, brass, reeds, pipes, synth leads, synth pads.
PROGRAMS = (0, 4, 11, 13, 16, 19, 24, 26, 32, 33, 40, 42, 48, 52, 56, 60, 65, 68, 71, 73, 80, 81, 88, 89)
PITCHES = tuple(range(36, 85))    # C2 .. C6
VELOCITIES = (75, 120)
N_FOLDS = 5
HOLD_S, CLIP_S = 3.0, 4.0


def build(tasks_dir: str | Path, limit: int | None = None, soundfont: str | Path | None = None,
          part: str = "release") -> Path:
    """Write ``tasks_dir/pitch-gm2sf-full`` (``part="dev"``: ``-dev``); ``limit`` keeps N notes per instrument.

    ``soundfont`` replaces both SoundFonts by one file (its programs count as instruments).
    """
    fonts = {"custom": (soundfont, None)} if soundfont else SOUNDFONTS
    instruments = {f"{name}-program{p:03d}": (name, p) for name in fonts for p in PROGRAMS}
    chosen = part_groups(instruments, part)
    folds = balanced_groups({k: 1 for k in chosen}, N_FOLDS)
    pitches = PITCHES if limit is None else PITCHES[:: max(1, len(PITCHES) // limit)][:limit]
    splits = [f"fold{i:02d}" for i in range(N_FOLDS)]
    meta = {"task_name": NAME, "version": VERSION, "mode": mode_of(part, limit), "part": part,
            "embedding_type": "scene", "prediction_type": "multiclass", "split_mode": "new_split_kfold",
            "sample_duration": CLIP_S, "evaluation": ["pitch_acc", "chroma_acc"], "default_mode": "full",
            "source": "GM programs of " + ", ".join(str(p or f) for f, p in fonts.values()) + " rendered with fluidsynth",
            "split_groups": dict(zip(splits, folds))}
    writer = TaskWriter(tasks_dir, meta, splits, vocabulary=PITCHES, build_limit=limit)
    for split, names in zip(splits, folds):
        for inst in names:
            font, program = instruments[inst]
            path, package = fonts[font]
            sf2 = require(path, package, what=f"the {font} SoundFont") if package else Path(path)
            check_tools(sf2)
            notes = [Note(program, pitch, VELOCITIES[i % 2], HOLD_S) for i, pitch in enumerate(pitches)]
            for note, audio in zip(notes, render_notes(notes, CLIP_S, sf2)):
                audio = limit_peak(audio)  # a loud program at high velocity: scale down rather than clip
                writer.add(split, f"{inst}-pitch{note.pitch:03d}-vel{note.velocity:03d}.wav", audio, [note.pitch])
    return writer.finish()
