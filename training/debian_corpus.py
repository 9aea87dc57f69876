"""Build the pretraining corpus of real audio from Debian packages, reproducibly.

    python -m training.debian_corpus --out corpus/ [--install] [--speech-clips 300]
                                     [--speech-variants] [--speed-copies]
                                     [--lmms-notes N] [--speech-words N]

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
and tempo. ``--lmms-notes N`` adds N 10 s clips of notes played from LMMS's instrument and drum
samples at random pitches (±12 semitones, by resampling) and onsets: single sounds, starting
and stopping, which the packages' music (mixed, continuous) rarely has. ``--speech-words N`` adds
N 10 s clips of isolated words (6-12 a clip, a fresh voice, variant, rate and pitch each, apart by
pauses), the form of speech-command audio, which the sentence clips do not have. All of these are
off by default, so the corpora of earlier bundled weights rebuild as they were.

``--preset real65`` instead builds 62.4 h of real recorded audio (speech, music, effects) from
71 Debian packages, downloaded and unpacked under ``--debs`` without installing them
(training/real_corpus.py, training/sources/, docs/corpus.md); ``--only`` builds some of its
sources, ``--add KIND=PACKAGE_OR_FOLDER`` adds one. Audio reserved for evaluation
(training/reserved.py) is refused.

Writes ``manifest.csv`` (path, source), the decoded/synthesised WAVs under ``OUT/``, and
``corpus_report.json`` with hours per source.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import re
import struct
import subprocess
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from hear_mwmae.atomic import atomic_write, atomic_write_bytes
from hear_mwmae.frontend import SAMPLE_RATE

PACKAGES = ["wesnoth-1.16-music", "supertuxkart-data", "freedoom", "lmms-common", "sound-theme-freedesktop", "espeak-ng"]
AUDIO = (".ogg", ".oga", ".wav", ".flac")
GLOBS = {
    "wesnoth-1.16-music": ["/usr/share/games/wesnoth/1.16/data/core/music/*.ogg"],
    "supertuxkart-music": ["/usr/share/games/supertuxkart/data/music/*.ogg"],
    "supertuxkart-sfx": ["/usr/share/games/supertuxkart/data/sfx/*.ogg"],
    "lmms-samples": ["/usr/share/lmms/samples/**/*"],
    "freedesktop-sounds": ["/usr/share/sounds/freedesktop/stereo/*.oga"],
}
LMMS_SAMPLES = "/usr/share/lmms/samples"
# Which LMMS sample folders lmms_notes plays: pitched instruments, and drum hits (kept near their
# own pitch: a drum 12 semitones off is a different drum).
NOTE_FOLDERS = {"tonal": ("instruments", "basses", "stringsnpads", "latin"), "drums": ("drums",)}
CLIP_SECONDS = 10
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


def _local_text() -> str:
    """The installed TEXTS joined: what the synthesised speech reads."""
    return " ".join(Path(t).read_text(errors="ignore") for t in TEXTS if Path(t).is_file())


def speech(out: Path, clips: int, seed: int = 0, variants: bool = False) -> list[Path]:
    """espeak-ng speech in every installed voice, sentences drawn from local licence texts;
    with ``variants`` each clip also gets a random speaker variant (``en+Alicia``, ...)."""
    voices = _espeak_list("voice")
    variant_names = _espeak_list("variant") if variants else []
    sentences = [s.strip() for s in _local_text().replace("\n", " ").split(".") if 40 < len(s.strip()) < 220]
    rng = random.Random(seed)
    written = []
    for i in range(clips):
        voice, sentence = voices[i % len(voices)], rng.choice(sentences)
        if variant_names:
            voice = f"{voice}+{rng.choice(variant_names)}"
        path = out / "speech" / f"speech_{i:04d}_{voice.replace('/', '-')}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        audio, rate = _espeak(voice, sentence, rng.randint(120, 190), rng.randint(25, 75))
        if audio.size:
            write_audio(path, audio, rate)
            written.append(path)
    return written


def _espeak(voice: str, text: str, rate: int, pitch: int) -> tuple[np.ndarray, int]:
    wav = subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch), "--stdout", text],
                         capture_output=True, check=True).stdout
    return sf.read(io.BytesIO(wav), dtype="float32")


def speech_words(out: Path, clips: int, seed: int = 0) -> list[Path]:
    """Clips of isolated words: each 10 s, 16 kHz clip holds 6-12 words from the local texts, each
    spoken by a random espeak-ng voice and variant at a random rate and pitch, apart by 0.15-0.8 s."""
    voices, variant_names = _espeak_list("voice"), _espeak_list("variant")
    words = sorted({w.lower() for w in re.findall(r"[A-Za-z]{3,12}", _local_text())})
    if not words:
        return []
    rng = random.Random(seed)
    written = []
    for i in range(clips):
        clip, at = np.zeros(CLIP_SECONDS * SAMPLE_RATE, np.float32), int(rng.uniform(0.1, 0.8) * SAMPLE_RATE)
        for _ in range(rng.randint(6, 12)):
            voice = f"{rng.choice(voices)}+{rng.choice(variant_names)}"
            audio, rate = _espeak(voice, rng.choice(words), rng.randint(110, 200), rng.randint(20, 80))
            audio = _to_16k(audio, rate)[: clip.size - at]
            clip[at : at + audio.size] += audio
            at += audio.size + int(rng.uniform(0.15, 0.8) * SAMPLE_RATE)
            if at >= clip.size - SAMPLE_RATE // 4:
                break
        path = out / "words" / f"words_{i:04d}.flac"
        path.parent.mkdir(parents=True, exist_ok=True)
        written.append(write_audio(path, np.clip(clip, -1, 1), SAMPLE_RATE, subtype="PCM_16"))
    return written


def _to_16k(audio: np.ndarray, rate: int) -> np.ndarray:
    """(n,) or (n, channels) audio at ``rate`` -> (n',) float32 16 kHz mono (channel mean, torchaudio)."""
    import torch
    import torchaudio

    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    if rate == SAMPLE_RATE:
        return audio
    with torch.inference_mode():
        return torchaudio.functional.resample(torch.from_numpy(audio), rate, SAMPLE_RATE).numpy()


def pitch_shift(audio: np.ndarray, semitones: int) -> np.ndarray:
    """(n,) 16 kHz -> the same sound played 2^(semitones/12) times faster and higher (resampling).
    The source rate is rounded to 100 Hz (an error of at most 10 cents) so that the resampling
    kernel stays small (a rate sharing no large divisor with 16 kHz makes a huge one)."""
    source_rate = round(SAMPLE_RATE * 2 ** (semitones / 12) / 100) * 100
    return _to_16k(audio, source_rate) if source_rate != SAMPLE_RATE else audio


def lmms_notes(out: Path, clips: int, seed: int = 0, root: str = LMMS_SAMPLES) -> list[Path]:
    """Clips of notes played from LMMS samples: each 10 s, 16 kHz clip plays 4-12 notes at random
    onsets, 0.25-3 s long (20 ms fade-out), peak-normalised, at a random gain; 70 % of the clips
    play one instrument sample at random pitches in ±12 semitones, 30 % a kit of three drum
    samples at ±3 semitones. Overlapping notes add up; the clip is scaled to peak at most 0.9."""
    from hear_mwmae.audio_io import read_audio

    sources: dict[Path, np.ndarray] = {}  # the first 6 s: all a 3 s note an octave up needs
    pools: dict[str, list[Path]] = {}
    for kind, folders in NOTE_FOLDERS.items():
        pools[kind] = []
        for path in _installed_files([f"{root}/{d}/*" for d in folders]):
            try:
                sources[path] = read_audio(path)[0, : 6 * SAMPLE_RATE].numpy()
            except ValueError:
                continue  # not decodable (lmms ships a harpsichord .ogg that is a broken WAV)
            pools[kind].append(path)
    if len(pools["tonal"]) < 1 or len(pools["drums"]) < 3:
        return []  # lmms-common is not installed

    rng = random.Random(seed)
    fade = np.linspace(1, 0, SAMPLE_RATE // 50, dtype=np.float32)
    written = []
    for i in range(clips):
        drums = rng.random() < 0.3
        kit = rng.sample(pools["drums"], 3) if drums else [rng.choice(pools["tonal"])]
        clip = np.zeros(CLIP_SECONDS * SAMPLE_RATE, np.float32)
        for _ in range(rng.randint(4, 12)):
            semitones = rng.randint(-3, 3) if drums else rng.randint(-12, 12)
            note = pitch_shift(sources[rng.choice(kit)], semitones)[: int(rng.uniform(0.25, 3.0) * SAMPLE_RATE)].copy()
            peak = np.abs(note).max()
            if peak < 1e-4:
                continue
            n = min(fade.size, note.size)
            note[-n:] *= fade[fade.size - n :]
            at = rng.randrange(0, clip.size - SAMPLE_RATE // 4)
            note = note[: clip.size - at]
            clip[at : at + note.size] += rng.uniform(0.3, 1.0) * note / peak
        clip *= 0.9 / max(0.9, float(np.abs(clip).max()))
        path = out / "notes" / f"notes_{i:04d}.flac"
        path.parent.mkdir(parents=True, exist_ok=True)
        written.append(write_audio(path, clip, SAMPLE_RATE, subtype="PCM_16"))
    return written


def speed_copies(rows: list[tuple[str, str]], out: Path) -> list[tuple[str, str]]:
    """One speed-perturbed 16 kHz FLAC copy of each (path, source) row, the factor alternating
    over SPEED_FACTORS; -> the copies' rows, labelled ``<source>+speed``. Undecodable files are left out."""
    from hear_mwmae.audio_io import read_audio

    copies = []
    for i, (path, source) in enumerate(rows):
        factor = SPEED_FACTORS[i % len(SPEED_FACTORS)]
        try:
            audio = read_audio(path)
        except ValueError:
            continue  # not decodable audio (lmms ships presets beside its samples)
        # Read the 16 kHz signal as if it were sampled at 16 kHz × factor: played back at 16 kHz
        # it is `factor` times faster and higher (Kaldi-style speed perturbation).
        perturbed = _to_16k(audio[0].numpy(), round(SAMPLE_RATE * factor))
        dest = out / "speed" / source / f"{i:04d}_{Path(path).stem}_x{factor}.flac"
        dest.parent.mkdir(parents=True, exist_ok=True)
        write_audio(dest, np.clip(perturbed, -1, 1), SAMPLE_RATE, subtype="PCM_16")
        copies.append((str(dest), f"{source}+speed"))
    return copies


def build(out: Path, speech_clips: int, speech_variants: bool = False, speed: bool = False, notes: int = 0,
          words: int = 0) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, str]] = []
    for source, patterns in GLOBS.items():
        rows += [(str(p), source) for p in _installed_files(patterns)]
    rows += [(str(p), "freedoom-sfx") for p in freedoom_sounds(out)]
    if speed:
        rows += speed_copies(list(rows), out)
    rows += [(str(p), "espeak-ng-speech") for p in speech(out, speech_clips, variants=speech_variants)]
    rows += [(str(p), "lmms-samples+notes") for p in lmms_notes(out, notes)]
    rows += [(str(p), "espeak-ng-words") for p in speech_words(out, words)]
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


def build_preset(out: Path, preset: str, debs_root: Path, only: list[str] | None = None,
                 add: list[str] | None = None, stop_after_minutes: float | None = None) -> dict:
    """Build a named preset of real audio (training.real_corpus) -> its report (also written).
    The manifest and report are rewritten after every source, so a stopped build leaves both."""
    from . import real_corpus
    from .sources.catalog import PRESETS, Source

    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; the presets are {sorted(PRESETS)}")
    sources = list(PRESETS[preset])
    if only is not None:  # [] builds none of the preset's sources (only what --add gives)
        unknown = sorted(set(only) - {s.name for s in sources})
        if unknown:
            raise ValueError(f"--only names no source of {preset}: {unknown}; they are {[s.name for s in sources]}")
        sources = [s for s in sources if s.name in only]
    sources += [_added_source(spec) for spec in add or []]
    def write(rows, report, complete=False):
        real_corpus.write_manifest(out, rows)
        report = {"preset": preset, "complete": complete, "files": len(rows), **report}
        atomic_write_bytes(out / "corpus_report.json", json.dumps(report, indent=2).encode())
        return report

    deadline = time.time() + 60 * stop_after_minutes if stop_after_minutes else None
    rows, report = real_corpus.build(out, sources, debs_root, deadline=deadline, on_source=write)
    return write(rows, report, complete=not report["pending_sources"] and not report["skipped_sources"])


def _added_source(spec: str):
    """``KIND=PACKAGE`` or ``KIND=/a/folder`` -> a Source of all audio in that package or folder."""
    from .sources.catalog import KINDS, Source

    kind, sep, what = spec.partition("=")
    if not sep or kind not in KINDS or not what:
        raise ValueError(f"--add {spec!r}: write KIND=PACKAGE or KIND=FOLDER, KIND one of {KINDS}")
    if "/" in what:
        return Source(f"added-{Path(what).name}", None, kind, str(Path(what).resolve()))
    return Source(f"added-{what}", what, kind, ".")


def _print_preset_report(report: dict) -> None:
    print(f"{report['files']} clips, {report['total_hours']:.2f} h of real audio in {report['preset']}")
    for kind, hours in report["hours_per_kind"].items():
        print(f"  {kind:8s} {hours:7.2f} h")
    for name, s in sorted(report["sources"].items(), key=lambda kv: (kv[1]["kind"], -kv[1]["hours"])):
        print(f"  {s['kind']:8s} {name:24s} {s['hours']:6.2f} h {s['clips']:6d} clips"
              f" ({s['duplicates_left_out']} duplicates, {s['failed_clips']} failed)")
    for name, why in report["skipped_sources"].items():
        print(f"  SKIPPED {name}: {why}")
    for name, why in report["pending_sources"].items():
        print(f"  PENDING {name}: {why}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.debian_corpus", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--speech-clips", type=int, default=300)
    p.add_argument("--speech-variants", action="store_true", help="vary the speaker (espeak-ng voice variants)")
    p.add_argument("--speed-copies", action="store_true",
                   help="add a speed-perturbed copy (x0.891 / x1.122) of every non-speech file")
    p.add_argument("--lmms-notes", type=int, default=0, metavar="N",
                   help="add N 10 s clips of notes played from LMMS samples at random pitches")
    p.add_argument("--speech-words", type=int, default=0, metavar="N",
                   help="add N 10 s clips of isolated espeak-ng words")
    p.add_argument("--install", action="store_true", help="apt-get install the source packages first (root)")
    p.add_argument("--preset", help="build a named corpus of real audio instead (real65: 62.4 h, see docs/corpus.md)")
    p.add_argument("--debs", default="debs", help="with --preset: where packages are downloaded and unpacked")
    p.add_argument("--only", help="with --preset: comma-separated source names to build (default: all)")
    p.add_argument("--add", action="append", metavar="KIND=PACKAGE_OR_FOLDER",
                   help="with --preset: also take all audio of this package or folder (speech, music or effects)")
    p.add_argument("--stop-after", type=float, metavar="MINUTES",
                   help="with --preset: start no new clip after this long; the rest is listed as pending (re-run to continue)")
    a = p.parse_args(argv)
    if a.preset:
        synthetic = [f for f, on in (("--speech-variants", a.speech_variants), ("--speed-copies", a.speed_copies),
                                     ("--lmms-notes", a.lmms_notes), ("--speech-words", a.speech_words),
                                     ("--install", a.install)) if on]
        if synthetic:
            p.error(f"--preset builds real audio only; drop {', '.join(synthetic)} "
                    "(build a synthetic corpus separately and give both to training.shards)")
        report = build_preset(Path(a.out), a.preset, Path(a.debs), only=a.only.split(",") if a.only else None,
                              add=a.add, stop_after_minutes=a.stop_after)
        _print_preset_report(report)
        return 0
    if a.only or a.add:
        p.error("--only and --add apply to --preset builds")
    if a.install:
        subprocess.run(["apt-get", "install", "-y", "-qq", *PACKAGES], check=True)
    report = build(Path(a.out), a.speech_clips, speech_variants=a.speech_variants, speed=a.speed_copies,
                   notes=a.lmms_notes, words=a.speech_words)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
