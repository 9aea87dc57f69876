import numpy as np
import pytest
import torch
import torchaudio

from hear_mwmae.frontend import LOG_EPS, LogMelFrontend, num_frames, reflect_index


def _audio(n, seed=0):
    return torch.rand(2, n, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize("n", [16000, 52800, 64001])
def test_matches_torchaudio_centered_melspectrogram(n):
    audio = _audio(n)
    reference = torchaudio.transforms.MelSpectrogram(sample_rate=16000, n_fft=400, win_length=400, hop_length=160,
                                                     f_min=50.0, f_max=8000.0, n_mels=80)(audio)
    reference = torch.log(reference + LOG_EPS).transpose(1, 2)
    mel = LogMelFrontend().log_mel(audio)
    assert mel.shape == (2, num_frames(n), 80)
    torch.testing.assert_close(mel, reference, rtol=1e-5, atol=1e-5)


def test_piecewise_equals_whole_clip():
    audio = _audio(5 * 16000 + 37)
    whole = LogMelFrontend(max_frames_per_piece=10_000)(audio)
    pieces = LogMelFrontend(max_frames_per_piece=7)(audio)
    torch.testing.assert_close(pieces, whole, rtol=1e-5, atol=1e-5)


def test_normalisation_is_per_clip_unbiased():
    audio = _audio(24000)
    x = LogMelFrontend()(audio)
    torch.testing.assert_close(x.mean(dim=(1, 2)), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(x.std(dim=(1, 2)), torch.ones(2), atol=1e-5, rtol=0)
    # clip-wise: scaling one clip does not change the other's features
    scaled = audio.clone()
    scaled[1] *= 0.1
    torch.testing.assert_close(LogMelFrontend()(scaled)[0], x[0])


@pytest.mark.parametrize("n", [1, 2, 100, 200, 201, 399])
def test_clips_shorter_than_the_fft_pad(n):
    """torch's reflect pad refuses pads >= length; NumPy semantics keep reflecting."""
    x = LogMelFrontend()(_audio(n) * 0.5)
    assert x.shape == (2, num_frames(n), 80) and torch.isfinite(x).all()


def test_reflect_index_is_numpy_reflect():
    for length in (1, 2, 3, 7, 401):
        for pad in (0, 1, 5, 199, 800):
            a = np.arange(length)
            assert (a[reflect_index(length, length + pad)] == np.pad(a, (0, pad), "reflect")).all()
            assert (a[reflect_index(length, length + 2 * pad, offset=-pad)] == np.pad(a, (pad, pad), "reflect")).all()


def test_frontend_has_no_persistent_state():
    assert LogMelFrontend().state_dict() == {}
