"""Hydrogen drum kits (Debian ``hydrogen-drumkits``): one-shot samples labelled by instrument family.

Each kit folder holds a ``drumkit.xml`` listing instruments, each with one or more sample
files (velocity layers). The family comes from the instrument's name (:data:`FAMILIES`, first
match wins); names that fit no family (numbers, "FX", loops, …) are skipped.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from .audio import require, round_robin

APT_PACKAGE = "hydrogen-drumkits"
KITS_DIR = Path("/usr/share/hydrogen/data/drumkits")

# (family, regex on the lower-cased instrument name); order matters: "ride bell" is a cymbal,
# "snare rimshot" a snare, "floor tom" a tom, "hand clap" a clap.
FAMILIES: tuple[tuple[str, str], ...] = (
    ("hihat", r"hi-?hat|\bhh\b|\bhat\b|\bohh\b"),
    ("kick", r"\bkick|bass ?drum|bassdrum"),
    ("snare", r"snare"),
    ("cymbal", r"crash|ride|splash|china|cymbal"),
    ("tom", r"\btom|floor tom"),
    ("clap", r"clap|snap"),
    ("percussion", r"cowbell|tambourine|agogo|conga|bongo|cajon|clave|woodblock|maraca|djembe|sangban|dununba|"
                   r"kenkeni|waterglass|shaker|triangle|guiro|timbale"),
)


@dataclass(frozen=True)
class Sample:
    """One sample file of one instrument of one kit."""

    kit: str
    instrument: str
    family: str
    layer: int
    path: Path


def family_of(name: str) -> str | None:
    """Instrument family of a drumkit.xml instrument name, or None if it fits no family."""
    low = name.lower()
    for family, pattern in FAMILIES:
        if re.search(pattern, low):
            return family
    return None


def _children(node, tag: str):
    return [c for c in node if c.tag.rsplit("}", 1)[-1] == tag]


def _text(node, tag: str) -> str:
    found = _children(node, tag)
    return (found[0].text or "").strip() if found else ""


def kit_samples(kit_dir: Path) -> list[Sample]:
    """All family-labelled samples of one kit, in drumkit.xml order."""
    root = ET.parse(kit_dir / "drumkit.xml").getroot()
    kit = _text(root, "name") or kit_dir.name
    out, seen = [], set()
    for inst_list in _children(root, "instrumentList"):
        for inst in _children(inst_list, "instrument"):
            name = _text(inst, "name")
            family = family_of(name)
            if family is None:
                continue
            files = [(_text(layer, "filename")) for layer in inst.iter() if layer.tag.rsplit("}", 1)[-1] == "layer"]
            files = [f for f in files if f] or [f for f in [_text(inst, "filename")] if f]
            for layer, f in enumerate(files):
                path = kit_dir / f
                if path.is_file() and path not in seen:
                    seen.add(path)
                    out.append(Sample(kit, name, family, layer, path))
    return out


def all_samples(kits_dir: str | Path | None = None) -> dict[str, list[Sample]]:
    """{kit folder name: samples} for every kit with at least one labelled sample, sorted by name."""
    kits_dir = require(Path(kits_dir) if kits_dir else KITS_DIR, APT_PACKAGE, what="Hydrogen drum kits")
    kits = {}
    for d in sorted(p for p in kits_dir.iterdir() if (p / "drumkit.xml").is_file()):
        samples = kit_samples(d)
        if samples:
            kits[d.name] = samples
    if not kits:
        raise ValueError(f"no drumkit.xml with labelled instruments under {kits_dir}; "
                         f"reinstall it with `apt-get install --reinstall {APT_PACKAGE}`")
    return kits


def spread_families(samples: list[Sample], limit: int) -> list[Sample]:
    """At most ``limit`` samples, taken one family after another (keeps the label mix of a kit)."""
    return round_robin(samples, lambda s: s.family)[:limit]


def balanced_groups(sizes: dict[str, int], n_groups: int) -> list[list[str]]:
    """Assign keys to ``n_groups`` groups, largest first, each to the currently smallest group.

    Deterministic (ties: lowest group index, then key order). Used to split kits or
    instruments into folds so that no source is in two folds.
    """
    if len(sizes) < n_groups:
        raise ValueError(f"need at least {n_groups} sources to make {n_groups} folds, got {len(sizes)}")
    groups: list[list[str]] = [[] for _ in range(n_groups)]
    totals = [0] * n_groups
    for key in sorted(sizes, key=lambda k: (-sizes[k], k)):
        g = min(range(n_groups), key=lambda i: (totals[i], i))
        groups[g].append(key)
        totals[g] += sizes[key]
    return [sorted(g) for g in groups]
