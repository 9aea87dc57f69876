"""Per-clip scores from heareval's prediction files: clip order, the allow-list unpickler, paired CIs."""

import json
import math
import os
import pickle
import random

import numpy as np
import pytest
import torch

from hear_mwmae_tools.evaluation import clipscores


def _task(tmp_path, n_per_fold=30, folds=3, labels=("a", "b", "c")):
    task = tmp_path / "task"
    task.mkdir()
    splits = [f"fold{i:02d}" for i in range(folds)]
    (task / "task_metadata.json").write_text(json.dumps({
        "task_name": "t", "embedding_type": "scene", "prediction_type": "multiclass",
        "split_mode": "new_split_kfold", "splits": splits, "evaluation": ["top1_acc"]}))
    (task / "labelvocabulary.csv").write_text("idx,label\n" + "".join(f"{i},{x}\n" for i, x in enumerate(labels)))
    rng = random.Random(1)
    truth = {}
    for s in splits:
        files = {f"{s}-{k:03d}.wav": [rng.choice(labels)] for k in range(n_per_fold)}
        (task / f"{s}.json").write_text(json.dumps(files))
        truth.update(files)
    return task, splits, truth


def _predictions(task, folder, splits, guess, order=None):
    """Write heareval-style ``<fold>.predictions.pkl`` (pickle.dump of tensors) with ``guess(file) -> label``."""
    vocab = clipscores._vocabulary(task)
    order = order or clipscores.fold_order(task)
    folder.mkdir(exist_ok=True)
    for s in splits:
        labels = json.loads((task / f"{s}.json").read_text())
        target = torch.nn.functional.one_hot(torch.tensor([vocab[labels[f][0]] for f in order[s]]), len(vocab))
        pred = torch.nn.functional.one_hot(torch.tensor([vocab[guess(f)] for f in order[s]]), len(vocab))
        with open(folder / f"{s}.predictions.pkl", "wb") as f:
            pickle.dump({"target": target.float(), "prediction": pred.float(), "prediction_logit": pred.float()}, f)


def test_clip_values_follow_heareval_order_and_catch_a_wrong_one(tmp_path):
    task, splits, truth = _task(tmp_path)
    wrong = {f for i, f in enumerate(sorted(truth)) if i % 4 == 0}
    guess = lambda f: ("b" if truth[f][0] == "a" else "a") if f in wrong else truth[f][0]  # noqa: E731
    _predictions(task, tmp_path / "seed0", splits, guess)
    values = clipscores.clip_values(task, [tmp_path / "seed0"], "top1_acc")
    assert values == {f: float(f not in wrong) for f in truth}
    # the same predictions in unshuffled (file) order: the targets no longer match the labels -> a clear error
    plain = {s: list(json.loads((task / f"{s}.json").read_text())) for s in splits}
    _predictions(task, tmp_path / "plain", splits, guess, order=plain)
    with pytest.raises(ValueError, match="heareval's embedding order"):
        clipscores.clip_values(task, [tmp_path / "plain"], "top1_acc")
    assert clipscores.clip_values(task, [tmp_path / "seed0"], "mAP") is None  # not a mean over clips


def test_seeds_average_per_clip(tmp_path):
    task, splits, truth = _task(tmp_path)
    _predictions(task, tmp_path / "s0", splits, lambda f: truth[f][0])
    _predictions(task, tmp_path / "s1", splits, lambda f: "c" if truth[f][0] != "c" else "a")
    values = clipscores.clip_values(task, [tmp_path / "s0", tmp_path / "s1"], "top1_acc")
    assert set(values.values()) == {0.5}


def test_unpickler_reads_tensors_and_refuses_anything_else(tmp_path):
    path = tmp_path / "fold00.predictions.pkl"
    with open(path, "wb") as f:
        pickle.dump({"target": torch.eye(3), "prediction": torch.full((3, 3), 0.25)}, f)
    data = clipscores.read_predictions(path)
    assert np.array_equal(data["target"], np.eye(3)) and data["prediction"].shape == (3, 3)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with open(path, "wb") as f:
        pickle.dump({"target": Evil()}, f)
    with pytest.raises(pickle.UnpicklingError, match="refusing to load"):
        clipscores.read_predictions(path)


def test_paired_ci_and_mean_over_tasks():
    rng = np.random.default_rng(0)
    a = {f"c{i}": float(x) for i, x in enumerate(rng.random(400) < 0.7)}
    b = {f"c{i}": float(x) for i, x in enumerate(rng.random(400) < 0.6)}
    d = clipscores.paired(a, b)
    diff = np.array([a[k] - b[k] for k in a])
    assert d["n"] == 400 and d["mean"] == pytest.approx(diff.mean())
    assert d["ci95"] == pytest.approx(1.96 * diff.std(ddof=1) / 20)
    assert clipscores.paired(a, a) == {"mean": 0.0, "ci95": 0.0, "n": 400}
    one = clipscores.clip_ci(a)
    assert one["ci95"] == pytest.approx(1.96 * math.sqrt(one["mean"] * (1 - one["mean"]) / 399), rel=1e-3)
    m = clipscores.mean_over_tasks([{"mean": 0.1, "ci95": 0.03, "n": 1}, {"mean": 0.0, "ci95": 0.04, "n": 1}])
    assert m["mean"] == pytest.approx(0.05) and m["ci95"] == pytest.approx(0.025)
    with pytest.raises(ValueError, match="share no scored clips"):
        clipscores.paired(a, {"x": 1.0})
