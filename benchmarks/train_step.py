"""Pretraining step throughput: samples/s of forward + backward + AdamW (mask ratio 0.8).

    python benchmarks/train_step.py [--sizes tiny,base] [--precisions fp32,bf16] [--device cuda] [--compile]

For each size and precision, the MW-MHA decoder and the same decoder with all heads global (the
MAE-style decoder) train side by side: their steps alternate (MW-MHA, global, MW-MHA, ...), so a
busy machine slows both alike, and the ratio of their median step times is the MW-MHA overhead.
``--decoders`` picks the decoders to alternate: ``mw-mha`` (the paper's 384-d, 4 layers), ``global``
and lighter decoders named ``(mw-mha|global)[-<W>d][-<L>l][-deform]`` (e.g. ``mw-mha-1l``,
``mw-mha-256d-2l``: L layers of width W; ``-deform``: the last global head deformable), for the
decoder-cost question of pretraining on a CPU.
``--compile`` adds the torch.compile'd MW-MHA model to the alternation (its compile time is
reported apart, not in the step times).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import machine_info, print_machine, print_table, sync, write_json  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hear_mwmae import MaskedAutoencoder, get_config  # noqa: E402
from training.optim import make_adamw, param_groups  # noqa: E402
from training.train import AUTOCAST_DTYPES as DTYPES  # noqa: E402

DEFAULT_DECODERS = "mw-mha,global"
BATCH = {"tiny": 32, "small": 16, "base": 16, "large": 8}


DECODER_NAME = re.compile(r"(mw-mha|global)(?:-(\d+)d)?(?:-(\d+)l)?(-deform)?")


def decoder_config(size: str, name: str):
    """The Tiny/Base/... config with the decoder called ``name`` (module docstring)."""
    m = DECODER_NAME.fullmatch(name)
    if m is None or (m[1] == "global" and m[4]):
        raise ValueError(f"unknown decoder {name!r}: use (mw-mha|global)[-<W>d][-<L>l], mw-mha... -deform")
    cfg = get_config(f"mwmae_{size}_deform" if m[4] else f"mwmae_{size}")
    cfg = cfg.replace(decoder_window_sizes=()) if m[1] == "global" else cfg
    return cfg.replace(decoder_embed_dim=int(m[2] or cfg.decoder_embed_dim),
                       decoder_depth=int(m[3] or cfg.decoder_depth))


def make_step(model, x, precision, device):
    opt = make_adamw(param_groups(model, 0.05), 1e-4, (0.9, 0.999))  # what training/ uses
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")

    def step():
        ctx = torch.autocast(device.type, dtype=DTYPES[precision]) if precision in DTYPES else contextlib.nullcontext()
        with ctx:
            loss, _, _ = model(x)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)
        sync(device)
    return step


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="tiny,base")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--steps", type=int, default=5, help="timed steps per model (medians are reported)")
    p.add_argument("--precisions", default="fp32,bf16",
                   help="fp32, bf16 and/or fp16 autocast (bf16 on an AVX2-only CPU is ~10x slower: leave it out there)")
    p.add_argument("--batch", type=int, default=0, help="crops per step (default: per size, 4x on a GPU)")
    p.add_argument("--decoders", default=DEFAULT_DECODERS,
                   help="decoders to alternate, comma-separated: (mw-mha|global)[-<W>d][-<L>l][-deform]")
    p.add_argument("--compile", action="store_true", help="also time the torch.compile'd MW-MHA model")
    args = p.parse_args()
    device = torch.device(args.device)
    info = machine_info()
    print_machine(info)
    rows, records = [], []
    for size in args.sizes.split(","):
        batch = args.batch or BATCH.get(size, 8) * (4 if device.type == "cuda" else 1)
        x = torch.randn(batch, 200, 80, device=device)
        for precision in args.precisions.split(","):
            models = {}
            for decoder in args.decoders.split(","):
                cfg = decoder_config(size, decoder)
                torch.manual_seed(0)
                models[decoder] = MaskedAutoencoder(cfg).to(device).train()
            compile_s = None
            if args.compile:
                torch.manual_seed(0)
                models["mw-mha compiled"] = torch.compile(MaskedAutoencoder(get_config(f"mwmae_{size}")).to(device).train())
            steps = {name: make_step(m, x, precision, device) for name, m in models.items()}
            for name, fn in steps.items():  # warm-up (and compile)
                t = time.perf_counter()
                fn()
                if name.endswith("compiled"):
                    compile_s = time.perf_counter() - t
            times = {name: [] for name in steps}
            for _ in range(args.steps):
                for name, fn in steps.items():
                    t = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - t)
            base = statistics.median(times["global" if "global" in times else next(iter(times))])
            for name, ts in times.items():
                med = statistics.median(ts)
                records.append({"size": size, "decoder": name, "precision": precision, "batch": batch,
                                "median_step_s": med, "step_s": ts, "samples_per_s": batch / med,
                                "vs_global": med / base, **({"compile_s": compile_s} if "compiled" in name else {})})
                rows.append([size, precision, name, batch, f"{med:.3f}", f"{batch / med:.1f}", f"{med / base:.3f}×"])
            del models, steps
    print_table(f"pretraining step on {device.type} (encoder + decoder, mask 0.8, AdamW), steps alternating",
                ["size", "precision", "decoder", "batch", "median step s", "samples/s", "step vs global (or the first)"], rows)
    # Other decoder sets and --compile keep their own results file beside the default table's.
    name = "train_step" + ("_decoders" if args.decoders != DEFAULT_DECODERS else "") + ("_compile" if args.compile else "")
    write_json(name, {"machine": info, "runs": records, "decoders": args.decoders.split(",")})


if __name__ == "__main__":
    main()
