"""Task builders: small real-audio tasks in the exact HEAR on-disk format (see ``hearformat``).

Each builder module has ``NAME``, ``DESCRIPTION`` and ``build(tasks_dir, limit=None, ...)``,
writes ``tasks_dir/<name>-<version>-<mode>/`` deterministically (same sources, same bytes)
and fails with a message naming the Debian package or file when its source audio is missing.
``limit`` builds a small subset (mode ``small``) for tests. Builders whose ``build`` takes
``part`` also make a dev copy from other sources (mode ``dev``; :mod:`.parts`).
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
    "voices": "hear_mwmae_tools.evaluation.tasks.voices",
    "sfx": "hear_mwmae_tools.evaluation.tasks.sfx",
}
APT_PACKAGES = ("hydrogen-drumkits", "fluid-soundfont-gm", "musescore-general-soundfont-small",
                "timgm6mb-soundfont", "fluidsynth", "extremetuxracer-data", "asterisk-moh-opsound-wav",
                "ktuberling-data", "klettres-data",
                "scorched3d-data", "triplea", "openttd-opensfx", "lbreakout2-data")


def builder(name: str):
    """The builder module of a task name (see :data:`TASKS`)."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; available: {', '.join(TASKS)} (or 'all')")
    return importlib.import_module(TASKS[name])


def parts_of(name: str) -> tuple[str, ...]:
    """The copies a builder makes: ("release", "dev"), or ("release",) for a task without a dev copy."""
    import inspect

    from .parts import PARTS

    return PARTS if "part" in inspect.signature(builder(name).build).parameters else ("release",)


def find_built(tasks_dir: str | Path, name: str, limit: int | None = None, part: str = "release") -> Path | None:
    """The folder of copy ``part`` of task ``name`` built into ``tasks_dir`` with the same ``limit``, if any."""
    import json

    tasks_dir = Path(tasks_dir)
    if not tasks_dir.is_dir():
        return None
    for folder in sorted(tasks_dir.iterdir()):
        meta = folder / "task_metadata.json"
        if meta.is_file():
            data = json.loads(meta.read_text())
            if (data.get("task_name") == name and data.get("build_limit") == limit
                    and data.get("part", "release") == part and data.get("version") == _version(name, data)):
                return folder
    return None


def _version(name: str, data: dict) -> str | None:
    """The version the builder makes now (an older build of another version is not reused)."""
    return getattr(builder(name), "VERSION", data.get("version"))


def build_task(name: str, tasks_dir: str | Path, limit: int | None = None, force: bool = False,
               part: str = "release", **sources) -> Path:
    """Build copy ``part`` of one task unless it is already built (``force`` rebuilds). Returns its folder."""
    module = builder(name)
    if part not in parts_of(name):
        raise ValueError(f"task {name} has no {part!r} copy; it has {parts_of(name)}")
    existing = find_built(tasks_dir, name, limit, part)
    if existing is not None and not force:
        return existing
    if part != "release":
        sources["part"] = part
    return module.build(tasks_dir, limit=limit, **sources)
