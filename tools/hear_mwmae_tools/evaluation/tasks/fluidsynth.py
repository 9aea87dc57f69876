"""Render General-MIDI notes with FluidSynth and the Fluid R3 GM SoundFont (Debian packages).

:func:`render_notes` writes one Standard MIDI File with every note of one program placed in
its own time slot, renders it once with the ``fluidsynth`` command line (reverb and chorus
off, float output at 16 kHz) and cuts the slots back out. One fluidsynth call per program
keeps a build fast: loading the 140 MB SoundFont dominates a single-note render.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hear_mwmae.audio_io import load_mono

from .audio import SAMPLE_RATE, require

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
SOUNDFONT_PACKAGE = "fluid-soundfont-gm"
FLUIDSYNTH_PACKAGE = "fluidsynth"
TICKS_PER_QUARTER = 500  # with a 500 000 µs quarter note, one tick is one millisecond
GAIN = 1.0


@dataclass(frozen=True)
class Note:
    """One note: GM program (0-based), MIDI pitch, velocity, held for ``hold_s`` seconds."""

    program: int
    pitch: int
    velocity: int
    hold_s: float


def _varlen(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def midi_file(program: int, notes: list[tuple[float, float, int, int]], channel: int = 0) -> bytes:
    """A format-0 Standard MIDI File: ``notes`` = (start s, end s, pitch, velocity) on one channel.

    Channel 0 (the default) plays the melodic ``program``; on channel 9 (GM percussion)
    ``program`` selects a drum kit and each pitch is one drum (the GM percussion key map).
    """
    events = []  # (time ms, order, bytes): note-offs before note-ons at the same time
    for start, end, pitch, velocity in notes:
        events.append((round(start * 1000), 1, bytes([0x90 | channel, pitch, velocity])))
        events.append((round(end * 1000), 0, bytes([0x80 | channel, pitch, 0])))
    track = bytearray(b"\x00\xff\x51\x03" + (500000).to_bytes(3, "big"))  # tempo: 500 000 µs / quarter
    track += b"\x00" + bytes([0xC0 | channel, program])
    now = 0
    for t, _, data in sorted(events):
        track += _varlen(t - now) + data
        now = t
    track += b"\x00\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS_PER_QUARTER)
    return header + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)


def check_tools(soundfont: str | Path | None = None) -> tuple[str, Path]:
    """(fluidsynth executable, SoundFont path); clear errors naming the apt packages if missing."""
    exe = shutil.which("fluidsynth")
    if exe is None:
        require("/usr/bin/fluidsynth", FLUIDSYNTH_PACKAGE, what="the fluidsynth program")
        exe = "/usr/bin/fluidsynth"
    sf2 = require(Path(soundfont) if soundfont else SOUNDFONT, SOUNDFONT_PACKAGE, what="the Fluid R3 GM SoundFont")
    return exe, sf2


def render_notes(notes: list[Note], clip_s: float, soundfont: str | Path | None = None,
                 slot_s: float | None = None, channel: int = 0) -> list[np.ndarray]:
    """Render each note into a ``clip_s``-second 16 kHz float32 clip (note-on at 0 s).

    Notes of one program share one fluidsynth call; each sits in a ``slot_s`` slot (default
    ``clip_s + 1`` s) so that release tails never reach the next note. ``channel=9`` renders
    drum kits (``Note.program`` = kit, ``Note.pitch`` = drum; see :func:`midi_file`).
    """
    exe, sf2 = check_tools(soundfont)
    slot_s = slot_s or clip_s + 1.0
    out: list[np.ndarray | None] = [None] * len(notes)
    by_program: dict[int, list[int]] = {}
    for i, n in enumerate(notes):
        by_program.setdefault(n.program, []).append(i)
    with tempfile.TemporaryDirectory(prefix="hear_mwmae_fluidsynth_") as tmp:
        for program, idx in sorted(by_program.items()):
            timed = [(k * slot_s, k * slot_s + notes[i].hold_s, notes[i].pitch, notes[i].velocity)
                     for k, i in enumerate(idx)]
            mid, wav = Path(tmp) / f"p{program}.mid", Path(tmp) / f"p{program}.wav"
            mid.write_bytes(midi_file(program, timed, channel))
            cmd = [exe, "-n", "-i", "-q", "-R", "0", "-C", "0", "-g", str(GAIN), "-r", str(SAMPLE_RATE),
                   "-T", "wav", "-O", "float", "-F", str(wav), str(sf2), str(mid)]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0 or not wav.is_file():
                raise RuntimeError(f"fluidsynth failed for program {program}: {done.stderr.strip()[-500:]}")
            audio = load_mono(wav)
            n = round(clip_s * SAMPLE_RATE)
            for k, i in enumerate(idx):
                start = round(k * slot_s * SAMPLE_RATE)
                clip = np.zeros(n, dtype=np.float32)
                piece = audio[start : start + n]
                clip[: len(piece)] = piece
                out[i] = clip
    return out  # type: ignore[return-value]
