"""Devices: resolving a device name, and knowing what a CPU computes fast."""

from __future__ import annotations

import functools
import os
import platform

import torch


def check_device(device) -> torch.device:
    """A device name or ``torch.device`` -> ``torch.device``, refusing one this machine does not have."""
    try:
        d = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"device {device!r} is not a torch device name; use e.g. 'cpu' or 'cuda:0' ({e})") from None
    if d.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(d)!r} asked for, but torch sees no CUDA GPU here (no GPU, no driver, or a "
                             f"CPU-only torch build); use device 'cpu'")
        if d.index is not None and d.index >= torch.cuda.device_count():
            raise ValueError(f"device {str(d)!r} asked for, but this machine has {torch.cuda.device_count()} CUDA GPU(s): "
                             f"use cuda:0 … cuda:{torch.cuda.device_count() - 1}")
    elif d.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' asked for, but the Apple MPS backend is not available here; use device 'cpu'")
    return d


@functools.cache
def onednn_has_bf16() -> bool:
    """Whether oneDNN has bf16 kernels on this CPU (AVX-512 or AMX); on AVX2-only CPUs it has none."""
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def cpu_matmul_is_slow(dtype: torch.dtype) -> bool:
    """Whether CPU matmuls in ``dtype`` run far slower than fp32 here: fp16 always (no CPU kernels that
    beat fp32 on the machines measured), bf16 where oneDNN has no bf16 kernels."""
    if dtype == torch.float16:
        return True
    return dtype == torch.bfloat16 and not onednn_has_bf16()


def describe(device: torch.device) -> str:
    """What the device is, for a model card: the GPU's name, or the CPU's model and the cores this
    process may use (its affinity, which a container or ``taskset`` limits)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type != "cpu":
        return device.type  # mps, xpu, ...: no portable name
    name = ""
    try:
        with open("/proc/cpuinfo") as f:
            name = next((line.partition(":")[2].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{name or platform.processor() or platform.machine()}" + (f", {cores} cores" if cores else "")
