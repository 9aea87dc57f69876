"""Drive heareval's two stages for several models and tasks; skip what is already finished.

Layout under ``out_dir`` (one folder per model, so models never share heareval's caches)::

    <model slug>/model.json                        which model this folder belongs to
    <model slug>/embeddings.log                    heareval embeddings runner output
    <model slug>/embeddings/<module…>/<task>/      heareval's embeddings + predictions
    <model slug>/seeds/<task>/seed<k>/             extra seeds: links to the embeddings + own predictions
    <model slug>/logs/                             Lightning logs of a running task (deleted after it)
    results.md, results.json                       the table (see ``results``)

Finished work is recognised by heareval's own markers (``.done.embeddings``,
``prediction-done.json``) and skipped, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from hear_mwmae.atomic import atomic_write_bytes
from .heareval_driver import GRIDS, INSTALL_HINT, SEED_ENV, missing_requirements
from .models import ModelSpec
TASK_MARKER = ".hear_mwmae-task-fingerprint"  # in each embeddings task folder: which task version made it
THREADS_ENV = "HEAR_MWMAE_PREDICTION_THREADS"  # CPU threads of each predictions run (default 1)
PREDICTION_OUTPUTS = ("test.predicted-scores.json", "prediction-done.json", "prediction.log")
MODES = ("release", "dev")  # which task copies an evaluation scores (tasks/parts.py)


@dataclass
class TaskRun:
    """What happened to one (model, task): paths, timings and errors."""

    model: str
    task: str
    task_dir: Path
    embedding_dir: Path | None = None
    prediction_dirs: list[Path] = field(default_factory=list)
    embed_s: float | None = None
    predict_s: list[float] = field(default_factory=list)
    error: str | None = None


def task_part(folder: Path) -> str:
    """``release`` or ``dev``: which copy a task folder is (tasks without a ``part`` key are release copies)."""
    return json.loads((folder / "task_metadata.json").read_text()).get("part", "release")


def outdated_build(task_dir: Path) -> str | None:
    """Why ``task_dir`` is an older build of one of our task builders (another version), or None.

    Official HEAR tasks and tasks of other names are never outdated."""
    from .tasks import TASKS, builder

    meta = json.loads((task_dir / "task_metadata.json").read_text())
    name = meta.get("task_name")
    current = getattr(builder(name), "VERSION", None) if name in TASKS else None
    if current is None or meta.get("version") == current:
        return None
    return (f"built by version {meta.get('version')!r} of the {name} builder, which now makes {current!r}; "
            f"rebuild it with `hear-mwmae tasks build {name}`, or name the folder in --tasks to use it anyway")


def list_tasks(tasks_dir: str | Path, names: list[str] | None = None, mode: str | None = None) -> list[Path]:
    """Task folders of ``tasks_dir`` (those with task_metadata.json), filtered by folder or task name,
    and by copy: ``mode="dev"`` keeps the dev copies, ``"release"`` the others (None: all)."""
    tasks_dir = Path(tasks_dir)
    if not tasks_dir.is_dir():
        raise FileNotFoundError(f"--tasks-dir {tasks_dir} does not exist; build tasks with `hear-mwmae tasks build all "
                                f"--out {tasks_dir}` or point it at the official HEAR tasks folder")
    found = {p.name: p for p in sorted(tasks_dir.iterdir()) if (p / "task_metadata.json").is_file()}
    if not found:
        raise ValueError(f"{tasks_dir} holds no HEAR task folders (folders with task_metadata.json)")
    if mode is not None:
        if mode not in MODES:
            raise ValueError(f"--mode must be one of {MODES}, got {mode!r}")
        found = {n: p for n, p in found.items() if task_part(p) == mode}
        if not found:
            raise ValueError(f"{tasks_dir} holds no {mode} copies of tasks; build them with "
                             f"`hear-mwmae tasks build all --out {tasks_dir}`")
    outdated = {n: p for n, p in found.items() if outdated_build(p)}
    for n, p in outdated.items():
        if names is None or n not in names:
            print(f"skipping {p}: {outdated_build(p)}", file=sys.stderr)
    if not names:
        return [p for n, p in found.items() if n not in outdated]
    by_task_name: dict[str, list[Path]] = {}
    for n, p in found.items():
        if n in outdated:  # still used when named by its folder
            continue
        by_task_name.setdefault(json.loads((p / "task_metadata.json").read_text())["task_name"], []).append(p)
    chosen = []
    for name in names:
        match = [found[name]] if name in found else by_task_name.get(name, [])
        if not match:
            raise ValueError(f"--tasks: no task {name!r} in {tasks_dir}; available: {', '.join(found)}")
        chosen += [m for m in match if m not in chosen]
    return chosen


def _options_suffix(options: dict) -> str:
    """heareval's embeddings folder suffix for --model-options (same slugify rule as its runner)."""
    if not options:
        return ""
    from slugify import slugify

    # heareval iterates the JSON we pass, which ModelSpec.heareval_args writes with sorted keys
    return "-" + "-".join(f"{slugify(k)}={slugify(str(v))}" for k, v in sorted(options.items()))


