"""Atomic file writes: readers never see half a file, an interrupted write leaves the old one intact."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path: str | Path, write) -> Path:
    """Call ``write(tmp_path)`` on a temp file beside ``path``, then rename it into place.

    Readers never see half a file, and an interrupted write leaves the old file intact.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual file mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_save_npy(path: str | Path, array) -> Path:
    """``np.save`` to ``path`` atomically (through a file handle: given a name, np.save would
    append ".npy" to the temp file's)."""
    import numpy as np

    def write(tmp):
        with open(tmp, "wb") as fh:
            np.save(fh, array)

    return atomic_write(path, write)


def atomic_savez(path: str | Path, arrays: dict) -> Path:
    """``np.savez`` of ``{name: array}`` to ``path`` atomically, streamed to the file (no copy of
    the whole archive in memory; through a handle, as np.savez would append ".npz" to a name)."""
    import numpy as np

    def write(tmp):
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    return atomic_write(path, write)


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))
