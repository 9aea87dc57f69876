"""HEAR timestamp-embedding throughput: audio-seconds per wall-second, and FLOP/s vs GEMM peak.

    python benchmarks/embed_throughput.py [--sizes tiny,base,large] [--device cuda]

For each encoder size and precision (fp32, bf16, fp16 by default): ``get_timestamp_embeddings`` on 10 clips × 10 s (random
weights), the achieved matmul FLOP/s as a fraction of bf16 and fp32 GEMMs measured in the same
run on Base's four GEMM shapes (best single shape / FLOP-weighted mix), and the same model
through a naive reference path (fp32, eager, one head at a time, like the official code).
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import (encoder_flops_per_unit, gemm_peak, gemm_speed_ratio, machine_info, print_machine,  # noqa: E402
                    print_table, timeit, write_json)
from naive_reference import naive_frame_embeddings  # noqa: E402

import hear_mwmae  # noqa: E402
from hear_mwmae.frontend import num_frames  # noqa: E402

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="tiny,base,large")
    p.add_argument("--clips", type=int, default=10)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--precisions", default="fp32,bf16,fp16", help="encoder precisions to time (fp16 on CPU warns: it is slow)")
    p.add_argument("--no-naive", action="store_true", help="skip the naive reference path")
    args = p.parse_args()
    warnings.filterwarnings("ignore", message="precision='(fp16|bf16)'")  # slow dtypes are measured here on purpose
    device = torch.device(args.device)
    info = machine_info()
    print_machine(info)
    # A dtype without fast kernels here (bf16/fp16 on an AVX2-only CPU: ~50x slower than fp32) gets
    # proportionally less work, so that the run still ends in minutes; rates stay comparable.
    ratios = {q: gemm_speed_ratio(_DTYPES[q], device) for q in ("bf16", "fp16")}
    print("# matmul speed vs fp32 (1000x768x768 probe): " + ", ".join(f"{q} {r:.2f}x" for q, r in ratios.items()))
    bf16_rows = 8000 if ratios["bf16"] > 0.25 else max(256, int(8000 * ratios["bf16"]))
    bf16_peak, bf16_mix = gemm_peak(torch.bfloat16, device, rows=bf16_rows)
    fp32_peak, fp32_mix = gemm_peak(torch.float32, device)
    print(f"# GEMM on Base's 4 shapes ({bf16_rows} / 8000 rows): bf16 best {bf16_peak / 1e9:,.1f} / mix "
          f"{bf16_mix / 1e9:,.1f} GFLOP/s, fp32 best {fp32_peak / 1e9:,.0f} / mix {fp32_mix / 1e9:,.0f} GFLOP/s")

    torch.manual_seed(0)
    full = (torch.rand(args.clips, int(args.seconds * 16000)) * 2 - 1).mul(0.3).to(device)
    rows, records = [], []
    for size in args.sizes.split(","):
        precisions = ["fp32"] + [q for q in args.precisions.split(",") if q != "fp32"]  # fp32 first: the ratios' base
        any_slow = any(ratios.get(q, 1.0) <= 0.25 for q in precisions)
        # A slow dtype runs a small workload; fp32 runs that workload too, so its ratio compares like with like.
        runs = [("fp32", "fused", False)] + ([("fp32", "fused", True)] if any_slow else []) + \
            [(q, "fused", ratios.get(q, 1.0) <= 0.25) for q in precisions[1:]] + \
            ([] if args.no_naive else [("fp32", "naive", False)])
        base_speed = {}
        for precision, path, slow in runs:
            clips, seconds_each = (1, 2.0) if slow else (args.clips, args.seconds)
            audio, total_seconds = full[:clips, : int(seconds_each * 16000)], clips * seconds_each
            model = hear_mwmae.load_model(f"random:mwmae_{size}", precision=precision).to(device)
            units = clips * math.ceil(num_frames(audio.shape[1]) / model.unit_frames)
            flops = units * encoder_flops_per_unit(model.config)
            if path == "naive":
                reference, _ = model.timestamp_embeddings(audio[:1])
                model.encoder.frame_embeddings = lambda x, layer=None, enc=model.encoder: naive_frame_embeddings(enc, x)
                got, _ = model.timestamp_embeddings(audio[:1])
                assert torch.allclose(got, reference, atol=1e-3, rtol=1e-3), "naive path disagrees with the model"
            seconds = timeit(lambda m=model, a=audio: m.timestamp_embeddings(a), device,
                             repeats=2 if slow else args.repeats, warmup=1)
            speed = total_seconds / seconds
            if (precision, path) == ("fp32", "fused"):
                base_speed[slow] = speed
            rate = flops / seconds
            records.append({"size": size, "precision": precision, "path": path, "clips": clips,
                            "vs_fp32_same_workload": speed / base_speed[slow],
                            "seconds_per_clip": seconds_each, "wall_s": seconds,
                            "audio_s_per_s": speed, "gflops": rate / 1e9, "frac_bf16_gemm_best": rate / bf16_peak,
                            "frac_bf16_gemm_mix": rate / bf16_mix, "frac_fp32_gemm_best": rate / fp32_peak,
                            "frac_fp32_gemm_mix": rate / fp32_mix})
            rows.append([size, precision, path, f"{clips} × {seconds_each:g} s", f"{seconds:.2f}", speed, rate / 1e9,
                         f"{100 * rate / bf16_peak:.0f}% / {100 * rate / bf16_mix:.0f}%",
                         f"{100 * rate / fp32_peak:.0f}% / {100 * rate / fp32_mix:.0f}%", f"{speed / base_speed[slow]:.2f}×"])
            del model
    print_table(f"get_timestamp_embeddings, {args.clips} clips × {args.seconds:g} s on {device.type}",
                ["size", "precision", "path", "audio", "wall s", "audio-s/s", "GFLOP/s", "of bf16 GEMM best / mix",
                 "of fp32 GEMM best / mix", "vs fp32, same audio"], rows)
    write_json("embed_throughput", {
        "machine": info, "bf16_gemm_best_gflops": bf16_peak / 1e9, "bf16_gemm_mix_gflops": bf16_mix / 1e9,
        "fp32_gemm_best_gflops": fp32_peak / 1e9, "fp32_gemm_mix_gflops": fp32_mix / 1e9,
        "bf16_gemm_rows": bf16_rows, "matmul_speed_vs_fp32": ratios, "runs": records})


if __name__ == "__main__":
    main()
