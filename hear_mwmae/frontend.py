"""Log-mel frontend of the official HEAR path (docs/design.md §D1).

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


N_FFT = 400


class LogMelFrontend(nn.Module):
    """(B, L) 16 kHz audio -> (B, T, 80) per-clip-normalised log-mel, T = 1 + L // 160.

    Always computed in float32 (also under autocast): the log and the normalisation
    statistics are precision-sensitive. Window and filterbank are non-persistent buffers.
    :meth:`log_mel` works through long clips in bounded pieces (the STFT of 20 minutes would
    otherwise hold ~0.5 GB of intermediates); :meth:`stats` and :meth:`normalize` then apply the
    whole-clip standardisation to any slice.
    """

    def __init__(self, max_frames_per_piece: int = 6000) -> None:
        super().__init__()
        self.max_frames_per_piece = max_frames_per_piece
        # center=False: we pad ourselves (reflect, n_fft // 2 each side, as torchaudio's center=True
        # does), which also works for clips shorter than the pad and lets long clips go piecewise.
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=SAMPLE_RATE, n_fft=N_FFT, win_length=N_FFT, hop_length=HOP_LENGTH,
            f_min=50.0, f_max=8000.0, n_mels=N_MELS, power=2.0, center=False,
        )
        # Keep checkpoints weights-only: these buffers are constants, rebuilt at init.
        for mod in (self.mel.spectrogram, self.mel.mel_scale):
            for name, buf in list(mod._buffers.items()):
                mod._buffers.pop(name)
                mod.register_buffer(name, buf, persistent=False)

    def log_mel(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, L) -> (B, T, 80) log(mel power + eps), not yet normalised."""
        with torch.autocast(audio.device.type, enabled=False):
            audio = audio.float()
            b, n = audio.shape
            t = num_frames(n)
            out = torch.empty(b, t, N_MELS, device=audio.device)
            for f0 in range(0, t, self.max_frames_per_piece):
                f1 = min(t, f0 + self.max_frames_per_piece)
                # Samples of frames f0..f1-1 of the reflect-padded clip (n_fft // 2 each side,
                # what torchaudio's center=True does), gathered piece by piece: no padded copy.
                start = f0 * HOP_LENGTH - N_FFT // 2
                index = reflect_index(n, (f1 - 1 - f0) * HOP_LENGTH + N_FFT, offset=start)
                piece = audio.index_select(1, torch.from_numpy(index).to(audio.device))
                out[:, f0:f1] = torch.log(self.mel(piece) + LOG_EPS).transpose(1, 2)
            return out

    @staticmethod
    def stats(log_mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-clip mean and unbiased std over mel × time: (B, T, F) -> (B,), (B,).

        Why unbiased, over the whole clip: the official HEAR path does torch.std (ddof=1) once
        per clip, before chunking into 2 s units.
        """
        return log_mel.mean(dim=(1, 2)), log_mel.std(dim=(1, 2))

    @staticmethod
    def normalize(log_mel: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        """(x − mean) / (std + 1e-8) with per-row statistics broadcast over (T, F)."""
        return (log_mel - mean[:, None, None]) / (std[:, None, None] + NORM_EPS)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        x = self.log_mel(audio)
        return self.normalize(x, *self.stats(x))


def reflect_index(length: int, padded: int, offset: int = 0) -> np.ndarray:
    """Indices of positions ``offset … offset + padded − 1`` of a ``length``-item sequence, with
    out-of-range positions reflected as NumPy ``mode="reflect"`` does (offset < 0 pads the start).

    Why by hand: the official code pads with jnp.pad(mode="reflect"), which keeps reflecting
    (a triangle wave) when the pad exceeds the length; torch's reflect pad refuses that.
    """
    idx = np.arange(offset, offset + padded)
    if length == 1:
        return np.zeros(padded, dtype=np.int64)
    period = 2 * (length - 1)
    idx = idx % period
    return np.where(idx >= length, period - idx, idx).astype(np.int64)
