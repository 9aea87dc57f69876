"""One MW-MHA decoder layer, forward + backward, by each way of running its heads, beside an
all-global layer of the same size (the MAE decoder's): what the fused path was chosen on.

    python benchmarks/mwmha_candidates.py [--batch 32] [--repeats 7] [--device cuda]

Candidates (same parameters, same function; tests/test_fused_attention.py holds them together):
  fused      every head in one call, windows as an additive mask (the default; on CPU the fused
             kernel plus a block-local bias gradient, hear_mwmae/fused_attention.py)
  grouped    one batched call per window size over the windows as blocks (the previous default)
  masked-autograd  one SDPA call with a differentiable mask (what CUDA runs; on CPU PyTorch's
             fused kernel takes no mask gradient, so this falls back to the unfused math path)
  global     the same layer with all heads global (the target: MW-MHA should cost no more)
Rounds alternate the candidates, so a busy machine slows all of them alike; medians are reported.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from common import machine_info, print_machine, print_table, sync, write_json  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hear_mwmae.attention import MultiWindowAttention  # noqa: E402
from hear_mwmae.config import DECODER_DIM, window_sizes_for  # noqa: E402
from hear_mwmae.fused_attention import window_mask  # noqa: E402


def masked_autograd(m: MultiWindowAttention, x: torch.Tensor) -> torch.Tensor:
    b, n, d = x.shape
    q, k, v = m._qkv(x)
    mask = window_mask(m._flat_bias(tuple(range(m.num_heads))), m.layout(n, x.device))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask.to(q.dtype))
    return m.proj(out.transpose(1, 2).reshape(b, n, d))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--patches", type=int, default=250)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--precisions", default="fp32,bf16")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    device = torch.device(args.device)
    info = machine_info()
    print_machine(info)
    torch.manual_seed(0)
    heads = window_sizes_for(args.patches)
    mw = MultiWindowAttention(DECODER_DIM, len(heads), heads).to(device)
    glob = MultiWindowAttention(DECODER_DIM, len(heads)).to(device)
    glob.load_state_dict({k: v for k, v in mw.state_dict().items() if "relative" not in k})
    x = torch.randn(args.batch, args.patches, DECODER_DIM, device=device, requires_grad=True)
    candidates = {"fused": lambda: mw(x), "grouped": lambda: mw.forward_grouped(x),
                  "masked-autograd": lambda: masked_autograd(mw, x), "global": lambda: glob(x)}
    rows, records = [], []
    for precision in args.precisions.split(","):
        ctx = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if precision == "bf16" \
            else contextlib.nullcontext
        for mode in ("forward+backward", "forward"):
            def run(fn):
                with ctx(), (contextlib.nullcontext() if mode != "forward" else torch.no_grad()):
                    out = fn()
                if mode != "forward":
                    out.float().sum().backward()
                sync(device)

            times = {name: [] for name in candidates}
            for fn in candidates.values():
                run(fn)  # warm-up
            for _ in range(args.repeats):
                for name, fn in candidates.items():
                    t = time.perf_counter()
                    run(fn)
                    times[name].append(time.perf_counter() - t)
            base = statistics.median(times["global"])
            for name, ts in times.items():
                med = statistics.median(ts)
                rows.append([precision, mode, name, f"{med * 1e3:.1f}", f"{med / base:.2f}×"])
                records.append({"precision": precision, "mode": mode, "candidate": name, "median_s": med,
                                "all_s": ts, "vs_global": med / base})
    print_table(f"one MW-MHA layer ({args.patches} tokens, {DECODER_DIM} wide, heads {heads}), batch {args.batch}, "
                f"{device.type}", ["precision", "pass", "candidate", "median ms", "vs global"], rows)
    write_json("mwmha_candidates", {"machine": info, "batch": args.batch, "patches": args.patches,
                                    "window_sizes": list(heads), "runs": records})


if __name__ == "__main__":
    main()
