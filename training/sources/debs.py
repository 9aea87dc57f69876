"""Fetch and unpack Debian packages without installing them: ``apt-get download`` + ``dpkg-deb -x``.

Each package is unpacked into ``ROOT/<package>/``; a ``.done`` file (the .deb's file name) is
written last, so an interrupted unpack is redone and a finished one is skipped on a re-run.
"""

from __future__ import annotations

import shutil
import subprocess
import urllib.parse
from pathlib import Path

from hear_mwmae.atomic import atomic_write_text


def package_root(root: str | Path, package: str) -> Path:
    return Path(root) / package


def fetch(root: str | Path, package: str) -> Path:
    """Download and unpack ``package`` under ``root`` unless already done -> its unpacked tree.

    Raises RuntimeError naming the package and apt's message when it cannot be downloaded."""
    root = Path(root)
    tree = package_root(root, package)
    if (tree / ".done").is_file():
        return tree
    debs = root / "_deb"
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{package}_*.deb"))
    if not found:
        run = subprocess.run(["apt-get", "download", "-q", package], cwd=debs, capture_output=True, text=True)
        found = sorted(debs.glob(f"{package}_*.deb"))
        if run.returncode or not found:
            raise RuntimeError(f"apt-get download {package} failed: {run.stderr.strip()[-300:]}")
    partial = root / f"{package}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    subprocess.run(["nice", "-n", "19", "dpkg-deb", "-x", str(found[-1]), str(partial)], check=True)
    shutil.rmtree(tree, ignore_errors=True)
    partial.rename(tree)
    atomic_write_text(tree / ".done", found[-1].name + "\n")
    return tree


def version(tree: Path) -> str:
    """The package version, from the .deb file name recorded in ``.done`` (``name_1%3a2.0-1_all.deb``)."""
    deb = (tree / ".done").read_text().strip()
    parts = deb.removesuffix(".deb").split("_")
    return urllib.parse.unquote(parts[1]) if len(parts) >= 3 else "unknown"


def copyright_file(tree: Path, package: str) -> Path:
    return tree / "usr" / "share" / "doc" / package / "copyright"
