"""Build the pretraining corpus of real audio from Debian packages, reproducibly.

    python -m training.debian_corpus --out corpus/ [--install] [--speech-clips 300]
                                     [--speech-variants] [--speed-copies]

Sources (apt packages): wesnoth-1.16-music (orchestral game music), supertuxkart-data (music and
sound effects), freedoom (sound effects, decoded from the WAD's DMX lumps), lmms-common (instrument
and drum samples), sound-theme-freedesktop (UI sounds), plus speech synthesised with espeak-ng
in all its voices from local licence texts. None of the evaluation tasks' audio is used
(hydrogen drum kits, the fluid soundfont, ../shared/data/hear/).

``--speech-variants`` also varies the speaker (espeak-ng's voice variants: male, female, croaky,
whispered, ...) instead of each language's default voice. ``--speed-copies`` adds one
speed-perturbed copy of every non-speech file (alternately ×0.891 and ×1.122, i.e. two semitones
down/up and slower/faster, as resampling does both), labelled ``<source>+speed``: the packages'
3.4 hours of music and effects are all there is, and the copies double their variety in pitch
and tempo. Both are off by default, so the corpus of the first bundled weights rebuilds as it was.

Writes ``manifest.csv`` (path, source), the decoded/synthesised WAVs under ``OUT/``, and
``corpus_report.json`` with hours per source.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import struct
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

from hear_mwmae.checkpoint import atomic_write, atomic_write_bytes

PACKAGES = ["wesnoth-1.16-music", "supertuxkart-data", "freedoom", "lmms-common", "sound-theme-freedesktop", "espeak-ng"]
AUDIO = (".ogg", ".oga", ".wav", ".flac")
GLOBS = {
    "wesnoth-1.16-music": ["/usr/share/games/wesnoth/1.16/data/core/music/*.ogg"],
    "supertuxkart-music": ["/usr/share/games/supertuxkart/data/music/*.ogg"],
    "supertuxkart-sfx": ["/usr/share/games/supertuxkart/data/sfx/*.ogg"],
    "lmms-samples": ["/usr/share/lmms/samples/**/*"],
    "freedesktop-sounds": ["/usr/share/sounds/freedesktop/stereo/*.oga"],
}
FREEDOOM_WADS = ["/usr/share/games/doom/freedoom1.wad", "/usr/share/games/doom/freedoom2.wad"]
TEXTS = ["/usr/share/common-licenses/GPL-3", "/usr/share/common-licenses/Apache-2.0", "/usr/share/common-licenses/MPL-2.0"]


def _installed_files(patterns: list[str]) -> list[Path]:
    files = set()
    for pattern in patterns:
        base, _, rest = pattern.partition("*")
        files.update(p for p in Path(base).glob("*" + rest) if p.is_file() and p.suffix.lower() in AUDIO)
    return sorted(files)


def freedoom_sounds(out: Path) -> list[Path]:
    """DMX digital sounds (lumps DS*: u16 format 3, u16 rate, u32 count, 16 pad, u8 PCM) -> WAVs."""
    written = []
    for wad in map(Path, FREEDOOM_WADS):
        if not wad.is_file():
            continue
        data = wad.read_bytes()
        n, table = struct.unpack_from("<ii", data, 4)
        for i in range(n):
            pos, size, raw = struct.unpack_from("<ii8s", data, table + 16 * i)
            name = raw.rstrip(b"\0").decode("ascii", "replace")
            if not name.startswith("DS") or size < 24:
                continue
            fmt, rate, count = struct.unpack_from("<HHI", data, pos)
            if fmt != 3 or count <= 32 or 8 + count > size:
                continue
            pcm = np.frombuffer(data, np.uint8, count - 32, pos + 8 + 16).astype(np.float32)
            path = out / "freedoom" / f"{wad.stem}_{name}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_audio(path, (pcm - 128) / 128, rate)
            written.append(path)
    return written


def write_audio(path: Path, audio: np.ndarray, rate: int, **kwargs) -> Path:
    """``sf.write`` through a temp file renamed into place, so an interrupted build never leaves
    a torn clip that a re-run would keep. The format comes from the final name's suffix."""
    return atomic_write(path, lambda tmp: sf.write(tmp, audio, rate, format=path.suffix[1:].upper(), **kwargs))


SPEED_FACTORS = (0.891, 1.122)  # 2^(∓2/12): two semitones down / up


def _espeak_list(kind: str) -> list[str]:
    """The voice (``--voices``) or variant (``--voices=variant``) names espeak-ng has installed."""
    flag = "--voices" if kind == "voice" else f"--voices={kind}"
    lines = subprocess.run(["espeak-ng", flag], capture_output=True, text=True, check=True).stdout.splitlines()[1:]
    columns = [line.split() for line in lines]
    return [c[4].removeprefix("!v/") for c in columns if len(c) > 4]


