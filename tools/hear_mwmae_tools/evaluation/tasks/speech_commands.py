"""speech_commands_small: Google Speech Commands v0.02 (12-class keyword spotting) from the raw zips.

As HEAR's ``speech_commands`` task: a scene, multiclass task over the ten command words plus
``_unknown_`` (every other word) and ``_silence_``.

- train: clips of the training zip in neither ``validation_list.txt`` nor ``testing_list.txt``;
- valid: clips listed in ``validation_list.txt``;
- test: the official 12-class test set zip (its own ``_silence_`` and ``_unknown_`` folders).
  Clips of the training zip listed in ``testing_list.txt`` are left out, so no test speaker
  leaks into training.
- ``_silence_`` for train/valid: 1 s windows cut from ``_background_noise_/`` every
  ``SILENCE_HOP_S`` seconds; every third window goes to valid, the others to train.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from hear_mwmae.audio_io import load_mono

from .audio import SAMPLE_RATE, require, round_robin, shared_data_dir
from .hearformat import TaskWriter

NAME = "speech_commands_small"
DESCRIPTION = "Speech Commands v0.02 small subset, 12 classes, the dataset's own valid/test lists"
TRAIN_ZIP = "speech_commands_v0.02-small.zip"
TEST_ZIP = "speech_commands_test_set_v0.02-small.zip"
WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SILENCE, UNKNOWN = "_silence_", "_unknown_"
SILENCE_HOP_S = 10.0


def _label(word: str) -> str:
    """A folder name -> its label: one of the 10 words, silence / unknown as they are, else unknown."""
    return word if word in WORDS or word in (SILENCE, UNKNOWN) else UNKNOWN


def _name(path: str) -> str:
    return path.replace("/", "-")


def build(tasks_dir: str | Path, limit: int | None = None, source: str | Path | None = None) -> Path:
    """Write ``tasks_dir/speech_commands_small-v0.02-full``; ``limit`` caps clips per split."""
    folder = Path(source) if source else shared_data_dir()
    hint = "it ships in shared/data/hear/; set HEAR_MWMAE_SHARED to the shared/ folder or pass --source DIR"
    train_zip = require(folder / TRAIN_ZIP, what="the Speech Commands training zip", hint=hint)
    test_zip = require(folder / TEST_ZIP, what="the Speech Commands test-set zip", hint=hint)
    meta = {"task_name": NAME, "version": "v0.02", "mode": "full" if limit is None else "small",
            "embedding_type": "scene", "prediction_type": "multiclass", "split_mode": "trainvaltest",
            "sample_duration": 1.0, "evaluation": ["top1_acc"], "default_mode": "full",
            "source": f"{TRAIN_ZIP} + {TEST_ZIP}"}
    writer = TaskWriter(tasks_dir, meta, ["train", "valid", "test"], build_limit=limit)
    with zipfile.ZipFile(train_zip) as zf:
        names = set(zf.namelist())
        valid = set(zf.read("validation_list.txt").decode().split())
        testing = set(zf.read("testing_list.txt").decode().split())
        clips = {"train": [], "valid": []}
        for n in sorted(names):
            if not n.endswith(".wav") or n.startswith("_background_noise_/") or n in testing:
                continue
            clips["valid" if n in valid else "train"].append(n)
        for split, files in clips.items():
            for n in files[:limit]:
                writer.add(split, _name(n), load_mono(zf.read(n)), [_label(n.split("/")[0])])
        for i, n in enumerate(sorted(x for x in names if x.startswith("_background_noise_/") and x.endswith(".wav"))):
            _add_silence(writer, i, n, load_mono(zf.read(n)), limit)
    with zipfile.ZipFile(test_zip) as zf:
        files = sorted(n for n in zf.namelist() if n.endswith(".wav"))
        for n in _spread(files, limit):
            word = n.split("/")[0]
            writer.add("test", "test-" + _name(n), load_mono(zf.read(n)), [_label(word)])
    return writer.finish()


def _add_silence(writer: TaskWriter, index: int, name: str, audio: np.ndarray, limit: int | None) -> None:
    hop, n = int(SILENCE_HOP_S * SAMPLE_RATE), SAMPLE_RATE
    starts = list(range(0, len(audio) - n + 1, hop))
    if len(starts) < 2:
        return
    chosen = starts[: limit + 1] if limit else starts
    for k, start in enumerate(chosen):
        split = "valid" if k % 3 == 2 else "train"
        writer.add(split, f"{SILENCE}-{index}-{k:03d}.wav", audio[start : start + n], [SILENCE])


def _spread(files: list[str], limit: int | None) -> list[str]:
    """At most ``limit`` files, taken round-robin over the class folders (all classes stay present)."""
    if limit is None:
        return files
    def word(f: str) -> str:  # the class folder
        return f.split("/")[0]

    n_classes = len(set(map(word, files)))
    return sorted(round_robin(files, word)[: max(limit, n_classes)])
