"""Results table of an evaluation: scores from heareval's outputs, 95 % CIs, paired differences, run times.

For each (model, task) every test score heareval wrote is gathered: one per test fold of a
k-fold task (``fold00`` …) or the single ``test`` split, times the number of seeds; their mean
± the half-width of the 95 % CI of the mean (Student t, n − 1 degrees of freedom; n = folds ×
seeds; none for n = 1) is the "over folds" form. For scores that are means over clips
(:data:`clipscores.CLIP_SCORES`) the table also gives the pooled mean over all test clips ±
its 95 % CI over clips, and for every pair of models the mean per-clip difference ± its CI
on each task and over tasks (:mod:`.clipscores`): the suite's resolving power. The first
score of a task's ``evaluation`` list is its primary score (as in heareval). Times:
heareval's own measures of the embedding run and of the predictions (all grid points, folds
and seeds) in seconds.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from hear_mwmae.atomic import atomic_write_bytes

from . import clipscores

NON_SPLIT_KEYS = {"aggregated_scores", "hparams", "postprocessing", "score_mode", "embedding_path"}
# t_{0.975, df} for df = 1..30; beyond 30 the normal quantile is close enough for a summary.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042)


def mean_ci95(values: list[float]) -> tuple[float | None, float | None]:
    """(mean, half-width of the 95 % CI of the mean); half-width None when n < 2."""
    values = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not values:
        return None, None
    n = len(values)
    mean = sum(values) / n
    if n < 2 or not math.isfinite(mean):  # d_prime is inf when a class is separated perfectly
        return mean, None
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    t = _T975[n - 2] if n - 1 <= len(_T975) else 1.96
    return mean, t * sd / math.sqrt(n)


def read_scores(prediction_dir: Path, score: str) -> list[float]:
    """Test values of ``score`` in one heareval ``test.predicted-scores.json`` (one per test split)."""
    data = json.loads((prediction_dir / "test.predicted-scores.json").read_text())
    return [v[f"test_{score}"] for k, v in sorted(data.items())
            if k not in NON_SPLIT_KEYS and isinstance(v, dict) and f"test_{score}" in v]


def collect(runs, specs) -> dict:
    """Rows for every (model, task, score) of ``runs`` (runner.TaskRun objects)."""
    rows = []
    for r in runs:
        meta = json.loads((r.task_dir / "task_metadata.json").read_text())
        for i, score in enumerate(meta["evaluation"]):
            values = []
            if r.error is None:
                for d in r.prediction_dirs:
                    if (d / "test.predicted-scores.json").is_file():
                        values += read_scores(d, score)
            mean, ci = mean_ci95(values)
            clips = clipscores.clip_values(r.task_dir, r.prediction_dirs, score) if values else None
            clip = clipscores.clip_ci(clips) if clips else {"mean": None, "ci95": None, "n": 0}
            rows.append({"model": r.model, "task": r.task, "task_name": meta["task_name"], "score": score,
                         "primary": i == 0, "values": values, "n": len(values), "mean": mean, "ci95": ci,
                         "clip_values": clips, "clip_mean": clip["mean"], "clip_ci95": clip["ci95"],
                         "n_clips": clip["n"],
                         "embed_s": r.embed_s, "predict_s": sum(t for t in r.predict_s if t) if r.predict_s else None,
                         "error": r.error})
    models = [{"slug": s.slug, "spec": s.spec, **s.identity()} for s in specs]
    return {"models": models, "rows": rows}


def _cell(row: dict | None) -> str:
    if row is None:
        return ""
    if row["error"]:
        return "failed"
    if row["mean"] is None:
        return "—"
    text = f"{row['mean']:.3f}"
    if row["ci95"] is not None:
        text += f" ± {row['ci95']:.3f}"
    return text + f" (n={row['n']})"


def _clip_cell(row: dict | None) -> str:
    if row is None or row["error"] or row.get("clip_mean") is None:
        return _cell(row) if row is not None and row.get("error") else "—"
    text = f"{row['clip_mean']:.3f}"
    if row["clip_ci95"] is not None:
        text += f" ± {row['clip_ci95']:.3f}"
    return text + f" (n={row['n_clips']})"


def _signed(d: dict) -> str:
    if d["mean"] is None:
        return "—"
    return f"{d['mean']:+.3f}" + (f" ± {d['ci95']:.3f}" if d["ci95"] is not None else "")


def paired_table(table: dict) -> list[dict]:
    """For every ordered pair of models (earlier − later): per-task paired differences on the primary
    per-clip score and their mean over the tasks that both have."""
    models = [m["slug"] for m in table["models"]]
    primary = {(r["model"], r["task"]): r for r in table["rows"] if r["primary"] and r.get("clip_values")}
    tasks = list(dict.fromkeys(t for _, t in primary))
    out = []
    for i, a in enumerate(models):
        for b in models[i + 1:]:
            per_task = {t: clipscores.paired(primary[(a, t)]["clip_values"], primary[(b, t)]["clip_values"])
                        for t in tasks if (a, t) in primary and (b, t) in primary}
            if per_task:
                out.append({"a": a, "b": b, "tasks": per_task,
                            "mean": clipscores.mean_over_tasks(list(per_task.values()))})
    return out


def _seconds(x) -> str:
    return "—" if x is None else f"{x:.0f}"


def markdown(table: dict, settings: dict | None = None) -> str:
    """The Markdown tables: primary scores, other scores, run times."""
    models = [m["slug"] for m in table["models"]]
    rows = table["rows"]
    get = {(r["model"], r["task"], r["score"]): r for r in rows}
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    scores = {t: [r["score"] for r in rows if r["task"] == t and r["model"] == rows[0]["model"]] for t in tasks}
    head = "| task | score | " + " | ".join(models) + " |\n|---|---|" + "---|" * len(models) + "\n"
    out = ["## Scores (primary; mean ± 95 % CI over test folds × seeds)\n", head]
    for t in tasks:
        s = scores[t][0]
        out.append(f"| {t} | {s} | " + " | ".join(_cell(get.get((m, t, s))) for m in models) + " |\n")
    if any(r.get("clip_mean") is not None for r in rows):
        out += ["\n## Primary scores over test clips (pooled mean ± 95 % CI over clips; clip-scored tasks only)\n",
                head]
        for t in tasks:
            s = scores[t][0]
            if any(r.get("clip_mean") is not None for r in rows if r["task"] == t and r["score"] == s):
                out.append(f"| {t} | {s} | " + " | ".join(_clip_cell(get.get((m, t, s))) for m in models) + " |\n")
    pairs = paired_table(table)
    if pairs:
        ptasks = list(dict.fromkeys(t for p in pairs for t in p["tasks"]))
        out += ["\n## Paired differences (A − B, mean per-clip difference ± 95 % CI; mean over the tasks listed)\n",
                "| A | B | " + " | ".join(ptasks) + " | mean over tasks |\n|---|---|" + "---|" * (len(ptasks) + 1) + "\n"]
        for p in pairs:
            cells = [_signed(p["tasks"][t]) if t in p["tasks"] else "" for t in ptasks]
            out.append(f"| {p['a']} | {p['b']} | " + " | ".join(cells) + f" | {_signed(p['mean'])} |\n")
    others = [(t, s) for t in tasks for s in scores[t][1:]]
    if others:
        out += ["\n## Other scores\n", head]
        for t, s in others:
            out.append(f"| {t} | {s} | " + " | ".join(_cell(get.get((m, t, s))) for m in models) + " |\n")
    out += ["\n## Run times (s): embeddings / predictions\n",
            "| task | " + " | ".join(models) + " |\n|---|" + "---|" * len(models) + "\n"]
    totals = {m: [0.0, 0.0] for m in models}
    for t in tasks:
        cells = []
        for m in models:
            r = get.get((m, t, scores[t][0]))
            cells.append("" if r is None else f"{_seconds(r['embed_s'])} / {_seconds(r['predict_s'])}")
            if r is not None:
                totals[m][0] += r["embed_s"] or 0
                totals[m][1] += r["predict_s"] or 0
        out.append(f"| {t} | " + " | ".join(cells) + " |\n")
    out.append("| **total** | " + " | ".join(f"{_seconds(a)} / {_seconds(b)}" for a, b in totals.values()) + " |\n")
    out.append("\nModels: " + "; ".join(f"`{m['slug']}` = `{m['spec']}`" for m in table["models"]) + "\n")
    if settings:
        out.append("Settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()) + "\n")
    errors = [r for r in rows if r["error"] and r["primary"]]
    if errors:
        out.append("\nFailures:\n" + "".join(f"- {r['model']} / {r['task']}: {r['error'].splitlines()[0]}\n"
                                             for r in errors))
    return "".join(out)


def _finite(x):
    """JSON-safe copy: inf/nan (which json.dumps would write as bare Infinity/NaN) become strings."""
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x


def _numbers_back(d: dict) -> dict:
    """JSON object hook: the inf/nan that ``_finite`` wrote as strings become floats again."""
    for k in ("mean", "ci95", "clip_mean", "clip_ci95"):
        if isinstance(d.get(k), str):
            d[k] = float(d[k])
    if isinstance(d.get("values"), list):
        d["values"] = [float(v) if isinstance(v, str) else v for v in d["values"]]
    return d


def merge_with_previous(table: dict, out_dir: Path, settings: dict) -> dict:
    """``table`` plus the rows of an earlier ``results.json`` in ``out_dir`` that this run did not redo.

    Why: evaluating one more model or task into an existing folder must not drop the table of
    what was evaluated there before. A (model, task) that this run covers replaces its old rows;
    every row records the settings (grid, seeds, …) of the run that made it.
    """
    rows = [dict(r, settings=settings) for r in table["rows"]]
    previous = out_dir / "results.json"
    if not previous.is_file():
        return {"models": table["models"], "rows": rows}
    try:
        old = json.loads(previous.read_text(), object_hook=_numbers_back)
        done = {(r["model"], r["task"]) for r in rows}
        kept = [dict(r, settings=r.get("settings", old.get("settings", {}))) for r in old["rows"]
                if (r["model"], r["task"]) not in done]
        slugs = {r["model"] for r in kept} - {m["slug"] for m in table["models"]}
        models = [m for m in old["models"] if m["slug"] in slugs] + table["models"]
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{previous} is not a results table of `hear-mwmae eval` ({err}); move it away or "
                         f"choose another --out") from None
    return {"models": models, "rows": kept + rows}


def write_results(table: dict, out_dir: str | Path, settings: dict | None = None) -> tuple[Path, Path]:
    """Write ``results.md`` and ``results.json`` atomically, keeping the rows of earlier runs in
    ``out_dir`` that this one did not redo (see ``merge_with_previous``); returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = settings or {}
    table = merge_with_previous(table, out_dir, settings)
    md = markdown(table, settings)
    if any(r["settings"] != settings for r in table["rows"]):
        md += "Rows kept from earlier runs in this folder have their own settings (`settings` of each row in results.json).\n"
    data = {"created": time.strftime("%Y-%m-%d %H:%M:%S"), "settings": settings, **table,
            "paired": [{k: v for k, v in p.items()} for p in paired_table(table)]}
    md_path = atomic_write_bytes(out_dir / "results.md", md.encode())
    js = atomic_write_bytes(out_dir / "results.json", (json.dumps(_finite(data), indent=2) + "\n").encode())
    return md_path, js
