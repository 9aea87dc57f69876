"""Labelled audio for supervised training: a folder of label folders, a CSV, or a HEAR task folder.

- folder: ``root/<label>/**/*.wav`` (the first folder below the root is the label);
- CSV: a ``path,label`` header (paths relative to the CSV), optional ``split`` column (train/valid);
- HEAR task folder (``task_metadata.json``; scene, multiclass): its train/valid/test splits, or for
  k-fold tasks every fold but the last two for training, the second-to-last for validation and the
  last for testing.

Test clips (split ``test``) are never trained on or used to choose anything: training.finetune scores
the chosen (best-on-validation) checkpoint on them once, for release tables.

Without a validation split, a seeded, per-label ``valid_fraction`` of the clips becomes one.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hear_mwmae.audio_io import audio_files


@dataclass(frozen=True)
class LabelledSet:
    """``items``: (audio path, label, split) with split "train", "valid" or "test"; ``labels``: the sorted vocabulary."""

    items: tuple[tuple[Path, str, str], ...]
    labels: tuple[str, ...]
    source: str

    def split(self, name: str) -> list[tuple[Path, int]]:
        index = {label: i for i, label in enumerate(self.labels)}
        return [(path, index[label]) for path, label, split in self.items if split == name]


def read_labelled(source: str | Path, valid_fraction: float = 0.1, seed: int = 0) -> LabelledSet:
    """Any of the three layouts (module docstring) -> :class:`LabelledSet`."""
    source = Path(source)
    if source.is_dir() and (source / "task_metadata.json").is_file():
        rows = _hear_task(source)
    elif source.is_file() and source.suffix.lower() == ".csv":
        rows = _csv(source)
    elif source.is_dir():
        rows = [(path, Path(name).parts[0], "") for path, name in audio_files([source]) if len(Path(name).parts) > 1]
        if not rows:
            raise ValueError(f"{source}: no audio in label folders (expected {source}/<label>/<file>.wav)")
    else:
        raise FileNotFoundError(f"no labelled data at {source}: give a folder of label folders, a path,label CSV "
                                f"or a HEAR task folder")
    labels = tuple(sorted({label for _, label, _ in rows}))
    if len(labels) < 2:
        raise ValueError(f"{source}: a classifier needs at least 2 labels, found {list(labels)}")
    if not any(split == "valid" for _, _, split in rows):
        test = [r for r in rows if r[2] == "test"]
        rows = _hold_out([r for r in rows if r[2] != "test"], valid_fraction, seed) + test
    rows = [(p, label, split or "train") for p, label, split in rows]
    return LabelledSet(tuple(rows), labels, str(source))


def _csv(path: Path) -> list[tuple[Path, str, str]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"path", "label"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: a labelled CSV needs a 'path,label' header (optional 'split'), "
                             f"got {reader.fieldnames}")
        rows = []
        for line, row in enumerate(reader, start=2):
            split = (row.get("split") or "").strip()
            if split not in ("", "train", "valid", "test"):
                raise ValueError(f"{path}:{line}: split must be train, valid or test, got {split!r}")
            rows.append((path.parent / row["path"].strip(), row["label"].strip(), split))
    if not rows:
        raise ValueError(f"{path}: no rows")
    return rows


def _hear_task(task_dir: Path) -> list[tuple[Path, str, str]]:
    try:
        from hear_mwmae_tools.evaluation.tasks.hearformat import read_hear_task
    except ModuleNotFoundError as e:
        raise ValueError("reading a HEAR task folder needs the tools package: pip install -e tools/") from e
    task = read_hear_task(task_dir)
    names = list(task["splits"])
    if "train" in names:
        roles = {"train": "train", "valid": "valid", "test": "test"}
    else:  # k-fold: the last fold is the test fold (release tables only), the one before validates
        if len(names) < 3:
            raise ValueError(f"{task_dir}: a k-fold task needs at least 3 folds to keep one for testing")
        roles = {name: "train" for name in names[:-2]} | {names[-2]: "valid", names[-1]: "test"}
    rows = []
    for name, role in roles.items():
        for file, labels in task["splits"].get(name, {}).items():
            rows.append((task["audio_dir"] / name / file, str(labels[0]), role))
    return rows


def _hold_out(rows, valid_fraction: float, seed: int):
    if not 0.0 < valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be in (0, 1) when the data has no validation split, got {valid_fraction}")
    rng = np.random.default_rng(seed)
    out = []
    for label in sorted({label for _, label, _ in rows}):
        group = [r for r in rows if r[1] == label]
        held = set(rng.permutation(len(group))[: max(1, round(valid_fraction * len(group)))].tolist()) \
            if len(group) > 1 else set()
        out += [(p, lab, "valid" if i in held else "train") for i, (p, lab, _) in enumerate(group)]
    return out

