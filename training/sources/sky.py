"""Beneath a Steel Sky's speech: the sky.dnr directory, sky.dsk data and its 22-byte file header.

Facts (checked on the Debian package, see docs/corpus.md): sky.dnr is a little-endian uint32
entry count and 8-byte entries (uint16 file number, 24-bit offset, 24-bit size with flags); speech
files are numbered 50000-58999; each stored file starts with a raw 22-byte header and, when the
header flag has bit 7, an RNC method-1 block follows; the unpacked body is unsigned 8-bit mono PCM
at 11,025 Hz.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from . import rnc

SPEECH_NUMBERS = range(50000, 59000)
SPEECH_RATE = 11025
FILE_HEADER = 22


@dataclass(frozen=True)
class Entry:
    number: int
    offset: int
    size: int
    keep_header: bool  # False: the 22-byte header is not part of the output (size bit 22)
    compressed: bool  # False: stored without RNC (size bit 23)


def read_dnr(data: bytes) -> list[Entry]:
    """sky.dnr bytes -> its entries. The offset's bit 23 means "offset × 16" (this CD version)."""
    if len(data) < 4:
        raise ValueError("sky.dnr is too short to hold an entry count")
    (count,) = struct.unpack_from("<I", data)
    if 4 + 8 * count != len(data):
        raise ValueError(f"sky.dnr: {count} entries need {4 + 8 * count} bytes, the file has {len(data)}")
    entries = []
    for i in range(count):
        number, o0, o1, o2, s0, s1, s2 = struct.unpack_from("<H6B", data, 4 + 8 * i)
        offset, size = o0 | o1 << 8 | o2 << 16, s0 | s1 << 8 | s2 << 16
        if offset & 0x800000:
            offset = (offset & 0x7FFFFF) * 16
        entries.append(Entry(number, offset, size & 0x3FFFFF, not size & 0x400000, not size & 0x800000))
    return entries


def unpack_file(dsk: bytes, entry: Entry) -> bytes:
    """One stored file -> its contents, 22-byte header first (RNC-unpacked where flagged)."""
    stored = dsk[entry.offset : entry.offset + entry.size]
    if len(stored) < entry.size:
        raise ValueError(f"sky.dsk file {entry.number}: {entry.size} bytes at {entry.offset} run past the end")
    header, body = stored[:FILE_HEADER], stored[FILE_HEADER:]
    (flag,) = struct.unpack_from("<H", header)
    if entry.compressed and flag & 0x80:
        body = rnc.unpack(body)
    return header + body


def speech_clips(folder: str | Path):
    """The game folder -> (file number, u8 PCM bytes at SPEECH_RATE) for every speech file."""
    folder = Path(folder)
    dsk = (folder / "sky.dsk").read_bytes()
    for entry in read_dnr((folder / "sky.dnr").read_bytes()):
        if entry.number in SPEECH_NUMBERS:
            yield entry.number, lambda e=entry: unpack_file(dsk, e)[FILE_HEADER:]
