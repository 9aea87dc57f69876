"""Dev and release copies of a task: choosing models and reporting them use different audio.

Every task with enough sources is built twice from disjoint groups of its sources (kits,
programs, recordings): the **dev** copy (folder mode ``dev``), used to choose models and
settings, and the **release** copy (mode ``full``), whose test folds are scored only for a
release table (docs/evaluation.md, "Choosing and reporting"). :func:`part_groups` deals the
groups, sorted by name, so that every third one goes to dev: deterministic, and both copies
mix every kind of source.
"""

from __future__ import annotations

PARTS = ("release", "dev")
DEV_EVERY = 3  # one group in three goes to the dev copy


def check_part(part: str) -> str:
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")
    return part


def mode_of(part: str, limit: int | None) -> str:
    """The task folder's mode: ``full``/``dev`` (``small``/``small-dev`` for a ``limit`` subset)."""
    check_part(part)
    if limit is None:
        return "full" if part == "release" else "dev"
    return "small" if part == "release" else "small-dev"


def part_groups(groups, part: str) -> list:
    """The groups (any sortable keys) that belong to ``part``: every :data:`DEV_EVERY`-th goes to dev."""
    check_part(part)
    ordered = sorted(groups)
    return [g for i, g in enumerate(ordered) if (i % DEV_EVERY == DEV_EVERY - 1) == (part == "dev")]
