"""Precompute a corpus into log-mel shards once (the official pipeline trained on stored log-mels).

Layout of ``OUT/``::

    shard_00000.npy    (frames, 80) float16/float32, the clips of this shard back to back
    shard_00000.json   clips: [{"file", "start", "frames", "mean", "std"}], written after the .npy
    index.json         all shards, dtype, totals (written last)
    report.json        per-source hours, skipped files and why

Each shard holds a fixed slice of the sorted file list, so a re-run skips finished shards
(resumable) and shards are built in parallel worker processes. The stored log-mel is *not*
normalised; each clip's mean and population std over the whole clip (as the official
training parse did, before cropping) are stored beside it. Unreadable, empty, too-short and
silent files (or segments) are skipped and listed in the report; clips between ``min_seconds`` and 2 s are
reflect-padded to 200 frames (the official code could not crop them).
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hear_mwmae.atomic import atomic_save_npy, atomic_write_bytes
from hear_mwmae.frontend import SAMPLE_RATE, reflect_index

from .corpus import decode, list_audio
from .data import CROP_FRAMES, MIN_CLIP_STD


@dataclass(frozen=True)
class PrecomputeConfig:
    out: str
    files_per_shard: int = 256
    dtype: str = "float32"  # or "float16" (half the disk; log-mel values are well inside its range)
    min_seconds: float = 0.5
    workers: int = 2
    segment_seconds: float = 0.0  # > 0: cut long files into clips of this length (like AudioSet's 10 s)


def clip_stats(mel: np.ndarray) -> tuple[float, float]:
    """(T, 80) log-mel -> the clip's mean and population std (ddof 0) over all its values, in
    float64: the statistics the training crops are normalised with (the official parse)."""
    return float(mel.mean(dtype=np.float64)), float(mel.std(dtype=np.float64))


def _shard_paths(out: Path, i: int) -> tuple[Path, Path]:
    return out / f"shard_{i:05d}.npy", out / f"shard_{i:05d}.json"


def _segments(audio: np.ndarray, seconds: float) -> list[np.ndarray]:
    """Consecutive pieces of ``seconds`` (the last absorbs a remainder shorter than half a piece)."""
    size = int(seconds * SAMPLE_RATE)
    if size <= 0 or audio.size < 1.5 * size:
        return [audio]
    starts = list(range(0, audio.size - size // 2, size))
    return [audio[a : (b if b else audio.size)] for a, b in zip(starts, starts[1:] + [None])]


def _build_shard(args) -> dict:
    """Worker: decode, log-mel, pad, write one shard atomically. Returns its summary."""
    import torch

    from hear_mwmae.frontend import LogMelFrontend

    torch.set_num_threads(1)
    index, files, cfg = args
    out = Path(cfg.out)
    npy_path, json_path = _shard_paths(out, index)
    frontend = LogMelFrontend()
    chunks, clips, skipped = [], [], []
    start = 0
    for f in files:
        try:
            audio = decode(Path(f))
        except Exception as e:  # a corrupt file must not stop the run
            skipped.append({"file": str(f), "reason": f"unreadable: {e}"})
            continue
        if audio.size == 0 or not np.isfinite(audio).all():
            skipped.append({"file": str(f), "reason": "empty or non-finite audio"})
            continue
        seconds = audio.size / SAMPLE_RATE
        if seconds < cfg.min_seconds:
            skipped.append({"file": str(f), "reason": f"too short ({seconds:.2f} s < {cfg.min_seconds} s)"})
            continue
        for k, segment in enumerate(_segments(audio, cfg.segment_seconds)):
            with torch.inference_mode():
                mel = frontend.log_mel(torch.from_numpy(segment)[None])[0].numpy()  # (T, 80)
            if mel.shape[0] < CROP_FRAMES:
                mel = mel[reflect_index(mel.shape[0], CROP_FRAMES)]
            mean, std = clip_stats(mel)
            if std < MIN_CLIP_STD:
                skipped.append({"file": str(f), "reason": f"silent (segment {k}: log-mel std {std:.3f} < {MIN_CLIP_STD})"})
                continue
            chunks.append(mel.astype(cfg.dtype))
            clips.append({"file": str(f), "segment": k, "start": start, "frames": int(mel.shape[0]), "mean": mean,
                          "std": std, "seconds": segment.size / SAMPLE_RATE})
            start += mel.shape[0]
    data = np.concatenate(chunks) if chunks else np.zeros((0, 80), dtype=cfg.dtype)
    atomic_save_npy(npy_path, data)
    summary = {"shard": index, "files": list(files), "frames": int(start), "clips": clips, "skipped": skipped}
    atomic_write_bytes(json_path, json.dumps(summary).encode())  # written last: marks the shard complete
    return summary


def precompute(sources: list[str], cfg: PrecomputeConfig, progress: bool = True) -> dict:
    """Build (or finish) the shards of a corpus; returns the index. See the module docstring."""
    from tqdm import tqdm

    labels = {str(f): label for f, label in list_audio(sources).items()}
    files = list(labels)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    n_shards = math.ceil(len(files) / cfg.files_per_shard)
    todo, summaries = [], {}
    for i in range(n_shards):
        npy, js = _shard_paths(out, i)
        part = files[i * cfg.files_per_shard : (i + 1) * cfg.files_per_shard]
        if npy.is_file() and js.is_file():
            summary = json.loads(js.read_text())
            if summary.get("files") == part:
                summaries[i] = summary  # finished in an earlier run (same files)
                continue
        todo.append((i, part, cfg))
    bar = tqdm(total=len(todo), desc="precompute", unit="shard", disable=not progress)
    if cfg.workers > 1 and len(todo) > 1:
        with mp.get_context("spawn").Pool(cfg.workers) as pool:
            for summary in pool.imap_unordered(_build_shard, todo):
                summaries[summary["shard"]] = summary
                bar.update()
    else:
        for job in todo:
            summary = _build_shard(job)
            summaries[summary["shard"]] = summary
            bar.update()
    bar.close()
    return _write_index(out, [summaries[i] for i in range(n_shards)], cfg, labels)


def _write_index(out: Path, summaries: list[dict], cfg: PrecomputeConfig, labels: dict[str, str]) -> dict:
    hours: dict[str, float] = {}
    for s in summaries:
        for c in s["clips"]:
            src = labels.get(c["file"], "other")
            hours[src] = hours.get(src, 0.0) + c["seconds"] / 3600
    index = {
        "dtype": cfg.dtype,
        "n_mels": 80,
        "shards": [{"npy": _shard_paths(out, s["shard"])[0].name, "json": _shard_paths(out, s["shard"])[1].name,
                    "clips": len(s["clips"]), "frames": s["frames"]} for s in summaries],
        "clips": sum(len(s["clips"]) for s in summaries),
        "hours": sum(hours.values()),
    }
    report = {"hours_per_source": hours, "total_hours": index["hours"], "clips": index["clips"],
              "skipped": [k for s in summaries for k in s["skipped"]]}
    atomic_write_bytes(out / "report.json", json.dumps(report, indent=2).encode())
    atomic_write_bytes(out / "index.json", json.dumps(index, indent=2).encode())
    return index


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m training.shards", description="precompute log-mel shards")
    p.add_argument("sources", nargs="+", help="audio folders, files, or manifests (.txt/.csv)")
    p.add_argument("--out", required=True)
    p.add_argument("--files-per-shard", type=int, default=256)
    p.add_argument("--dtype", choices=("float32", "float16"), default="float32")
    p.add_argument("--min-seconds", type=float, default=0.5)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--segment-seconds", type=float, default=0.0, help="cut long files into clips of this length")
    a = p.parse_args(argv)
    cfg = PrecomputeConfig(out=a.out, files_per_shard=a.files_per_shard, dtype=a.dtype, min_seconds=a.min_seconds,
                           workers=a.workers, segment_seconds=a.segment_seconds)
    index = precompute(a.sources, cfg)
    report = json.loads((Path(a.out) / "report.json").read_text())
    print(f"{index['clips']} clips, {index['hours']:.2f} h in {len(index['shards'])} shards; "
          f"{len(report['skipped'])} files skipped (see {Path(a.out) / 'report.json'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
