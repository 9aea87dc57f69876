"""RNC ProPack method 1 decompression, written from the format description in docs/corpus.md.

No maintained Python library reads RNC ProPack, and Beneath a Steel Sky stores its speech in it
(training.sources.sky). Only what that package uses is supported: method 1, no encryption key.
"""

from __future__ import annotations

import struct

HEADER = struct.Struct(">3sBIIHHBB")  # magic, method, unpacked len, packed len, crc unpacked, crc packed, leeway, chunks


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    """CRC-16/ARC: reflected polynomial 0xA001, initial value 0, no final XOR (RNC's checksum)."""
    crc, table = 0, _CRC_TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


class _Bits:
    """The method-1 bit reader: 16-bit little-endian words, least-significant bit first.

    It holds the current word and one look-ahead word; byte-aligned literals are read from the
    look-ahead word's position, after which the look-ahead is fetched again from just past them.
    The current word is replaced by the look-ahead only when a bit is wanted and it is empty.
    """

    def __init__(self, data: bytes):
        self.data = data
        self.cur, self.left = self._word(0), 16
        self.ahead_at = 2
        self.ahead = self._word(2)

    def _word(self, at: int) -> int:
        return int.from_bytes(self.data[at : at + 2].ljust(2, b"\0"), "little")

    def bit(self) -> int:
        if self.left == 0:
            self.cur, self.left = self.ahead, 16
            self.ahead_at += 2
            self.ahead = self._word(self.ahead_at)
        b = self.cur & 1
        self.cur >>= 1
        self.left -= 1
        return b

    def bits(self, n: int) -> int:
        """n raw bits as an integer, the first bit read the least significant."""
        value = 0
        for i in range(n):
            value |= self.bit() << i
        return value

    def literals(self, n: int) -> bytes:
        at = self.ahead_at
        if at + n > len(self.data):
            raise ValueError(f"RNC stream is truncated: {n} literal bytes wanted at {at} of {len(self.data)}")
        self.ahead_at = at + n
        self.ahead = self._word(self.ahead_at)
        return self.data[at : at + n]


def _table(bits: _Bits) -> dict[tuple[int, int], int]:
    """A canonical Huffman table: 5-bit symbol count, 4-bit code length each (0 = unused).
    -> {(length, code): symbol}, codes assigned by increasing length, ties by symbol index."""
    lengths = [bits.bits(4) for _ in range(bits.bits(5))]
    table, code = {}, 0
    for length in range(1, 17):
        for symbol, n in enumerate(lengths):
            if n == length:
                table[(length, code)] = symbol
                code += 1
        code <<= 1
    return table


def _value(bits: _Bits, table: dict[tuple[int, int], int]) -> int:
    """Decode a symbol (its code arrives most-significant bit first, as codes are stored
    bit-reversed for the LSB-first reader), then its value: 0 and 1 are themselves, s >= 2 is
    2^(s-1) plus s-1 further raw bits."""
    code = 0
    for length in range(1, 17):
        code = (code << 1) | bits.bit()
        symbol = table.get((length, code))
        if symbol is not None:
            return symbol if symbol < 2 else (1 << (symbol - 1)) + bits.bits(symbol - 1)
    raise ValueError("RNC stream is corrupt: no Huffman code matches the next 16 bits")


def unpack(block: bytes, check_crc: bool = True) -> bytes:
    """An RNC method-1 block (18-byte header + packed data) -> the unpacked bytes.

    Raises ValueError for a block that is not RNC method 1, is encrypted, truncated or corrupt
    (CRC mismatch), naming which."""
    if len(block) < HEADER.size:
        raise ValueError(f"not an RNC block: {len(block)} bytes, shorter than the {HEADER.size}-byte header")
    magic, method, unpacked_len, packed_len, crc_out, crc_in, _leeway, _chunks = HEADER.unpack_from(block)
    if magic != b"RNC":
        raise ValueError(f"not an RNC block: starts with {block[:4]!r}, not b'RNC\\x01'")
    if method != 1:
        raise ValueError(f"RNC method {method} is not supported (only method 1)")
    packed = block[HEADER.size : HEADER.size + packed_len]
    if len(packed) < packed_len:
        raise ValueError(f"RNC block is truncated: {len(packed)} of {packed_len} packed bytes")
    if check_crc and crc16(packed) != crc_in:
        raise ValueError("RNC block is corrupt: CRC of the packed data does not match its header")
    bits = _Bits(packed)
    if bits.bits(2):  # the "lock"/"key" flags: an encrypted stream needs a key we do not have
        raise ValueError("RNC block is encrypted (key flag set); not supported")
    out = bytearray()
    while len(out) < unpacked_len:
        tables = _table(bits), _table(bits), _table(bits)  # literal-run length, match distance, match length
        runs = bits.bits(16)
        for run in range(runs):
            n = _value(bits, tables[0])
            if n:
                out += bits.literals(n)
            if run == runs - 1:
                break
            distance, length = _value(bits, tables[1]) + 1, _value(bits, tables[2]) + 2
            if distance > len(out):
                raise ValueError(f"RNC stream is corrupt: match {distance} bytes back with only {len(out)} written")
            start = len(out) - distance
            if distance >= length:
                out += out[start : start + length]
            else:  # source and destination overlap: byte by byte, each copy may read the last
                for i in range(length):
                    out.append(out[start + i])
        if runs == 0:
            raise ValueError("RNC stream is corrupt: a chunk with no literal runs")
    out = bytes(out[:unpacked_len])
    if check_crc and crc16(out) != crc_out:
        raise ValueError("RNC block is corrupt: CRC of the unpacked data does not match its header")
    return out
