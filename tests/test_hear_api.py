"""The HEAR contract as hear-validator and heareval enforce it (docs/design.md §D13)."""

import math

import numpy as np
import pytest
import torch

import hear_mwmae
from hear_mwmae.hear import HearModel


def _noise(n_clips, seconds, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n_clips, int(round(seconds * 16000)), generator=g) * 2 - 1


def test_attributes_are_python_ints(micro_model):
    for attr in ("sample_rate", "scene_embedding_size", "timestamp_embedding_size"):
        assert type(getattr(micro_model, attr)) is int
    assert micro_model.sample_rate == 16000
    assert micro_model.scene_embedding_size == micro_model.timestamp_embedding_size == 5 * 64
    assert isinstance(micro_model, torch.nn.Module)


@pytest.mark.parametrize("seconds", [1.07, 1.98, 4.0, 2.0, 6.0, 0.3, 0.05])
def test_timestamp_rules_of_the_validator(micro_model, seconds):
    audio = _noise(2, seconds)
    emb, ts = hear_mwmae.get_timestamp_embeddings(audio, micro_model)
    assert emb.dtype == torch.float32 and ts.dtype == torch.float32
    assert emb.ndim == 3 and ts.ndim == 2 and emb.shape[:2] == ts.shape
    assert emb.shape[0] == 2 and emb.shape[2] == micro_model.timestamp_embedding_size
    duration_ms = 1000 * audio.shape[1] / 16000
    assert ts.max() <= duration_ms  # hard error in the validator
    if ts.shape[1] > 1:
        hops = torch.diff(ts, dim=1)
        assert (hops - hops.mean()).abs().max() < 1.0  # within 1 ms of the mean hop
        assert math.isclose(float(hops.mean()), 40.0, abs_tol=1e-3)
        assert ts[0, 0] <= hops.mean()  # no first-timestamp warning
        assert ts[0, -1] >= duration_ms - 50  # no end-coverage warning
    assert torch.isfinite(emb).all()


def test_validator_lengths_give_expected_frame_counts(micro_model):
    # 4.0 s: the official runtime makes 101 frames; the 101st centre (4020 ms) is past the end.
    counts = {1.07: 27, 1.98: 50, 4.0: 100}
    for seconds, n in counts.items():
        emb, ts = micro_model.timestamp_embeddings(_noise(1, seconds))
        assert emb.shape[1] == n, seconds


def test_scene_contract(micro_model):
    scene = hear_mwmae.get_scene_embeddings(_noise(4, 2.74), micro_model)
    assert scene.dtype == torch.float32 and scene.shape == (4, micro_model.scene_embedding_size)


def test_scene_is_mean_of_official_frames(converted_dir):
    official = hear_mwmae.load_model(str(converted_dir), timestamp_mode="official")
    audio = _noise(3, 3.3)
    emb, _ = official.timestamp_embeddings(audio)
    torch.testing.assert_close(official.scene_embeddings(audio), emb.mean(1), rtol=1e-5, atol=1e-6)


