"""fp32 on the CPU: our encoder against XLA (JAX's CPU compiler) on the same work, side by side.

    pip install -e ".[xla-bench]"        # jax from PyPI (an optional extra, not needed otherwise)
    python benchmarks/fp32_vs_xla.py [--size base] [--batch 32] [--rounds 5]

Three levels, each timed alternately in one process (torch, jax, torch, ...), medians reported:
  gemm     the encoder's four GEMM shapes (qkv, proj, fc1, fc2 at batch × 250 token rows), as an
           nn.Linear computes them (MKL sgemm via torch.nn.functional.linear), through oneDNN
           (torch.ops.mkldnn._linear_pointwise, what our inference MLP uses), and as jax.jit(x @ w + b)
  block    one encoder block (LN, attention, LN, MLP with tanh-GELU) — ours vs the same maths in JAX
  encoder  the whole unmasked encoder on batch × 2 s of log-mel (200 × 80), the HEAR path's work
           without the frontend, in our eager fp32 and bf16 inference path and in JAX jit fp32;
           the JAX encoder is written here from the same weights, and its output is checked
           against ours before anything is timed.
The official code is Flax on XLA; its encoder is these same operations, so the JAX column is what the
official fp32 path gets on this machine (without a Flax install).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from common import machine_info, print_machine, print_table, write_json  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hear_mwmae import MaskedAutoencoder, get_config  # noqa: E402
from hear_mwmae.model import LAYER_NORM_EPS  # noqa: E402

try:
    import jax
    import jax.numpy as jnp
except ImportError:  # pragma: no cover - the optional extra
    sys.exit('benchmarks/fp32_vs_xla.py needs jax: pip install -e ".[xla-bench]"')


def alternate(fns: dict, rounds: int) -> dict[str, float]:
    """Median seconds of each callable, timed in alternation after one warm-up call each."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(ts) for name, ts in times.items()}


