"""The real-audio corpus (--preset real65): reserved sources, queen.1c, RNC1, sky.dnr, dedup, report.

Every reader is tested on inputs constructed here from the format facts in docs/corpus.md, so no
Debian package is needed; where the package is unpacked (DEBS, default /work/debs) a test also
checks one real entry.
"""

import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from training import reserved
from training.debian_corpus import build_preset, main as corpus_main
from training.real_corpus import build, members, write_manifest
from training.sources import queen, rnc, sky
from training.sources.catalog import PRESETS, REAL65, Source

REPO = Path(__file__).resolve().parents[1]
DEBS = Path(os.environ.get("HEAR_MWMAE_DEBS", "/work/debs"))
QUEEN_1C = DEBS / "flight-of-the-amazon-queen/usr/share/scummvm/flight-of-the-amazon-queen/queen.1c"
SKY = DEBS / "beneath-a-steel-sky/usr/share/scummvm/beneath-a-steel-sky"


# ---- reserved for evaluation --------------------------------------------------------------------
@pytest.mark.parametrize("source, word", [("hydrogen-drumkits", "drum"), ("hydrogen-foo", "hydrogen-foo"),
                                          ("fluid-soundfont-gm", "soundfont"), ("asterisk-moh-opsound-wav", "hold"),
                                          ("musescore-general-soundfont-small", "MuseScore"),
                                          ("pingus-data", "sfx"), ("scorched3d-data", "sfx"),
                                          (str(REPO.parent / "shared/data/hear/speech_commands/a.wav"), "HEAR")])
def test_reserved_sources_are_refused_with_the_reason(source, word):
    with pytest.raises(ValueError, match="reserved for evaluation") as e:
        reserved.check(source)
    assert source in str(e.value) and word in str(e.value)


def test_the_builder_refuses_reserved_sources_before_fetching_anything(tmp_path):
    with pytest.raises(ValueError, match="hydrogen-foo is reserved"):
        build(tmp_path / "out", [Source("x", "hydrogen-foo", "music", ".")], tmp_path / "debs")
    with pytest.raises(ValueError, match="ktuberling-data is reserved"):
        corpus_main(["--preset", "real65", "--out", str(tmp_path / "o"), "--debs", str(tmp_path / "d"),
                     "--only", "festvox-ru", "--add", "speech=ktuberling-data"])
    hear = REPO.parent / "shared" / "data" / "hear" / "task"
    with pytest.raises(ValueError, match="HEAR evaluation"):
        build(tmp_path / "out", [Source("h", None, "speech", str(hear))], tmp_path / "debs")
    assert not (tmp_path / "debs").exists()


def test_the_preset_holds_no_reserved_package_and_unreserved_names_pass():
    for s in PRESETS["real65"]:
        assert reserved.reason(s.package) is None, s
    for name in ("hydrogenics", "fluid-soundfont", "asterisk-core-sounds-en-g722", str(REPO / "examples")):
        assert reserved.reason(name) is None


# ---- queen.1c -----------------------------------------------------------------------------------
def _queen(entries: list[tuple[str, bytes]], codec: int = 1) -> bytes:
    head = b"QTBL" + b"CEM10\0" + b"\0\0" + bytes([codec]) + struct.pack(">H", len(entries))
    offset, table, blobs = len(head) + 21 * len(entries), b"", b""
    for name, blob in entries:
        table += struct.pack(">12sBII", name.encode(), 1, offset + len(blobs), len(blob))
        blobs += blob
    return head + table + blobs


def test_queen_table_is_parsed_and_sounds_are_cut_out(tmp_path):
    data = _queen([("020001P2.SB", b"\xff\xe3\x20\xc4speech"), ("61SSSSSS.SB", b"\xff\xe3\x20\xc4fx"),
                   ("ROOM1.PCX", b"picture"), ("ABCDEFGH.SBX", b"x"), ("JOE00011A.SB", b"twelve-char")])
    info, entries = queen.read_table(data)
    assert info == {"version": "CEM10", "codec": "mp3"}
    assert [e.name for e in entries][:3] == ["020001P2.SB", "61SSSSSS.SB", "ROOM1.PCX"]
    assert entries[0].offset == 15 + 21 * 5 and entries[0].size == 10 and entries[0].bundle == 1
    assert len("JOE00011A.SB") == 12 and entries[4].name == "JOE00011A.SB"  # a full 12-byte name has no NUL
    path = tmp_path / "queen.1c"
    path.write_bytes(data)
    got = {name: load() for name, load in queen.sounds(path)}
    assert got == {"020001P2.SB": b"\xff\xe3\x20\xc4speech", "61SSSSSS.SB": b"\xff\xe3\x20\xc4fx",
                   "JOE00011A.SB": b"twelve-char"}
    assert queen.is_effect("61SSSSSS.SB") and queen.is_effect("123ASSSS.SB") and not queen.is_effect("020001P2.SB")


