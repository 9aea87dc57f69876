"""Per-scene values of an event task's F-measure, so event tasks get CIs and paired differences too.

heareval scores an event task with sed_eval's overall (micro-averaged) event-based F-measure
(``event_onset_200ms_fms``: onsets within 200 ms). Events are matched scene by scene and the
counts summed, so over a set of scenes ``F = 2·ΣTP / Σ(Nref + Nsys)``: a ratio of sums, not a
mean over scenes. :func:`scene_values` gives each test scene ``i`` its linearised contribution
(the delta method for a ratio estimator)::

    z_i = F + (2·TP_i − F·D_i) / mean(D),     D_i = Nref_i + Nsys_i

The mean of the ``z_i`` is exactly the pooled ``F``, and the variance of their mean is the
first-order variance of ``F`` over scenes. So :func:`.clipscores.clip_ci`,
:func:`.clipscores.paired` (the mean of ``z^A − z^B`` is exactly ``F^A − F^B``) and
:func:`.clipscores.mean_over_tasks` apply unchanged. Over several folds, ``F`` is pooled over
all test scenes (heareval's own aggregate is the mean of the folds' F).

Every read checks that the stored reference events equal the task's labels and that the
counts give back heareval's own test score of each fold.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np


def _score_spec(score: str):
    """(sed_eval parameters) of an event-based F-measure score of heareval, or None for any other score."""
    from heareval.score import EventBasedScore, available_scores

    spec = available_scores.get(score)
    if spec is None or not (isinstance(spec.func, type) and issubclass(spec.func, EventBasedScore)):
        return None
    if spec.keywords.get("scores", ("",))[0] != "f_measure":
        return None
    return dict(spec.keywords.get("params", {}))


def scene_counts(predicted: dict, reference: dict, labels: list[str], params: dict) -> dict[str, tuple]:
    """{scene: (TP, Nref, Nsys)} with sed_eval's event-based matching, one scene at a time (as heareval)."""
    import sed_eval
    from heareval.score import SoundEventScore

    if set(predicted) != set(reference):
        raise ValueError(f"predicted and reference events cover different scenes "
                         f"({sorted(set(predicted) ^ set(reference))[:3]} …)")
    ref = SoundEventScore.sed_eval_event_container(reference)
    est = SoundEventScore.sed_eval_event_container(predicted)
    counts = {}
    for scene in sorted(reference):
        metrics = sed_eval.sound_event.EventBasedMetrics(event_label_list=labels, **params)
        metrics.evaluate(reference_event_list=ref.filter(filename=scene),
                         estimated_event_list=est.filter(filename=scene))
        o = metrics.overall
        counts[scene] = (float(o["Ntp"]), float(o["Nref"]), float(o["Nsys"]))
    return counts


def f_measure(counts) -> float:
    """Micro F-measure of summed (TP, Nref, Nsys) counts (NaN when nothing is referenced or found)."""
    tp, nref, nsys = (sum(c[k] for c in counts) for k in range(3))
    return 2 * tp / (nref + nsys) if nref + nsys else math.nan


def linearised(counts: dict[str, tuple]) -> dict[str, float]:
    """{scene: z_i} (module docstring): their mean is the pooled F-measure."""
    f = f_measure(counts.values())
    d = {s: nref + nsys for s, (_, nref, nsys) in counts.items()}
    mean_d = float(np.mean(list(d.values())))
    if not mean_d:
        raise ValueError("no reference or predicted events in any test scene: the F-measure is undefined")
    return {s: f + (2 * tp - f * d[s]) / mean_d for s, (tp, _, _) in counts.items()}


def _events(events: dict) -> dict:
    return {k: sorted((str(e["label"]), float(e["start"]), float(e["end"])) for e in v) for k, v in events.items()}


def scene_values(task_dir: Path, prediction_dirs: list[Path], score: str, read_pickle, labels: list[str]):
    """{test scene: z_i averaged over the seeds' prediction folders}; None if ``score`` is not an event F."""
    params = _score_spec(score)
    if params is None:
        return None
    meta = json.loads((task_dir / "task_metadata.json").read_text())
    tests = [s for s in meta["splits"] if meta["split_mode"] != "trainvaltest" or s == "test"]
    sums: dict[str, float] = {}
    for d in prediction_dirs:
        stored = json.loads((d / "test.predicted-scores.json").read_text())
        counts: dict[str, tuple] = {}
        for split in tests:
            path = d / f"{split}.predictions.pkl"
            if not path.is_file():
                return None
            pred = read_pickle(path)
            reference = json.loads((task_dir / f"{split}.json").read_text())
            if _events(pred["target_events"]) != _events(reference):
                raise ValueError(f"{path}: its reference events are not the labels of {split} in {task_dir}")
            fold = scene_counts(pred["predicted_events"], reference, labels, params)
            theirs = stored.get(split, {}).get(f"test_{score}")
            ours = f_measure(fold.values())
            if theirs is not None and math.isfinite(ours) and abs(ours - theirs) > 1e-6:
                raise ValueError(f"{path}: per-scene counts give F = {ours:.6f}, heareval scored {theirs:.6f}; "
                                 f"has heareval changed how it scores events (eventscores.scene_counts)?")
            counts.update(fold)
        for scene, z in linearised(counts).items():
            sums[scene] = sums.get(scene, 0.0) + z
    return {s: v / len(prediction_dirs) for s, v in sorted(sums.items())}
