"""oneDNN's fused linear kernels for CPU inference (docs/design.md §D27, docs/performance.md).

Why: on the CPUs measured, oneDNN's fp32 GEMM (the kernel torch.compile uses on CPU) beats the MKL
sgemm behind ``nn.Linear`` by 1.2–1.3× on the encoder's shapes (benchmarks/fp32_vs_xla.py, AMD EPYC
with AVX-512), and it fuses the bias, GELU and the residual add into the GEMM. These kernels have no
autograd and are not autocast-aware, so they serve eager no-grad passes whose input already has the
weights' dtype; everything else takes the plain ``nn.Linear`` path (same maths).
"""

from __future__ import annotations

import torch
from torch import nn

from .devices import onednn_has_bf16

_ONEDNN = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
# Why a check: oneDNN has bf16 kernels only on CPUs with AVX-512 (or AMX); on an AVX2-only CPU (e.g. AMD
# EPYC Zen 3) the fused bf16 op fails ("could not create a primitive descriptor"), while plain bf16 linear works.
_DTYPES = (torch.float32,) + ((torch.bfloat16,) if _ONEDNN and onednn_has_bf16() else ())


def _has_hooks(layer: nn.Module) -> bool:
    """Module hooks on the layer (analysis tools read and edit its input there): calling the kernel
    directly would skip them, so such a layer is called as a module."""
    return bool(layer._forward_pre_hooks or layer._forward_hooks or nn.modules.module._global_forward_pre_hooks
                or nn.modules.module._global_forward_hooks)


def use_onednn(x: torch.Tensor, layer: nn.Linear) -> bool:
    """Eager inference on CPU, input in the weights' dtype (fp32, or bf16 where oneDNN has bf16), no
    autocast (which would want the GEMM in another dtype), not under torch.compile (inductor fuses
    itself), no hooks on the layer."""
    return (_ONEDNN and x.device.type == "cpu" and not torch.is_grad_enabled() and x.dtype in _DTYPES
            and layer.weight.dtype == x.dtype and not torch.is_autocast_enabled("cpu")
            and not torch.compiler.is_compiling() and not _has_hooks(layer))


def linear(layer: nn.Linear, x: torch.Tensor, activation: str = "none", approximate: str = "") -> torch.Tensor:
    """``layer(x)`` [then GELU when activation="gelu"], as one oneDNN kernel where it applies."""
    if use_onednn(x, layer):
        return torch.ops.mkldnn._linear_pointwise(x, layer.weight, layer.bias, activation, [], approximate)
    out = layer(x)
    return nn.functional.gelu(out, approximate=approximate or "none") if activation == "gelu" else out


def linear_add(layer: nn.Linear, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    """``residual + layer(x)``, the add fused into the GEMM where oneDNN applies."""
    if use_onednn(x, layer) and residual.dtype == x.dtype:
        return torch.ops.mkldnn._linear_pointwise.binary(x, residual, layer.weight, layer.bias, "add")
    return residual + layer(x)
