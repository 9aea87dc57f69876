"""Parity with the official JAX code (fixtures from ../shared/fixtures/official).

Every bound here is derived from what float32 can reproduce at that stage, not from the rounding
of one CPU (docs/design.md, "Parity bounds"), and each is shown to catch a real change:

- log-mel: a per-element bound from the FFT's float32 error, which is relative to the *frame's*
  energy, not to the bin's: a near-silent bin beside a loud one can only be reproduced to
  u·‖X‖/√M. Both the official numbers and ours must lie within it of a float64 evaluation of the
  same math. A frontend with eps ×10, f_min 60 Hz or a hop of 161 fails it.
- encoder and masked forward, fed the *official* log-mel (so no frontend difference enters):
  a bound relative to the output's scale, ``ENCODER_RTOL`` · max |ref|. LayerNorm eps 1e-5
  (torch's default, not the official 1e-6) fails it.
"""

import math

import numpy as np
import pytest
import torch
import torchaudio

from hear_mwmae import frontend as fe_module
from hear_mwmae.checkpoint import load_official
from hear_mwmae.embed import patchify
from hear_mwmae.hear import HearModel

LENGTHS = ["0.5s", "2.0s", "3.3s", "4.0s"]
U32 = 2.0**-24  # float32 unit roundoff
# Encoder outputs, relative to their largest value. Rounding errors of float32 inner products
# behave like random walks: one of length K errs by ~√K·u relative; micro's longest is K = 256
# (fc2) -> 16u. A path through the model has ~8 such stages (patch embedding, qkv, scores,
# weights·values, projection, fc1, fc2, head) whose independent errors add as √8 -> 45u, and the
# reference carries its own (×√2) -> 64u. Observed: ≈ 8u on an AMX Xeon and on an AMD EPYC.
ENCODER_RTOL = 64 * U32


@pytest.fixture(scope="module")
def loaded(official):
    name, folder, ref = official
    return name, load_official(folder), ref


