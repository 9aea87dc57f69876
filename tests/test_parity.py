"""Parity with the official JAX code (fixtures from ../shared/fixtures/official)."""

import numpy as np
import pytest
import torch

from hear_mwmae.checkpoint import load_official
from hear_mwmae.hear import HearModel

LENGTHS = ["0.5s", "2.0s", "3.3s", "4.0s"]
TOL = 1e-4


@pytest.fixture(scope="module")
def loaded(official):
    name, folder, ref = official
    return name, load_official(folder), ref


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
    assert np.abs(pred.numpy() - ref["mae_pred"]).max() <= TOL
    assert abs(float(loss) - float(ref["mae_loss"])) <= TOL
    from hear_mwmae.embed import patchify

    target = patchify(torch.from_numpy(ref["mae_input"]), model.config.patch_size)
    np.testing.assert_allclose(target.numpy(), ref["mae_target"], atol=0)


@pytest.mark.parametrize("length", LENGTHS)
def test_logmel_matches_official(loaded, length):
    _, model, ref = loaded
    mel = HearModel(model.encoder).frontend(torch.from_numpy(ref[f"audio_{length}"]))
    assert mel.shape == ref[f"logmel_{length}"].shape
    assert np.abs(mel.numpy() - ref[f"logmel_{length}"]).max() <= TOL


@pytest.mark.parametrize("length", LENGTHS)
def test_hear_official_mode_matches(loaded, length):
    _, model, ref = loaded
    hear = HearModel(model.encoder, timestamp_mode="official", chunk_batch_size=3)
    audio = torch.from_numpy(ref[f"audio_{length}"])
    emb, ts = hear.timestamp_embeddings(audio)
    assert emb.shape == ref[f"timestamp_embeddings_{length}"].shape
    assert np.abs(emb.numpy() - ref[f"timestamp_embeddings_{length}"]).max() <= TOL
    assert np.abs(ts.numpy() - ref[f"timestamps_{length}"]).max() <= TOL
    assert np.abs(hear.scene_embeddings(audio).numpy() - ref[f"scene_embeddings_{length}"]).max() <= TOL


@pytest.mark.parametrize("length", LENGTHS)
def test_hear_default_mode(loaded, length):
    """Default mode: same scene embeddings; timestamp frames are a prefix of the official ones."""
    _, model, ref = loaded
    hear = HearModel(model.encoder)
    audio = torch.from_numpy(ref[f"audio_{length}"])
    assert np.abs(hear.scene_embeddings(audio).numpy() - ref[f"scene_embeddings_{length}"]).max() <= TOL
    emb, ts = hear.timestamp_embeddings(audio)
    n = emb.shape[1]
    official = ref[f"timestamp_embeddings_{length}"]
    assert official.shape[1] - 1 <= n <= official.shape[1]
    assert np.abs(emb.numpy() - official[:, :n]).max() <= TOL
    duration_ms = 1000 * audio.shape[1] / 16000
    np.testing.assert_allclose(ts[0].numpy(), (np.arange(n) + 0.5) * 40.0)
    assert ts.max() <= duration_ms
