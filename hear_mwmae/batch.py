"""Batch embedding of audio files (``hear-mwmae embed``): one output per input, nothing lost.

- Every input file gets its own outputs, named by its path relative to the inputs' common root
  (:func:`hear_mwmae.audio_io.audio_files`; two files that would share a name stop the job before
  any work).
- A file that cannot be read or embedded is recorded and the job goes on; the failures are listed
  at the end and in ``embed_report.json`` (``--out``) or ``<archive>.report.json`` (``--npz``).
- A re-run skips files whose outputs already exist (``overwrite=True`` redoes them), so an interrupted
  job resumes; it refuses outputs made by another model or other options.
- Scene and timestamp embeddings come from one encoder pass.
- Every file is written atomically; the ``.npz`` archive is rewritten every
  ``NPZ_FLUSH_EVERY`` files, at the end, and when the job is interrupted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .audio_io import audio_files, read_audio
from .atomic import atomic_save_npy, atomic_savez, atomic_write_text

KINDS = {"scene": ("scene",), "timestamp": ("timestamp", "timestamps_ms"), "both": ("scene", "timestamp", "timestamps_ms")}
REPORT_NAME = "embed_report.json"
NPZ_FLUSH_EVERY = 100


@dataclass
class EmbedJob:
    """What to embed and where. ``out``: folder of ``<name>.<key>.npy``; ``npz``: one archive with keys
    ``<name>/<key>``; either or both. ``model``: a ``load_model`` path spec; ``options``: its options.

    Raises (at construction, before any work): ValueError for no output, an unknown kind, two inputs
    with one name, outputs of another run; FileNotFoundError for a missing input."""

    inputs: list[str]
    out: Path | None = None
    npz: Path | None = None
    kind: str = "both"
    model: str = ""
    options: dict = field(default_factory=dict)
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.out is None and self.npz is None:
            raise ValueError("give --out DIR (one .npy per file) and/or --npz FILE (all in one archive)")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {list(KINDS)}, got {self.kind!r}")
        self.out = Path(self.out) if self.out is not None else None
        self.npz = Path(self.npz) if self.npz is not None else None
        # Everything that can stop the job stops it here, before a model is loaded.
        self.files: list[tuple[Path, str]] = audio_files(self.inputs)  # missing inputs, name clashes
        _check_previous_run(self)

    @property
    def keys(self) -> tuple[str, ...]:
        return KINDS[self.kind]

    def identity(self) -> dict:
        """What the outputs depend on: a re-run with another identity must not mix its outputs in."""
        options = {k: v for k, v in self.options.items() if k != "chunk_batch_size"}  # batching changes no number
        return {"model": self.model or "bundled", "options": options}

    def report_paths(self) -> list[Path]:
        paths = [self.out / REPORT_NAME] if self.out is not None else []
        return paths + ([self.npz.with_name(self.npz.name + ".report.json")] if self.npz is not None else [])


@dataclass
class EmbedReport:
    files: int = 0
    embedded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # outputs were already there
    failed: list[dict] = field(default_factory=list)  # {"name", "path", "error"}
    interrupted: bool = False


def _npy_path(out: Path, name: str, key: str) -> Path:
    return out / f"{name}.{key}.npy"


def _check_previous_run(job: EmbedJob) -> None:
    """Refuse to resume into outputs that another model or other options made."""
    if job.overwrite:
        return
    for path in job.report_paths():
        if path.is_file():
            try:
                before = json.loads(path.read_text()).get("identity")
            except json.JSONDecodeError:
                continue
            if before is not None and before != job.identity():
                raise ValueError(f"{path.parent} holds outputs of another run ({before}); this run is "
                                 f"{job.identity()}: pass --overwrite to replace them, or write elsewhere")


def _load_archive(npz: Path) -> dict:
    import numpy as np

    if not npz.is_file():
        return {}
    try:
        with np.load(npz, allow_pickle=False) as archive:
            return {k: archive[k] for k in archive.files}
    except (OSError, ValueError) as e:
        raise ValueError(f"{npz} exists but is not a readable .npz archive ({e}); pass --overwrite to replace it") from e


def run(job: EmbedJob, model, progress=None) -> EmbedReport:
    """Embed every file of ``job`` with ``model`` (a :class:`~hear_mwmae.hear.HearModel`); -> the report.

    ``progress``: optional wrapper of the file iterable (e.g. tqdm). The report is also written
    (atomically) beside the outputs, even when the job is interrupted (then re-raised).
    """
    files = job.files
    archive = {} if job.overwrite or job.npz is None else _load_archive(job.npz)
    report = EmbedReport(files=len(files))
    todo = []
    for path, name in files:
        done_npy = job.out is None or all(_npy_path(job.out, name, k).is_file() for k in job.keys)
        done_npz = job.npz is None or all(f"{name}/{k}" in archive for k in job.keys)
        if done_npy and done_npz and not job.overwrite:
            report.skipped.append(name)
        else:
            todo.append((path, name))
    since_flush = 0
    try:
        for path, name in progress(todo) if progress else todo:
            try:
                results = _embed_file(model, path, job.kind)
            except Exception as e:  # a batch job finishes what it can and reports the rest
                report.failed.append({"name": name, "path": str(path), "error": f"{type(e).__name__}: {e}"})
                continue
            for key, value in results.items():
                if job.out is not None:
                    target = _npy_path(job.out, name, key)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    atomic_save_npy(target, value)
                archive[f"{name}/{key}"] = value
            report.embedded.append(name)
            since_flush += 1
            if job.npz is not None and since_flush >= NPZ_FLUSH_EVERY:
                _write_archive(job.npz, archive)
                since_flush = 0
    except BaseException:
        report.interrupted = True
        raise
    finally:
        if job.npz is not None and (since_flush or not job.npz.is_file()):
            _write_archive(job.npz, archive)
        _write_report(job, report)
    return report


def _embed_file(model, path: Path, kind: str) -> dict:
    audio = read_audio(path)  # the model brings it to its device
    if kind == "scene":
        return {"scene": model.scene_embeddings(audio)[0].cpu().numpy()}
    if kind == "timestamp":
        emb, ts = model.timestamp_embeddings(audio)
        return {"timestamp": emb[0].cpu().numpy(), "timestamps_ms": ts[0].cpu().numpy()}
    scene, emb, ts = model.embeddings(audio)  # one encoder pass for both
    return {"scene": scene[0].cpu().numpy(), "timestamp": emb[0].cpu().numpy(), "timestamps_ms": ts[0].cpu().numpy()}


def _write_archive(npz: Path, archive: dict) -> None:
    npz.parent.mkdir(parents=True, exist_ok=True)
    atomic_savez(npz, archive)


def _write_report(job: EmbedJob, report: EmbedReport) -> None:
    payload = {
        "identity": job.identity(),
        "inputs": [str(i) for i in job.inputs],
        "outputs": {"out": str(job.out) if job.out else None, "npz": str(job.npz) if job.npz else None},
        "files": report.files, "embedded": len(report.embedded), "skipped_existing": len(report.skipped),
        "failed": report.failed, "interrupted": report.interrupted,
        "embedded_names": report.embedded, "skipped_names": report.skipped,
    }
    text = json.dumps(payload, indent=2)
    for path in job.report_paths():
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, text)