def test_queen_bad_input_is_named():
    with pytest.raises(ValueError, match="not a queen.1c file table"):
        queen.read_table(b"RIFF" + b"\0" * 40)
    with pytest.raises(ValueError, match="needs 120 bytes"):
        queen.read_table(_queen([("A.SB", b"x")] * 5)[:60])


@pytest.mark.skipif(not QUEEN_1C.is_file(), reason=f"flight-of-the-amazon-queen not unpacked at {DEBS}")
def test_real_queen_1c_first_entry_decodes_to_speech():
    import io

    info, entries = queen.read_table(QUEEN_1C.read_bytes())
    assert info["codec"] == "mp3" and len(entries) == 7671
    assert (entries[0].name, entries[0].offset, entries[0].size) == ("020001P2.SB", 161106, 7001)
    audio, rate = sf.read(io.BytesIO(dict(queen.sounds(QUEEN_1C))["020001P2.SB"]()), dtype="float32")
    assert rate == 11025 and audio.shape == (38592,)


# ---- RNC method 1 -------------------------------------------------------------------------------
class _BitWriter:
    """The inverse of the RNC1 reader (docs/corpus.md): bits fill 16-bit LE words LSB first, a new
    word is placed only when a bit needs it, and literal bytes go wherever the stream has got to."""

    def __init__(self):
        self.out, self.at, self.used = bytearray(2), 0, 0

    def bit(self, b: int):
        if self.used == 16:
            self.at, self.used = len(self.out), 0
            self.out += b"\0\0"
        if b:
            self.out[self.at + self.used // 8] |= 1 << (self.used % 8)
        self.used += 1

    def bits(self, value: int, n: int):
        for i in range(n):
            self.bit(value >> i & 1)

    def table(self):  # 16 symbols of code length 4: symbol s has the canonical code s
        self.bits(16, 5)
        for _ in range(16):
            self.bits(4, 4)

    def value(self, v: int):
        symbol = v if v < 2 else v.bit_length()
        for i in reversed(range(4)):  # the code, most significant bit first
            self.bit(symbol >> i & 1)
        if symbol >= 2:
            self.bits(v - (1 << (symbol - 1)), symbol - 1)


def _rnc_block(chunks: list[list], unpacked: bytes) -> bytes:
    """chunks: lists of (literals, (distance, length) or None) runs -> an RNC method-1 block.
    Every run but a chunk's last has a match; the last has none."""
    w = _BitWriter()
    w.bits(0, 2)  # lock and key flags
    for runs in chunks:
        for _ in range(3):
            w.table()
        w.bits(len(runs), 16)
        for literals, match in runs:
            w.value(len(literals))
            if literals:
                w.out += literals
            if match:
                w.value(match[0] - 1)
                w.value(match[1] - 2)
    packed = bytes(w.out)
    return (b"RNC\x01" + struct.pack(">IIHHBB", len(unpacked), len(packed), rnc.crc16(unpacked), rnc.crc16(packed),
                                     0, len(chunks)) + packed)


def test_rnc1_unpacks_literals_and_overlapping_matches_over_two_chunks():
    expected = b"ABCDABCDAB" + b"xy" + b"yyyyy" + b"END!" + bytes(range(200))
    chunks = [[(b"ABCD", (4, 6)), (b"xy", (1, 5)), (b"", None)], [(b"END!" + bytes(range(200)), None)]]
    block = _rnc_block(chunks, expected)
    assert rnc.unpack(block) == expected


def test_rnc_crc_is_crc16_arc_and_damage_is_named():
    assert rnc.crc16(b"123456789") == 0xBB3D  # the CRC-16/ARC check value
    expected = b"hello hello hello"
    block = bytearray(_rnc_block([[(b"hello ", (6, 11)), (b"", None)]], expected))
    assert rnc.unpack(bytes(block)) == expected
    block[-1] ^= 0xFF
    with pytest.raises(ValueError, match="CRC of the packed data"):
        rnc.unpack(bytes(block))
    with pytest.raises(ValueError, match="not an RNC block"):
        rnc.unpack(b"PK\x03\x04" + bytes(20))
    with pytest.raises(ValueError, match="method 2"):
        rnc.unpack(b"RNC\x02" + bytes(20))


def test_sky_dnr_entries_offsets_and_flags():
    # file 50102 at 0x10 × 16, size 13,814 with no flags; file 12 at 5, stored raw, header dropped
    dnr = struct.pack("<I", 2) + struct.pack("<H", 50102) + (0x800010).to_bytes(3, "little") + (13814).to_bytes(3, "little")
    dnr += struct.pack("<H", 12) + (5).to_bytes(3, "little") + (0xC00007).to_bytes(3, "little")
    a, b = sky.read_dnr(dnr)
    assert (a.number, a.offset, a.size, a.keep_header, a.compressed) == (50102, 256, 13814, True, True)
    assert (b.number, b.offset, b.size, b.keep_header, b.compressed) == (12, 5, 7, False, False)
    with pytest.raises(ValueError, match="need 20 bytes"):
        sky.read_dnr(dnr[:-2])


def test_sky_file_header_then_rnc_body_unpacks():
    pcm = bytes([128, 130, 126] * 30)
    body = _rnc_block([[(pcm[:3], (3, len(pcm) - 3)), (b"", None)]], pcm)
    stored = struct.pack("<11H", 0x0081, 0, 0, 0, 0, 0, 22 + len(pcm), 0, 0, 0, 0) + body
    entry = sky.Entry(50007, 4, len(stored), True, True)
    assert sky.unpack_file(b"pad!" + stored, entry)[22:] == pcm


@pytest.mark.skipif(not (SKY / "sky.dsk").is_file(), reason=f"beneath-a-steel-sky not unpacked at {DEBS}")
def test_real_sky_speech_file_50102_unpacks_with_matching_crcs():
    clips = dict(sky.speech_clips(SKY))
    assert len(clips) == 3491
    assert len(clips[50102]()) == 18598  # rnc.unpack checks both CRCs


# ---- building: dedup, resume, report, manifest ---------------------------------------------------
def _tone(path: Path, seconds: float, freq: float, rate: int = 22050, fmt: str | None = None):
    t = np.arange(int(seconds * rate)) / rate
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.round(9000 * np.sin(2 * np.pi * freq * t)).astype(np.int16), rate, format=fmt)


