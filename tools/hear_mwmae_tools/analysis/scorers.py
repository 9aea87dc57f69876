"""Scorers for pruning and span experiments (docs/design.md §D22).

A scorer is a callable ``scorer(model) -> float`` with attributes ``name`` and
``higher_is_better``. Two are provided:

* :class:`ReconstructionScorer`: masked-reconstruction MSE of the pretraining objective on held-out
  log-mel crops, with fixed per-clip masks (lower is better);
* :class:`LinearProbeScorer`: a quick linear probe (closed-form ridge classifier on standardised
  scene embeddings) on a HEAR task folder (higher is better, top-1 accuracy).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hear_mwmae.masking import kept_indices
from hear_mwmae_tools.evaluation.tasks.hearformat import read_hear_task
from .conditions import iterate_batches, mask_noise
from .hooks import broadcast_positions


class ReconstructionScorer:
    """Mean masked-patch MSE of ``model`` on (K, T, F) crops; masks seeded per clip."""

    higher_is_better = False
    name = "masked reconstruction MSE"

    def __init__(self, logmel: torch.Tensor, mask_ratio: float | None = None, seed: int = 0,
                 batch_size: int = 8) -> None:
        if not isinstance(logmel, torch.Tensor) or logmel.ndim != 3:
            raise ValueError("logmel must be a (clips, frames, mel bins) tensor")
        self.logmel, self.mask_ratio, self.seed, self.batch_size = logmel, mask_ratio, seed, batch_size

    @torch.no_grad()
    def __call__(self, model) -> float:
        if model.decoder is None:
            raise ValueError("the reconstruction scorer needs a full checkpoint (this one is encoder-only)")
        dev = next(model.parameters()).device
        total, count = 0.0, 0
        for start, stop in iterate_batches(len(self.logmel), self.batch_size):
            x = self.logmel[start:stop].to(dev, torch.float32)
            noise = mask_noise(range(start, stop), model.config.num_patches, self.seed, dev)
            ratio = model.config.mask_ratio if self.mask_ratio is None else self.mask_ratio
            broadcast_positions(model, "encoder", kept_indices(noise, ratio))  # for span-limit hooks
            broadcast_positions(model, "decoder", None)
            loss, _, _ = model(x, noise=noise, mask_ratio=self.mask_ratio)
            total += float(loss) * (stop - start)  # every clip has the same number of masked patches
            count += stop - start
        return total / count


def ridge_fit_predict(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, num_classes: int,
                      l2: float = 1.0) -> np.ndarray:
    """Closed-form ridge classifier on standardised features -> predicted class per test row."""
    mean, std = train_x.mean(0), train_x.std(0) + 1e-8
    a, b = (train_x - mean) / std, (test_x - mean) / std
    targets = np.eye(num_classes)[train_y] - 1.0 / num_classes
    w = np.linalg.solve(a.T @ a + l2 * np.eye(a.shape[1]), a.T @ targets)
    return np.argmax(b @ w, axis=1)


class LinearProbeScorer:
    """Top-1 accuracy of a ridge classifier on scene embeddings of a HEAR task.

    Split: k-fold tasks train on all folds but the last and test on the last; others train on
    train (+ valid) and test on test. Audio is decoded (and resampled to 16 kHz) once.
    """

    higher_is_better = True
    name = "linear probe top-1 accuracy"

    def __init__(self, task_dir: str | Path, l2: float = 1.0, batch_size: int = 32, max_clips: int | None = None) -> None:
        from hear_mwmae.audio_io import read_audio

        task = read_hear_task(task_dir)
        names = list(task["splits"])
        test = "test" if "test" in names else names[-1]
        self.task_name = task["meta"].get("task_name", Path(task_dir).name)
        self.num_classes, self.l2, self.batch_size = len(task["vocab"]), l2, batch_size
        self.clips: dict[str, list[tuple[torch.Tensor, int]]] = {"train": [], "test": []}
        for split, files in task["splits"].items():
            role = "test" if split == test else "train"
            for fname, labels in sorted(files.items())[:max_clips]:
                label = task["vocab"][str(labels[0])]
                self.clips[role].append((read_audio(task["audio_dir"] / split / fname)[0], label))
        if not self.clips["train"] or not self.clips["test"]:
            raise ValueError(f"{task_dir}: empty train or test split")

    def _embed(self, hear, items) -> tuple[np.ndarray, np.ndarray]:
        dev = next(hear.parameters()).device
        feats: list[np.ndarray | None] = [None] * len(items)
        by_length: dict[int, list[int]] = {}
        for i, (a, _) in enumerate(items):
            by_length.setdefault(len(a), []).append(i)  # batch equal lengths only: no padding artefacts
        for idx in by_length.values():
            for start, stop in iterate_batches(len(idx), self.batch_size):
                chunk = idx[start:stop]
                audio = torch.stack([items[i][0] for i in chunk]).to(dev)
                for i, e in zip(chunk, hear.scene_embeddings(audio).float().cpu().numpy()):
                    feats[i] = e
        return np.stack(feats).astype(np.float64), np.array([y for _, y in items])

    @torch.no_grad()
    def __call__(self, model) -> float:
        from hear_mwmae.hear import HearModel

        hear = HearModel(model.encoder)
        train_x, train_y = self._embed(hear, self.clips["train"])
        test_x, test_y = self._embed(hear, self.clips["test"])
        pred = ridge_fit_predict(train_x, train_y, test_x, self.num_classes, self.l2)
        return float(np.mean(pred == test_y))
