"""Long audio: wall time and peak RSS of Base embeddings for 1, 5 and 20 minutes.

    python benchmarks/long_audio.py [--minutes 1,5,20] [--precision fp32] [--device cpu]

Each duration runs in a fresh process, so its peak RSS (ru_maxrss) is its own. Reported: RSS
after loading the model, peak RSS of ``get_timestamp_embeddings`` (whose output alone is
n_frames × 3840 × 4 bytes, 23 MB a minute, and must be returned whole), peak minus that
output (the working memory, which must stay flat), and a scene-only run (no big output).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine_info, print_machine, print_table, write_json  # noqa: E402


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(minutes: float, kind: str, precision: str, device: str) -> None:
    import torch

    import hear_mwmae

    model = hear_mwmae.load_model("random:mwmae_base", precision=precision, device=device)
    audio = (torch.rand(1, int(minutes * 60 * 16000), generator=torch.Generator().manual_seed(0)) * 0.2 - 0.1).to(device)
    loaded = _rss_mb()
    t = time.perf_counter()
    if kind == "timestamp":
        emb, _ = model.timestamp_embeddings(audio)
        out_mb = emb.numel() * 4 / 2**20
    else:
        emb = model.scene_embeddings(audio)
        out_mb = 0.0
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    wall = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    gpu_peak = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None
    print(json.dumps({"minutes": minutes, "kind": kind, "wall_s": wall, "rss_loaded_mb": loaded,
                      "rss_peak_mb": peak, "output_mb": out_mb, "gpu_peak_mb": gpu_peak}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", default="1,5,20")
    p.add_argument("--precision", default="fp32")
    p.add_argument("--device", default="cpu")
    p.add_argument("--child", nargs=2, metavar=("MINUTES", "KIND"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(float(args.child[0]), args.child[1], args.precision, args.device)
    info = machine_info()
    print_machine(info)
    rows, records = [], []
    for minutes in [float(m) for m in args.minutes.split(",")]:
        for kind in ("timestamp", "scene"):
            done = subprocess.run([sys.executable, __file__, "--child", str(minutes), kind, "--precision",
                                   args.precision, "--device", args.device], capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"child failed ({minutes} min, {kind}):\n{done.stderr[-2000:]}")
            r = json.loads(done.stdout.strip().splitlines()[-1])
            records.append(r)
            rows.append([f"{minutes:g}", kind, r["wall_s"], r["wall_s"] / minutes, r["rss_loaded_mb"], r["rss_peak_mb"],
                         r["output_mb"], r["rss_peak_mb"] - r["output_mb"],
                         "-" if r["gpu_peak_mb"] is None else r["gpu_peak_mb"]])
    print_table(f"MW-MAE-Base, {args.precision}, {args.device}: one clip of N minutes",
                ["minutes", "call", "wall s", "s per audio-min", "RSS loaded MB", "RSS peak MB", "output MB",
                 "peak − output MB", "GPU peak MB"], rows)
    write_json(f"long_audio_{args.precision}", {"machine": info, "runs": records})


if __name__ == "__main__":
    main()