def speech(out: Path, clips: int, seed: int = 0, variants: bool = False) -> list[Path]:
    """espeak-ng speech in every installed voice, sentences drawn from local licence texts;
    with ``variants`` each clip also gets a random speaker variant (``en+Alicia``, ...)."""
    voices = _espeak_list("voice")
    variant_names = _espeak_list("variant") if variants else []
    text = " ".join(Path(t).read_text(errors="ignore") for t in TEXTS if Path(t).is_file())
    sentences = [s.strip() for s in text.replace("\n", " ").split(".") if 40 < len(s.strip()) < 220]
    rng = random.Random(seed)
    written = []
    for i in range(clips):
        voice, sentence = voices[i % len(voices)], rng.choice(sentences)
        if variant_names:
            voice = f"{voice}+{rng.choice(variant_names)}"
        path = out / "speech" / f"speech_{i:04d}_{voice.replace('/', '-')}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        wav = subprocess.run(["espeak-ng", "-v", voice, "-s", str(rng.randint(120, 190)), "-p", str(rng.randint(25, 75)),
                              "--stdout", sentence], capture_output=True, check=True).stdout
        audio, rate = sf.read(io.BytesIO(wav), dtype="float32")
        if audio.size:
            write_audio(path, audio, rate)
            written.append(path)
    return written


def speed_copies(rows: list[tuple[str, str]], out: Path) -> list[tuple[str, str]]:
    """One speed-perturbed 16 kHz FLAC copy of each (path, source) row, the factor alternating
    over SPEED_FACTORS; -> the copies' rows, labelled ``<source>+speed``. Undecodable files are left out."""
    import torch
    import torchaudio

    from hear_mwmae.cli import read_audio
    from hear_mwmae.frontend import SAMPLE_RATE

    copies = []
    for i, (path, source) in enumerate(rows):
        factor = SPEED_FACTORS[i % len(SPEED_FACTORS)]
        try:
            audio = read_audio(path)
        except ValueError:
            continue  # not decodable audio (lmms ships presets beside its samples)
        # Read the 16 kHz signal as if it were sampled at 16 kHz × factor: played back at 16 kHz
        # it is `factor` times faster and higher (Kaldi-style speed perturbation).
        with torch.inference_mode():
            perturbed = torchaudio.functional.resample(audio, round(SAMPLE_RATE * factor), SAMPLE_RATE)[0]
        dest = out / "speed" / source / f"{i:04d}_{Path(path).stem}_x{factor}.flac"
        dest.parent.mkdir(parents=True, exist_ok=True)
        write_audio(dest, perturbed.clamp(-1, 1).numpy(), SAMPLE_RATE, subtype="PCM_16")
        copies.append((str(dest), f"{source}+speed"))
    return copies


def build(out: Path, speech_clips: int, speech_variants: bool = False, speed: bool = False) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, str]] = []
    for source, patterns in GLOBS.items():
        rows += [(str(p), source) for p in _installed_files(patterns)]
    rows += [(str(p), "freedoom-sfx") for p in freedoom_sounds(out)]
    if speed:
        rows += speed_copies(list(rows), out)
    rows += [(str(p), "espeak-ng-speech") for p in speech(out, speech_clips, variants=speech_variants)]
    hours: dict[str, float] = {}
    kept = []
    for path, source in rows:
        try:
            info = sf.info(path)
        except Exception:
            continue  # not decodable audio (lmms ships presets beside its samples)
        hours[source] = hours.get(source, 0.0) + info.duration / 3600
        kept.append((path, source))
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["path", "source"])
    writer.writerows(kept)
    atomic_write_bytes(out / "manifest.csv", buf.getvalue().encode())
    report = {"files": len(kept), "hours_per_source": {k: round(v, 3) for k, v in sorted(hours.items())},
              "total_hours": round(sum(hours.values()), 3), "packages": PACKAGES}
    atomic_write_bytes(out / "corpus_report.json", json.dumps(report, indent=2).encode())
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.debian_corpus", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--speech-clips", type=int, default=300)
    p.add_argument("--speech-variants", action="store_true", help="vary the speaker (espeak-ng voice variants)")
    p.add_argument("--speed-copies", action="store_true",
                   help="add a speed-perturbed copy (x0.891 / x1.122) of every non-speech file")
    p.add_argument("--install", action="store_true", help="apt-get install the source packages first (root)")
    a = p.parse_args(argv)
    if a.install:
        subprocess.run(["apt-get", "install", "-y", "-qq", *PACKAGES], check=True)
    report = build(Path(a.out), a.speech_clips, speech_variants=a.speech_variants, speed=a.speed_copies)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
