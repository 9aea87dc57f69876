"""drums: Hydrogen drum-kit one-shots labelled by instrument family; folds split by kit.

Every velocity layer of every labelled instrument of the Debian ``hydrogen-drumkits`` kits
is one clip (mono, 16 kHz, trimmed or zero-padded to 1 s). Labels are families from the
instrument names in each kit's ``drumkit.xml`` (kick, snare, hihat, tom, cymbal, clap,
percussion). Kits are assigned to 5 folds, balanced by clip count, so no kit is in two folds:
the task asks whether a representation recognises a kind of drum on a drum kit it has not heard.
"""

from __future__ import annotations

from pathlib import Path

from hear_mwmae.audio_io import load_mono

from .audio import slug
from .hearformat import TaskWriter
from .hydrogen import all_samples, balanced_groups, spread_families

NAME = "drums"
DESCRIPTION = "Hydrogen drum-kit one-shots, 7 instrument families, 5 folds split by kit"
N_FOLDS = 5


def build(tasks_dir: str | Path, limit: int | None = None, source: str | Path | None = None) -> Path:
    """Write ``tasks_dir/drums-hydrogen2017-full``; ``limit`` keeps N samples of each kit."""
    kits = all_samples(source)
    if limit is not None:
        kits = {k: spread_families(v, limit) for k, v in kits.items()}
    folds = balanced_groups({k: len(v) for k, v in kits.items()}, N_FOLDS)
    splits = [f"fold{i:02d}" for i in range(N_FOLDS)]
    meta = {"task_name": NAME, "version": "hydrogen2017", "mode": "full" if limit is None else "small",
            "embedding_type": "scene", "prediction_type": "multiclass", "split_mode": "new_split_kfold",
            "sample_duration": 1.0, "evaluation": ["top1_acc", "mAP", "d_prime", "aucroc"],
            "default_mode": "full", "source": "Debian hydrogen-drumkits",
            "split_groups": {s: kit_names for s, kit_names in zip(splits, folds)}}
    writer = TaskWriter(tasks_dir, meta, splits, build_limit=limit)
    for split, kit_names in zip(splits, folds):
        for kit in kit_names:
            for s in kits[kit]:
                name = f"{slug(kit)}-{slug(s.instrument)}-{s.layer}.wav"
                writer.add(split, name, load_mono(s.path), [s.family])
    return writer.finish()
