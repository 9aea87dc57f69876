"""Forward + backward time of one attention layer, by kind, side by side in one run.

    python benchmarks/attention_kinds.py [--device cuda] [--precisions fp32,bf16] [--batch 32]

Kinds, on the 50 × 5 grid of 4×16 patches (N = 250 tokens), 8 heads, at a Tiny-wide (192) and a
Base-wide (768) layer: all heads global; MW-MHA with the paper's windows [2, 5, 10, 25, 50, 125,
0, 0]; MW-MHA with its extra global head deformable ([…, 0, −1]); and the DAT-style
``DeformableAttention`` module (2 offset groups, stride 1 and stride (2, 1)). bf16 runs under
autocast, as training does.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import gemm_speed_ratio, machine_info, print_machine, print_table, timeit, write_json  # noqa: E402

from hear_mwmae.attention import DEFORMABLE, MultiWindowAttention  # noqa: E402
from hear_mwmae.config import window_sizes_for  # noqa: E402
from hear_mwmae.deformable import DeformableAttention  # noqa: E402

GRID = (50, 5)
WIDTHS = {"tiny": 192, "base": 768}


def kinds(dim: int) -> dict[str, torch.nn.Module]:
    windows = window_sizes_for(GRID[0] * GRID[1])
    return {
        "global": MultiWindowAttention(dim, 8),
        "mw-mha": MultiWindowAttention(dim, 8, windows),
        "mw-mha + deformable head": MultiWindowAttention(dim, 8, windows[:-1] + (DEFORMABLE,), grid=GRID),
        "deformable (DAT-style, r=1)": DeformableAttention(dim, 8, GRID, groups=2, stride=(1, 1)),
        "deformable (DAT-style, r=2x1)": DeformableAttention(dim, 8, GRID, groups=2, stride=(2, 1)),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--precisions", default="fp32,bf16")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    device = torch.device(args.device)
    info = machine_info()
    print_machine(info)
    slow_bf16 = device.type == "cpu" and gemm_speed_ratio(torch.bfloat16, device) < 0.5
    if slow_bf16 and "bf16" in args.precisions:
        warnings.warn("bf16 matmuls are slow on this CPU: the bf16 rows show that, not the kernels' best")
    rows, records = [], []
    for size, dim in WIDTHS.items():
        x = torch.randn(args.batch, GRID[0] * GRID[1], dim, device=device, requires_grad=True)
        for precision in args.precisions.split(","):
            base = None
            for kind, module in kinds(dim).items():
                module = module.to(device).train()

                def step(m=module):
                    ctx = torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
                    with ctx:
                        out = m(x)
                    out.float().square().mean().backward()

                seconds = timeit(step, device, repeats=args.repeats)
                base = base or seconds
                records.append({"size": size, "dim": dim, "kind": kind, "precision": precision, "batch": args.batch,
                                "fwd_bwd_s": seconds, "vs_global": seconds / base})
                rows.append([size, precision, kind, seconds * 1e3, f"{seconds / base:.2f}×"])
    print_table(f"one attention layer, forward + backward, batch {args.batch} × {GRID[0] * GRID[1]} tokens, 8 heads",
                ["width", "precision", "kind", "ms", "vs global"], rows)
    write_json("attention_kinds", {"machine": info, "grid": GRID, "runs": records})


if __name__ == "__main__":
    main()