def jax_block(p, x, heads):
    """The encoder block in JAX: x + attn(LN(x)), then + MLP(LN(x)); p holds numpy weights."""
    def ln(z, w, b):
        mu = z.mean(-1, keepdims=True)
        var = ((z - mu) ** 2).mean(-1, keepdims=True)
        return (z - mu) / jnp.sqrt(var + LAYER_NORM_EPS) * w + b

    b_, n, d = x.shape
    hd = d // heads
    h = ln(x, p["norm1.weight"], p["norm1.bias"])
    qkv = (h @ p["attn.qkv.weight"].T + p["attn.qkv.bias"]).reshape(b_, n, 3, heads, hd).transpose(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    attn = jax.nn.softmax((q @ k.swapaxes(-2, -1)) * hd**-0.5, axis=-1)
    o = (attn @ v).transpose(0, 2, 1, 3).reshape(b_, n, d)
    x = x + o @ p["attn.proj.weight"].T + p["attn.proj.bias"]
    h = ln(x, p["norm2.weight"], p["norm2.bias"])
    h = jax.nn.gelu(h @ p["mlp.fc1.weight"].T + p["mlp.fc1.bias"], approximate=True)
    return x + h @ p["mlp.fc2.weight"].T + p["mlp.fc2.bias"]


def jax_encoder(weights: dict, cfg, x):
    """(B, T, F) log-mel -> (B, N, D) normed tokens, as hear_mwmae's Encoder.forward_features."""
    b_, t, f = x.shape
    pt, pf = cfg.patch_size
    patches = x.reshape(b_, t // pt, pt, f // pf, pf).transpose(0, 1, 3, 2, 4).reshape(b_, -1, pt * pf)
    w = weights["patch_embed.proj.weight"].reshape(cfg.embed_dim, -1)
    z = patches @ w.T + weights["patch_embed.proj.bias"] + weights["pos_embed"]
    for i in range(cfg.depth):
        z = jax_block({k[len(f"blocks.{i}."):]: v for k, v in weights.items() if k.startswith(f"blocks.{i}.")},
                      z, cfg.num_heads)
    mu = z.mean(-1, keepdims=True)
    var = ((z - mu) ** 2).mean(-1, keepdims=True)
    return (z - mu) / jnp.sqrt(var + LAYER_NORM_EPS) * weights["norm.weight"] + weights["norm.bias"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="base")
    p.add_argument("--batch", type=int, default=32, help="2 s chunks per pass")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    info = machine_info()
    info["jax"] = jax.__version__
    print_machine(info)
    print(f"# jax {jax.__version__} on {jax.devices()[0].platform}")
    torch.manual_seed(0)
    cfg = get_config(f"mwmae_{args.size}", encoder_only=True)
    encoder = MaskedAutoencoder(cfg).encoder.eval()
    weights = {k: v.detach().numpy() for k, v in encoder.state_dict().items()}
    rows, records = [], []

    # --- GEMMs -------------------------------------------------------------------------------
    m, d, hidden = args.batch * cfg.num_patches, cfg.embed_dim, int(cfg.embed_dim * cfg.mlp_ratio)
    for name, (k_, n_) in {"qkv": (d, 3 * d), "proj": (d, d), "fc1": (d, hidden), "fc2": (hidden, d)}.items():
        x = torch.randn(m, k_)
        w, b = torch.randn(n_, k_) * 0.02, torch.zeros(n_)
        xj, wj, bj = jnp.asarray(x.numpy()), jnp.asarray(w.numpy().T.copy()), jnp.asarray(b.numpy())
        jit = jax.jit(lambda a, ww, bb: a @ ww + bb)
        with torch.inference_mode():
            med = alternate({"torch linear (MKL)": lambda: F.linear(x, w, b),
                             "torch oneDNN": lambda: torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], ""),
                             "jax jit": lambda: jit(xj, wj, bj).block_until_ready()}, args.rounds)
        flops = 2 * m * k_ * n_
        for impl, s in med.items():
            rows.append(["gemm", f"{name} {m}×{k_}×{n_}", impl, f"{flops / s / 1e9:.0f} GFLOP/s", f"{med['jax jit'] / s:.2f}×"])
            records.append({"level": "gemm", "shape": [m, k_, n_], "impl": impl, "seconds": s, "gflops": flops / s / 1e9})

    # --- one encoder block ----------------------------------------------------------------------
    z = torch.randn(args.batch, cfg.num_patches, cfg.embed_dim)
    zj = jnp.asarray(z.numpy())
    block = encoder.blocks[0]
    bweights = {k[len("blocks.0."):]: jnp.asarray(v) for k, v in weights.items() if k.startswith("blocks.0.")}
    jit_block = jax.jit(lambda w, a: jax_block(w, a, cfg.num_heads))
    with torch.inference_mode():
        med = alternate({"ours fp32": lambda: block(z),
                         "jax jit": lambda: jit_block(bweights, zj).block_until_ready()}, args.rounds)
    for impl, s in med.items():
        rows.append(["block", f"{args.size} block, {args.batch} × {cfg.num_patches} tokens", impl,
                     f"{args.batch / s:.1f} chunks/s", f"{med['jax jit'] / s:.2f}×"])
        records.append({"level": "block", "impl": impl, "seconds": s})

    # --- the encoder -------------------------------------------------------------------------
    x = torch.randn(args.batch, *cfg.img_size)
    xj = jnp.asarray(x.numpy())
    jweights = {k: jnp.asarray(v) for k, v in weights.items()}
    jit_encoder = jax.jit(lambda w, z: jax_encoder(w, cfg, z))
    with torch.inference_mode():
        ours = encoder.forward_features(x).numpy()
    theirs = np.asarray(jit_encoder(jweights, xj))
    err = float(np.abs(ours - theirs).max())
    if err > 1e-3:
        sys.exit(f"the JAX encoder does not compute ours (max abs diff {err:.2e}): fix it before timing")
    print(f"# JAX encoder matches ours: max abs diff {err:.1e}")

    def ours_fp32():
        with torch.inference_mode():
            encoder.forward_features(x)

    encoder_bf16, x_bf16 = copy.deepcopy(encoder).to(torch.bfloat16), x.to(torch.bfloat16)

    def ours_bf16():  # as the HEAR path runs bf16: a bf16 copy of the encoder (hear_mwmae/hear.py)
        with torch.inference_mode():
            encoder_bf16.forward_features(x_bf16)

    med = alternate({"ours fp32": ours_fp32, "ours bf16": ours_bf16,
                     "jax jit fp32": lambda: jit_encoder(jweights, xj).block_until_ready()}, args.rounds)
    audio_s = args.batch * 2.0
    for impl, s in med.items():
        rows.append(["encoder", f"{args.size}, {args.batch} × 2 s", impl, f"{audio_s / s:.2f} audio-s/s",
                     f"{med['jax jit fp32'] / s:.2f}×"])
        records.append({"level": "encoder", "size": args.size, "batch": args.batch, "impl": impl, "seconds": s,
                        "audio_s_per_s": audio_s / s})
    print_table("fp32 vs XLA on this CPU (alternating, medians)", ["level", "work", "implementation", "rate",
                                                                  "vs jax"], rows)
    write_json("fp32_vs_xla", {"machine": info, "runs": records})


if __name__ == "__main__":
    main()