def test_batch_equals_clip_by_clip_and_is_deterministic(micro_model):
    audio = _noise(5, 2.5, seed=1)
    emb, ts = micro_model.timestamp_embeddings(audio)
    scene = micro_model.scene_embeddings(audio)
    for i in range(5):
        e_i, t_i = micro_model.timestamp_embeddings(audio[i : i + 1])
        torch.testing.assert_close(e_i[0], emb[i], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(t_i[0], ts[i])
        torch.testing.assert_close(micro_model.scene_embeddings(audio[i : i + 1])[0], scene[i], rtol=1e-5, atol=1e-5)
    again, _ = micro_model.timestamp_embeddings(audio)
    assert torch.equal(again, emb)


def test_micro_batch_size_does_not_change_results(converted_dir):
    audio = _noise(3, 5.1, seed=2)
    small = hear_mwmae.load_model(str(converted_dir), chunk_batch_size=1)
    large = hear_mwmae.load_model(str(converted_dir), chunk_batch_size=64)
    torch.testing.assert_close(small.timestamp_embeddings(audio)[0], large.timestamp_embeddings(audio)[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(small.scene_embeddings(audio), large.scene_embeddings(audio), rtol=1e-5, atol=1e-5)


def test_empty_batch_returns_empty_outputs(micro_model):
    emb, ts = micro_model.timestamp_embeddings(torch.zeros(0, 32000))
    assert emb.shape == (0, 50, micro_model.timestamp_embedding_size) and ts.shape == (0, 50)
    assert micro_model.scene_embeddings(torch.zeros(0, 32000)).shape == (0, micro_model.scene_embedding_size)


def _count_encoder_batches(model):
    sizes = []
    original = model.encoder.frame_embeddings

    def spy(x, layer=None):
        sizes.append(x.shape[0])
        return original(x, layer)

    model.encoder.frame_embeddings = spy
    return sizes


@pytest.mark.slow
def test_ten_minutes_in_bounded_micro_batches(converted_dir):
    model = hear_mwmae.load_model(str(converted_dir), chunk_batch_size=16)
    sizes = _count_encoder_batches(model)
    audio = _noise(1, 600.0) * 0.1
    emb, ts = model.timestamp_embeddings(audio)
    assert emb.shape == (1, 15000, model.timestamp_embedding_size)
    assert max(sizes) <= 16 and sum(sizes) == 301  # T = 60001 frames -> 301 units of 2 s, ≤ 16 at once
    assert torch.isfinite(emb).all() and float(ts[0, -1]) == pytest.approx(599980.0)
    official = HearModel(model.encoder, chunk_batch_size=16, timestamp_mode="official")
    all_frames, _ = official.timestamp_embeddings(audio)
    assert all_frames.shape[1] == 15001 and torch.equal(all_frames[:, :15000], emb)
    torch.testing.assert_close(model.scene_embeddings(audio)[0], all_frames[0].mean(0), rtol=1e-4, atol=1e-5)


def test_many_clips_are_grouped_into_bounded_micro_batches(converted_dir):
    model = hear_mwmae.load_model(str(converted_dir), chunk_batch_size=8)
    sizes = _count_encoder_batches(model)
    model.scene_embeddings(_noise(30, 1.0))
    assert max(sizes) <= 8 and sum(sizes) == 30


def test_timestamp_modes(converted_dir):
    official = hear_mwmae.load_model(str(converted_dir), timestamp_mode="official")
    _, ts = official.timestamp_embeddings(_noise(1, 1.0))
    np.testing.assert_allclose(ts[0].numpy(), np.arange(26) * (1000.0 / 26), rtol=1e-6)
    with pytest.raises(ValueError, match="timestamp_mode"):
        hear_mwmae.load_model(str(converted_dir), timestamp_mode="start")


def test_outputs_follow_input_device_and_no_grad(micro_model):
    audio = _noise(1, 1.0).requires_grad_(True)
    emb, ts = micro_model.timestamp_embeddings(audio)
    assert emb.device == audio.device and ts.device == audio.device
    assert not emb.requires_grad


def test_float64_and_half_inputs_are_accepted(micro_model):
    audio = _noise(1, 1.0)
    ref = micro_model.scene_embeddings(audio)
    torch.testing.assert_close(micro_model.scene_embeddings(audio.double()), ref)
    assert micro_model.scene_embeddings(audio.half()).dtype == torch.float32


@pytest.mark.parametrize(
    "audio, error, match",
    [
        (torch.zeros(16000), ValueError, r"2-D.*audio\[None\]"),
        (torch.zeros(1, 2, 16000), ValueError, "mix the channels down"),
        (torch.zeros(1, 16000, dtype=torch.int16), TypeError, "32768"),
        (torch.zeros(2, 0), ValueError, "zero-length"),
        (torch.full((1, 16000), float("nan")), ValueError, "NaN or Inf"),
        (torch.full((1, 16000), float("inf")), ValueError, "NaN or Inf"),
        (np.zeros((1, 16000), np.float32), TypeError, "torch.from_numpy"),
    ],
)
def test_bad_audio_is_a_clear_error(micro_model, audio, error, match):
    with pytest.raises(error, match=match):
        hear_mwmae.get_timestamp_embeddings(audio, micro_model)
    with pytest.raises(error, match=match):
        hear_mwmae.get_scene_embeddings(audio, micro_model)


def test_wrong_model_and_sample_rate_use(micro_model, converted_dir):
    with pytest.raises(TypeError, match="load_model"):
        hear_mwmae.get_scene_embeddings(torch.zeros(1, 16000), object())
    with pytest.raises(ValueError, match="16000 Hz"):
        micro_model.sample_rate = 44100
    with pytest.raises(ValueError, match="resample"):
        hear_mwmae.load_model(str(converted_dir), sample_rate=44100)
    with pytest.raises(TypeError, match="unknown load_model options"):
        hear_mwmae.load_model(str(converted_dir), hop_ms=10)
    with pytest.raises(ValueError, match="chunk_batch_size"):
        hear_mwmae.load_model(str(converted_dir), chunk_batch_size=0)


def test_random_weights_model_and_sizes():
    model = hear_mwmae.load_model("random:mwmae_tiny", seed=3)
    assert model.scene_embedding_size == 960
    twin = hear_mwmae.load_model("random:mwmae_tiny", seed=3)
    audio = _noise(1, 0.5)
    assert torch.equal(model.scene_embeddings(audio), twin.scene_embeddings(audio))
    with pytest.raises(ValueError, match="unknown config name"):
        hear_mwmae.load_model("random:mwmae_gigantic")


def test_bf16_precision_stays_close(converted_dir):
    audio = _noise(2, 3.0) * 0.3
    fp32 = hear_mwmae.load_model(str(converted_dir))
    bf16 = hear_mwmae.load_model(str(converted_dir), precision="bf16")
    a, b = fp32.scene_embeddings(audio), bf16.scene_embeddings(audio)
    assert b.dtype == torch.float32
    assert torch.nn.functional.cosine_similarity(a, b).min() > 0.999


@pytest.mark.parametrize("n_samples", [1, 100, 200, 319, 321])
def test_tiny_clips(micro_model, n_samples):
    audio = _noise(2, n_samples / 16000)
    emb, ts = micro_model.timestamp_embeddings(audio)
    assert emb.shape == (2, 1, micro_model.timestamp_embedding_size) and torch.isfinite(emb).all()
    assert 0 < float(ts[0, 0]) <= 1000 * n_samples / 16000
    assert torch.isfinite(micro_model.scene_embeddings(audio)).all()


def test_bf16_encoder_is_a_bf16_copy_and_outputs_float32(converted_dir):
    model = hear_mwmae.load_model(str(converted_dir), precision="bf16")
    assert {p.dtype for p in model.encoder.parameters()} == {torch.bfloat16}
    emb, ts = model.timestamp_embeddings(_noise(1, 2.0))
    assert emb.dtype == torch.float32 and ts.dtype == torch.float32
    with pytest.raises(ValueError, match="precision"):
        hear_mwmae.load_model(str(converted_dir), precision="int8")


@pytest.mark.slow
def test_compiled_encoder_equals_eager(converted_dir):
    audio = _noise(2, 3.0) * 0.3
    eager = hear_mwmae.load_model(str(converted_dir))
    compiled = hear_mwmae.load_model(str(converted_dir), compile=True)
    torch.testing.assert_close(compiled.timestamp_embeddings(audio)[0], eager.timestamp_embeddings(audio)[0],
                               rtol=1e-4, atol=1e-4)


def test_embedding_layer_reads_an_earlier_block_through_the_final_norm(converted_dir):
    full = hear_mwmae.load_model(str(converted_dir))
    depth = full.config.depth
    assert depth >= 2 and full.embedding_layer == depth
    same = hear_mwmae.load_model(str(converted_dir), embedding_layer=depth)
    early = hear_mwmae.load_model(str(converted_dir), embedding_layer=1)
    audio = _noise(2, 2.0) * 0.3  # exactly one 2 s unit a clip
    emb, _ = early.timestamp_embeddings(audio)
    torch.testing.assert_close(same.timestamp_embeddings(audio)[0], full.timestamp_embeddings(audio)[0])
    # By hand: frontend, first block only, final norm, "b (t f) d -> b t (f d)".
    enc = full.encoder
    log_mel = full.frontend.log_mel(audio)
    x = full.frontend.normalize(log_mel[:, :200], *full.frontend.stats(log_mel))
    with torch.no_grad():
        tokens = enc.norm(enc.blocks[0](enc._prepend_cls(enc.embed(x))))[:, enc.num_prefix:]
    expected = tokens.reshape(2, full.config.grid_size[0], -1)[:, : emb.shape[1]]
    torch.testing.assert_close(emb, expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(emb, full.timestamp_embeddings(audio)[0], atol=1e-3)
    for bad in (0, depth + 1, 2.0, True):
        with pytest.raises(ValueError, match="embedding_layer"):
            hear_mwmae.load_model(str(converted_dir), embedding_layer=bad)
