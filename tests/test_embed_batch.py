"""`hear-mwmae embed` as a batch tool: one output per input, failures reported, resume, one pass."""

import json
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf
import torch

import hear_mwmae
from hear_mwmae.cli import main

from conftest import EXAMPLE_WAV, REPO


def _clip(path, seconds, freq, rate=16000):
    t = np.arange(int(seconds * rate)) / rate
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), rate)
    return path


def _scene(model_dir, path):
    audio = torch.from_numpy(sf.read(path, dtype="float32")[0])[None]
    return hear_mwmae.load_model(str(model_dir)).scene_embeddings(audio)[0].numpy()


def test_same_file_name_in_two_folders_gets_two_outputs(converted_dir, tmp_path):
    a, b = _clip(tmp_path / "in" / "a" / "x.wav", 1.0, 440), _clip(tmp_path / "in" / "b" / "x.wav", 1.5, 880)
    out, npz = tmp_path / "out", tmp_path / "all.npz"
    assert main(["embed", str(a.parent), str(b.parent), "--model", str(converted_dir), "--out", str(out),
                 "--npz", str(npz), "--kind", "scene", "--quiet"]) == 0
    for path, name in ((a, "a/x.wav"), (b, "b/x.wav")):
        expected = _scene(converted_dir, path)
        np.testing.assert_allclose(np.load(out / f"{name}.scene.npy"), expected, atol=1e-5)
        np.testing.assert_allclose(np.load(npz)[f"{name}/scene"], expected, atol=1e-5)
    # the same two files given one by one name the same way
    out2 = tmp_path / "out2"
    assert main(["embed", str(a), str(b), "--model", str(converted_dir), "--out", str(out2), "--kind", "scene", "--quiet"]) == 0
    assert sorted(p.relative_to(out2).as_posix() for p in out2.rglob("*.npy")) == ["a/x.wav.scene.npy", "b/x.wav.scene.npy"]


def test_a_file_reached_twice_is_embedded_once(converted_dir, tmp_path):
    real = _clip(tmp_path / "in" / "x.wav", 1.0, 440)
    (tmp_path / "in" / "link.wav").symlink_to(real)
    out = tmp_path / "o"
    assert main(["embed", str(real), str(real.parent), str(tmp_path / "in" / ".." / "in" / "x.wav"), "--model",
                 str(converted_dir), "--out", str(out), "--kind", "scene", "--quiet"]) == 0
    assert [p.name for p in out.rglob("*.npy")] == ["x.wav.scene.npy"]
    assert json.loads((out / "embed_report.json").read_text())["files"] == 1


def test_corrupt_file_is_reported_and_the_rest_is_written(converted_dir, tmp_path, capsys):
    folder = tmp_path / "in"
    good = folder / "good.wav"
    folder.mkdir()
    shutil.copy(EXAMPLE_WAV, good)
    data = EXAMPLE_WAV.read_bytes()
    (folder / "a_bad.wav").write_bytes(data[:12] + b"\x00" * 32 + data[44:4000])  # a real WAV, header destroyed
    (folder / "empty.flac").write_bytes(b"")
    out, npz = tmp_path / "out", tmp_path / "all.npz"
    code = main(["embed", str(folder), "--model", str(converted_dir), "--out", str(out), "--npz", str(npz), "--quiet"])
    assert code == 1
    err = capsys.readouterr().err
    assert "a_bad.wav" in err and "empty.flac" in err
    for key in ("scene", "timestamp", "timestamps_ms"):
        assert (out / f"good.wav.{key}.npy").is_file()
        assert f"good.wav/{key}" in np.load(npz).files
    assert len(np.load(npz).files) == 3
    for report_path in (out / "embed_report.json", tmp_path / "all.npz.report.json"):
        report = json.loads(report_path.read_text())
        assert report["files"] == 3 and report["embedded"] == 1
        assert sorted(f["name"] for f in report["failed"]) == ["a_bad.wav", "empty.flac"]
        assert all("cannot decode" in f["error"] for f in report["failed"])


