"""Per-clip scores from heareval's test predictions: CIs over test clips and paired model differences.

heareval scores each test fold as a whole, so a 5-fold task gives 5 numbers and a 95 % CI
over folds is dominated by how different the folds' kits or instruments are, the same for
every model. To tell two models apart, what matters is how much each clip's result changes
between them. heareval keeps each test fold's predictions (``<fold>.predictions.pkl``:
targets and predicted probabilities, in the order of the fold's embeddings), so for the
scores that are means over clips (``top1_acc``, ``pitch_acc``, ``chroma_acc``) this module
rebuilds one value per clip (1 = right, 0 = wrong; averaged over seeds). Then:

- :func:`clip_ci` — pooled mean over all test clips and the 95 % CI half-width over clips;
- :func:`paired` — the per-clip difference of two models on the same clips, its mean and CI
  (the smallest difference this task can resolve for that pair);
- :func:`mean_over_tasks` — the mean over tasks of paired per-task differences, with its CI
  (tasks' clips are independent, so the variances add).

Event tasks' F-measures are ratios of sums over scenes; :mod:`.eventscores` turns them into
one value per test scene whose mean is the score, so the same three functions apply.

Clip identity: heareval's embeddings runner writes a split's embeddings in the order of
``random.Random(0)`` shuffles over the split files (one generator per task, splits in
metadata order), and tests without shuffling; :func:`fold_order` replays that, and every read
checks that the replayed labels equal the stored targets, so a changed heareval fails loudly.

The pickles are read with an allow-list unpickler (tensors, an OrderedDict and NumPy numbers
only; nothing else can be constructed), never with plain ``pickle.load``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import pickle
import random
from pathlib import Path

import numpy as np

CLIP_SCORES = ("top1_acc", "pitch_acc", "chroma_acc")  # heareval scores that are means over clips


def _storage_from_bytes(data: bytes):
    import torch

    return torch.load(io.BytesIO(data), weights_only=True)


def _numeric(dtype: np.dtype) -> np.dtype:
    if dtype.kind not in "biuf":
        raise pickle.UnpicklingError(f"refusing a NumPy {dtype} value: heareval's prediction files hold only numbers")
    return dtype


def _numpy_dtype(spec, align=False, copy=True) -> np.dtype:
    return _numeric(np.dtype(spec, bool(align), bool(copy)))


def _numpy_scalar(dtype: np.dtype, data=None):
    """A NumPy number from its raw bytes (event times are NumPy floats), never an object."""
    raw = data.encode("latin1") if isinstance(data, str) else data
    return np.frombuffer(raw, dtype=_numeric(dtype), count=1)[0]


class _TensorUnpickler(pickle.Unpickler):
    """Unpickles what heareval writes: dicts and lists of CPU tensors, strings and (NumPy) numbers;
    any other global is refused."""

    def find_class(self, module: str, name: str):
        import collections

        import torch._utils

        allowed = {("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
                   ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
                   ("collections", "OrderedDict"): collections.OrderedDict,
                   ("numpy", "dtype"): _numpy_dtype,
                   ("numpy._core.multiarray", "scalar"): _numpy_scalar,
                   ("numpy.core.multiarray", "scalar"): _numpy_scalar}
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: heareval's prediction files hold "
                                         f"only tensors, strings and numbers")
        return allowed[(module, name)]


def read_pickle(path: Path):
    """One heareval ``<fold>.predictions.pkl`` as stored: a dict of tensors (and, for event tasks, of
    reference and predicted event lists), through the allow-list unpickler."""
    with open(path, "rb") as f:
        return _TensorUnpickler(f).load()


def read_predictions(path: Path) -> dict[str, np.ndarray]:
    """``target`` and ``prediction`` arrays (clips × labels) of one heareval ``<fold>.predictions.pkl``."""
    data = read_pickle(path)
    return {k: np.asarray(data[k].float().numpy()) for k in ("target", "prediction")}


def fold_order(task_dir: Path) -> dict[str, list[str]]:
    """{split: file names in the order heareval's embeddings (and test predictions) hold them}."""
    meta = json.loads((task_dir / "task_metadata.json").read_text())
    prng = random.Random()
    prng.seed(0)  # as heareval.embeddings.task_embeddings.task_embeddings
    order = {}
    for split in meta["splits"]:
        files = list(json.loads((task_dir / f"{split}.json").read_text()).keys())
        prng.shuffle(files)
        order[split] = files
    return order


def _vocabulary(task_dir: Path) -> dict[str, int]:
    with open(task_dir / "labelvocabulary.csv", newline="") as f:
        return {row["label"]: int(row["idx"]) for row in csv.DictReader(f)}


def clip_values(task_dir: Path, prediction_dirs: list[Path], score: str) -> dict[str, float] | None:
    """{test file: value of ``score`` on that clip, averaged over the seeds' prediction folders}.

    Event tasks: one linearised value per test scene for an event F-measure (:mod:`.eventscores`).
    None when the task or score has no per-clip form (mAP, error rates, …) or no predictions.
    """
    meta = json.loads((task_dir / "task_metadata.json").read_text())
    if meta.get("embedding_type") == "event":
        from .eventscores import scene_values

        return scene_values(task_dir, prediction_dirs, score, read_pickle, list(_vocabulary(task_dir)))
    if score not in CLIP_SCORES or (meta.get("embedding_type"), meta.get("prediction_type")) != ("scene", "multiclass"):
        return None
    order, vocab = fold_order(task_dir), _vocabulary(task_dir)
    tests = [s for s in meta["splits"] if meta["split_mode"] != "trainvaltest" or s == "test"]
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for d in prediction_dirs:
        for split in tests:
            path = d / f"{split}.predictions.pkl"
            if not path.is_file():
                return None
            pred = read_predictions(path)
            labels = json.loads((task_dir / f"{split}.json").read_text())
            truth = np.array([vocab[str(labels[f][0])] for f in order[split]])
            if len(truth) != len(pred["target"]) or not np.array_equal(truth, pred["target"].argmax(1)):
                raise ValueError(f"{path}: its targets are not the labels of {split} in heareval's embedding "
                                 f"order; has heareval changed how it orders embeddings (clipscores.fold_order)?")
            guess = pred["prediction"].argmax(1)
            right = (guess - truth) % 12 == 0 if score == "chroma_acc" else guess == truth
            for f, r in zip(order[split], right):
                sums[f] = sums.get(f, 0.0) + float(r)
                counts[f] = counts.get(f, 0) + 1
    return {f: sums[f] / counts[f] for f in sorted(sums)}


def _mean_halfwidth(values) -> tuple[float, float | None]:
    v = np.asarray(list(values), dtype=np.float64)
    if len(v) < 2:
        return (float(v.mean()) if len(v) else math.nan), None
    # n is hundreds to thousands of clips: the normal quantile (t would differ in the 3rd decimal)
    return float(v.mean()), float(1.96 * v.std(ddof=1) / math.sqrt(len(v)))


def clip_ci(values: dict[str, float]) -> dict:
    """Mean over clips and the half-width of its 95 % CI."""
    mean, half = _mean_halfwidth(values.values())
    return {"mean": mean, "ci95": half, "n": len(values)}


def paired(a: dict[str, float], b: dict[str, float]) -> dict:
    """Mean per-clip difference ``a - b`` over their shared clips, with its 95 % CI half-width."""
    shared = sorted(set(a) & set(b))
    if not shared:
        raise ValueError("the two models share no scored clips; were they evaluated on the same task build?")
    mean, half = _mean_halfwidth(a[f] - b[f] for f in shared)
    return {"mean": mean, "ci95": half, "n": len(shared)}


def mean_over_tasks(diffs: list[dict]) -> dict:
    """Mean over tasks of paired per-task differences; CI half-width = 1.96·sqrt(Σ se²)/T."""
    if not diffs or any(d["ci95"] is None for d in diffs):
        return {"mean": None, "ci95": None, "n": len(diffs)}
    se2 = sum((d["ci95"] / 1.96) ** 2 for d in diffs)
    return {"mean": sum(d["mean"] for d in diffs) / len(diffs), "ci95": 1.96 * math.sqrt(se2) / len(diffs),
            "n": len(diffs)}
