"""Training data: random 200-frame crops of precomputed log-mel shards, sharded across ranks.

Every random choice is a pure function of (seed, epoch, position), so a run resumed from a
checkpoint sees exactly the batches an uninterrupted run would, with any number of workers.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from hear_mwmae.frontend import NORM_EPS

CROP_FRAMES = 200  # frames per training crop (2 s: the model's input length)


# Clips whose log-mel std is below this are (near) digital silence and are left out. Why: crops
# are normalised by the clip's std (official parse), so a silent clip's crops blow up; one silent
# speed copy in our 12.5 h corpus gave a loss of 2.7e9, and each such batch floods AdamW's second
# moments for thousands of steps. Real audio sits far above it (lowest in that corpus: 1.0).
MIN_CLIP_STD = 0.25


class LogMelCrops(Dataset):
    """Map-style dataset over the clips of a shard folder; items are keyed by (epoch, clip).

    ``dataset[(epoch, i)]`` -> (200, 80) float32: a random crop of clip i, normalised with the
    clip's whole-clip mean and population std (the official training parse, docs/design.md §D2).
    The crop offset is drawn uniformly from [0, T − 200) as the official code does (the last
    offset is never used; T == 200 uses the clip as is).

    ``mix_prob`` > 0 (off by default, as the official recipe has no augmentation): with that
    probability the crop is mixed with a random crop of another clip in the mel power domain,
    log((1 − λ)·exp(a) + λ·exp(b)) with λ ~ U(0, ``mix_ratio``) (BYOL-A's log-mixup-exp), then
    normalised with clip i's statistics. It multiplies the variety of a small corpus (every
    pair of clips is a new sound) without new audio. Every draw is seeded by (seed, epoch, i).
    """

    def __init__(self, root: str | Path, seed: int = 0, mix_prob: float = 0.0, mix_ratio: float = 0.4) -> None:
        if not 0.0 <= mix_prob <= 1.0:
            raise ValueError(f"mix_prob must be in [0, 1] (the share of crops that are mixed), got {mix_prob}")
        if not 0.0 < mix_ratio <= 1.0:
            raise ValueError(f"mix_ratio must be in (0, 1] (the largest weight of the mixed-in clip), got {mix_ratio}")
        self.mix_prob, self.mix_ratio = mix_prob, mix_ratio
        self.root = Path(root)
        index_path = self.root / "index.json"
        if not index_path.is_file():
            raise FileNotFoundError(f"{self.root} has no index.json; build it with `python -m training.shards`")
        index = json.loads(index_path.read_text())
        self.seed = seed
        self.clips: list[tuple[int, int, int, float, float]] = []  # (shard, start, frames, mean, std)
        self.silent: list[str] = []  # files of the clips left out as silent
        self.shard_files = []
        for s, shard in enumerate(index["shards"]):
            self.shard_files.append(self.root / shard["npy"])
            for c in json.loads((self.root / shard["json"]).read_text())["clips"]:
                if c["std"] < MIN_CLIP_STD:  # shards built before the check in training.shards
                    self.silent.append(c["file"])
                    continue
                self.clips.append((s, c["start"], c["frames"], c["mean"], c["std"]))
        if self.silent:
            warnings.warn(f"{len(self.silent)} silent clip(s) of {self.root} left out (log-mel std < {MIN_CLIP_STD}), "
                          f"e.g. {self.silent[0]}")
        if not self.clips:
            raise ValueError(f"{self.root} holds no clips (every file was skipped or silent? see report.json)")
        if mix_prob > 0 and len(self.clips) < 2:
            raise ValueError(f"mix_prob > 0 needs at least 2 clips to mix; {self.root} holds 1")
        self._arrays: dict[int, np.ndarray] = {}  # memmaps, opened lazily in each worker

    def __len__(self) -> int:
        return len(self.clips)

    def _array(self, shard: int) -> np.ndarray:
        if shard not in self._arrays:
            self._arrays[shard] = np.load(self.shard_files[shard], mmap_mode="r")
        return self._arrays[shard]

    def _draw_offset(self, i: int, rng: np.random.Generator) -> int:
        """A crop offset of clip i, uniform in [0, T − 200) (0 when T <= 200: no draw)."""
        frames = self.clips[i][2]
        return 0 if frames <= CROP_FRAMES else int(rng.integers(0, frames - CROP_FRAMES))

    def crop_offset(self, epoch: int, i: int) -> int:
        return self._draw_offset(i, np.random.default_rng([self.seed, epoch, i]))

    def raw_crop(self, i: int, off: int) -> np.ndarray:
        """(min(T, 200), 80) float32 log-mel of clip i from frame ``off``, as stored (not normalised)."""
        shard, start = self.clips[i][:2]
        return np.asarray(self._array(shard)[start + off : start + off + CROP_FRAMES], dtype=np.float32)

    def mix_partner(self, epoch: int, i: int) -> tuple[int, int, float] | None:
        """(clip j != i, its crop offset, λ) that crop (epoch, i) is mixed with, or None (unmixed)."""
        if self.mix_prob <= 0:
            return None
        rng = np.random.default_rng([self.seed, epoch, i, 1])  # 1: a stream apart from crop_offset's
        if rng.random() >= self.mix_prob:
            return None
        j = int(rng.integers(0, len(self.clips) - 1))
        j += j >= i  # any clip but i
        off = self._draw_offset(j, rng)
        return j, off, float(rng.uniform(0.0, self.mix_ratio))

    def __getitem__(self, key: tuple[int, int]) -> torch.Tensor:
        epoch, i = key
        mean, std = self.clips[i][3:]
        crop = self.raw_crop(i, self.crop_offset(epoch, i))
        partner = self.mix_partner(epoch, i)
        if partner is not None:
            j, off, lam = partner
            other = self.raw_crop(j, off)
            n = min(len(crop), len(other))  # a clip shorter than 200 frames mixes over its length only
            crop = np.array(crop)  # a writable copy: float32 shards give a read-only memmap view
            # log-mel is log(power + eps): mixing sounds adds powers, so the mixture is a log-sum-exp
            crop[:n] = np.logaddexp(crop[:n] + np.log1p(-lam), other[:n] + np.log(max(lam, 1e-12)))
        return torch.from_numpy((crop - mean) / (std + NORM_EPS))


class ResumableSampler(Sampler):
    """Endless (epoch, clip) keys for one rank: a fresh seeded permutation each epoch, split
    across ranks (each rank gets len // world clips an epoch), starting at ``start`` keys in.
    """

    def __init__(self, n: int, rank: int = 0, world: int = 1, seed: int = 0, start: int = 0) -> None:
        if n < world:
            raise ValueError(f"{n} clips cannot be split over {world} ranks")
        self.n, self.rank, self.world, self.seed, self.start = n, rank, world, seed, start
        self.per_rank = n // world

    def position(self, consumed: int) -> tuple[int, int]:
        """(epoch, index in epoch) after this rank consumed ``consumed`` keys."""
        return divmod(consumed, self.per_rank)

    def __iter__(self):
        epoch, pos = self.position(self.start)
        while True:
            order = np.random.default_rng([self.seed, epoch]).permutation(self.n)
            mine = order[self.rank : self.per_rank * self.world : self.world]
            for i in mine[pos:]:
                yield epoch, int(i)
            epoch, pos = epoch + 1, 0


def make_loader(dataset: LogMelCrops, batch_size: int, rank: int, world: int, seed: int, consumed: int,
                workers: int, pin_memory: bool = False) -> DataLoader:
    """DataLoader from a data position: ``consumed`` = samples this rank has already used."""
    sampler = ResumableSampler(len(dataset), rank, world, seed, start=consumed)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers, drop_last=True,
                      pin_memory=pin_memory, persistent_workers=workers > 0,
                      prefetch_factor=4 if workers > 0 else None)
