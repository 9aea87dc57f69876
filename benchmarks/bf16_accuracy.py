"""How close bf16 (and compiled) embeddings are to fp32: cosine similarity and relative error.

    python benchmarks/bf16_accuracy.py [--shared ../shared]

Models: the official micro checkpoints (converted in memory) and random MW-MAE-Base weights.
Audio: the example speech clip, and 4 noise clips at the validator's lengths. Per embedding
vector: cosine similarity and relative L2 error ‖bf16 − fp32‖ / ‖fp32‖; the table shows the
worst (min cosine, max error) over vectors, for scene and timestamp embeddings.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import soundfile as sf
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from common import machine_info, print_machine, print_table, write_json  # noqa: E402

import hear_mwmae  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _compare(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    a, b = a.reshape(-1, a.shape[-1]).double(), b.reshape(-1, b.shape[-1]).double()
    cos = F.cosine_similarity(a, b, dim=-1).min().item()
    rel = ((a - b).norm(dim=-1) / a.norm(dim=-1)).max().item()
    return cos, rel


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shared", default=str(REPO.parent / "shared"))
    args = p.parse_args()
    info = machine_info()
    print_machine(info)
    speech, _ = sf.read(REPO / "examples" / "speech.wav", dtype="float32")
    g = torch.Generator().manual_seed(0)
    inputs = {"speech 11.5 s": torch.from_numpy(speech)[None]}
    for seconds in (1.07, 1.98, 4.0, 10.0):
        inputs[f"noise {seconds:g} s ×2"] = (torch.rand(2, int(seconds * 16000), generator=g) * 2 - 1)
    fixtures = Path(args.shared) / "fixtures" / "official"
    models = {"official mwmae_micro": str(fixtures / "mwmae_micro"), "official mae_micro": str(fixtures / "mae_micro"),
              "random mwmae_base": "random:mwmae_base"}
    rows, records = [], []
    for name, source in models.items():
        fp32 = hear_mwmae.load_model(source)
        bf16 = hear_mwmae.load_model(source, precision="bf16")
        worst = {"scene_cos": 1.0, "scene_rel": 0.0, "ts_cos": 1.0, "ts_rel": 0.0}
        for audio in inputs.values():
            sc, sr = _compare(fp32.scene_embeddings(audio), bf16.scene_embeddings(audio))
            tc, tr = _compare(fp32.timestamp_embeddings(audio)[0], bf16.timestamp_embeddings(audio)[0])
            worst = {"scene_cos": min(worst["scene_cos"], sc), "scene_rel": max(worst["scene_rel"], sr),
                     "ts_cos": min(worst["ts_cos"], tc), "ts_rel": max(worst["ts_rel"], tr)}
        records.append({"model": name, **worst})
        rows.append([name, f"{worst['scene_cos']:.6f}", f"{100 * worst['scene_rel']:.2f}%", f"{worst['ts_cos']:.6f}",
                     f"{100 * worst['ts_rel']:.2f}%"])
    print_table("bf16 vs fp32 embeddings (worst vector over " + ", ".join(inputs) + ")",
                ["model", "scene min cos", "scene max rel err", "timestamp min cos", "timestamp max rel err"], rows)
    write_json("bf16_accuracy", {"machine": info, "runs": records})


if __name__ == "__main__":
    main()
