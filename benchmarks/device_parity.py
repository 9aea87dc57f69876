"""HEAR API on an accelerator vs the CPU fp32 reference, with the bundled weights.

    python benchmarks/device_parity.py [--device cuda]

Embeds 3 random clips of 7 s on the CPU in fp32 (the reference) and on ``--device`` in fp32, bf16
and fp16, and reports the largest absolute error, the relative error (Frobenius) and the smallest
per-frame cosine of the timestamp embeddings, the largest scene error, and whether the timestamps
match exactly. Writes results/device_parity_<machine kind>.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

import hear_mwmae

sys.path.insert(0, str(Path(__file__).parent))
from common import machine_info, print_machine, write_json  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    device = p.parse_args().device
    info = machine_info()
    print_machine(info)
    torch.manual_seed(0)
    audio = torch.rand(3, 16000 * 7) * 0.4 - 0.2
    reference = hear_mwmae.load_model(precision="fp32")
    ref_ts, ref_t = hear_mwmae.get_timestamp_embeddings(audio, reference)
    ref_scene = hear_mwmae.get_scene_embeddings(audio, reference)
    results = {}
    for precision in ("fp32", "bf16", "fp16"):
        model = hear_mwmae.load_model(precision=precision)
        ts, t = hear_mwmae.get_timestamp_embeddings(audio.to(device), model)
        scene = hear_mwmae.get_scene_embeddings(audio.to(device), model)
        ts, t, scene = ts.cpu(), t.cpu(), scene.cpu()
        cos = torch.nn.functional.cosine_similarity(ts.flatten(0, 1), ref_ts.flatten(0, 1), dim=-1)
        results[precision] = {"device": device, "max_abs_ts": float((ts - ref_ts).abs().max()),
                              "rel_ts": float((ts - ref_ts).norm() / ref_ts.norm()), "min_cos": float(cos.min()),
                              "max_abs_scene": float((scene - ref_scene).abs().max()),
                              "timestamps_equal": bool(torch.equal(t, ref_t)), "finite": bool(torch.isfinite(ts).all())}
        print(precision, results[precision], flush=True)
    write_json("device_parity", {"machine": info, "runs": results})


if __name__ == "__main__":
    main()
