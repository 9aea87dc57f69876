"""Capture and intervention hooks on the attention layers (docs/design.md §D23).

Built on public PyTorch module hooks plus the attention module's ``weight_filter`` slot (span
limits only), so the fused (SDPA) path stays the default: nothing changes once the hooks are removed.

* **Head outputs** (per-head context vectors softmax(qkᵀ/√d)v *before* the output projection)
  are read by a forward pre-hook on ``attn.proj``; they come from whichever path runs.
* **Head mask** (SAT pruning, "A = 0"): the same pre-hook multiplies head h's slice by mask[h],
  so a masked head contributes nothing but the projection's bias is kept. Works on the fused path.
* **Attention weights**: a forward pre-hook asks the module for ``return_attention=True`` (its
  explicit path) and a forward hook hands the caller the output it asked for.
* **Span limit** (SAT refinement): weights with |Δt| > r (time steps of the patch grid) are set
  to 0, then rows are renormalised (``span_mode="renormalize"``, identical to a −inf logits
  band) or not (``"zero"``, SAT's zero-only). The module applies the limit itself (its
  ``weight_filter``) before the weights mix the values, so the output comes from the limited weights.
"""

from __future__ import annotations

import weakref

import torch

from hear_mwmae.attention import MultiWindowAttention

PARTS = ("encoder", "decoder")
SPAN_MODES = ("renormalize", "zero")
_ACTIVE: "weakref.WeakSet[AttentionHooks]" = weakref.WeakSet()


def broadcast_positions(model, part: str, positions: torch.Tensor | None) -> None:
    """Tell every active :class:`AttentionHooks` on ``model``'s ``part`` where its tokens sit.

    ``positions`` (B, K): patch index of each non-prefix token the part sees (None = all N in
    order). Runners call this before a forward pass (the masked encoder sees scattered tokens).
    """
    for hooks in list(_ACTIVE):
        if hooks.model is model and hooks.part == part:
            hooks.positions = positions


