"""Where MW-MHA's windows lie on the token sequence (docs/design.md §D6, §D27).

A head of window ``w > 0`` attends inside contiguous runs of ``w`` tokens of the *flattened*
sequence. Three cases, one rule:

* the official layout: runs [m·w, (m+1)·w), N divisible by w;
* **padding** (ours; the official code requires N % w == 0): when w does not divide N the last run
  is shorter, exactly as if the sequence were padded to a multiple of w with keys that are masked out;
* **shifted windows** (the official ``shifting_windows`` option): the run boundaries move to
  s + m·w with s = w // 2, so the first run [0, s) and the last one are shorter. The official code
  rolls the sequence by −s, takes the plain windows and keeps the two wrapped parts of the last
  window apart with a −100 logit; here they are two separate runs (−∞). The two differ by weights of
  exp(−100 + logit spread): below float32's resolution for any logits a model produces
  (tests/test_fused_attention.py checks the official roll-and-mask form against ours).

Inside a run the bias is table[i − j + w − 1] (positions in the original sequence: the roll and the
padding never change a difference i − j within a run).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

DEFORMABLE = -1  # window code of a deformable head (not laid out here: it reads learned positions)


def shift_for(window: int, shifted: bool) -> int:
    """The official shift of a window: w // 2 on shifted blocks, else 0."""
    return window // 2 if shifted and window > 0 else 0


def segment_ids(n: int, window: int, shift: int = 0, device=None) -> torch.Tensor:
    """(n,) long: the run each token is in. Run boundaries lie at shift + m·window, clipped to [0, n)."""
    if window < 1 or not 0 <= shift < window:
        raise ValueError(f"need window >= 1 and 0 <= shift < window, got window {window}, shift {shift}")
    return (torch.arange(n, device=device) + (window - shift) % window) // window


def same_window(n: int, window: int, device=None, shift: int = 0) -> torch.Tensor:
    """(n, n) bool: key j is in query i's window. ``window`` 0 (global) and −1 (deformable): all True."""
    if window < DEFORMABLE:
        raise ValueError(f"window sizes must be >= 0, or {DEFORMABLE} for a deformable head, got {window}")
    if window in (0, DEFORMABLE):  # a deformable head may read any token, as a global head does
        return torch.ones(n, n, dtype=torch.bool, device=device)
    seg = segment_ids(n, window, shift, device)
    return seg[:, None] == seg[None, :]


def relative_position_index(window: int, device=None) -> torch.Tensor:
    """(w, w) long tensor of i − j + w − 1 (the official ``relative_position_index``)."""
    pos = torch.arange(window, device=device)
    return pos[:, None] - pos[None, :] + window - 1


def block_positions(n: int, window: int, shift: int = 0, device=None) -> torch.Tensor:
    """(n_blocks, window) long: the token of each slot of each run laid out as a full block, ``n`` for a
    padding slot. A shorter first run (a shift) is padded at its front, a shorter last run at its back,
    so slot indices keep the tokens' relative positions."""
    front = (window - shift) % window  # padding slots before token 0
    n_blocks = -(-(n + front) // window)
    slots = torch.arange(n_blocks * window, device=device) - front
    return torch.where((slots >= 0) & (slots < n), slots, n).view(n_blocks, window)


def to_blocks(t: torch.Tensor, positions: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
    """(B, g, N, ...) -> (B, g, n_blocks, w, ...): tokens laid out in their windows by ``positions``
    (``block_positions``), padding slots (position N) filled with ``fill``."""
    pad = torch.full_like(t[:, :, :1], fill)
    return torch.cat([t, pad], dim=2)[:, :, positions]


@dataclass(frozen=True)
class WindowLayout:
    """Everything about one layer's windows at one sequence length, built once and cached.

    ``mask_index`` (H, N, N) long indexes the flat bias vector ``[table of each windowed head, in head
    order] + [0, −∞]``: a windowed head's in-window pairs point into its table, its other pairs to −∞,
    and a global head's pairs to 0. ``groups`` holds (window, shift, heads, table offsets,
    block positions) per (window, shift), for the block-local computations (gradients, reference path).
    """

    n: int
    mask_index: torch.Tensor
    groups: tuple[tuple[int, int, tuple[int, ...], tuple[int, ...], torch.Tensor], ...]

    @classmethod
    def build(cls, n: int, window_sizes: tuple[int, ...], shifts: tuple[int, ...], device=None) -> "WindowLayout":
        offsets, total = [], 0
        for w in window_sizes:
            offsets.append(total if w > 0 else -1)
            total += 2 * w - 1 if w > 0 else 0
        zero_slot, inf_slot = total, total + 1
        pos = torch.arange(n, device=device)
        rows = []
        for h, (w, s) in enumerate(zip(window_sizes, shifts)):
            if w <= 0:  # global (a deformable head is computed apart; its row is never used)
                rows.append(torch.full((n, n), zero_slot, dtype=torch.long, device=device))
                continue
            inside = same_window(n, w, device, s)
            rows.append(torch.where(inside, pos[:, None] - pos[None, :] + w - 1 + offsets[h], inf_slot))
        grouped: dict[tuple[int, int], list[int]] = {}
        for h, (w, s) in enumerate(zip(window_sizes, shifts)):
            if w > 0:
                grouped.setdefault((w, s), []).append(h)
        groups = tuple((w, s, tuple(hs), tuple(offsets[h] for h in hs), block_positions(n, w, s, device))
                       for (w, s), hs in grouped.items())
        return cls(n, torch.stack(rows), groups)