def _run(cmd: list[str], log: Path, cwd: Path, env: dict | None = None) -> tuple[int, float]:
    start = time.time()
    with open(log, "ab") as f:
        f.write(f"\n$ {' '.join(cmd)}\n".encode())
        f.flush()
        rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=cwd, env={**os.environ, **(env or {})}).returncode
    return rc, time.time() - start


def _tail(log: Path, n: int = 1500) -> str:
    text = log.read_text(errors="replace") if log.is_file() else ""
    return text[-n:].strip()


def _claim_folder(model_dir: Path, spec: ModelSpec) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    marker = model_dir / "model.json"
    identity = spec.identity()
    if marker.is_file():
        if json.loads(marker.read_text()).get("identity") != identity:
            raise ValueError(f"{model_dir} holds results of another model ({marker}); use another --out")
        return
    atomic_write_bytes(marker, json.dumps({"spec": spec.spec, "identity": identity}, indent=2).encode())


def task_fingerprint(task_dir: Path) -> str:
    """Hash of a task's metadata, vocabulary and split files: changes when the task is rebuilt differently."""
    h = hashlib.sha1()
    for f in sorted(p for p in task_dir.iterdir() if p.suffix in (".json", ".csv") and p.is_file()):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def _drop_if_stale(r: TaskRun, model_dir: Path, fingerprint: str) -> None:
    """Forget a task's cached embeddings and predictions if the task changed since they were made."""
    marker = r.embedding_dir / TASK_MARKER
    if marker.is_file() and marker.read_text() != fingerprint:
        shutil.rmtree(r.embedding_dir)
        shutil.rmtree(model_dir / "seeds" / r.task, ignore_errors=True)


def _seed_view(task_emb_dir: Path, view: Path) -> None:
    """A folder of links to a task's embeddings, where heareval can write another seed's predictions."""
    view.mkdir(parents=True, exist_ok=True)
    for entry in task_emb_dir.iterdir():
        if entry.name in PREDICTION_OUTPUTS or entry.name.endswith(".predictions.pkl"):
            continue
        link = view / entry.name
        if not link.exists() and not link.is_symlink():
            link.symlink_to(entry.resolve())


def run_model(spec: ModelSpec, tasks: list[Path], out_dir: Path, grid: str = "default", grid_points: int = 8,
              seeds: int = 1, keep_logs: bool = False, log=print) -> list[TaskRun]:
    """Embeddings then predictions of one model on ``tasks``; returns one :class:`TaskRun` per task."""
    model_dir = out_dir / spec.slug
    _claim_folder(model_dir, spec)
    emb_root = model_dir / "embeddings" / (spec.module + _options_suffix(spec.options))
    runs = [TaskRun(spec.slug, t.name, t, emb_root / t.name) for t in tasks]
    fingerprints = {r.task: task_fingerprint(r.task_dir) for r in runs}
    for r in runs:
        _drop_if_stale(r, model_dir, fingerprints[r.task])
    pending = [r for r in runs if not (r.embedding_dir / ".done.embeddings").is_file()]
    if pending:
        staging = model_dir / "tasks"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        for r in pending:
            (staging / r.task).symlink_to(r.task_dir.resolve())
        log(f"[{spec.slug}] embeddings for {len(pending)} task(s): {', '.join(r.task for r in pending)}")
        cmd = [sys.executable, "-m", "hear_mwmae_tools.evaluation.heareval_driver", "embeddings", *spec.heareval_args(),
               "--tasks-dir", str(staging), "--embeddings-dir", str(model_dir / "embeddings")]
        rc, _ = _run(cmd, model_dir / "embeddings.log", model_dir)
        shutil.rmtree(staging, ignore_errors=True)
        for r in pending:
            if not (r.embedding_dir / ".done.embeddings").is_file():
                r.error = f"embeddings failed (exit {rc}); see {model_dir / 'embeddings.log'}:\n{_tail(model_dir / 'embeddings.log')}"
    for r in runs:
        marker = r.embedding_dir / TASK_MARKER
        if (r.embedding_dir / ".done.embeddings").is_file() and not marker.is_file():
            atomic_write_bytes(marker, fingerprints[r.task].encode())
        profile = r.embedding_dir / "profile.embeddings.json"
        if profile.is_file():
            r.embed_s = json.loads(profile.read_text()).get("time_elapsed")
        if r.error is None:
            _predict(r, model_dir, grid, grid_points, seeds, keep_logs, log)
    return runs