def attention_layers(model, part: str) -> list[MultiWindowAttention]:
    """The attention modules of ``model.encoder`` or ``model.decoder``, in block order."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")
    owner = getattr(model, part, None)
    if owner is None:
        raise ValueError(f"this model has no {part} (encoder-only checkpoint?)")
    return [blk.attn for blk in owner.blocks]


def _layer_dict(value, num_layers: int, name: str) -> dict[int, object]:
    if value is None:
        return {}
    if isinstance(value, torch.Tensor):
        if value.ndim != 2 or value.shape[0] != num_layers:
            raise ValueError(f"{name} as a tensor must be (layers={num_layers}, heads), got {tuple(value.shape)}")
        return dict(enumerate(value))
    if not isinstance(value, dict):
        raise TypeError(f"{name} must be a dict {{layer: value}} or a (layers, heads) tensor, got {type(value).__name__}")
    bad = [k for k in value if not isinstance(k, int) or not 0 <= k < num_layers]
    if bad:
        raise ValueError(f"{name}: layer indices {bad} out of range [0, {num_layers})")
    return dict(value)


class AttentionHooks:
    """Context manager over the attention layers of one part of a model.

    Args:
        model: a ``MaskedAutoencoder`` (or anything with ``.encoder`` / ``.decoder`` blocks).
        part: ``"encoder"`` or ``"decoder"``.
        layers: layer indices to capture from (None = all).
        weights: capture attention weights ``attention[l]`` (B, H, n, n) (forces the explicit path).
        head_outputs: capture ``head_outputs[l]`` (B, n, H, head_dim).
        head_mask: {layer: (H,) tensor} or a (L, H) tensor; multiplies per-head outputs.
        span: keep only keys with |Δt| <= span time steps (None = no limit); prefix (CLS) keys stay.
        span_mode: ``"renormalize"`` or ``"zero"``.

    Set ``positions`` (B, K) (or call :func:`broadcast_positions`) before a forward pass whose patch
    tokens are not all N in order (the masked encoder); only the span limit needs them. The
    captured tensors are those of the latest forward pass.
    """

    def __init__(self, model, part: str, *, layers=None, weights: bool = False, head_outputs: bool = False,
                 head_mask=None, span: int | None = None, span_mode: str = "renormalize") -> None:
        self.modules = attention_layers(model, part)
        self.model, self.part = model, part
        self.config = model.config
        num = len(self.modules)
        self.layers = set(range(num)) if layers is None else {int(i) for i in layers}
        if any(not 0 <= i < num for i in self.layers):
            raise ValueError(f"layers {sorted(self.layers)} out of range [0, {num})")
        self.capture_weights, self.capture_heads = bool(weights), bool(head_outputs)
        self.head_mask = _layer_dict(head_mask, num, "head_mask")
        for i, m in self.head_mask.items():
            if tuple(torch.as_tensor(m).shape) != (self.modules[i].num_heads,):
                raise ValueError(f"head_mask[{i}] must have shape ({self.modules[i].num_heads},)")
        if span is not None and (isinstance(span, bool) or not isinstance(span, int) or span < 0):
            raise ValueError(f"span must be a non-negative int (time steps) or None, got {span!r}")
        if span_mode not in SPAN_MODES:
            raise ValueError(f"span_mode must be one of {SPAN_MODES}, got {span_mode!r}")
        self.span, self.span_mode = span, span_mode
        self.num_prefix = getattr(model, part).num_prefix  # CLS leads both encoder and decoder
        self.positions: torch.Tensor | None = None
        self.attention: dict[int, torch.Tensor] = {}
        self.head_outputs: dict[int, torch.Tensor] = {}
        self._handles: list = []
        self._caller_wants_attention: dict[int, bool] = {}

    # ---- life cycle ---------------------------------------------------------------------
    def __enter__(self) -> "AttentionHooks":
        if self.span is not None and any(m.weight_filter is not None for m in self.modules):
            raise RuntimeError("another AttentionHooks with a span limit is active on this model")
        for i, m in enumerate(self.modules):
            explicit = self.span is not None or (self.capture_weights and i in self.layers)
            if explicit:
                self._handles.append(m.register_forward_pre_hook(self._pre_hook(i), with_kwargs=True))
                self._handles.append(m.register_forward_hook(self._post_hook(i), with_kwargs=True))
            if self.span is not None:  # limits the weights inside the module, before they mix values
                m.weight_filter = self._limit_span
            if i in self.head_mask or (self.capture_heads and i in self.layers):
                self._handles.append(m.proj.register_forward_pre_hook(self._proj_hook(i, m)))
        _ACTIVE.add(self)
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    def remove(self) -> None:
        _ACTIVE.discard(self)
        for m in self.modules:
            if m.weight_filter == self._limit_span:
                m.weight_filter = None
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def clear(self) -> None:
        """Drop the captured tensors (they are kept until the next forward pass otherwise)."""
        self.attention.clear()
        self.head_outputs.clear()

    # ---- hooks --------------------------------------------------------------------------
    def _pre_hook(self, i: int):
        def hook(module, args, kwargs):
            wants = bool(kwargs.get("return_attention", args[1] if len(args) > 1 else False))
            self._caller_wants_attention[i] = wants
            return args[:1], {**{k: v for k, v in kwargs.items() if k != "return_attention"}, "return_attention": True}
        return hook

    def _post_hook(self, i: int):
        def hook(module, args, kwargs, output):
            out, attn = output  # attn is already span-limited (weight_filter)
            if self.capture_weights and i in self.layers:
                self.attention[i] = attn.detach()
            return (out, attn) if self._caller_wants_attention.get(i) else out
        return hook

    def _proj_hook(self, i: int, attn_module: MultiWindowAttention):
        h, hd = attn_module.num_heads, attn_module.head_dim

        def hook(module, args):
            x = args[0]
            heads = x.reshape(*x.shape[:-1], h, hd)  # (B, n, H, hd)
            if i in self.head_mask:
                mask = torch.as_tensor(self.head_mask[i]).to(device=x.device, dtype=x.dtype)
                heads = heads * mask[:, None]
                x = heads.reshape(x.shape)
            if self.capture_heads and i in self.layers:
                self.head_outputs[i] = heads.detach()
            return (x,) + tuple(args[1:])
        return hook

    def token_times(self, n: int, device) -> torch.Tensor:
        """(B or 1, n) time step of every token (−1 for the prefix/CLS token)."""
        p = self.num_prefix
        f = self.config.grid_size[1]
        pos = self.positions
        if pos is None:
            if n - p != self.config.num_patches:
                raise ValueError(f"{n - p} patch tokens but no positions: set AttentionHooks.positions (B, K) "
                                 f"or call broadcast_positions() before a masked forward pass")
            pos = torch.arange(n - p, device=device)[None]
        t = pos.to(device).long() // f
        return torch.cat([torch.full((t.shape[0], p), -1, device=device, dtype=torch.long), t], dim=1)

    def _limit_span(self, attn: torch.Tensor) -> torch.Tensor:
        t = self.token_times(attn.shape[-1], attn.device)  # (B, n)
        band = (t[:, :, None] - t[:, None, :]).abs() <= self.span
        band = band | (t[:, None, :] < 0) | (t[:, :, None] < 0)  # prefix rows/keys are never limited
        limited = attn * band[:, None].to(attn.dtype)
        if self.span_mode == "renormalize":
            limited = limited / limited.sum(-1, keepdim=True).clamp_min(torch.finfo(attn.dtype).tiny)
        return limited


def head_masks(pruned, num_layers: int, num_heads: int) -> torch.Tensor:
    """(L, H) float mask with 0 at every (layer, head) in ``pruned`` and 1 elsewhere."""
    mask = torch.ones(num_layers, num_heads)
    for layer, head in pruned:
        if not (0 <= layer < num_layers and 0 <= head < num_heads):
            raise ValueError(f"head ({layer}, {head}) out of range ({num_layers} layers × {num_heads} heads)")
        mask[layer, head] = 0.0
    return mask

