"""Log-mel statistics baseline as a HEAR module: ``python -m heareval.embeddings.runner hear_mwmae_tools.baselines.logmel``.

The same log-mel as MW-MAE's frontend (16 kHz, 25 ms windows every 10 ms, 80 mels 50–8000 Hz,
log(x + eps)) without the per-clip standardisation and without any learned weights:

- scene embedding (160-d): the mean and the standard deviation over time of each mel band;
- timestamp embeddings (80-d): log-mel frames, averaged over ``frames_per_step`` consecutive
  frames (default 4, i.e. one embedding every 40 ms like MW-MAE; 1 gives the raw 10 ms frames),
  stamped at the centre of the frames they average.

A representation that does not beat this on a task has learned nothing useful for it.
"""

from __future__ import annotations

import torch
from torch import nn

from hear_mwmae.frontend import HOP_LENGTH, N_MELS, SAMPLE_RATE, LogMelFrontend
from hear_mwmae.hear import check_audio

__all__ = ["load_model", "get_scene_embeddings", "get_timestamp_embeddings", "LogMelBaseline"]


class LogMelBaseline(nn.Module):
    """HEAR model: ``sample_rate`` 16000, ``scene_embedding_size`` 160, ``timestamp_embedding_size`` 80."""

    def __init__(self, frames_per_step: int = 4) -> None:
        super().__init__()
        if isinstance(frames_per_step, bool) or not isinstance(frames_per_step, int) or frames_per_step < 1:
            raise ValueError(f"frames_per_step must be a positive int (4 = 40 ms steps), got {frames_per_step!r}")
        self.frontend = LogMelFrontend()
        self.frames_per_step = frames_per_step
        self.sample_rate = SAMPLE_RATE
        self.scene_embedding_size = 2 * N_MELS
        self.timestamp_embedding_size = N_MELS
        self.eval()

    def _log_mel(self, audio) -> torch.Tensor:
        audio = check_audio(audio)
        self.frontend.to(audio.device)
        return self.frontend.log_mel(audio)  # (B, T, 80)

    @torch.inference_mode()
    def timestamp_embeddings(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L) -> frames (B, n, 80) and centre timestamps in ms (B, n), n = max(1, T // k)."""
        x = self._log_mel(audio)
        b, t, f = x.shape
        k = min(self.frames_per_step, t)
        n = t // k
        emb = x[:, : n * k].reshape(b, n, k, f).mean(dim=2)
        # frame j is centred on sample j * hop (centred STFT); a step averages frames i*k .. i*k+k-1
        centres = (torch.arange(n, dtype=torch.float64, device=x.device) * k + (k - 1) / 2) * HOP_LENGTH
        ts = (1000.0 * centres / SAMPLE_RATE).float().expand(b, n).contiguous()
        return emb.contiguous(), ts

    @torch.inference_mode()
    def scene_embeddings(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, L) -> (B, 160): per-band mean and standard deviation of the log-mel over time."""
        x = self._log_mel(audio)
        return torch.cat([x.mean(dim=1), x.std(dim=1, correction=0)], dim=1)


def load_model(model_file_path: str = "", frames_per_step: int = 4) -> LogMelBaseline:
    """The baseline has no weights: ``model_file_path`` must be empty."""
    if model_file_path:
        raise ValueError(f"the log-mel baseline has no weights, got model_file_path={model_file_path!r}; "
                         f"call load_model() without a path")
    return LogMelBaseline(frames_per_step=frames_per_step)


def _check_model(model) -> LogMelBaseline:
    if not isinstance(model, LogMelBaseline):
        raise TypeError(f"model must come from hear_mwmae_tools.baselines.logmel.load_model(), got {type(model).__name__}")
    return model


def get_timestamp_embeddings(audio: torch.Tensor, model: LogMelBaseline) -> tuple[torch.Tensor, torch.Tensor]:
    """HEAR timestamp embeddings: (B, L) -> (B, n, 80), (B, n) ms."""
    return _check_model(model).timestamp_embeddings(audio)


def get_scene_embeddings(audio: torch.Tensor, model: LogMelBaseline) -> torch.Tensor:
    """HEAR scene embeddings: (B, L) -> (B, 160)."""
    return _check_model(model).scene_embeddings(audio)
