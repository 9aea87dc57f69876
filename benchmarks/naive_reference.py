"""A naive reference encoder path, like the official JAX code runs it: fp32, eager, one head at a time.

Used only as the side-by-side baseline of ``embed_throughput.py``; it shares the weights of
the real model and gives the same numbers (checked at start-up by the benchmark).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hear_mwmae.model import Block, Encoder


def _attention_head_by_head(block: Block, x: torch.Tensor) -> torch.Tensor:
    attn = block.attn
    b, n, d = x.shape
    qkv = attn.qkv(x).view(b, n, 3, attn.num_heads, attn.head_dim)
    heads = []
    for h, w in enumerate(attn.window_sizes):  # the official Python loop over heads
        q, k, v = qkv[:, :, 0, h], qkv[:, :, 1, h], qkv[:, :, 2, h]
        if w:
            q, k, v = (t.reshape(b * n // w, w, attn.head_dim) for t in (q, k, v))
        logits = q @ k.transpose(-2, -1) * attn.scale
        if w:
            logits = logits + attn.window_bias(w, (h,))[0]
        heads.append((logits.softmax(-1) @ v).reshape(b, n, attn.head_dim))
    return attn.proj(torch.cat(heads, dim=-1))


def naive_frame_embeddings(encoder: Encoder, x: torch.Tensor) -> torch.Tensor:
    """Same contract as ``Encoder.frame_embeddings``: (B, 200, 80) -> (B, 50, 5·D)."""
    tokens = encoder._prepend_cls(encoder.embed(x))
    for blk in encoder.blocks:
        tokens = tokens + _attention_head_by_head(blk, blk.norm1(tokens))
        tokens = tokens + blk.mlp(blk.norm2(tokens))
    tokens = F.layer_norm(tokens, (tokens.shape[-1],), encoder.norm.weight, encoder.norm.bias, encoder.norm.eps)
    tokens = tokens[:, encoder.num_prefix :]
    return tokens.reshape(tokens.shape[0], encoder.config.grid_size[0], -1)
