"""Log-mel frontend of the official HEAR path (mwmae-spec.md §1.1).

torchaudio ``MelSpectrogram`` (16 kHz, n_fft = win = 400, hop 160, 50–8000 Hz, 80 mels,
power 2, periodic Hann, centred with reflect padding, HTK scale, no filter norm), then
log(x + float32 eps), then per-clip standardisation over the *whole* clip.
"""

from __future__ import annotations

import numpy as np
import torch
import torchaudio
from torch import nn

SAMPLE_RATE = 16000
HOP_LENGTH = 160  # 10 ms
N_MELS = 80
# Why float32 eps: the official code adds torch.finfo().eps of the default dtype (float32).
LOG_EPS = float(torch.finfo(torch.float32).eps)
NORM_EPS = 1e-8


def num_frames(num_samples: int) -> int:
    """Spectrogram frames of a clip: 1 + L // 160 (centred STFT)."""
    return 1 + num_samples // HOP_LENGTH


class LogMelFrontend(nn.Module):
    """(B, L) 16 kHz audio -> (B, T, 80) per-clip-normalised log-mel, T = 1 + L // 160.

    Always computed in float32 (also under autocast): the log and the normalisation
    statistics are precision-sensitive. Window and filterbank are non-persistent buffers.
    """

    def __init__(self, normalize: bool = True) -> None:
        super().__init__()
        self.normalize = normalize
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=SAMPLE_RATE, n_fft=400, win_length=400, hop_length=HOP_LENGTH,
            f_min=50.0, f_max=8000.0, n_mels=N_MELS, power=2.0,
        )
        # Keep checkpoints weights-only: these buffers are constants, rebuilt at init.
        for mod in (self.mel.spectrogram, self.mel.mel_scale):
            for name, buf in list(mod._buffers.items()):
                mod._buffers.pop(name)
                mod.register_buffer(name, buf, persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        with torch.autocast(audio.device.type, enabled=False):
            x = torch.log(self.mel(audio.float()) + LOG_EPS)  # (B, 80, T)
            if self.normalize:
                # Why unbiased std over mel × time of the full clip: the official HEAR path does
                # torch.std (ddof=1) once per clip, before chunking into 2 s units.
                mean = x.mean(dim=(1, 2), keepdim=True)
                std = x.std(dim=(1, 2), keepdim=True)
                x = (x - mean) / (std + NORM_EPS)
        return x.transpose(1, 2)  # (B, T, 80): time-major


def reflect_index(length: int, padded: int) -> np.ndarray:
    """Indices that extend ``length`` items to ``padded`` with NumPy ``mode="reflect"`` semantics.

    Why by hand: the official code pads with jnp.pad(mode="reflect"), which keeps reflecting
    (a triangle wave) when the pad exceeds the length; torch's reflect pad refuses that.
    """
    idx = np.arange(padded)
    if length == 1:
        return np.zeros(padded, dtype=np.int64)
    period = 2 * (length - 1)
    idx = idx % period
    return np.where(idx >= length, period - idx, idx).astype(np.int64)
