"""Audio reserved for evaluation: never part of a pretraining corpus.

The one list of it. The corpus builders refuse these sources (``check``), and evaluation task
builders can import RESERVED to know what they may use. Why each is reserved is in the reason
strings and in docs/corpus.md.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]

_SFX = "sound effects of an evaluation task (sfx)"
# Package-name patterns (fnmatch) -> why reserved.
RESERVED = {
    "hydrogen": "Hydrogen drum machine packages: their drum kits are the audio of the drum evaluation tasks",
    "hydrogen-*": "Hydrogen drum kits (hydrogen-drumkits, hydrogen-data, ...): the audio of the drum evaluation tasks",
    "fluid-soundfont-gm": "FluidR3 soundfont: instrument sounds of the evaluation tasks",
    "fluid-soundfont-gs": "FluidR3 soundfont: instrument sounds of the evaluation tasks",
    "fluidr3mono-gm-soundfont": "FluidR3 mono soundfont: instrument sounds of the evaluation tasks",
    "musescore-general-soundfont*": "MuseScore General soundfont: instrument sounds of the evaluation tasks",
    "timgm6mb-soundfont": "TimGM6mb soundfont: drum kits of the drums evaluation task",
    "extremetuxracer-data": "reserved for an evaluation task",
    "asterisk-moh-opsound-*": "Asterisk music on hold: reserved for an evaluation task",
    "ktuberling-data": "KTuberling spoken words: reserved for an evaluation task",
    "klettres-data": "KLettres spoken letters and syllables: reserved for an evaluation task",
    # the game sound effects an evaluation task (sfx) is built from
    "pingus-data": _SFX,
    "frozen-bubble-data": _SFX,
    "openttd-opensfx": _SFX,
    "neverball-data": _SFX,
    "pokerth-data": _SFX,
    "alienblaster-data": _SFX,
    "chromium-bsu-data": _SFX,
    "lbreakout2-data": _SFX,
    "kbounce": _SFX,
    "blinken": _SFX,
    "triplea": _SFX,
    "mirrormagic": _SFX,
    "scorched3d-data": _SFX,
}
# Folders -> why reserved (a path inside one is refused).
RESERVED_PATHS = {
    _REPO.parent / "shared" / "data" / "hear": "the HEAR evaluation tasks' audio (../shared/data/hear/)",
}


def reason(source: str | Path) -> str | None:
    """Why ``source`` (a package name, or a file/folder path) is reserved, or None if it is not."""
    text = str(source)
    if "/" in text or isinstance(source, Path):
        path = Path(text).resolve()
        for folder, why in RESERVED_PATHS.items():
            if path == folder.resolve() or folder.resolve() in path.parents:
                return why
        return None
    for pattern, why in RESERVED.items():
        if fnmatch.fnmatchcase(text, pattern):
            return why
    return None


def check(source: str | Path) -> None:
    """Raise ValueError naming ``source`` and why, if it is reserved for evaluation."""
    why = reason(source)
    if why:
        raise ValueError(f"{source} is reserved for evaluation and must not be used for pretraining: {why}. "
                         "Remove it from the corpus sources (see training/reserved.py, docs/corpus.md).")