def test_duplicates_by_bytes_or_decoded_audio_are_left_out_across_sources(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _tone(a / "one.wav", 1.0, 440)
    (a / "sub").mkdir()
    (a / "sub" / "one_copy.wav").write_bytes((a / "one.wav").read_bytes())  # same bytes
    _tone(a / "one_as.flac", 1.0, 440)  # other bytes, the same samples
    _tone(a / "two.wav", 2.0, 660)
    _tone(b / "again.wav", 2.0, 660)  # in another source
    _tone(b / "three.ogg", 0.5, 880)
    (b / "broken.wav").write_bytes(b"RIFF junk")
    sources = [Source("sa", None, "speech", str(a)), Source("sb", None, "effects", str(b))]
    rows, report = build(tmp_path / "out", sources, tmp_path / "debs")
    kept = sorted((Path(p).name, s) for p, s, _, _ in rows)
    assert kept == [("one.wav.flac", "sa"), ("three.ogg.flac", "sb"), ("two.wav.flac", "sa")]
    sa, sb = report["sources"]["sa"], report["sources"]["sb"]
    assert sa["duplicates_left_out"] == 2 and {d["member"] for d in sa["duplicates"]} == {"one_as.flac", "sub/one_copy.wav"}
    assert sb["duplicates_left_out"] == 1 and sb["duplicates"][0] == {"member": "again.wav", "of": "sa"}
    assert sb["failed_clips"] == 1 and sb["failed"][0]["member"] == "broken.wav"
    info = sf.info(rows[0][0])
    assert info.samplerate == 16000 and info.channels == 1 and info.subtype == "PCM_16"
    # a re-run reuses the finished sources and makes the same decisions
    again, report2 = build(tmp_path / "out", sources, tmp_path / "debs")
    assert again == rows and report2 == report


def test_report_totals_hours_per_kind_and_attribution(tmp_path):
    _tone(tmp_path / "m" / "song.wav", 3.0, 220, rate=44100)
    _tone(tmp_path / "s" / "word.wav", 1.5, 300, rate=8000)
    out = tmp_path / "out"
    report = build_preset(out, "real65", tmp_path / "debs", only=[],
                          add=[f"music={tmp_path / 'm'}", f"speech={tmp_path / 's'}"])
    assert report["skipped_sources"] == {} and set(report["sources"]) == {"added-m", "added-s"}
    src = report["sources"]
    assert src["added-m"]["kind"] == "music" and src["added-m"]["hours"] == round(3.0 / 3600, 3)
    assert report["hours_per_kind"]["music"] == pytest.approx(3.0 / 3600, abs=1e-3)
    assert report["total_hours"] == pytest.approx(sum(report["hours_per_kind"].values()), abs=1e-3)
    assert set(report["hours_per_kind"]) == {"speech", "music", "effects"}
    for s in src.values():
        assert {"package", "version", "licence", "copyright", "hours", "clips", "kind"} <= set(s)
    written = json.loads((out / "corpus_report.json").read_text())
    assert written["preset"] == "real65" and written["sources"]["added-s"]["clips"] == 1


def test_manifest_lists_sources_and_shards_read_it(tmp_path):
    from training.corpus import list_audio
    from training.shards import PrecomputeConfig, precompute

    _tone(tmp_path / "a" / "x.wav", 2.5, 440)
    _tone(tmp_path / "a" / "y.wav", 2.5, 550)
    rows, _ = build(tmp_path / "out", [Source("sa", None, "speech", str(tmp_path / "a"))], tmp_path / "debs")
    manifest = write_manifest(tmp_path / "out", rows)
    assert set(list_audio([str(manifest)]).values()) == {"sa"}
    index = precompute([str(manifest)], PrecomputeConfig(out=str(tmp_path / "shards"), workers=1), progress=False)
    assert index["clips"] == 2
    report = json.loads((tmp_path / "shards" / "report.json").read_text())
    assert set(report["hours_per_source"]) == {"sa"}


def test_members_match_and_exclude_select_files(tmp_path):
    for name in ("tiger.ogg", "tiger_desc.ogg", "tiger_desc_pt_BR.wav", "F_filled_en_GB.ogg", "digits/1.g722",
                 "hello.g722", "silence/1.g722", "notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    speech = next(s for s in REAL65 if s.name == "tuxpaint-speech")
    effects = next(s for s in REAL65 if s.name == "tuxpaint-effects")
    ast = next(s for s in REAL65 if s.name == "asterisk-en")

    def names(s):
        return sorted(n for n, _ in members(Source(s.name, None, s.kind, str(tmp_path), s.reader, s.match, s.exclude), None))

    assert names(speech) == ["F_filled_en_GB.ogg", "tiger_desc.ogg", "tiger_desc_pt_BR.wav"]
    assert "tiger.ogg" in names(effects) and "tiger_desc.ogg" not in names(effects)
    assert "hello.g722" in names(ast) and not any(n.startswith(("digits/", "silence/")) for n in names(ast))


def test_a_source_of_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="kind 'noise'"):
        Source("x", "p", "noise", ".")


def test_a_time_limit_leaves_a_manifest_of_what_is_done_and_lists_the_rest(tmp_path):
    import time

    _tone(tmp_path / "a" / "x.wav", 1.0, 440)
    _tone(tmp_path / "b" / "y.wav", 1.0, 550)
    sources = [Source("sa", None, "speech", str(tmp_path / "a")), Source("sb", None, "music", str(tmp_path / "b"))]
    rows, report = build(tmp_path / "out", sources, tmp_path / "debs", deadline=time.time() - 1)
    assert rows == [] and set(report["pending_sources"]) == {"sa", "sb"}
    written = []
    rows, report = build(tmp_path / "out", sources, tmp_path / "debs", on_source=lambda r, rep: written.append(len(r)))
    assert written == [1, 2] and report["pending_sources"] == {}


def test_every_package_an_evaluation_task_reads_is_reserved():
    """The evaluation task builders' Debian sources (the folders/files they read) belong to packages on
    the one reserved list, so no corpus can take them; found with dpkg, which knows the owner of each
    path (.ci/run installs these packages)."""
    import shutil
    import subprocess

    from hear_mwmae_tools.evaluation.tasks import drums, events, fluidsynth, hydrogen, pitch, sfx, voices

    assert shutil.which("dpkg"), "dpkg is needed to map the task sources to their packages"
    paths = [events.ETR_DIR, events.MOH_DIR, fluidsynth.SOUNDFONT, hydrogen.KITS_DIR,
             *(f for f, _ in drums.SOUNDFONTS.values()), *(f for f, _ in pitch.SOUNDFONTS.values()),
             *(folder for folder, _ in voices.SOURCES.values()), *(folder for _, folder, _ in sfx.SOURCES.values())]
    for path in paths:
        found = subprocess.run(["dpkg", "-S", str(path)], capture_output=True, text=True)
        assert found.returncode == 0, f"{path}: no installed package owns it ({found.stderr.strip()})"
        packages = [p.strip() for p in found.stdout.split(":", 1)[0].split(",")]
        for package in packages:
            assert reserved.reason(package), f"{package} (the source of {path}) is not in training/reserved.py"
