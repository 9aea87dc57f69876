"""Baseline HEAR modules: the log-mel statistics baseline and random-weight MW-MAE."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import hear_mwmae
from hear_mwmae_tools.baselines import logmel, random_mwmae


def _audio(seconds, n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, round(seconds * 16000), generator=g) * 2 - 1


@pytest.mark.parametrize("seconds", [1.07, 1.98, 4.0])
@pytest.mark.parametrize("frames_per_step", [1, 4])
def test_logmel_timestamps_follow_the_hear_rules(seconds, frames_per_step):
    model = logmel.load_model(frames_per_step=frames_per_step)
    assert (model.sample_rate, model.scene_embedding_size, model.timestamp_embedding_size) == (16000, 160, 80)
    assert all(type(v) is int for v in (model.scene_embedding_size, model.timestamp_embedding_size))
    emb, ts = logmel.get_timestamp_embeddings(_audio(seconds), model)
    assert emb.dtype == ts.dtype == torch.float32
    assert emb.shape[:2] == ts.shape and emb.shape[2] == 80
    hop = 10.0 * frames_per_step
    assert torch.allclose(ts[:, 1:] - ts[:, :-1], torch.tensor(hop))  # regular hop
    assert ts[0, 0] == pytest.approx((frames_per_step - 1) / 2 * 10)  # centre of the first frames
    assert ts[0, -1] <= 1000 * seconds and ts[0, -1] > 1000 * seconds - 2 * hop  # ends at the clip's end


def test_logmel_values_are_the_frontend_log_mel():
    audio = _audio(1.0)
    model = logmel.load_model(frames_per_step=1)
    frames = model.frontend.log_mel(audio)
    emb, _ = model.timestamp_embeddings(audio)
    assert torch.equal(emb, frames)
    scene = logmel.get_scene_embeddings(audio, model)
    assert torch.allclose(scene[:, :80], frames.mean(1)) and torch.allclose(scene[:, 80:], frames.std(1, correction=0))
    pooled, _ = logmel.load_model().timestamp_embeddings(audio)
    assert torch.allclose(pooled[:, 1], frames[:, 4:8].mean(1))
    tiny, ts = model.timestamp_embeddings(_audio(0.005))  # shorter than one hop: one frame, inside the clip
    assert tiny.shape[1] == 1 and ts[0, 0] <= 5


def test_logmel_errors():
    with pytest.raises(ValueError, match="no weights"):
        logmel.load_model("weights.pt")
    with pytest.raises(ValueError, match="frames_per_step"):
        logmel.load_model(frames_per_step=0)
    with pytest.raises(TypeError, match="logmel.load_model"):
        logmel.get_scene_embeddings(_audio(1.0), torch.nn.Linear(1, 1))


def test_random_mwmae_is_the_untrained_network():
    model = random_mwmae.load_model(config="mwmae_tiny", seed=1)
    assert (model.scene_embedding_size, model.timestamp_embedding_size) == (960, 960)
    reference = hear_mwmae.load_model("random:mwmae_tiny", seed=1)
    audio = _audio(2.5)
    assert torch.equal(random_mwmae.get_scene_embeddings(audio, model), reference.scene_embeddings(audio))
    other = random_mwmae.load_model(config="mwmae_tiny", seed=2)
    assert not torch.equal(other.scene_embeddings(audio), reference.scene_embeddings(audio))
    with pytest.raises(ValueError, match="takes no weights file"):
        random_mwmae.load_model("ckpt/")


def _validator() -> str:
    exe = shutil.which("hear-validator") or str(Path(sys.executable).parent / "hear-validator")
    if not Path(exe).exists():
        message = "hear-validator is not installed (see DEVELOPERS.md)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return exe


@pytest.mark.slow
@pytest.mark.parametrize("module", ["hear_mwmae_tools.baselines.logmel", "hear_mwmae_tools.baselines.random_mwmae"])
def test_real_hear_validator_passes_on_baselines(module, tmp_path):
    done = subprocess.run([_validator(), module, "--device", "cpu"], capture_output=True, text=True, timeout=600,
                          cwd=tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "Looks good!" in output
