"""Write and check tasks in the exact on-disk format of hearpreprocess (docs/design.md §D15).

A task folder ``<tasks dir>/<task_name>-<version>-<mode>/`` holds:

- ``task_metadata.json``: ``task_name``, ``version``, ``mode``, ``embedding_type``
  (``scene``/``event``), ``prediction_type`` (``multiclass``/``multilabel``), ``split_mode``
  (``trainvaltest``/``new_split_kfold``/``presplit_kfold``), ``splits``, ``nfolds`` (k-fold),
  ``sample_duration`` (s), ``evaluation`` (the first score is the primary one) and optional
  ``evaluation_params``;
- ``labelvocabulary.csv`` (``idx,label``, labels sorted: numerically when all are integers,
  so that heareval's ``chroma_acc`` (class index mod 12) works for pitch labels);
- ``<split>.json``: ``{file: [label, ...]}`` (scene) or ``{file: [{"label", "start", "end"}]}``
  (event, milliseconds);
- ``16000/<split>/<file>``: mono 16-bit PCM WAVs trimmed or zero-padded to ``sample_duration``.

:class:`TaskWriter` builds a task in a hidden temporary folder and renames it into place only
when it is complete, so an interrupted build never leaves a half task that looks finished.
:func:`check_task` validates a folder (ours or an official one) the way heareval reads it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np

from hear_mwmae.frontend import SAMPLE_RATE

EMBEDDING_TYPES = ("scene", "event")
PREDICTION_TYPES = ("multiclass", "multilabel")
SPLIT_MODES = ("trainvaltest", "new_split_kfold", "presplit_kfold")
REQUIRED_METADATA = ("task_name", "embedding_type", "prediction_type", "split_mode", "splits",
                     "sample_duration", "evaluation")


def task_folder_name(name: str, version: str, mode: str) -> str:
    """``<task_name>-<version>-<mode>``, the folder name hearpreprocess uses."""
    return f"{name}-{version}-{mode}"


def sorted_labels(labels) -> list:
    """Labels in vocabulary order: numeric order if every label is an int, else string order."""
    labels = set(labels)
    if labels and all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in labels):
        return sorted(int(x) for x in labels)
    return sorted(str(x) for x in labels)


def pcm16_wav_bytes(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """Float audio in [-1, 1] -> bytes of a mono 16-bit PCM WAV (values clipped, rounded)."""
    import soundfile as sf

    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim != 1:
        raise ValueError(f"audio must be 1-D mono, got shape {audio.shape}; mix channels down first")
    pcm = np.round(np.clip(audio, -1.0, 32767 / 32768) * 32768).astype(np.int16)
    buf = io.BytesIO()
    sf.write(buf, pcm, sample_rate, subtype="PCM_16", format="WAV")
    return buf.getvalue()


def fit_length(audio: np.ndarray, n_samples: int) -> np.ndarray:
    """Trim, or zero-pad at the end, to exactly ``n_samples`` (hearpreprocess's TrimPad)."""
    if len(audio) >= n_samples:
        return audio[:n_samples]
    return np.concatenate([audio, np.zeros(n_samples - len(audio), dtype=audio.dtype)])


class TaskWriter:
    """Collect the clips of one task and write the folder atomically.

    Args:
        tasks_dir: parent folder; the task lands in ``tasks_dir/<name>-<version>-<mode>``.
        metadata: at least the keys of :data:`REQUIRED_METADATA` except ``splits`` (from
            ``splits``) plus ``version`` and ``mode``; extra keys are kept (heareval ignores them).
        splits: split names in order, e.g. ``["train", "valid", "test"]`` or ``["fold00", …]``.
        vocabulary: the full label set, when it must not depend on which labels occur (pitch:
            heareval's chroma_acc needs contiguous pitch indices); default: the labels seen.
        build_limit: the builder's subset size (None = full), kept in the metadata as
            ``build_limit`` so that a later build can tell a subset from the full task.
    """

    def __init__(self, tasks_dir: str | Path, metadata: dict, splits: list[str], vocabulary=None,
                 build_limit: int | None = None) -> None:
        for key in ("version", "mode", *(k for k in REQUIRED_METADATA if k != "splits")):  # splits: given here
            if key not in metadata:
                raise ValueError(f"task metadata lacks {key!r}; give it to TaskWriter")
        self.metadata = {**metadata, "splits": list(splits), "build_limit": build_limit}
        if metadata["split_mode"] != "trainvaltest":
            self.metadata["nfolds"] = len(splits)
        self.tasks_dir = Path(tasks_dir)
        self.folder = self.tasks_dir / task_folder_name(metadata["task_name"], metadata["version"], metadata["mode"])
        self.tasks_dir.mkdir(parents=True, exist_ok=True)
        self._tmp = self.tasks_dir / f".{self.folder.name}.partial"
        shutil.rmtree(self._tmp, ignore_errors=True)
        self.labels: dict[str, dict[str, list]] = {s: {} for s in splits}
        self._vocabulary = None if vocabulary is None else sorted_labels(vocabulary)
        self._n_samples = None if metadata["sample_duration"] is None else round(metadata["sample_duration"] * SAMPLE_RATE)

    def add(self, split: str, filename: str, audio: np.ndarray, labels: list) -> None:
        """Write one clip (16 kHz float mono) with its labels (scene: labels; event: dicts in ms)."""
        if split not in self.labels:
            raise ValueError(f"unknown split {split!r}; this task has {list(self.labels)}")
        if not filename.endswith(".wav") or "/" in filename:
            raise ValueError(f"file names must be plain '<name>.wav', got {filename!r}")
        if any(filename in files for files in self.labels.values()):
            raise ValueError(f"duplicate file name {filename!r}: names must be unique across all splits")
        if self._n_samples is not None:
            audio = fit_length(np.asarray(audio, dtype=np.float32), self._n_samples)
        path = self._tmp / str(SAMPLE_RATE) / split / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pcm16_wav_bytes(audio))  # plain writes: the whole folder is moved into place at the end
        self.labels[split][filename] = list(labels)

    def vocabulary(self) -> list:
        found = []
        for files in self.labels.values():
            for labels in files.values():
                found += [x["label"] if isinstance(x, dict) else x for x in labels]
        if self._vocabulary is None:
            return sorted_labels(found)
        unknown = set(map(str, found)) - set(map(str, self._vocabulary))
        if unknown:
            raise ValueError(f"labels {sorted(unknown)} are not in the task's vocabulary")
        return self._vocabulary

    def finish(self) -> Path:
        """Write metadata, vocabulary and split files, then move the folder into place."""
        empty = [s for s, files in self.labels.items() if not files]
        if empty:
            raise ValueError(f"splits {empty} have no clips; the source audio is too small for this task")
        for split, files in self.labels.items():
            _write_json(self._tmp / f"{split}.json", dict(sorted(files.items())))
        vocab = io.StringIO()
        writer = csv.writer(vocab, lineterminator="\n")
        writer.writerow(["idx", "label"])
        for i, label in enumerate(self.vocabulary()):
            writer.writerow([i, label])
        (self._tmp / "labelvocabulary.csv").write_bytes(vocab.getvalue().encode())
        _write_json(self._tmp / "task_metadata.json", self.metadata)
        if self.folder.exists():
            shutil.rmtree(self.folder)
        os.replace(self._tmp, self.folder)
        return self.folder


