"""Build a corpus of real (recorded, not synthesised) audio from Debian packages: ``--preset real65``.

    python -m training.debian_corpus --preset real65 --out /work/corpus65 --debs /work/debs

For each source of the preset (training/sources/catalog.py) the package is downloaded and
unpacked under ``--debs`` (``apt-get download`` + ``dpkg-deb -x``, no install), its audio is read
from files, zip packs (.pk3/.wz/.zip), queen.1c or sky.dsk, decoded (libsndfile; ffmpeg for
headerless G.722/GSM and whatever libsndfile cannot read), resampled to 16 kHz mono and written as
16-bit FLAC, atomically. A clip whose source bytes or decoded 16 kHz samples were seen before
(in any source) is left out as a duplicate. A re-run skips finished sources (``_source.json``)
and clips already written; a package or clip that fails is listed in the report, not fatal.

Writes ``OUT/manifest.csv`` (path, source, kind, member) for ``python -m training.shards`` and
``OUT/corpus_report.json`` (hours per source and kind, attribution per source, failures).
See docs/corpus.md.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import soundfile as sf

from hear_mwmae.atomic import atomic_write, atomic_write_bytes
from hear_mwmae.frontend import SAMPLE_RATE

from . import reserved
from .sources import debs, queen, sky
from .sources.catalog import KINDS, LICENCES, Source

AUDIO_EXT = (".ogg", ".oga", ".opus", ".wav", ".flac", ".mp3", ".g722", ".gsm", ".u8", ".sb")
CODEC_RATES = {"g722": 16000, "gsm": 8000}  # headerless codecs: ffmpeg must be told the format
STATE = "_source.json"
STATE_VERSION = 1  # bump when the output of a source would change, so that re-runs rebuild it
MAX_LISTED = 20  # failures / duplicates listed by name per source (all are counted)


def members(source: Source, tree: Path | None):
    """(member name, bytes loader) for each audio member of ``source`` that its match/exclude keep."""
    base = tree / source.where if tree is not None else Path(source.where)
    if not base.exists():
        raise FileNotFoundError(f"{source.name}: {base} is not in package {source.package}")
    if source.reader == "files":
        found = []
        for folder, dirs, files in os.walk(base):  # no followlinks: drascula's language folders are links
            dirs.sort()
            for f in sorted(files):
                path = Path(folder, f)
                if f.lower().endswith(AUDIO_EXT) and not path.is_symlink():
                    found.append((path.relative_to(base).as_posix(), path.read_bytes))
    elif source.reader == "zip":
        archive = zipfile.ZipFile(base)
        found = [(i.filename, lambda i=i: archive.read(i)) for i in archive.infolist()
                 if not i.is_dir() and i.filename.lower().endswith(AUDIO_EXT)]
    elif source.reader == "queen":
        found = list(queen.sounds(base))
    else:  # sky
        found = [(f"{number}.u8", load) for number, load in sky.speech_clips(base)]
    for name, load in found:
        if source.match and not re.search(source.match, name):
            continue
        if source.exclude and re.search(source.exclude, name):
            continue
        yield name, load


def _ffmpeg(data: bytes, codec: str = "") -> tuple[np.ndarray, int]:
    """Decode with ffmpeg (stdin -> float32 mono): at the codec's rate, or resampled to 16 kHz."""
    rate = CODEC_RATES.get(codec, SAMPLE_RATE)
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", *(["-f", codec] if codec else []), "-i", "pipe:0",
           "-f", "f32le", "-ac", "1", "-ar", str(rate), "pipe:1"]
    try:
        run = subprocess.run(cmd, input=data, capture_output=True)
    except FileNotFoundError:
        raise ValueError("ffmpeg is not installed; it decodes G.722/GSM (apt-get install ffmpeg)") from None
    if run.returncode:
        raise ValueError(f"ffmpeg could not decode it: {run.stderr.decode(errors='replace').strip()[-200:]}")
    return np.frombuffer(run.stdout, np.float32), rate


_RESAMPLERS: dict = {}


def to_16k(audio: np.ndarray, rate: int) -> np.ndarray:
    """(n,) or (n, channels) float32 at ``rate`` -> (n',) 16 kHz mono (channel mean). torchaudio's
    resampling, as training.debian_corpus._to_16k, with one cached kernel per rate: thousands of
    short clips at the same rate would otherwise rebuild it each time."""
    import torch
    import torchaudio

    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    if rate == SAMPLE_RATE:
        return audio
    if rate not in _RESAMPLERS:
        _RESAMPLERS[rate] = torchaudio.transforms.Resample(rate, SAMPLE_RATE)
    with torch.inference_mode():
        return _RESAMPLERS[rate](torch.from_numpy(np.array(audio, np.float32))).numpy()