def _predict(r: TaskRun, model_dir: Path, grid: str, grid_points: int, seeds: int, keep_logs: bool, log) -> None:
    for seed in range(seeds):
        target = r.embedding_dir if seed == 0 else model_dir / "seeds" / r.task / f"seed{seed}"
        if seed:
            _seed_view(r.embedding_dir, target)
        r.prediction_dirs.append(target)
        done = target / "prediction-done.json"
        if not done.is_file():
            log(f"[{r.model}] predictions for {r.task} (seed {seed}, grid {grid})")
            rel = os.path.relpath(target, model_dir)  # relative: Lightning logs then go to model_dir/logs/
            cmd = [sys.executable, "-m", "hear_mwmae_tools.evaluation.heareval_driver", "predictions", rel,
                   "--grid", grid, "--grid-points", str(grid_points)]
            log_file = model_dir / f"predictions-{r.task}-seed{seed}.log"
            # One thread: heareval's MLPs are small, and two spinning OpenMP threads were measured 8x
            # slower per step than one when another process shares the 2 cores.
            threads = os.environ.get(THREADS_ENV, "1")
            env = {SEED_ENV: str(seed), "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
            rc, _ = _run(cmd, log_file, model_dir, env=env)
            if not keep_logs:
                shutil.rmtree(model_dir / "logs", ignore_errors=True)
            if not done.is_file():
                r.error = f"predictions failed (exit {rc}); see {log_file}:\n{_tail(log_file)}"
                return
        r.predict_s.append(json.loads(done.read_text()).get("time"))


def check_ready() -> None:
    """Raise with the install recipe if heareval's stack is incomplete."""
    missing = missing_requirements()
    if missing:
        raise RuntimeError(f"the HEAR evaluation stack is incomplete: missing {', '.join(missing)}. {INSTALL_HINT}")


def evaluate(specs: list[ModelSpec], tasks_dir: str | Path, out_dir: str | Path, task_names: list[str] | None = None,
             grid: str = "default", grid_points: int = 8, seeds: int = 1, keep_logs: bool = False,
             log=print, mode: str = "release") -> list[TaskRun]:
    """Run every model on every selected task, then write ``results.md``/``results.json`` in ``out_dir``.

    ``mode="dev"`` evaluates the dev copies of the tasks (for choosing models and settings),
    ``"release"`` the release copies (for a release table); see tasks/parts.py.
    """
    from .results import collect, write_results

    if grid not in GRIDS:
        raise ValueError(f"--grid must be one of {GRIDS}, got {grid!r}")
    if seeds < 1 or grid_points < 1:
        raise ValueError(f"--seeds and --grid-points must be >= 1, got {seeds} and {grid_points}")
    slugs = [s.slug for s in specs]
    if len(set(slugs)) != len(slugs):
        raise ValueError(f"the same model was given twice: {slugs}")
    tasks = [t.resolve() for t in list_tasks(tasks_dir, task_names, mode)]
    check_ready()
    out_dir = Path(out_dir).resolve()  # the heareval subprocesses run in the model folders
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    for spec in specs:
        runs += run_model(spec, tasks, out_dir, grid, grid_points, seeds, keep_logs, log)
    table = collect(runs, specs)
    write_results(table, out_dir, {"mode": mode, "grid": grid, "grid_points": grid_points, "seeds": seeds,
                                   "tasks_dir": str(Path(tasks_dir).resolve())})
    return runs
