"""events: sound-event detection in 10 s scenes of real one-shots over real backgrounds (DCASE 2016 task 2 style).

Each scene is a 10 s background with 3–7 one-shot events of 8 classes placed at random
times, each at an event-to-background ratio of −6, 0 or +6 dB (as DCASE 2016 task 2).
Labels are onset/offset in ms, taken from the part of the one-shot whose 10 ms RMS lies
within 35 dB of its loudest frame. Events of one class never overlap each other.

Sources (all Debian packages, none of them used for pretraining):

- kick, snare, hihat, cymbal: Hydrogen drum-kit samples (``hydrogen-drumkits``);
- piano, bell, telephone, bird: General-MIDI notes of the Fluid R3 SoundFont rendered with
  FluidSynth (``fluid-soundfont-gm``, ``fluidsynth``; GM "Telephone Ring" and "Bird Tweet"
  are recorded sound effects);
- backgrounds: the surface-slide recordings of Extreme Tux Racer (``extremetuxracer-data``)
  and the music-on-hold tracks of Asterisk (``asterisk-moh-opsound-wav``, 8 kHz telephone audio).

Every source is assigned to exactly one of 5 folds (kits by kit, notes by pitch, backgrounds
by file), so a test fold's scenes hold only sounds never heard in training. heareval trains
on three folds, validates on one and tests on one, five times, so every scene is tested once
(version ``v2``; ``v1`` had one train/valid/test split). Scored with
``event_onset_200ms_fms`` (primary) and ``segment_1s_er``; the post-processing grid is
shorter than heareval's DCASE default because drum hits last 0.1–0.5 s.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hear_mwmae.audio_io import load_mono

from .audio import SAMPLE_RATE, active_extent, limit_peak, require
from .fluidsynth import Note, check_tools, render_notes
from .hearformat import TaskWriter
from .hydrogen import all_samples, balanced_groups, spread_families

NAME = "events"
DESCRIPTION = "10 s scenes, 8 event classes (drums, piano, bell, telephone, bird) over real backgrounds"
VERSION = "v2"
SPLITS = tuple(f"fold{i:02d}" for i in range(5))
SCENES_PER_FOLD = 12  # kept small: heareval trains on every 40 ms frame
SCENE_S = 10.0
EVENTS_PER_SCENE = (3, 7)
EBR_DB = (-6.0, 0.0, 6.0)
BACKGROUND_DB = (-40.0, -30.0)
MAX_EVENT_S = 3.0
EXTENT_DB = -35.0
SEED = 20240501
DRUMS = ("kick", "snare", "hihat", "cymbal")
# class: (GM programs, pitches, hold s)
GM_CLASSES = {
    "piano": ((0, 1, 4), range(48, 85), 0.8),
    "bell": ((9, 14, 112), range(60, 97), 0.6),
    "telephone": ((124,), range(55, 80), 1.5),
    "bird": ((123,), range(60, 85), 1.0),
}
ETR_DIR = Path("/usr/share/games/etr/sounds")
ETR_FILES = ("grass_slide.wav", "ice_slide.wav", "leaves_slide.wav", "mud_slide.wav", "rock_slide.wav",
             "snow_slide.wav")
MOH_DIR = Path("/usr/share/asterisk/moh")


@dataclass
class Shot:
    """A one-shot trimmed to its active part."""

    label: str
    source: str
    audio: np.ndarray


def split_of(index: int) -> str:
    """Deal sources to the 5 folds by index (index % 5)."""
    return SPLITS[index % len(SPLITS)]


def _trim(audio: np.ndarray) -> np.ndarray:
    start, end = active_extent(audio, EXTENT_DB)
    end = min(end, start + round(MAX_EVENT_S * SAMPLE_RATE))
    out = audio[start:end].astype(np.float32).copy()
    fade = min(len(out), 320)  # 20 ms fade-out: no click where a long tail is cut
    out[len(out) - fade :] *= np.linspace(1, 0, fade, dtype=np.float32)
    return out


def drum_shots(kits_dir=None, per_kit: int | None = None) -> dict[str, list[Shot]]:
    kits = {k: [s for s in v if s.family in DRUMS] for k, v in all_samples(kits_dir).items()}
    kits = {k: v if per_kit is None else spread_families(v, per_kit) for k, v in kits.items() if v}
    groups = balanced_groups({k: len(v) for k, v in kits.items()}, 5)
    shots: dict[str, list[Shot]] = {s: [] for s in SPLITS}
    for g, names in enumerate(groups):
        for kit in names:
            for s in kits[kit]:
                audio = _trim(load_mono(s.path))
                if len(audio) >= SAMPLE_RATE // 20:  # at least 50 ms of sound
                    shots[split_of(g)].append(Shot(s.family, f"{kit}/{s.instrument}/{s.layer}", audio))
    return shots


def gm_shots(soundfont=None, step: int = 1) -> dict[str, list[Shot]]:
    notes, labels = [], []
    for label, (programs, pitches, hold) in GM_CLASSES.items():
        for k, pitch in enumerate(list(pitches)[::step]):
            for p in programs:
                notes.append(Note(p, pitch, 100, hold))
                labels.append((label, split_of(k)))
    shots: dict[str, list[Shot]] = {s: [] for s in SPLITS}
    for note, (label, split), audio in zip(notes, labels, render_notes(notes, MAX_EVENT_S + 1, soundfont)):
        shots[split].append(Shot(label, f"program{note.program}/pitch{note.pitch}", _trim(audio)))
    return shots


def backgrounds(etr_dir=None, moh_dir=None) -> dict[str, list[tuple[str, np.ndarray]]]:
    etr = require(Path(etr_dir) if etr_dir else ETR_DIR, "extremetuxracer-data", what="Extreme Tux Racer sounds")
    moh = require(Path(moh_dir) if moh_dir else MOH_DIR, "asterisk-moh-opsound-wav", what="Asterisk music on hold")
    moh_files = sorted(p.name for p in moh.glob("*.wav"))
    if not moh_files:
        raise FileNotFoundError(f"no .wav files in {moh}: `apt-get install --reinstall asterisk-moh-opsound-wav`")
    out: dict[str, list] = {s: [] for s in SPLITS}
    for folder, files in ((etr, ETR_FILES), (moh, moh_files)):
        for i, name in enumerate(files):
            path = require(folder / name, what=f"background {name}")
            out[split_of(i)].append((name, load_mono(path)))
    return out


def _background(rng: np.random.Generator, audio: np.ndarray, n: int) -> np.ndarray:
    """``n`` samples of ``audio``: a random excerpt, or random pieces joined with 50 ms crossfades."""
    if len(audio) >= n:
        start = int(rng.integers(0, len(audio) - n + 1))
        return audio[start : start + n].copy()
    fade = 800
    out = np.zeros(0, dtype=np.float32)
    ramp = np.linspace(0, 1, fade, dtype=np.float32)
    while len(out) < n:
        start = int(rng.integers(0, max(1, len(audio) // 2)))
        piece = audio[start:].copy()
        if len(out) >= fade and len(piece) > fade:
            out[-fade:] = out[-fade:] * (1 - ramp) + piece[:fade] * ramp
            piece = piece[fade:]
        out = np.concatenate([out, piece])
    return out[:n]


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) + 1e-12


def make_scene(rng: np.random.Generator, shots: dict[str, list[Shot]], bgs: list) -> tuple[np.ndarray, list[dict]]:
    """One scene: (audio, events in ms)."""
    n = round(SCENE_S * SAMPLE_RATE)
    _, bg_audio = bgs[int(rng.integers(len(bgs)))]
    mix = _background(rng, bg_audio, n)
    bg_rms = 10 ** (rng.uniform(*BACKGROUND_DB) / 20)
    mix *= bg_rms / _rms(mix)
    events, busy = [], {}
    classes = sorted(shots)
    for _ in range(int(rng.integers(EVENTS_PER_SCENE[0], EVENTS_PER_SCENE[1] + 1))):
        label = classes[int(rng.integers(len(classes)))]
        shot = shots[label][int(rng.integers(len(shots[label])))]
        d = len(shot.audio)
        for _attempt in range(20):
            start = int(rng.integers(SAMPLE_RATE // 10, n - d - SAMPLE_RATE // 20))
            if all(start >= e or start + d <= s for s, e in busy.get(label, [])):
                break
        else:
            continue  # no free place for this class in this scene
        gain = bg_rms * 10 ** (EBR_DB[int(rng.integers(len(EBR_DB)))] / 20) / _rms(shot.audio)
        mix[start : start + d] += gain * shot.audio
        busy.setdefault(label, []).append((start, start + d))
        events.append({"label": label, "start": round(1000 * start / SAMPLE_RATE, 3),
                       "end": round(1000 * (start + d) / SAMPLE_RATE, 3)})
    return limit_peak(mix), sorted(events, key=lambda e: (e["start"], e["label"]))


def build(tasks_dir: str | Path, limit: int | None = None, kits_dir=None, soundfont=None,
          etr_dir=None, moh_dir=None) -> Path:
    """Write ``tasks_dir/events-v2-full``; ``limit`` makes N scenes per fold from fewer notes."""
    check_tools(soundfont)
    bgs = backgrounds(etr_dir, moh_dir)
    shots_by_split = drum_shots(kits_dir, None if limit is None else 8)
    for split, shots in gm_shots(soundfont, step=1 if limit is None else 6).items():
        shots_by_split[split] += shots
    meta = {"task_name": NAME, "version": VERSION, "mode": "full" if limit is None else "small",
            "embedding_type": "event", "prediction_type": "multilabel", "split_mode": "new_split_kfold",
            "sample_duration": SCENE_S, "evaluation": ["event_onset_200ms_fms", "segment_1s_er"],
            "evaluation_params": {"event_postprocessing_grid": {"median_filter_ms": [0, 120],
                                                                "min_duration": [0, 80]}},
            "default_mode": "full",
            "source": "Debian hydrogen-drumkits, fluid-soundfont-gm (fluidsynth), extremetuxracer-data, "
                      "asterisk-moh-opsound-wav",
            "split_groups": {s: sorted({b for b, _ in bgs[s]}) for s in SPLITS}}
    writer = TaskWriter(tasks_dir, meta, list(SPLITS), vocabulary=list(DRUMS) + list(GM_CLASSES), build_limit=limit)
    for k, split in enumerate(SPLITS):
        by_label: dict[str, list[Shot]] = {}
        for shot in shots_by_split[split]:
            by_label.setdefault(shot.label, []).append(shot)
        missing = (set(DRUMS) | set(GM_CLASSES)) - set(by_label)
        if missing:
            raise ValueError(f"split {split} has no one-shots of {sorted(missing)}; the source packages look incomplete")
        rng = np.random.default_rng([SEED, k])
        for i in range(SCENES_PER_FOLD if limit is None else limit):
            audio, events = make_scene(rng, by_label, bgs[split])
            writer.add(split, f"{split}-scene{i:03d}.wav", audio, events)
    return writer.finish()