def test_kill_9_mid_run_then_rerun_resumes(converted_dir, tmp_path):
    folder = tmp_path / "in"
    clips = [_clip(folder / f"c{i}.wav", 1.0 + 0.25 * i, 200 + 100 * i) for i in range(5)]
    out, npz = tmp_path / "out", tmp_path / "all.npz"
    args = ["embed", str(folder), "--model", str(converted_dir), "--out", str(out), "--npz", str(npz), "--quiet"]
    # A real kill -9 of the process while it embeds the third file.
    killer = textwrap.dedent(f"""
        import os, signal, sys
        import hear_mwmae.batch as batch
        from hear_mwmae.cli import main
        real, calls = batch._embed_file, []
        def embed_file(*a):
            calls.append(1)
            if len(calls) == 3:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*a)
        batch._embed_file = embed_file
        batch.NPZ_FLUSH_EVERY = 1
        sys.exit(main({args!r}))
    """)
    done = subprocess.run([sys.executable, "-c", killer], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == -9, done.stderr
    assert sorted(p.name for p in out.glob("*.scene.npy")) == ["c0.wav.scene.npy", "c1.wav.scene.npy"]
    assert sorted(np.load(npz).files) == sorted(f"c{i}.wav/{k}" for i in (0, 1) for k in ("scene", "timestamp", "timestamps_ms"))
    assert not list(tmp_path.rglob("*.tmp"))  # no half-written file left behind
    # The re-run skips the two finished files and completes the rest.
    assert main(args) == 0
    report = json.loads((out / "embed_report.json").read_text())
    assert (report["skipped_existing"], report["embedded"], report["failed"]) == (2, 3, [])
    archive = np.load(npz)
    for i, clip in enumerate(clips):
        expected = _scene(converted_dir, clip)
        np.testing.assert_allclose(np.load(out / f"c{i}.wav.scene.npy"), expected, atol=1e-5)
        np.testing.assert_allclose(archive[f"c{i}.wav/scene"], expected, atol=1e-5)
    # --overwrite redoes everything
    assert main(args + ["--overwrite"]) == 0
    assert json.loads((out / "embed_report.json").read_text())["embedded"] == 5


def test_resume_refuses_outputs_of_another_model(converted_dir, tmp_path, capsys):
    clip = _clip(tmp_path / "x.wav", 1.0, 440)
    out = tmp_path / "out"
    assert main(["embed", str(clip), "--model", str(converted_dir), "--out", str(out), "--quiet"]) == 0
    assert main(["embed", str(clip), "--model", "random:mwmae_tiny", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "another run" in err and "--overwrite" in err
    assert main(["embed", str(clip), "--model", "random:mwmae_tiny", "--out", str(out), "--quiet", "--overwrite"]) == 0
    assert np.load(out / "x.wav.scene.npy").shape == (960,)


def test_kind_both_runs_the_encoder_once(converted_dir, tmp_path, monkeypatch):
    model = hear_mwmae.load_model(str(converted_dir))
    calls = []
    real = model.encoder.frame_embeddings
    monkeypatch.setattr(model.encoder, "frame_embeddings", lambda x, layer=None: calls.append(x.shape[0]) or real(x, layer))
    audio = torch.from_numpy(sf.read(EXAMPLE_WAV, dtype="float32")[0])[None]
    scene, emb, ts = model.embeddings(audio)
    units = sum(calls)
    assert units == -(-(1 + audio.shape[1] // 160) // 200)  # every 2 s unit once
    calls.clear()
    ref_emb, ref_ts = model.timestamp_embeddings(audio)
    ref_scene = model.scene_embeddings(audio)
    assert sum(calls) == 2 * units
    torch.testing.assert_close(scene, ref_scene, rtol=0, atol=0)
    torch.testing.assert_close(emb, ref_emb, rtol=0, atol=0)
    torch.testing.assert_close(ts, ref_ts, rtol=0, atol=0)


def test_device_and_precision_errors_are_clear(converted_dir, tmp_path, capsys):
    base = ["embed", str(EXAMPLE_WAV), "--model", str(converted_dir), "--out", str(tmp_path / "o"), "--quiet"]
    assert main(base + ["--device", "cuda:99"]) == 2
    err = capsys.readouterr().err
    assert "cuda:99" in err and "error:" in err and "Traceback" not in err
    assert main(base + ["--device", "nonsense"]) == 2
    assert "not a torch device" in capsys.readouterr().err
    assert main(base + ["--precision", "fp16"]) == 2
    assert "fp16 on CPU" in capsys.readouterr().err
    with pytest.raises(ValueError, match="cuda:99"):
        hear_mwmae.load_model(str(converted_dir), device="cuda:99")
    model = hear_mwmae.load_model(str(converted_dir), precision="fp16")
    with pytest.warns(UserWarning, match="fp16.*CPU"):
        model.scene_embeddings(torch.zeros(1, 16000))


def test_bf16_warns_exactly_where_the_cpu_has_no_bf16_kernels(converted_dir):
    """bf16 is opt-in and fast on AMX / AVX-512-bf16 CPUs; on AVX2-only CPUs it is ~9x slower: a warning."""
    import warnings

    from hear_mwmae.devices import cpu_matmul_is_slow

    model = hear_mwmae.load_model(str(converted_dir), precision="bf16")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.scene_embeddings(torch.zeros(1, 16000))
        model.scene_embeddings(torch.zeros(1, 16000))  # once per model, not per call
    slow = [w for w in caught if "bf16" in str(w.message)]
    assert len(slow) == (1 if cpu_matmul_is_slow(torch.bfloat16) else 0)


def test_info_without_argument_describes_the_bundled_model(capsys):
    assert main(["info", "--json"]) == 0
    bundled = json.loads(capsys.readouterr().out)
    assert main(["info", "bundled", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == bundled
    assert bundled["scene_embedding_size"] == hear_mwmae.load_model().scene_embedding_size


def test_cli_answers_without_importing_torch():
    code = ("import sys, hear_mwmae, hear_mwmae.cli as c\n"
            "p = c.build_parser()\n"
            "try:\n    c.main(['embed', 'no_such.wav', '--out', 'o'])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))[:5]\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "no such audio file" in done.stderr
    helped = subprocess.run([sys.executable, "-m", "hear_mwmae.cli", "--help"], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert helped.returncode == 0 and "embed" in helped.stdout and "eval" in helped.stdout