# ---- log-mel -------------------------------------------------------------------------------
def _frames(audio: torch.Tensor) -> torch.Tensor:
    """The frontend's reflect-padded STFT input (B, L') for a clip, float64."""
    n = audio.shape[1]
    t = fe_module.num_frames(n)
    index = fe_module.reflect_index(n, (t - 1) * fe_module.HOP_LENGTH + fe_module.N_FFT, offset=-(fe_module.N_FFT // 2))
    return audio.double()[:, torch.from_numpy(index)]


def logmel_truth_and_bound(audio: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Float64 evaluation of the official log-mel math and the float32 error bound per element.

    The bound (normalised units): a float32 FFT of n = 400 points errs by at most
    γ = log2(n)·u·‖X_t‖ per bin (‖X_t‖: the frame's spectral norm), so a mel band
    M = Σ_k w_k |X_k|² errs by ≤ 2γ·√(W·M) + W·γ² (Cauchy-Schwarz, W = Σ_k w_k), and
    log(M + eps) by that over (M + eps). Divided by the clip's std, plus 16u of the
    normalised value for the log, the mean, the std and the division.
    """
    f64 = fe_module.LogMelFrontend().double()
    power = f64.mel.spectrogram(_frames(audio))  # (B, 201, T) |X|²
    fb = f64.mel.mel_scale.fb  # (201, 80)
    mel = torch.einsum("bkt,km->btm", power, fb)  # (B, T, 80)
    log_mel = torch.log(mel + fe_module.LOG_EPS)
    mean, std = f64.stats(log_mel)
    truth = f64.normalize(log_mel, mean, std)
    gamma = math.log2(fe_module.N_FFT) * U32 * power.sum(1).sqrt()[:, :, None]  # (B, T, 1)
    w = fb.sum(0)  # (80,)
    raw = (2 * gamma * (w * mel).sqrt() + w * gamma**2) / (mel + fe_module.LOG_EPS)
    bound = raw / std[:, None, None] + 16 * U32 * (truth.abs() + (mean / std).abs()[:, None, None] + 1)
    return truth.numpy(), bound.numpy()


def _worst(x: np.ndarray, truth: np.ndarray, bound: np.ndarray) -> float:
    """max |x − truth| / bound over the common frames (> 1: outside float32 reach)."""
    t = min(x.shape[1], truth.shape[1])
    return float((np.abs(x[:, :t] - truth[:, :t]) / bound[:, :t]).max())


@pytest.mark.parametrize("length", LENGTHS)
def test_logmel_matches_official(loaded, length):
    _, _, ref = loaded
    audio = torch.from_numpy(ref[f"audio_{length}"])
    truth, bound = logmel_truth_and_bound(audio)
    ours = fe_module.LogMelFrontend()(audio).numpy()
    official = ref[f"logmel_{length}"]
    assert ours.shape == official.shape == truth.shape
    # The official numbers are the official math evaluated in float32: within the bound of our float64 evaluation.
    assert _worst(official, truth, bound) <= 1.0
    assert _worst(ours, truth, bound) <= 1.0


def _mutant_frontend(monkeypatch, change: str) -> fe_module.LogMelFrontend:
    if change == "eps x10":
        monkeypatch.setattr(fe_module, "LOG_EPS", fe_module.LOG_EPS * 10)
    elif change == "hop 161":
        monkeypatch.setattr(fe_module, "HOP_LENGTH", 161)
    frontend = fe_module.LogMelFrontend()
    if change == "f_min 60 Hz":
        frontend.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=16000, n_fft=400, hop_length=160, f_min=60.0, f_max=8000.0, n_mels=80, power=2.0, center=False)
    return frontend


@pytest.mark.parametrize("change", ["eps x10", "f_min 60 Hz", "hop 161"])
def test_logmel_bound_catches_a_wrong_frontend(loaded, change, monkeypatch):
    """The bound is tight enough to see each of these small frontend mistakes on the fixtures."""
    _, _, ref = loaded
    audio = torch.from_numpy(ref["audio_4.0s"])
    truth, bound = logmel_truth_and_bound(audio)
    wrong = _mutant_frontend(monkeypatch, change)(audio).numpy()
    assert _worst(wrong, truth, bound) > 1.0, f"a frontend with {change} passes the log-mel parity bound"


# ---- encoder, masked forward, HEAR path ------------------------------------------------------
def _encoder_bound(ref: np.ndarray) -> float:
    return ENCODER_RTOL * float(np.abs(ref).max())


def test_config_inferred_from_checkpoint(loaded):
    name, model, _ = loaded
    c = model.config
    assert (c.embed_dim, c.depth, c.num_heads, c.decoder_embed_dim, c.decoder_depth, c.decoder_num_heads) == (64, 2, 2, 32, 2, 8)
    if name == "mwmae_micro":
        assert c.decoder_window_sizes == (2, 5, 10, 25, 50, 125, 0, 0) and not c.use_cls_token
    else:
        assert c.decoder_window_sizes == () and c.use_cls_token


def test_masked_forward_matches_official(loaded):
    _, model, ref = loaded
    with torch.no_grad():
        loss, pred, mask = model(torch.from_numpy(ref["mae_input"]), noise=torch.from_numpy(ref["mae_noise"]))
    np.testing.assert_array_equal(mask.numpy(), ref["mae_mask"])
    assert np.abs(pred.numpy() - ref["mae_pred"]).max() <= _encoder_bound(ref["mae_pred"])
    assert abs(float(loss) - float(ref["mae_loss"])) <= _encoder_bound(ref["mae_loss"])
    target = patchify(torch.from_numpy(ref["mae_input"]), model.config.patch_size)
    np.testing.assert_allclose(target.numpy(), ref["mae_target"], atol=0)


class _OfficialLogMel(torch.nn.Module):
    """A frontend that returns the official log-mel of the clip: the encoder sees the official input.

    The official output is already normalised (mean 0, std 1), so the HEAR path's
    re-normalisation changes it by only a few u.
    """

    def __init__(self, log_mel: np.ndarray) -> None:
        super().__init__()
        self.value = torch.from_numpy(log_mel)
        self.stats, self.normalize = fe_module.LogMelFrontend.stats, fe_module.LogMelFrontend.normalize

    def log_mel(self, audio: torch.Tensor) -> torch.Tensor:
        assert audio.shape[0] == self.value.shape[0], "one call per batch (chunk_batch_size covers it)"
        return self.value


def _hear_on_official_logmel(model, ref, length: str, **options) -> HearModel:
    hear = HearModel(model.encoder, **options)
    hear.frontend = _OfficialLogMel(ref[f"logmel_{length}"])
    return hear


@pytest.mark.parametrize("length", LENGTHS)
def test_hear_official_mode_matches(loaded, length):
    _, model, ref = loaded
    hear = _hear_on_official_logmel(model, ref, length, timestamp_mode="official", chunk_batch_size=8)
    audio = torch.from_numpy(ref[f"audio_{length}"])
    emb, ts = hear.timestamp_embeddings(audio)
    official = ref[f"timestamp_embeddings_{length}"]
    assert emb.shape == official.shape
    assert np.abs(emb.numpy() - official).max() <= _encoder_bound(official)
    np.testing.assert_allclose(ts.numpy(), ref[f"timestamps_{length}"], rtol=4 * U32, atol=0)
    scene = ref[f"scene_embeddings_{length}"]
    assert np.abs(hear.scene_embeddings(audio).numpy() - scene).max() <= _encoder_bound(scene)


@pytest.mark.parametrize("length", LENGTHS)
def test_hear_default_mode(loaded, length):
    """Default mode: same scene embeddings; timestamp frames are a prefix of the official ones."""
    _, model, ref = loaded
    hear = _hear_on_official_logmel(model, ref, length, chunk_batch_size=8)
    audio = torch.from_numpy(ref[f"audio_{length}"])
    scene = ref[f"scene_embeddings_{length}"]
    assert np.abs(hear.scene_embeddings(audio).numpy() - scene).max() <= _encoder_bound(scene)
    emb, ts = hear.timestamp_embeddings(audio)
    n = emb.shape[1]
    official = ref[f"timestamp_embeddings_{length}"]
    assert official.shape[1] - 1 <= n <= official.shape[1]
    assert np.abs(emb.numpy() - official[:, :n]).max() <= _encoder_bound(official)
    duration_ms = 1000 * audio.shape[1] / 16000
    np.testing.assert_allclose(ts[0].numpy(), (np.arange(n) + 0.5) * 40.0)
    assert ts.max() <= duration_ms


@pytest.mark.parametrize("length", LENGTHS)
def test_hear_end_to_end_from_audio(loaded, length):
    """Audio -> embeddings through our own frontend. The bound adds to the encoder bound what the
    encoder makes of log-mel noise at the full log-mel bound (random signs, seeded): our float32
    log-mel sits well inside that bound, so its effect on the embeddings must be smaller."""
    _, model, ref = loaded
    audio = torch.from_numpy(ref[f"audio_{length}"])
    official = ref[f"timestamp_embeddings_{length}"]
    official_logmel = ref[f"logmel_{length}"]
    _, bound = logmel_truth_and_bound(audio)
    signs = np.where(np.random.default_rng(0).random(bound.shape) < 0.5, -1.0, 1.0)
    noisy = (official_logmel + signs * bound).astype(np.float32)

    def embed(log_mel):
        hear = HearModel(model.encoder, timestamp_mode="official", chunk_batch_size=8)
        if log_mel is not None:
            hear.frontend = _OfficialLogMel(log_mel)
        return hear.timestamp_embeddings(audio)[0].numpy()

    reach = np.abs(embed(noisy) - embed(official_logmel)).max()  # the encoder's response to bound-sized noise
    assert np.abs(embed(None) - official).max() <= _encoder_bound(official) + reach


def test_encoder_bound_catches_layernorm_eps(loaded, monkeypatch):
    """LayerNorm eps 1e-5 (torch's default) instead of the official 1e-6 is outside the encoder bound."""
    _, model, ref = loaded
    for module in model.modules():
        if isinstance(module, torch.nn.LayerNorm):
            monkeypatch.setattr(module, "eps", 1e-5)
    with torch.no_grad():
        _, pred, _ = model(torch.from_numpy(ref["mae_input"]), noise=torch.from_numpy(ref["mae_noise"]))
    assert np.abs(pred.numpy() - ref["mae_pred"]).max() > _encoder_bound(ref["mae_pred"])
