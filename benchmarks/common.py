"""Shared helpers for the benchmark scripts: machine facts, GEMM peak, tables, JSON output."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import torch

RESULTS_DIR = Path(__file__).parent / "results"


ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16")


def machine_info() -> dict:
    """CPU model, cores, the ISA features that decide bf16/fp32 speed, torch version and threads, GPU."""
    cpu, vendor, family, model, flags = platform.processor() or "unknown", "", "", "", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = (part.strip() for part in line.partition(":"))
            if key == "model name" and cpu in ("unknown", platform.processor()):
                cpu = value
            elif key == "vendor_id" and not vendor:
                vendor = value
            elif key == "cpu family" and not family:
                family = value
            elif key == "model" and not model:
                model = value
            elif key == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    info = {
        "cpu": cpu, "vendor": vendor, "cpu_family": family, "cpu_model": model,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "isa": {flag: flag in flags for flag in ISA_FLAGS},
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "onednn_bf16": bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    info["kind"] = machine_kind(info)
    return info


def machine_kind(info: dict) -> str:
    """A short label for result file names and tables, e.g. ``cpu-amd-avx2``, ``cpu-intel-amx``, ``cuda-h100``."""
    if info.get("cuda"):
        return "cuda-" + "".join(c for c in info["cuda"].lower().split("nvidia")[-1].split()[0] if c.isalnum())
    isa = info["isa"]
    best = next((name for name, flag in (("amx", "amx_bf16"), ("avx512bf16", "avx512_bf16"), ("avx512", "avx512f"),
                                         ("avx2", "avx2")) if isa.get(flag)), "sse")
    vendor = {"GenuineIntel": "intel", "AuthenticAMD": "amd"}.get(info.get("vendor", ""), "cpu")
    return f"cpu-{vendor}-{best}"


def print_machine(info: dict) -> None:
    isa = ", ".join(name for name, on in info["isa"].items() if on) or "none of " + ", ".join(ISA_FLAGS)
    print(f"# machine: {info['cpu']} ({info['kind']}) | cores {info['cores']} | torch {info['torch']} "
          f"threads {info['torch_threads']} | ISA {isa} | oneDNN bf16 {'yes' if info['onednn_bf16'] else 'no'} "
          f"| CUDA {info['cuda'] or 'none'}")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timeit(fn, device: torch.device, repeats: int = 3, warmup: int = 1) -> float:
    """Best wall time of ``repeats`` calls (after ``warmup``), in seconds."""
    for _ in range(warmup):
        fn()
    sync(device)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync(device)
        best = min(best, time.perf_counter() - t)
    return best


def gemm_flops(dtype: torch.dtype, device: torch.device, m: int, k: int, n: int, repeats: int = 5,
               warmup: int = 2) -> float:
    """Achieved FLOP/s of one (m×k)·(k×n) matmul (best of ``repeats``), laid out as a linear layer does
    it: x · Wᵀ with W stored (n, k). Why: on a CPU without bf16 kernels, bf16 ``a @ b`` with b stored
    (k, n) takes a ~12x slower path than the layout every nn.Linear uses (measured on an AVX2 EPYC)."""
    a = torch.randn(m, k, device=device, dtype=dtype)
    w = torch.randn(n, k, device=device, dtype=dtype)
    seconds = timeit(lambda: torch.nn.functional.linear(a, w), device, repeats=repeats, warmup=warmup)
    return 2 * m * k * n / seconds


def gemm_speed_ratio(dtype: torch.dtype, device: torch.device) -> float:
    """A quick probe (well under a second): this dtype's matmul rate over fp32's on a 1000×768×768 GEMM.

    On a CPU without bf16/fp16 matmul kernels (e.g. AVX2 only) the ratio is ~0.1: scripts use it
    to shrink the work they give a slow dtype, so that a run still ends in minutes.
    """
    fp32 = gemm_flops(torch.float32, device, 1000, 768, 768, repeats=2, warmup=1)
    return gemm_flops(dtype, device, 1000, 768, 768, repeats=1, warmup=1) / fp32


# Base's four GEMM shapes for one 32-unit micro-batch (8000 token rows): qkv, proj, fc1, fc2.
BASE_GEMM_SHAPES = ((8000, 768, 2304), (8000, 768, 768), (8000, 768, 3072), (8000, 3072, 768))


def gemm_peak(dtype: torch.dtype, device: torch.device, rows: int = 8000) -> tuple[float, float]:
    """The machine's practical matmul peak on Base's own GEMM shapes, two ways.

    Returns (best, mix): ``best`` is the fastest single shape; ``mix`` is the FLOP-weighted rate
    of all four (total FLOPs / total time), i.e. the rate at which a perfect implementation that
    did nothing but these GEMMs would run the encoder. ``rows`` < 8000 shrinks the token rows
    (for a dtype that is very slow on this machine).
    """
    shapes = [(rows, k, n) for _, k, n in BASE_GEMM_SHAPES]
    quick = rows < 8000
    rates = [(2 * m * k * n, gemm_flops(dtype, device, m, k, n, repeats=1 if quick else 5, warmup=1 if quick else 2))
             for m, k, n in shapes]
    best = max(rate for _, rate in rates)
    mix = sum(f for f, _ in rates) / sum(f / rate for f, rate in rates)
    return best, mix


def encoder_flops_per_unit(config) -> float:
    """Matmul FLOPs of one unmasked encoder pass (one 2 s unit): linear layers + attention."""
    n = config.num_patches + (1 if config.use_cls_token else 0)
    d = config.embed_dim
    hidden = int(d * config.mlp_ratio)
    per_layer = 2 * n * (d * 3 * d + d * d + 2 * d * hidden) + 2 * 2 * n * n * d
    patch = 2 * config.num_patches * config.patch_dim * d
    return config.depth * per_layer + patch


def print_table(title: str, columns: list[str], rows: list[list]) -> None:
    widths = [max(len(str(c)), *(len(_fmt(r[i])) for r in rows)) for i, c in enumerate(columns)]
    print(f"\n## {title}")
    print("| " + " | ".join(str(c).ljust(w) for c, w in zip(columns, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(_fmt(v).ljust(w) for v, w in zip(r, widths)) + " |")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 100 else f"{v:,.0f}"
    return str(v)


def write_json(name: str, payload: dict) -> Path:
    """``results/<name>_<machine kind>.json`` (atomically): each machine kind keeps its own results.
    ``BENCH_RESULTS_DIR`` puts them elsewhere (a smoke run that must not replace the real tables)."""
    results = Path(os.environ.get("BENCH_RESULTS_DIR") or RESULTS_DIR)
    results.mkdir(parents=True, exist_ok=True)
    kind = payload.get("machine", {}).get("kind") or machine_kind(machine_info())
    path = results / f"{name}_{kind}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    os.replace(tmp, path)
    print(f"\n(results written to {path})")
    return path
