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


def test_unpickler_reads_numpy_numbers_but_no_numpy_objects(tmp_path):
    path = tmp_path / "fold00.predictions.pkl"
    path.write_bytes(pickle.dumps({"predicted_events": {"s.wav": [{"start": np.float64(120.5), "end": np.int64(9)}]}}))
    event = clipscores.read_pickle(path)["predicted_events"]["s.wav"][0]
    assert event == {"start": 120.5, "end": 9} and isinstance(event["start"], np.float64)
    path.write_bytes(pickle.dumps(np.array([{"x": 1}], dtype=object)))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        clipscores.read_pickle(path)


# ---- event tasks: per-scene values of the onset F-measure ---------------------------------------
LABELS = ("kick", "bell")


def _event_task(tmp_path, rng, folds=2, scenes=6):
    task = tmp_path / "events"
    task.mkdir()
    splits = [f"fold{i:02d}" for i in range(folds)]
    (task / "task_metadata.json").write_text(json.dumps({
        "task_name": "e", "embedding_type": "event", "prediction_type": "multilabel",
        "split_mode": "new_split_kfold", "splits": splits, "evaluation": ["event_onset_200ms_fms"]}))
    (task / "labelvocabulary.csv").write_text("idx,label\n" + "".join(f"{i},{x}\n" for i, x in enumerate(LABELS)))
    refs = {}
    for s in splits:
        refs[s] = {f"{s}-{k}.wav": [{"label": str(rng.choice(LABELS)), "start": float(t), "end": float(t) + 300}
                                    for t in sorted(rng.choice(np.arange(0, 9000, 500), rng.integers(1, 6), False))]
                   for k in range(scenes)}
        (task / f"{s}.json").write_text(json.dumps(refs[s]))
    return task, splits, refs


def _guess(rng, events):
    """A system's events: each reference onset moved by 0-400 ms (within 200 ms: a hit), some dropped, some added."""
    out = [{"label": e["label"], "start": np.float64(e["start"] + rng.uniform(0, 400)), "end": np.float64(e["end"])}
           for e in events if rng.random() < 0.8]
    return out + [{"label": "bell", "start": np.float64(9500.0), "end": np.float64(9900.0)}] * int(rng.random() < 0.3)


def _event_predictions(folder, splits, refs, guesses, scores=None):
    folder.mkdir()
    for s in splits:
        (folder / f"{s}.predictions.pkl").write_bytes(pickle.dumps(
            {"target": torch.zeros(2, 2), "target_events": refs[s], "predicted_events": guesses[s]}))
    (folder / "test.predicted-scores.json").write_text(json.dumps(
        {s: {"test_event_onset_200ms_fms": v} for s, v in (scores or {}).items()}))


def _need_heareval():
    """The event tests score with heareval itself: in CI a missing heareval fails, locally it skips."""
    try:
        import heareval.score  # noqa: F401
    except ImportError as e:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"heareval is not installed ({e})")


def _heareval_f(refs, guesses):
    from heareval.score import available_scores

    score = available_scores["event_onset_200ms_fms"](label_to_idx={x: i for i, x in enumerate(LABELS)})
    return score(guesses, refs)[0][1]  # (("f_measure", F), ("precision", …), …)


def test_event_scene_values_average_to_heareval_score_and_pair_exactly(tmp_path):
    _need_heareval()
    rng = np.random.default_rng(3)
    task, splits, refs = _event_task(tmp_path, rng)
    systems = {}
    for name in ("a", "b"):
        guesses = {s: {f: _guess(rng, ev) for f, ev in refs[s].items()} for s in splits}
        fold_f = {s: _heareval_f(refs[s], guesses[s]) for s in splits}
        _event_predictions(tmp_path / name, splits, refs, guesses, fold_f)  # heareval's own fold scores
        values = clipscores.clip_values(task, [tmp_path / name], "event_onset_200ms_fms")
        all_refs = {f: ev for s in splits for f, ev in refs[s].items()}
        all_guesses = {f: ev for s in splits for f, ev in guesses[s].items()}
        # the mean of the per-scene values is heareval's F over all test scenes pooled
        assert len(values) == 12 and np.mean(list(values.values())) == pytest.approx(_heareval_f(all_refs, all_guesses))
        assert clipscores.clip_ci(values)["ci95"] > 0
        systems[name] = (values, _heareval_f(all_refs, all_guesses))
    d = clipscores.paired(systems["a"][0], systems["b"][0])
    assert d["mean"] == pytest.approx(systems["a"][1] - systems["b"][1])
    assert clipscores.clip_values(task, [tmp_path / "a"], "segment_1s_er") is None  # an error rate: no per-scene form


def test_event_scene_values_refuse_other_references_or_scores(tmp_path):
    _need_heareval()
    rng = np.random.default_rng(4)
    task, splits, refs = _event_task(tmp_path, rng)
    guesses = {s: {f: _guess(rng, ev) for f, ev in refs[s].items()} for s in splits}
    shifted = {s: {f: [dict(e, start=e["start"] + 1) for e in ev] for f, ev in refs[s].items()} for s in splits}
    _event_predictions(tmp_path / "other", splits, shifted, guesses)
    with pytest.raises(ValueError, match="reference events are not the labels"):
        clipscores.clip_values(task, [tmp_path / "other"], "event_onset_200ms_fms")
    wrong = {s: _heareval_f(refs[s], guesses[s]) + 0.01 for s in splits}
    _event_predictions(tmp_path / "wrong", splits, refs, guesses, wrong)
    with pytest.raises(ValueError, match="heareval scored"):
        clipscores.clip_values(task, [tmp_path / "wrong"], "event_onset_200ms_fms")
