"""The hear-mwmae command line on real audio files."""

import json
import subprocess
import sys

import numpy as np
import soundfile as sf
import torch
import torchaudio

import hear_mwmae
from hear_mwmae.cli import main

from conftest import EXAMPLE_WAV


def test_embed_example_wav_to_npy(converted_dir, tmp_path):
    out = tmp_path / "out"
    assert main(["embed", str(EXAMPLE_WAV), "--model", str(converted_dir), "--out", str(out), "--quiet"]) == 0
    scene = np.load(out / "speech.wav.scene.npy")
    emb = np.load(out / "speech.wav.timestamp.npy")
    ts = np.load(out / "speech.wav.timestamps_ms.npy")
    audio, rate = sf.read(EXAMPLE_WAV, dtype="float32")
    assert rate == 16000
    model = hear_mwmae.load_model(str(converted_dir))
    ref_emb, ref_ts = model.timestamp_embeddings(torch.from_numpy(audio)[None])
    np.testing.assert_allclose(emb, ref_emb[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(ts, ref_ts[0].numpy())
    np.testing.assert_allclose(scene, model.scene_embeddings(torch.from_numpy(audio)[None])[0].numpy(), atol=1e-5)


def test_embed_layer_option(converted_dir, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["embed", str(EXAMPLE_WAV), "--model", str(converted_dir), "--out", str(out), "--quiet", "--kind", "scene"]
    assert main(args + ["--layer", "1"]) == 0
    audio, _ = sf.read(EXAMPLE_WAV, dtype="float32")
    early = hear_mwmae.load_model(str(converted_dir), embedding_layer=1)
    last = hear_mwmae.load_model(str(converted_dir))
    scene = np.load(out / "speech.wav.scene.npy")
    np.testing.assert_allclose(scene, early.scene_embeddings(torch.from_numpy(audio)[None])[0].numpy(), atol=1e-5)
    assert not np.allclose(scene, last.scene_embeddings(torch.from_numpy(audio)[None])[0].numpy(), atol=1e-3)
    assert main(args + ["--layer", "99", "--overwrite"]) == 2
    assert "embedding_layer must be an int in 1..2" in capsys.readouterr().err


def test_embed_resamples_and_mixes_down(converted_dir, tmp_path):
    t = np.arange(44100 * 2) / 44100
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), 0.5 * np.sin(2 * np.pi * 660 * t)], axis=1).astype(np.float32) * 0.3
    folder = tmp_path / "in" / "sub"
    folder.mkdir(parents=True)
    sf.write(folder / "tone.flac", stereo, 44100)
    npz = tmp_path / "all.npz"
    assert main(["embed", str(tmp_path / "in"), "--model", str(converted_dir), "--npz", str(npz),
                 "--kind", "scene", "--quiet"]) == 0
    archive = np.load(npz)
    assert list(archive.keys()) == ["sub/tone.flac/scene"]
    mono = torchaudio.functional.resample(torch.from_numpy(sf.read(folder / "tone.flac", dtype="float32")[0].mean(1))[None], 44100, 16000)
    expected = hear_mwmae.load_model(str(converted_dir)).scene_embeddings(mono)[0].numpy()
    np.testing.assert_allclose(archive["sub/tone.flac/scene"], expected, atol=1e-5)


def test_embed_errors(tmp_path, converted_dir, capsys):
    assert main(["embed", str(tmp_path / "missing.wav"), "--model", str(converted_dir), "--out", str(tmp_path)]) == 2
    assert "no such audio file" in capsys.readouterr().err
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00garbage")
    assert main(["embed", str(bad), "--model", str(converted_dir), "--out", str(tmp_path / "o"), "--quiet"]) == 1
    assert "could not embed" in capsys.readouterr().err
    assert main(["embed", str(EXAMPLE_WAV), "--model", str(converted_dir)]) == 2
    assert "--out" in capsys.readouterr().err


def test_info_json(converted_dir, capsys):
    assert main(["info", str(converted_dir), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["scene_embedding_size"] == info["timestamp_embedding_size"] == 320
    assert info["parameters"] == 158_808 and info["sample_rate"] == 16000
    assert info["config"]["decoder_window_sizes"] == [2, 5, 10, 25, 50, 125, 0, 0]


def test_console_script_is_installed(converted_dir):
    done = subprocess.run([sys.executable, "-m", "hear_mwmae.cli", "info", "random:mwmae_base"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "92,814,576" in done.stdout and "scene 3840" in done.stdout
