"""Split a packed shard folder (``pack_shards.py`` output) into chunk folders a/, b/, ... that each
fit one call of the lent GPU machine (its 64 MiB carry limit includes the repository itself).
Whole files only, first-fit from the largest; hard links, so no extra disk.

    python recipes/bundled_weights/split_packed.py packed/ .gpu/ [--limit-mb 63.5]

There, copy every chunk into one folder (``cp .gpu/a/* /tmp/p/`` in each call) and unpack it
with ``unpack_shards.py`` in the last.
"""

import argparse
import os
import string
import sys
from pathlib import Path


def split(src: Path, dst: Path, limit: int) -> list[tuple[str, int, int]]:
    """-> [(chunk name, bytes, files)]; raises ValueError if a single file exceeds ``limit``."""
    files = sorted((f for f in src.iterdir() if f.is_file()), key=lambda f: (-f.stat().st_size, f.name))
    chunks: list[list] = []  # [bytes, [files]]
    for f in files:
        size = f.stat().st_size
        if size > limit:
            raise ValueError(f"{f} is {size:,} bytes, over the {limit:,}-byte chunk limit; "
                             "build the shards with fewer --files-per-shard")
        for chunk in chunks:
            if chunk[0] + size <= limit:
                chunk[0] += size
                chunk[1].append(f)
                break
        else:
            chunks.append([size, [f]])
    if len(chunks) > len(string.ascii_lowercase):
        raise ValueError(f"{len(chunks)} chunks: more than 26; raise --limit-mb or pack less")
    report = []
    for name, (size, members) in zip(string.ascii_lowercase, chunks):
        folder = dst / name
        folder.mkdir(parents=True, exist_ok=True)
        for f in members:
            if not (folder / f.name).exists():
                os.link(f, folder / f.name)
        report.append((name, size, len(members)))
    return report


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--limit-mb", type=float, default=63.5)
    a = p.parse_args()
    try:
        report = split(Path(a.src), Path(a.dst), int(a.limit_mb * 1e6))
    except ValueError as e:
        sys.exit(f"error: {e}")
    for name, size, n in report:
        print(f"{name}/: {n} files, {size / 1e6:.1f} MB")
