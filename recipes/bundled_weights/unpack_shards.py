"""Restore float16 log-mel shards from ``pack_shards.py`` output (same layout as training.shards).

Each clip's mean and population std are recomputed on the restored values, so the crops that
``training.data`` normalises are normalised with their own statistics.

    python recipes/bundled_weights/unpack_shards.py packed/ shards/
"""

import argparse
import json
import lzma
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout, for training/
from hear_mwmae.atomic import atomic_save_npy, atomic_write_bytes  # noqa: E402
from training.shards import clip_stats  # noqa: E402


def unpack(src: Path, dst: Path) -> int:
    index = json.loads((src / "index.json").read_text())
    q = json.loads((src / "quantization.json").read_text())
    step = np.float32((q["hi"] - q["lo"]) / q["levels"])
    dst.mkdir(parents=True, exist_ok=True)
    for sh in index["shards"]:
        raw = lzma.decompress((src / (Path(sh["npy"]).stem + ".u7.xz")).read_bytes())
        codes = np.frombuffer(raw, np.uint8).reshape(-1, index["n_mels"])
        if codes.shape[0] != sh["frames"]:
            raise ValueError(f"{sh['npy']}: {codes.shape[0]} frames unpacked, index.json says {sh['frames']}")
        mel = (np.float32(q["lo"]) + codes.astype(np.float32) * step).astype(np.float16)
        atomic_save_npy(dst / sh["npy"], mel)
        meta = json.loads((src / sh["json"]).read_text())
        for clip in meta["clips"]:
            seg = mel[clip["start"]:clip["start"] + clip["frames"]]
            clip["mean"], clip["std"] = clip_stats(seg)
        atomic_write_bytes(dst / sh["json"], json.dumps(meta).encode())
    for name in ("index.json", "report.json"):
        if (src / name).is_file():
            atomic_write_bytes(dst / name, (src / name).read_bytes())
    return len(index["shards"])


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src")
    p.add_argument("dst")
    a = p.parse_args()
    print(f"unpacked {unpack(Path(a.src), Path(a.dst))} shard(s) into {a.dst}")
