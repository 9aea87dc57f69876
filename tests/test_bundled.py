"""The weights bundled inside the package: `load_model()` with no argument, offline."""

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import hear_mwmae
from hear_mwmae.checkpoint import BUNDLED_DIR

from conftest import EXAMPLE_WAV

REFERENCE = Path(__file__).parent / "data" / "bundled_speech_scene.npy"


def test_bundled_weights_are_small_and_encoder_only():
    size = (BUNDLED_DIR / "model.safetensors").stat().st_size
    assert size <= 25 * 2**20
    model = hear_mwmae.checkpoint.load_checkpoint("")
    assert model.config.encoder_only and model.config.variant == "mwmae"


def test_default_model_sizes_and_finite_embeddings():
    model = hear_mwmae.load_model()
    assert (model.sample_rate, model.scene_embedding_size, model.timestamp_embedding_size) == (16000, 960, 960)
    emb, ts = hear_mwmae.get_timestamp_embeddings(torch.rand(2, 40000) * 0.2 - 0.1, model)
    assert emb.shape == (2, 63, 960)  # centres (i + 0.5)·40 ms ≤ 2500 ms
    assert ts.shape == (2, 63) and torch.isfinite(emb).all() and emb.std() > 0


def test_matches_the_stored_reference_embedding_of_the_example_audio():
    """Guards against silent changes of the weights, the frontend or the runtime."""
    audio, _ = sf.read(EXAMPLE_WAV, dtype="float32")
    scene = hear_mwmae.get_scene_embeddings(torch.from_numpy(audio)[None], hear_mwmae.load_model())[0].numpy()
    np.testing.assert_allclose(scene, np.load(REFERENCE), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_hear_validator_passes_without_a_model_argument(tmp_path):
    from test_validator import _validator

    done = subprocess.run([_validator(), "hear_mwmae", "--device", "cpu"], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path)
    assert done.returncode == 0 and "Looks good!" in done.stdout + done.stderr, (done.stdout + done.stderr)[-3000:]