def decode(source: Source, data: bytes) -> np.ndarray:
    """A member's bytes -> int16 mono at 16 kHz (what is written, and what duplicates are hashed by)."""
    if source.reader == "sky":  # raw unsigned 8-bit PCM (training.sources.sky)
        audio, rate = (np.frombuffer(data, np.uint8).astype(np.float32) - 128) / 128, sky.SPEECH_RATE
    elif source.codec:
        audio, rate = _ffmpeg(data, source.codec)
    else:
        try:
            audio, rate = sf.read(io.BytesIO(data), dtype="float32")
        except Exception:  # what libsndfile cannot read (some MP3/Ogg variants): ffmpeg probes it
            audio, rate = _ffmpeg(data)
    if audio.size == 0:
        raise ValueError("the stream decodes to no samples (an empty recording)")
    audio = to_16k(np.asarray(audio, dtype=np.float32), rate)
    return np.round(np.clip(audio, -1, 1) * 32767).astype(np.int16)


def _out_name(member: str) -> str:
    """A member path -> a safe relative output path (ASCII, no '..'), unique per member: the whole
    name is kept, extension included (``x.wav`` and ``x.ogg`` may both exist), plus ``.flac``."""
    parts = [p for p in member.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    safe = "/".join(re.sub(r"[^A-Za-z0-9._-]", "_", p) for p in parts) or "clip"
    if safe != "/".join(parts):  # characters were replaced: two names could now collide
        safe += "_" + hashlib.sha1(member.encode()).hexdigest()[:8]
    return safe + ".flac"


def check_sources(sources: list[Source]) -> None:
    """ValueError if any source is reserved for evaluation (its package, or its folder)."""
    for s in sources:
        reserved.check(s.package if s.package else Path(s.where))


class TimeUp(Exception):
    """The build's deadline passed inside a source; its clips so far stay on disk for a re-run."""


def build_source(source: Source, out: Path, debs_root: Path, seen: dict[str, str],
                 deadline: float | None = None) -> dict:
    """Decode one source into ``out/<name>/``; -> its state (rows, hashes, failures, attribution).
    Raises TimeUp (with the clips done so far) when ``deadline`` (a time.time()) passes."""
    tree = debs.fetch(debs_root, source.package) if source.package else None
    version = debs.version(tree) if tree else "local"
    folder = out / source.name
    state_path = folder / STATE
    if state_path.is_file():
        state = json.loads(state_path.read_text())
        if (state.get("version") == version and state.get("state_version") == STATE_VERSION
                and state.get("source") == asdict(source) and all(Path(r["path"]).is_file() for r in state["rows"])):
            for r in state["rows"]:
                seen.setdefault(r["sha_bytes"], source.name)
                seen.setdefault(r["sha_pcm"], source.name)
            return state
    rows, failed, duplicates = [], [], []
    for member, load in members(source, tree):
        if deadline is not None and time.time() > deadline:
            raise TimeUp(len(rows))
        try:
            data = load()
            sha_bytes = "b:" + hashlib.sha256(data).hexdigest()
            if sha_bytes in seen:
                duplicates.append({"member": member, "of": seen[sha_bytes]})
                continue
            dest = folder / _out_name(member)
            if dest.is_file():  # written by an interrupted run (atomically: complete)
                pcm = sf.read(dest, dtype="int16")[0]
            else:
                pcm = decode(source, data)
                if pcm.size == 0 or not pcm.any():
                    raise ValueError("empty or digitally silent audio")
            sha_pcm = "p:" + hashlib.sha256(pcm.tobytes()).hexdigest()
            seen[sha_bytes] = source.name
            if sha_pcm in seen:
                duplicates.append({"member": member, "of": seen[sha_pcm]})
                continue
            seen[sha_pcm] = source.name
            if not dest.is_file():
                dest.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(dest, lambda tmp: sf.write(tmp, pcm, SAMPLE_RATE, format="FLAC", subtype="PCM_16"))
            rows.append({"path": str(dest), "member": member, "seconds": pcm.size / SAMPLE_RATE,
                         "sha_bytes": sha_bytes, "sha_pcm": sha_pcm})
        except Exception as e:  # one bad clip must not stop the build: it is listed in the report
            failed.append({"member": member, "reason": f"{type(e).__name__}: {e}"})
    licence, holder = LICENCES.get(source.package, ("see the folder's own licence", "unknown"))
    state = {"state_version": STATE_VERSION, "source": asdict(source), "version": version, "rows": rows,
             "failed": failed, "duplicates": duplicates, "licence": licence, "holder": holder,
             "copyright_file": str(debs.copyright_file(tree, source.package)) if tree else None}
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(state_path, json.dumps(state).encode())
    return state


def summarise(states: dict[str, dict], skipped: dict[str, str], pending: dict[str, str] | None = None) -> dict:
    """Per-source states -> the corpus report: attribution, hours and clips per source and kind."""
    per_source, per_kind = {}, {k: 0.0 for k in KINDS}
    for name, st in states.items():
        hours = sum(r["seconds"] for r in st["rows"]) / 3600
        kind = st["source"]["kind"]
        per_kind[kind] += hours
        # the catalogue's attribution as it is now (a reused state may predate a correction)
        licence, holder = LICENCES.get(st["source"]["package"], (st["licence"], st["holder"]))
        per_source[name] = {
            "package": st["source"]["package"], "version": st["version"], "kind": kind, "licence": licence,
            "copyright": holder, "copyright_file": st["copyright_file"], "clips": len(st["rows"]),
            "hours": round(hours, 3), "duplicates_left_out": len(st["duplicates"]),
            "duplicates": st["duplicates"][:MAX_LISTED], "failed_clips": len(st["failed"]),
            "failed": st["failed"][:MAX_LISTED]}
    return {"preset_files": sum(s["clips"] for s in per_source.values()),
            "hours_per_kind": {k: round(v, 3) for k, v in per_kind.items()},
            "total_hours": round(sum(per_kind.values()), 3),
            "hours_per_source": {n: s["hours"] for n, s in sorted(per_source.items())},
            "sources": per_source, "skipped_sources": skipped, "pending_sources": pending or {}}


def build(out: Path, sources: list[Source], debs_root: Path, log=sys.stderr, deadline: float | None = None,
          on_source=None) -> tuple[list[tuple[str, str, str, str]], dict]:
    """Build every source (refusing reserved ones first) -> (manifest rows, report).

    Rows are (path, source, kind, member). A source that fails as a whole is in
    ``skipped_sources``; once ``deadline`` (a time.time()) passes, the unfinished and unstarted
    ones are in ``pending_sources`` (a re-run continues them). ``on_source(rows, report)`` is
    called after each source, so that a stopped build still leaves a manifest of what is done."""
    check_sources(sources)
    out.mkdir(parents=True, exist_ok=True)
    seen: dict[str, str] = {}
    states, skipped, pending = {}, {}, {}

    def result():
        rows = [(r["path"], name, st["source"]["kind"], r["member"]) for name, st in states.items() for r in st["rows"]]
        return rows, summarise(states, skipped, pending)

    for i, source in enumerate(sources):
        t = time.time()
        if deadline is not None and t > deadline:
            pending.update({s.name: "not started: the build's time limit (--stop-after) passed" for s in sources[i:]})
            break
        try:
            states[source.name] = build_source(source, out, Path(debs_root), seen, deadline)
        except TimeUp as e:
            pending[source.name] = f"unfinished at the time limit: {e.args[0]} new clips written; a re-run continues"
            pending.update({s.name: "not started: the build's time limit (--stop-after) passed" for s in sources[i + 1:]})
            print(f"[real65] {source.name}: {pending[source.name]}", file=log, flush=True)
            break
        except Exception as e:  # a missing or unreadable package: report it, build the rest
            skipped[source.name] = f"{type(e).__name__}: {e}"
            print(f"[real65] {source.name}: SKIPPED ({skipped[source.name]})", file=log, flush=True)
            continue
        st = states[source.name]
        print(f"[real65] {source.name}: {len(st['rows'])} clips, {sum(r['seconds'] for r in st['rows']) / 3600:.2f} h, "
              f"{len(st['duplicates'])} duplicates, {len(st['failed'])} failed ({time.time() - t:.0f} s)",
              file=log, flush=True)
        if on_source is not None:
            on_source(*result())
    return result()


def write_manifest(out: Path, rows: list[tuple[str, ...]], header=("path", "source", "kind", "member")) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    return atomic_write_bytes(out / "manifest.csv", buf.getvalue().encode())
