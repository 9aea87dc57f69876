"""pitch: NSynth-like pitch classification of notes rendered with FluidSynth; folds split by program.

Each clip is one 4 s note of a General-MIDI program of the Fluid R3 SoundFont (note held for
3 s, then 1 s of release, as NSynth), at one of two velocities. The label is the MIDI pitch
(:data:`PITCHES`, four octaves C2–C6). The 15 programs (:data:`PROGRAMS`, from every GM
family) are dealt to 5 folds, 3 each, so the test instruments are never seen in training:
the task measures pitch recognition that generalises across timbre. Scored with ``pitch_acc``
(primary) and ``chroma_acc`` (octave errors forgiven), like HEAR's NSynth pitch task.
"""

from __future__ import annotations

from pathlib import Path

from .audio import limit_peak
from .fluidsynth import Note, check_tools, render_notes
from .hearformat import TaskWriter

NAME = "pitch"
DESCRIPTION = "FluidSynth GM notes, 49 MIDI pitches, 15 programs x 2 velocities, 5 folds split by program"
# GM programs (0-based), grouped so every fold mixes families: fold k gets PROGRAMS[k::5].
PROGRAMS = (0, 24, 40, 56, 73,    # acoustic piano, nylon guitar, violin, trumpet, flute
            4, 32, 48, 65, 80,    # electric piano, acoustic bass, strings, alto sax, square lead
            11, 19, 42, 68, 81)   # vibraphone, church organ, cello, oboe, sawtooth lead
PITCHES = tuple(range(36, 85))    # C2 .. C6
VELOCITIES = (75, 120)
N_FOLDS = 5
HOLD_S, CLIP_S = 3.0, 4.0


def build(tasks_dir: str | Path, limit: int | None = None, soundfont: str | Path | None = None) -> Path:
    """Write ``tasks_dir/pitch-fluidr3-full``; ``limit`` keeps N notes per program (spread over pitch)."""
    check_tools(soundfont)
    pitches = PITCHES if limit is None else PITCHES[:: max(1, len(PITCHES) // limit)][:limit]
    splits = [f"fold{i:02d}" for i in range(N_FOLDS)]
    fold_programs = {s: list(PROGRAMS[i::N_FOLDS]) for i, s in enumerate(splits)}
    meta = {"task_name": NAME, "version": "fluidr3", "mode": "full" if limit is None else "small",
            "embedding_type": "scene", "prediction_type": "multiclass", "split_mode": "new_split_kfold",
            "sample_duration": CLIP_S, "evaluation": ["pitch_acc", "chroma_acc"], "default_mode": "full",
            "source": "Debian fluid-soundfont-gm rendered with fluidsynth",
            "split_groups": {s: [f"program{p}" for p in progs] for s, progs in fold_programs.items()}}
    writer = TaskWriter(tasks_dir, meta, splits, vocabulary=PITCHES, build_limit=limit)
    for split, programs in fold_programs.items():
        notes = [Note(p, pitch, v, HOLD_S) for p in programs for pitch in pitches for v in VELOCITIES]
        for note, audio in zip(notes, render_notes(notes, CLIP_S, soundfont)):
            audio = limit_peak(audio)  # a loud program at high velocity: scale down rather than clip
            name = f"program{note.program:03d}-pitch{note.pitch:03d}-vel{note.velocity:03d}.wav"
            writer.add(split, name, audio, [note.pitch])
    return writer.finish()