def _write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=1) + "\n")


def read_vocabulary(folder: Path) -> list[str]:
    with open(folder / "labelvocabulary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or set(rows[0]) != {"idx", "label"}:
        raise ValueError(f"{folder}/labelvocabulary.csv must have the header 'idx,label'")
    idx = [int(r["idx"]) for r in rows]
    if idx != list(range(len(rows))):
        raise ValueError(f"{folder}/labelvocabulary.csv: idx must run 0..{len(rows) - 1} in order")
    return [r["label"] for r in rows]


def check_task(folder: str | Path, sample_rate: int = SAMPLE_RATE, check_audio: bool = True) -> dict:
    """Validate a task folder as heareval reads it; return a summary. Raises ValueError."""
    import soundfile as sf

    folder = Path(folder)
    meta_path = folder / "task_metadata.json"
    if not meta_path.is_file():
        raise ValueError(f"{folder} is not a HEAR task: task_metadata.json is missing")
    meta = json.loads(meta_path.read_text())
    missing = [k for k in REQUIRED_METADATA if k not in meta]
    if missing:
        raise ValueError(f"{meta_path} lacks the keys {missing} that heareval reads")
    for key, allowed in (("embedding_type", EMBEDDING_TYPES), ("prediction_type", PREDICTION_TYPES),
                         ("split_mode", SPLIT_MODES)):
        if meta[key] not in allowed:
            raise ValueError(f"{meta_path}: {key} must be one of {allowed}, got {meta[key]!r}")
    if meta["split_mode"] == "trainvaltest" and sorted(meta["splits"]) != ["test", "train", "valid"]:
        raise ValueError(f"{meta_path}: split_mode trainvaltest needs splits train/valid/test, got {meta['splits']}")
    vocab = set(read_vocabulary(folder))
    duration = meta["sample_duration"]
    seen: dict[str, str] = {}
    counts = {}
    for split in meta["splits"]:
        split_file = folder / f"{split}.json"
        if not split_file.is_file():
            raise ValueError(f"{folder}: split file {split_file.name} is missing")
        data = json.loads(split_file.read_text())
        counts[split] = len(data)
        for name, labels in data.items():
            if name in seen:
                raise ValueError(f"{folder}: {name} is in both {seen[name]} and {split}; splits must be disjoint")
            seen[name] = split
            _check_labels(folder, split, name, labels, meta, vocab)
            wav = folder / str(sample_rate) / split / name
            if check_audio:
                if not wav.is_file():
                    raise ValueError(f"{folder}: {wav.relative_to(folder)} is missing (heareval reads "
                                     f"<task>/<model sample rate>/<split>/<file>)")
                info = sf.info(str(wav))
                if (info.samplerate, info.channels, info.subtype) != (sample_rate, 1, "PCM_16"):
                    raise ValueError(f"{wav}: expected mono PCM_16 at {sample_rate} Hz, got {info.channels} channel(s) "
                                     f"{info.subtype} at {info.samplerate} Hz")
                if duration is not None and info.frames != round(duration * sample_rate):
                    raise ValueError(f"{wav}: {info.frames} samples, expected {round(duration * sample_rate)} "
                                     f"(sample_duration {duration} s)")
    return {"metadata": meta, "labels": sorted(vocab), "counts": counts}


def _check_labels(folder, split, name, labels, meta, vocab) -> None:
    where = f"{folder.name}/{split}.json[{name!r}]"
    if not isinstance(labels, list):
        raise ValueError(f"{where}: labels must be a list")
    if meta["embedding_type"] == "event":
        for ev in labels:
            if not (isinstance(ev, dict) and {"label", "start", "end"} <= set(ev)):
                raise ValueError(f"{where}: event labels must be dicts with label/start/end (ms), got {ev!r}")
            if not 0 <= ev["start"] <= ev["end"]:
                raise ValueError(f"{where}: event {ev} must have 0 <= start <= end (milliseconds)")
            if meta["sample_duration"] is not None and ev["end"] > 1000 * meta["sample_duration"] + 1e-6:
                raise ValueError(f"{where}: event {ev} ends after the clip ({meta['sample_duration']} s)")
        names = [str(ev["label"]) for ev in labels]
    else:
        if meta["prediction_type"] == "multiclass" and len(labels) != 1:
            raise ValueError(f"{where}: a multiclass scene clip needs exactly one label, got {labels}")
        names = [str(x) for x in labels]
    unknown = set(names) - vocab
    if unknown:
        raise ValueError(f"{where}: labels {sorted(unknown)} are not in labelvocabulary.csv")


def read_hear_task(task_dir: str | Path) -> dict:
    """Metadata, label vocabulary and {split: {file: [labels]}} of a HEAR task folder."""
    task_dir = Path(task_dir)
    meta_file = task_dir / "task_metadata.json"
    if not meta_file.is_file():
        raise FileNotFoundError(f"{task_dir} is not a HEAR task folder (no task_metadata.json)")
    meta = json.loads(meta_file.read_text())
    if meta.get("embedding_type") != "scene" or meta.get("prediction_type") != "multiclass":
        raise ValueError(f"{task_dir}: only scene/multiclass tasks can be read as (clip, label) pairs; "
                         f"{meta.get('task_name')} is {meta.get('embedding_type')}/{meta.get('prediction_type')}")
    with open(task_dir / "labelvocabulary.csv", newline="") as f:
        vocab = {row["label"]: int(row["idx"]) for row in csv.DictReader(f)}
    splits = {}
    for name in meta.get("splits") or ["train", "valid", "test"]:
        path = task_dir / f"{name}.json"
        if path.is_file():
            splits[name] = json.loads(path.read_text())
    if len(splits) < 2:
        raise ValueError(f"{task_dir}: need at least two split files (fold00.json… or train/test.json)")
    rates = sorted((d for d in task_dir.iterdir() if d.is_dir() and d.name.isdigit()), key=lambda d: int(d.name))
    if not rates:
        raise FileNotFoundError(f"{task_dir}: no audio folder (e.g. 16000/)")
    audio_dir = task_dir / "16000" if (task_dir / "16000").is_dir() else rates[-1]
    return {"meta": meta, "vocab": vocab, "splits": splits, "audio_dir": audio_dir}
