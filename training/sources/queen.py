"""Flight of the Amazon Queen's queen.1c: a big-endian file table in front of the game's files.

Facts (checked on the Debian package, see docs/corpus.md): magic ``QTBL``, a 6-byte version, 2
unused bytes, a 1-byte sound codec (1 = MP3), a uint16 entry count, then 21-byte entries (12-byte
NUL-padded name, 1-byte bundle, uint32 offset, uint32 size; offsets are absolute). The ``.SB``
entries are the sounds: bare MP3 streams. Names of digits, an optional letter and ``S`` padding
(``61SSSSSS.SB``) are sound effects; the rest is dialogue.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"QTBL"
HEAD = struct.Struct(">4s6s2xBH")  # magic, version, (unused), codec, count
ENTRY = struct.Struct(">12sBII")  # name, bundle, offset, size
CODECS = {0: "none", 1: "mp3", 2: "ogg", 3: "flac"}
_EFFECT = re.compile(r"^\d+[A-Z]?S+\.SB$")


@dataclass(frozen=True)
class Entry:
    name: str
    bundle: int
    offset: int
    size: int


def read_table(data: bytes) -> tuple[dict, list[Entry]]:
    """The bytes of queen.1c (or at least its table) -> ({version, codec}, entries).

    Raises ValueError naming the problem for a file that is not a queen.1c table, or whose
    entries point outside ``data`` when the whole file is given."""
    if len(data) < HEAD.size or data[:4] != MAGIC:
        raise ValueError(f"not a queen.1c file table: starts with {data[:4]!r}, not {MAGIC!r}")
    _, version, codec, count = HEAD.unpack_from(data)
    end = HEAD.size + ENTRY.size * count
    if len(data) < end:
        raise ValueError(f"queen.1c table of {count} entries needs {end} bytes, only {len(data)} given")
    entries = []
    for i in range(count):
        name, bundle, offset, size = ENTRY.unpack_from(data, HEAD.size + ENTRY.size * i)
        entries.append(Entry(name.rstrip(b"\0").decode("ascii"), bundle, offset, size))
    info = {"version": version.rstrip(b"\0").decode("ascii"), "codec": CODECS.get(codec, f"unknown ({codec})")}
    return info, entries


def is_effect(name: str) -> bool:
    """A sound-effect name (``61SSSSSS.SB``, ``123ASSSS.SB``), as opposed to dialogue."""
    return bool(_EFFECT.match(name))


def sounds(path: str | Path):
    """queen.1c -> (name, bytes loader) for each .SB entry (an MP3 stream each)."""
    data = Path(path).read_bytes()
    info, entries = read_table(data)
    if info["codec"] != "mp3":
        raise ValueError(f"{path}: sound codec is {info['codec']}; only the MP3 build is supported")
    for e in entries:
        if e.name.endswith(".SB"):
            if e.offset + e.size > len(data):
                raise ValueError(f"{path}: entry {e.name} runs past the end of the file")
            yield e.name, lambda e=e: data[e.offset : e.offset + e.size]
