"""Task builders: small real-audio tasks in the exact HEAR on-disk format (see ``hearformat``).

Each builder module has ``NAME``, ``DESCRIPTION`` and ``build(tasks_dir, limit=None, ...)``,
writes ``tasks_dir/<name>-<version>-<mode>/`` deterministically (same sources, same bytes)
and fails with a message naming the Debian package or file when its source audio is missing.
``limit`` builds a small subset (mode ``small``) for tests.
"""

from __future__ import annotations

import importlib
from pathlib import Path

TASKS = {
    "spoken_digit": "hear_mwmae_tools.evaluation.tasks.spoken_digit",
    "speech_commands_small": "hear_mwmae_tools.evaluation.tasks.speech_commands",
    "drums": "hear_mwmae_tools.evaluation.tasks.drums",
    "pitch": "hear_mwmae_tools.evaluation.tasks.pitch",
    "events": "hear_mwmae_tools.evaluation.tasks.events",
}
APT_PACKAGES = ("hydrogen-drumkits", "fluid-soundfont-gm", "fluidsynth", "extremetuxracer-data",
                "asterisk-moh-opsound-wav")


def builder(name: str):
    """The builder module of a task name (see :data:`TASKS`)."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; available: {', '.join(TASKS)} (or 'all')")
    return importlib.import_module(TASKS[name])


def find_built(tasks_dir: str | Path, name: str, limit: int | None = None) -> Path | None:
    """The folder of task ``name`` already built into ``tasks_dir`` with the same ``limit``, if any."""
    import json

    tasks_dir = Path(tasks_dir)
    if not tasks_dir.is_dir():
        return None
    for folder in sorted(tasks_dir.iterdir()):
        meta = folder / "task_metadata.json"
        if meta.is_file():
            data = json.loads(meta.read_text())
            if data.get("task_name") == name and data.get("build_limit") == limit:
                return folder
    return None


def build_task(name: str, tasks_dir: str | Path, limit: int | None = None, force: bool = False, **sources) -> Path:
    """Build one task unless a built copy exists (``force`` rebuilds). Returns its folder."""
    module = builder(name)
    existing = find_built(tasks_dir, name, limit)
    if existing is not None and not force:
        return existing
    return module.build(tasks_dir, limit=limit, **sources)
