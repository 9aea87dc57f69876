"""training/: data, schedule, loop, distributed run, exact resume after kill -9, export, Hub."""

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import hear_mwmae
from hear_mwmae.devices import describe
from hear_mwmae.frontend import NORM_EPS
from training import shards as shards_mod
from training.data import LogMelCrops, ResumableSampler
from training.optim import effective_lr, lr_at, param_groups
from training.state import model_state
from training.train import TrainConfig, parse_config, train

REPO = Path(__file__).resolve().parents[1]
TINY = {"depth": 1, "decoder_depth": 1, "decoder_embed_dim": 64}


def _write_corpus(folder: Path, n: int = 12, seed: int = 0) -> Path:
    """Real audio files (tones + noise bursts, different rates/channels) and one corrupt file."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        rate = (16000, 22050, 44100)[i % 3]
        seconds = 2.5 + (i % 4)
        t = np.arange(int(rate * seconds)) / rate
        tone = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 3000) * t) * (rng.uniform(size=t.size) > 0.3)
        audio = (tone + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
        if i % 4 == 1:
            audio = np.stack([audio, audio[::-1]], axis=1)  # stereo
        sf.write(folder / f"clip{i:02d}.{'flac' if i % 2 else 'wav'}", audio, rate)
    (folder / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt junk")
    sf.write(folder / "tiny.wav", np.zeros(1600, np.float32), 16000)  # 0.1 s: too short
    return folder


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory) -> Path:
    corpus = _write_corpus(tmp_path_factory.mktemp("corpus") / "audio")
    out = tmp_path_factory.mktemp("shards")
    shards_mod.precompute([str(corpus)], shards_mod.PrecomputeConfig(out=str(out), files_per_shard=5, workers=1),
                          progress=False)
    return out


def test_precompute_reports_bad_files_and_is_resumable(shard_dir):
    index = json.loads((shard_dir / "index.json").read_text())
    report = json.loads((shard_dir / "report.json").read_text())
    assert index["clips"] == 12 and len(index["shards"]) == 3
    reasons = {Path(s["file"]).name: s["reason"] for s in report["skipped"]}
    assert set(reasons) == {"broken.wav", "tiny.wav"}
    assert reasons["broken.wav"].startswith("unreadable") and reasons["tiny.wav"].startswith("too short")
    assert report["total_hours"] == pytest.approx(sum([2.5 + i % 4 for i in range(12)]) / 3600, rel=1e-3)
    before = {p.name: p.stat().st_mtime_ns for p in shard_dir.glob("shard_*")}
    corpus = Path(json.loads((shard_dir / "shard_00000.json").read_text())["files"][0]).parent
    shards_mod.precompute([str(corpus)], shards_mod.PrecomputeConfig(out=str(shard_dir), files_per_shard=5, workers=1),
                          progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in shard_dir.glob("shard_*")} == before  # nothing rebuilt


def test_silent_clips_are_skipped_and_left_out(tmp_path, shard_dir):
    """Digital silence would be blown up by the per-clip std normalisation (a silent clip made a
    2.7e9 loss): training.shards skips it with a reason, LogMelCrops leaves out any such clip of
    shards built before, with a warning; quiet but real audio (-60 dBFS noise) stays."""
    import shutil
    import warnings

    from training.data import MIN_CLIP_STD

    rng = np.random.default_rng(0)
    corpus = tmp_path / "audio"
    corpus.mkdir()
    sf.write(corpus / "zeros.wav", np.zeros(48000, np.float32), 16000)
    sf.write(corpus / "dither.wav", (1e-7 * rng.standard_normal(48000)).astype(np.float32), 16000,
             subtype="FLOAT")  # below the log-mel floor
    sf.write(corpus / "quiet_noise.wav", (1e-3 * rng.standard_normal(48000)).astype(np.float32), 16000)
    sf.write(corpus / "tone.wav", (0.3 * np.sin(np.arange(48000) / 16000 * 2 * np.pi * 440)).astype(np.float32), 16000)
    out = tmp_path / "shards"
    shards_mod.precompute([str(corpus)], shards_mod.PrecomputeConfig(out=str(out), workers=1), progress=False)
    reasons = {Path(x["file"]).name: x["reason"] for x in json.loads((out / "report.json").read_text())["skipped"]}
    assert set(reasons) == {"zeros.wav", "dither.wav"} and all(r.startswith("silent") for r in reasons.values())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        crops = LogMelCrops(out)
    assert len(crops) == 2 and crops.silent == []

    old = tmp_path / "old_shards"  # as if built before the check: one clip's std is near 0
    shutil.copytree(shard_dir, old)
    meta = json.loads((old / "shard_00000.json").read_text())
    meta["clips"][1]["std"] = MIN_CLIP_STD / 10
    (old / "shard_00000.json").write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match="1 silent clip"):
        crops = LogMelCrops(old)
    assert len(crops) == len(LogMelCrops(shard_dir)) - 1 and crops.silent == [meta["clips"][1]["file"]]


def test_hours_are_reported_per_source(tmp_path):
    """A CSV manifest's ``source`` column labels its files; folders and .txt manifests are their own label."""
    _write_corpus(tmp_path / "audio", n=4)
    other = _write_corpus(tmp_path / "other", n=2, seed=1)
    (tmp_path / "m.csv").write_text("path,source\naudio/clip00.wav,tones\naudio/clip01.flac,tones\n"
                                    "audio/clip02.wav,\n")
    (tmp_path / "m.txt").write_text("# comment\naudio/clip03.flac\n")
    sources = [str(tmp_path / "m.csv"), str(tmp_path / "m.txt"), str(other), str(tmp_path / "audio")]
    shards_mod.precompute(sources, shards_mod.PrecomputeConfig(out=str(tmp_path / "s"), workers=1), progress=False)
    hours = json.loads((tmp_path / "s" / "report.json").read_text())["hours_per_source"]
    assert hours == pytest.approx({"tones": (2.5 + 3.5) / 3600, str(tmp_path / "m.csv"): 4.5 / 3600,
                                   str(tmp_path / "m.txt"): 5.5 / 3600, str(other): (2.5 + 3.5) / 3600}, rel=1e-3)
    # the folder adds no file the manifests named already: each file counts once, under its first source


def test_crops_are_normalised_and_deterministic(shard_dir):
    ds = LogMelCrops(shard_dir, seed=3)
    a, b = ds[(0, 5)], ds[(0, 5)]
    assert a.shape == (200, 80) and torch.equal(a, b)
    offsets = {ds.crop_offset(e, 5) for e in range(20)}
    assert len(offsets) > 1 and max(offsets) < ds.clips[5][2] - 200  # [0, T − 200), last offset never used
    shard, start, frames, mean, std = ds.clips[5]
    full = np.load(ds.shard_files[shard])[start : start + frames]
    assert mean == pytest.approx(full.mean(), abs=1e-4) and std == pytest.approx(full.std(), abs=1e-4)


def test_mixed_crops_add_powers_of_two_clips(shard_dir):
    plain = LogMelCrops(shard_dir, seed=3)
    mixed = LogMelCrops(shard_dir, seed=3, mix_prob=1.0, mix_ratio=0.4)
    assert plain.mix_partner(0, 5) is None
    keys = [(e, i) for e in range(4) for i in range(len(mixed))]
    lams = []
    for epoch, i in keys:
        j, off, lam = mixed.mix_partner(epoch, i)
        assert j != i and 0.0 <= lam < 0.4
        lams.append(lam)
        mean, std = mixed.clips[i][3:]
        a = mixed.raw_crop(i, mixed.crop_offset(epoch, i))
        b = mixed.raw_crop(j, off)
        n = min(len(a), len(b))
        raw = mixed[(epoch, i)].numpy() * (std + NORM_EPS) + mean  # undo clip i's normalisation
        assert torch.equal(mixed[(epoch, i)], mixed[(epoch, i)])  # seeded: the same key, the same crop
        # a convex mix of powers: its log lies between the two logs, and adds the weighted powers
        assert np.all(raw[:n] >= np.minimum(a[:n], b[:n]) - 1e-4) and np.all(raw[:n] <= np.maximum(a[:n], b[:n]) + 1e-4)
        np.testing.assert_allclose(np.exp(raw[:n]), (1 - lam) * np.exp(a[:n]) + lam * np.exp(b[:n]), rtol=1e-4)
        np.testing.assert_allclose(raw[n:], a[n:], atol=1e-4)  # past a short partner: clip i alone
    assert max(lams) - min(lams) > 0.2  # λ really is drawn
    half = LogMelCrops(shard_dir, seed=3, mix_prob=0.5)
    share = np.mean([half.mix_partner(e, i) is not None for e in range(40) for i in range(len(half))])
    assert 0.35 < share < 0.65
    unmixed = [k for k in [(e, i) for e in range(10) for i in range(len(half))] if half.mix_partner(*k) is None]
    assert torch.equal(half[unmixed[0]], plain[unmixed[0]])  # unmixed crops are the plain crops


@pytest.mark.parametrize("kwargs, word", [({"mix_prob": 1.5}, "mix_prob"), ({"mix_prob": -0.1}, "mix_prob"),
                                          ({"mix_prob": 0.5, "mix_ratio": 0.0}, "mix_ratio"),
                                          ({"mix_prob": 0.5, "mix_ratio": 1.2}, "mix_ratio")])
def test_bad_mix_settings_are_refused(shard_dir, kwargs, word):
    with pytest.raises(ValueError, match=word):
        LogMelCrops(shard_dir, **kwargs)


def test_sampler_splits_ranks_and_resumes():
    def take(s, k):
        it = iter(s)
        return [next(it) for _ in range(k)]

    r0, r1 = take(ResumableSampler(10, 0, 2, seed=1), 10), take(ResumableSampler(10, 1, 2, seed=1), 10)
    assert not {i for e, i in r0[:5]} & {i for e, i in r1[:5]}  # disjoint within an epoch
    assert [e for e, _ in r0] == [0] * 5 + [1] * 5
    assert take(ResumableSampler(10, 0, 2, seed=1, start=3), 7) == r0[3:10]


def test_schedule_and_groups():
    assert effective_lr(1.5e-5, 128, 1, 8) == pytest.approx(6e-5)
    assert lr_at(0, 1.0, 10, 100) == 0 and lr_at(5, 1.0, 10, 100) == 0.5 and lr_at(10, 1.0, 10, 100) == 1.0
    assert lr_at(55, 1.0, 10, 100) == pytest.approx(0.5) and lr_at(100, 1.0, 10, 100) == pytest.approx(0.0)
    model = hear_mwmae.MaskedAutoencoder(hear_mwmae.get_config("mwmae_tiny", **TINY))
    assert len(param_groups(model, 0.05)) == 1  # official: decay everything
    decay, rest = param_groups(model, 0.05, decay_all=False)
    assert all(p.dim() >= 2 for p in decay["params"]) and rest["weight_decay"] == 0.0
    assert any(p is model.encoder.pos_embed for p in rest["params"])


@pytest.mark.parametrize("variant", ["mwmae_tiny", "mae_tiny"])
def test_a_few_steps_then_export_round_trip(shard_dir, tmp_path, variant):
    out = tmp_path / "run"
    result = train(TrainConfig(data=str(shard_dir), out=str(out), model=variant, model_overrides=TINY, batch_size=4,
                               steps=4, warmup_steps=2, base_lr=1e-3, workers=0, log_every=1, ckpt_every=2,
                               png_every=4, device="cpu"))
    assert result["step"] == 4 and np.isfinite(result["loss"])
    lines = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert [l["step"] for l in lines] == [1, 2, 3, 4] and all(np.isfinite(l["loss"]) for l in lines)
    assert [l["samples_seen"] for l in lines] == [4, 8, 12, 16]
    assert (out / "reconstructions" / "step00000004.png").stat().st_size > 1000
    assert sorted(p.name for p in out.glob("ckpt-*")) == ["ckpt-00000002", "ckpt-00000004"]
    from training.export import export

    exported = export(out, tmp_path / "export", encoder_only=(variant == "mae_tiny"))
    card = (exported / "README.md").read_text()
    assert "steps: 4" in card and "library_name: hear_mwmae" in card
    assert f"on `cpu` ({describe(torch.device('cpu'))})" in card and " cores)" in card  # the machine, named
    model = hear_mwmae.load_model(str(exported))
    from safetensors.torch import load_file

    trained = {k[len("model."):]: v for k, v in load_file(str(out / "ckpt-00000004" / "state.safetensors")).items()
               if k.startswith("model.encoder.")}
    reference = hear_mwmae.MaskedAutoencoder(hear_mwmae.get_config(variant, **TINY))
    reference.load_state_dict(trained, strict=False)
    audio = torch.rand(2, 24000) * 0.2 - 0.1
    ref = hear_mwmae.hear.HearModel(reference.encoder.eval())
    assert torch.equal(model.scene_embeddings(audio), ref.scene_embeddings(audio))


def test_non_finite_loss_stops_clearly(shard_dir, tmp_path):
    with pytest.raises(FloatingPointError, match="non-finite loss.*--resume"):
        train(TrainConfig(data=str(shard_dir), out=str(tmp_path / "nan"), model="mwmae_tiny", model_overrides=TINY,
                          batch_size=4, steps=3, warmup_steps=0, base_lr=1e30, workers=0, device="cpu"))
    assert not list((tmp_path / "nan").glob("ckpt-*"))


def test_blown_up_batch_stops_clearly(shard_dir, tmp_path):
    """A finite but absurd loss (a clip whose stored statistics blow its crops up) stops the run
    with a clear error instead of training on it."""
    import shutil

    bad = tmp_path / "bad_shards"
    shutil.copytree(shard_dir, bad)
    for meta_path in bad.glob("shard_*.json"):
        meta = json.loads(meta_path.read_text())
        for clip in meta["clips"]:
            clip["mean"] = 1e5  # crops become ~ -3e4: finite, absurd
        meta_path.write_text(json.dumps(meta))
    with pytest.raises(FloatingPointError, match="blown-up values.*training.shards"):
        train(TrainConfig(data=str(bad), out=str(tmp_path / "run"), model="mwmae_tiny", model_overrides=TINY,
                          batch_size=4, steps=3, warmup_steps=0, workers=0, device="cpu"))
    assert not list((tmp_path / "run").glob("ckpt-*"))


def test_config_file_and_flags(tmp_path, shard_dir):
    cfg_file = tmp_path / "c.json"
    cfg_file.write_text(json.dumps({"data": str(shard_dir), "out": "x", "steps": 7, "batch_size": 3}))
    cfg = parse_config(["--config", str(cfg_file), "--steps", "9", "--precision", "bf16", "--no-tensorboard",
                        "--model-overrides", '{"depth": 2}', "--mix-prob", "0.5"])
    assert (cfg.steps, cfg.batch_size, cfg.precision, cfg.tensorboard, cfg.model_overrides) == (9, 3, "bf16", False, {"depth": 2})
    assert (cfg.mix_prob, cfg.mix_ratio) == (0.5, 0.4)
    with pytest.raises(ValueError, match="precision"):
        parse_config(["--data", "d", "--out", "o", "--precision", "fp8"])


def _run_cmd(shard_dir, out, steps, extra=()):
    return [sys.executable, "-m", "training.train", "--data", str(shard_dir), "--out", str(out), "--model", "mwmae_tiny",
            "--model-overrides", json.dumps(TINY), "--batch-size", "4", "--steps", str(steps), "--warmup-steps", "2",
            "--base-lr", "1e-3", "--workers", "2", "--log-every", "1", "--ckpt-every", "2", "--device", "cpu",
            "--no-tensorboard", *extra]


def _losses(out):
    return [(l["step"], l["loss"]) for l in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())]


@pytest.mark.slow
def test_kill_9_then_resume_matches_an_uninterrupted_run(shard_dir, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    full = tmp_path / "full"
    mix = ["--mix-prob", "0.5"]  # the mixing draws too must be a pure function of the data position
    subprocess.run(_run_cmd(shard_dir, full, 10, mix), cwd=REPO, env=env, check=True, capture_output=True, timeout=300)
    broken = tmp_path / "broken"
    proc = subprocess.Popen(_run_cmd(shard_dir, broken, 10, mix), cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not (broken / "ckpt-00000004").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (broken / "ckpt-00000004").exists() and not (broken / "ckpt-00000010").exists()
    subprocess.run(_run_cmd(shard_dir, broken, 10, [*mix, "--resume"]), cwd=REPO, env=env, check=True, capture_output=True,
                   timeout=300)
    assert _losses(broken) == _losses(full)  # bit-identical losses, every step


@pytest.mark.slow
def test_two_process_gloo_torchrun(shard_dir, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           *_run_cmd(shard_dir, out, 3, ["--workers", "0"])[1:]]
    done = subprocess.run(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    meta = json.loads((out / "ckpt-00000003" / "state.json").read_text())
    assert meta["world_size"] == 2 and meta["samples_seen"] == 3 * 4 * 2
    assert len(_losses(out)) == 3  # only rank 0 logs


def test_push_export_to_hub_and_load_it_back(shard_dir, tmp_path, hub):
    out = tmp_path / "run"
    train(TrainConfig(data=str(shard_dir), out=str(out), model="mwmae_tiny", model_overrides=TINY, batch_size=4,
                      steps=2, warmup_steps=1, workers=0, device="cpu", tensorboard=False))
    from training.export import export, push

    exported = export(out, tmp_path / "export")
    repo = f"{hub.user}/trained-{uuid.uuid4().hex[:8]}"
    push(exported, repo)
    local, remote = hear_mwmae.load_model(str(exported)), hear_mwmae.load_model(f"hf://{repo}")
    audio = torch.rand(1, 20000) * 0.2 - 0.1
    assert torch.equal(local.scene_embeddings(audio), remote.scene_embeddings(audio))


def test_fresh_start_refuses_to_overwrite_a_run(shard_dir, tmp_path):
    kwargs = dict(data=str(shard_dir), out=str(tmp_path / "run"), model="mwmae_tiny", model_overrides=TINY,
                  batch_size=2, steps=1, warmup_steps=0, workers=0, device="cpu", tensorboard=False)
    train(TrainConfig(**kwargs))
    with pytest.raises(ValueError, match="already holds checkpoints.*--resume"):
        train(TrainConfig(**kwargs))
    assert train(TrainConfig(**{**kwargs, "steps": 2, "resume": True}))["step"] == 2


def test_long_files_are_cut_into_segments(tmp_path):
    from training.shards import _segments

    assert [s.size / 16000 for s in _segments(np.zeros(35 * 16000), 10)] == [10, 10, 15]
    assert [s.size / 16000 for s in _segments(np.zeros(16 * 16000), 10)] == [10, 6]
    corpus = tmp_path / "c"
    corpus.mkdir()
    sf.write(corpus / "long.wav", (0.1 * np.random.default_rng(0).standard_normal(16000 * 9)).astype(np.float32), 16000)
    out = tmp_path / "s"
    shards_mod.precompute([str(corpus)], shards_mod.PrecomputeConfig(out=str(out), workers=1, segment_seconds=3),
                          progress=False)
    clips = json.loads((out / "shard_00000.json").read_text())["clips"]
    assert [c["segment"] for c in clips] == [0, 1, 2] and all(c["frames"] == 301 for c in clips)


def test_init_from_an_export_starts_a_new_run_from_its_weights(shard_dir, tmp_path):
    from safetensors.torch import load_file

    from training.export import export

    kwargs = dict(data=str(shard_dir), model="mwmae_tiny", model_overrides=TINY, batch_size=2, warmup_steps=0,
                  workers=0, device="cpu", tensorboard=False)
    train(TrainConfig(out=str(tmp_path / "a"), steps=2, base_lr=1e-3, **kwargs))
    full = export(tmp_path / "a", tmp_path / "full")
    # lr 0: the weights after one step are exactly the ones the run started from.
    train(TrainConfig(out=str(tmp_path / "b"), steps=1, base_lr=0.0, init_from=str(full), **kwargs))
    started = model_state(load_file(str(tmp_path / "b" / "ckpt-00000001" / "state.safetensors")))
    source = load_file(str(full / "model.safetensors"))
    assert started.keys() == source.keys() and all(torch.equal(started[k], source[k]) for k in source)
    assert f"started from the weights of `{full}`" in (export(tmp_path / "b", tmp_path / "b_export") / "README.md").read_text()
    fresh = train(TrainConfig(out=str(tmp_path / "c"), steps=1, base_lr=0.0, **kwargs))
    assert fresh["loss"] != pytest.approx(_losses(tmp_path / "b")[0][1])

    with pytest.raises(ValueError, match="another architecture.*decoder_depth"):
        train(TrainConfig(out=str(tmp_path / "d"), steps=1, init_from=str(full),
                          **{**kwargs, "model_overrides": {**TINY, "decoder_depth": 2}}))
    encoder_only = export(tmp_path / "a", tmp_path / "enc", encoder_only=True)
    with pytest.raises(ValueError, match="encoder-only.*decoder"):
        train(TrainConfig(out=str(tmp_path / "e"), steps=1, init_from=str(encoder_only), **kwargs))


def test_init_encoder_from_copies_the_encoder_and_keeps_a_fresh_decoder(shard_dir, tmp_path):
    from safetensors.torch import load_file

    from training.export import export

    kwargs = dict(data=str(shard_dir), batch_size=2, warmup_steps=0, workers=0, device="cpu", tensorboard=False)
    train(TrainConfig(out=str(tmp_path / "a"), steps=2, base_lr=1e-3, model="mwmae_tiny", model_overrides=TINY,
                      **kwargs))
    encoder_only = export(tmp_path / "a", tmp_path / "enc", encoder_only=True)
    source = load_file(str(encoder_only / "model.safetensors"))
    # A lighter decoder (1 layer) and the MAE baseline's plain decoder (no cls token) both start from it.
    fresh = train(TrainConfig(out=str(tmp_path / "fresh"), steps=1, base_lr=0.0, model="mwmae_tiny",
                              model_overrides={**TINY, "decoder_depth": 1}, **kwargs))
    for name, overrides, model in (("light", {**TINY, "decoder_depth": 1}, "mwmae_tiny"),
                                   ("mae", {**TINY, "use_cls_token": False}, "mae_tiny")):
        train(TrainConfig(out=str(tmp_path / name), steps=1, base_lr=0.0, model=model, model_overrides=overrides,
                          init_encoder_from=str(encoder_only), **kwargs))
        started = model_state(load_file(str(tmp_path / name / "ckpt-00000001" / "state.safetensors")))
        assert all(torch.equal(started[k], source[k]) for k in source) and any(k.startswith("decoder.") for k in started)
    # The decoder is the seeded fresh one: the light run's decoder equals a from-scratch run's.
    scratch = model_state(load_file(str(tmp_path / "fresh" / "ckpt-00000001" / "state.safetensors")))
    light = model_state(load_file(str(tmp_path / "light" / "ckpt-00000001" / "state.safetensors")))
    assert all(torch.equal(light[k], scratch[k]) for k in light if k.startswith("decoder."))
    assert not all(torch.equal(light[k], scratch[k]) for k in light if k.startswith("encoder."))
    assert fresh["loss"] != pytest.approx(_losses(tmp_path / "light")[0][1])
    assert "started from the encoder of" in (export(tmp_path / "light", tmp_path / "light_export") / "README.md").read_text()

    with pytest.raises(ValueError, match="another encoder.*use_cls_token.*--model-overrides"):
        train(TrainConfig(out=str(tmp_path / "b"), steps=1, model="mae_tiny", model_overrides=TINY,
                          init_encoder_from=str(encoder_only), **kwargs))
    with pytest.raises(ValueError, match="another encoder.*depth"):
        train(TrainConfig(out=str(tmp_path / "c"), steps=1, model="mwmae_tiny", model_overrides={**TINY, "depth": 2},
                          init_encoder_from=str(encoder_only), **kwargs))
    with pytest.raises(ValueError, match="not both"):
        train(TrainConfig(out=str(tmp_path / "d"), steps=1, model="mwmae_tiny", model_overrides=TINY,
                          init_encoder_from=str(encoder_only), init_from=str(encoder_only), **kwargs))


def test_freeze_encoder_steps_hold_the_encoder_then_train_it(shard_dir, tmp_path):
    from safetensors.torch import load_file

    kwargs = dict(data=str(shard_dir), model="mwmae_tiny", model_overrides=TINY, batch_size=2, warmup_steps=0,
                  workers=0, device="cpu", tensorboard=False, base_lr=1e-2, ckpt_every=1, keep=5, log_every=1)
    train(TrainConfig(out=str(tmp_path / "a"), steps=3, freeze_encoder_steps=2, **kwargs))
    states = [model_state(load_file(str(tmp_path / "a" / f"ckpt-0000000{i}" / "state.safetensors"))) for i in (1, 2, 3)]
    b = TrainConfig(out=str(tmp_path / "b"), steps=1, base_lr=0.0, **{k: v for k, v in kwargs.items() if k != "base_lr"})
    train(b)
    start = model_state(load_file(str(tmp_path / "b" / "ckpt-00000001" / "state.safetensors")))  # the seeded init
    enc = [k for k in start if k.startswith("encoder.")]
    dec = [k for k in start if k.startswith("decoder.")]
    for st in states[:2]:  # held: the encoder is the initial one, bit for bit; the decoder moved
        assert all(torch.equal(st[k], start[k]) for k in enc)
        assert not all(torch.equal(st[k], start[k]) for k in dec)
    assert not all(torch.equal(states[2][k], start[k]) for k in enc)  # step 3 trains it
    logged = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert [r["encoder_lr"] for r in logged if "encoder_lr" in r][:2] == [0.0, 0.0]
    with pytest.raises(ValueError, match="freeze_encoder_steps"):
        TrainConfig(out="x", data="y", steps=3, freeze_encoder_steps=3)


def test_a_held_encoder_gets_no_gradients_so_clipping_and_adamw_see_the_decoder_only(shard_dir, tmp_path):
    """While --freeze-encoder-steps holds the encoder, the decoder trains exactly as with --freeze-encoder
    (a tight clip makes the norm matter), and the encoder's AdamW moments start only when it trains."""
    from safetensors.torch import load_file

    kwargs = dict(data=str(shard_dir), model="mwmae_tiny", model_overrides=TINY, batch_size=2, warmup_steps=0,
                  workers=0, device="cpu", tensorboard=False, base_lr=1e-2, clip_grad=0.05, ckpt_every=1, keep=5,
                  steps=3)
    train(TrainConfig(out=str(tmp_path / "held"), freeze_encoder_steps=2, **kwargs))
    train(TrainConfig(out=str(tmp_path / "fixed"), max_steps_this_run=2, freeze_encoder=True, **kwargs))
    for step in (1, 2):
        held, fixed = (model_state(load_file(str(tmp_path / run / f"ckpt-0000000{step}" / "state.safetensors")))
                       for run in ("held", "fixed"))
        assert all(torch.equal(held[k], fixed[k]) for k in fixed if k.startswith("decoder."))
    meta = json.loads((tmp_path / "held" / "ckpt-00000002" / "state.json").read_text())
    enc_ids = {i for g in meta["optimizer"]["param_groups"] if g.get("encoder") for i in g["params"]}

    def moments(step):
        tensors = load_file(str(tmp_path / "held" / f"ckpt-0000000{step}" / "state.safetensors"))
        return {int(k.split(".")[1]) for k in tensors if k.startswith("optim.")}
    assert enc_ids and not enc_ids & moments(2)  # held: no moments for the encoder
    assert enc_ids <= moments(3)  # step 3 trains it
    train(TrainConfig(out=str(tmp_path / "resumed"), freeze_encoder_steps=2, max_steps_this_run=1, **kwargs))
    again = train(TrainConfig(out=str(tmp_path / "resumed"), freeze_encoder_steps=2, resume=True, **kwargs))
    assert again["loss"] == _losses(tmp_path / "held")[-1][1]  # a resume inside the held steps is exact
    with pytest.raises(ValueError, match="freeze_encoder_steps=2, now 1: resume with the same --freeze-encoder-steps"):
        train(TrainConfig(out=str(tmp_path / "held"), resume=True, **{**kwargs, "steps": 4}, freeze_encoder_steps=1))


def test_freeze_encoder_fits_a_decoder_to_an_unchanged_encoder(shard_dir, tmp_path):
    """How the encoder-only bundled weights get a full checkpoint (recipes/bundled_weights/full_checkpoint.sh)."""
    from safetensors.torch import load_file

    from training.export import export

    kwargs = dict(data=str(shard_dir), model="mwmae_tiny", model_overrides=TINY, batch_size=2, warmup_steps=0,
                  workers=0, device="cpu", tensorboard=False, base_lr=1e-2, ckpt_every=1, keep=5, log_every=1)
    train(TrainConfig(out=str(tmp_path / "a"), steps=2, **kwargs))
    encoder_only = export(tmp_path / "a", tmp_path / "enc", encoder_only=True)
    source = load_file(str(encoder_only / "model.safetensors"))
    train(TrainConfig(out=str(tmp_path / "f"), steps=2, max_steps_this_run=1, freeze_encoder=True,
                      init_encoder_from=str(encoder_only), **kwargs))
    first = model_state(load_file(str(tmp_path / "f" / "ckpt-00000001" / "state.safetensors")))
    train(TrainConfig(out=str(tmp_path / "f"), steps=2, resume=True, freeze_encoder=True,
                      init_encoder_from=str(encoder_only), **kwargs))  # the optimizer state (decoder only) resumes
    last = model_state(load_file(str(tmp_path / "f" / "ckpt-00000002" / "state.safetensors")))
    again = train(TrainConfig(out=str(tmp_path / "f"), steps=2, resume=True, freeze_encoder=True, **kwargs))
    assert again["step"] == 2 and again["loss"] == _losses(tmp_path / "f")[-1][1]  # a finished run reports its loss
    # The encoder is the source's bit for bit after every step, weight decay included; the decoder trained.
    assert all(torch.equal(st[k], source[k]) for st in (first, last) for k in source)
    assert not all(torch.equal(first[k], last[k]) for k in last if k.startswith("decoder."))
    (source_name,) = json.loads((shard_dir / "report.json").read_text())["hours_per_source"]
    corpus = tmp_path / "corpus_report.json"
    corpus.write_text(json.dumps({"sources": {source_name: {"package": "tones-data", "licence": "CC0-1.0"}}}))
    full = export(tmp_path / "f", tmp_path / "full", corpus_report=str(corpus))
    exported = load_file(str(full / "model.safetensors"))
    assert all(torch.equal(exported[k], source[k]) for k in source) and any(k.startswith("decoder.") for k in exported)
    card = (full / "README.md").read_text()
    assert "held fixed for the whole run" in card and f"| {source_name} | tones-data | CC0-1.0 |" in card
    # No licence claimed for weights of audio under other terms unless the exporter names one.
    assert "\nlicense: other\n" in card and "## Licence" in card and "licence column" in card
    named = (export(tmp_path / "f", tmp_path / "named", license="cc0-1.0") / "README.md").read_text()
    assert "\nlicense: cc0-1.0\n" in named and "## Licence" not in named
    for bad, why in (({"license": "CC0 1.0"}, "not a Hub licence id"), ({"license": "other"}, "leave --license out"),
                     ({"eval_table": str(tmp_path / "missing.md")}, "no such file"),
                     ({"corpus_report": str(shard_dir / "report.json")}, "no 'sources'")):
        with pytest.raises(ValueError, match=why):
            export(tmp_path / "f", tmp_path / "bad", **bad)
        assert not (tmp_path / "bad").exists()  # checked before anything is written
    with pytest.raises(ValueError, match="not both"):
        TrainConfig(out="x", data="y", steps=3, freeze_encoder=True, freeze_encoder_steps=1)
    with pytest.raises(ValueError, match="--freeze-encoder"):
        TrainConfig(out="x", data="y", steps=3, freeze_encoder_steps=3)


def test_packed_shards_round_trip_within_half_a_level(shard_dir, tmp_path):
    """recipes/bundled_weights: the 7-bit transport of the shards the bundled weights trained on."""
    recipe = REPO / "recipes" / "bundled_weights"
    packed, restored = tmp_path / "packed", tmp_path / "restored"
    for script, src, dst in (("pack_shards.py", shard_dir, packed), ("unpack_shards.py", packed, restored)):
        subprocess.run([sys.executable, str(recipe / script), str(src), str(dst)], check=True, capture_output=True)
    q = json.loads((packed / "quantization.json").read_text())
    half_level = (q["hi"] - q["lo"]) / q["levels"] / 2
    index = json.loads((shard_dir / "index.json").read_text())
    for sh in index["shards"]:
        before = np.load(shard_dir / sh["npy"]).astype(np.float32)
        after = np.load(restored / sh["npy"])
        assert after.dtype == np.float16 and after.shape == before.shape
        err = np.abs(after.astype(np.float32) - before)
        assert err.max() <= half_level * 1.01 + 1e-2 and err.max() > 0  # fp16 rounding on top of the level
    ours, theirs = LogMelCrops(restored), LogMelCrops(shard_dir)
    assert len(ours) == len(theirs)
    shard, start, frames, mean, std = ours.clips[3]
    full = np.load(ours.shard_files[shard])[start : start + frames].astype(np.float64)
    assert mean == pytest.approx(full.mean(), abs=1e-6) and std == pytest.approx(full.std(), abs=1e-6)
    assert (ours[(0, 3)] - theirs[(0, 3)]).abs().max() < 0.1  # same crop, nearly the same values


def test_speed_copies_shift_pitch_and_tempo(tmp_path):
    """--speed-copies: each copy is the file played `factor` times faster (pitch and tempo), the
    factor alternating over SPEED_FACTORS; undecodable files are left out."""
    from training.debian_corpus import SPEED_FACTORS, speed_copies

    rate, seconds, hz = 22050, 3.0, 440.0
    t = np.arange(int(rate * seconds)) / rate
    for name in ("a.wav", "b.wav"):
        sf.write(tmp_path / name, (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32), rate)
    (tmp_path / "preset.xpf").write_text("<not audio/>")
    rows = [(str(tmp_path / "a.wav"), "music"), (str(tmp_path / "b.wav"), "music"), (str(tmp_path / "preset.xpf"), "x")]
    copies = speed_copies(rows, tmp_path / "out")
    assert [label for _, label in copies] == ["music+speed", "music+speed"]
    for (path, _), factor in zip(copies, SPEED_FACTORS):
        audio, sr = sf.read(path)
        assert sr == 16000
        assert audio.size / sr == pytest.approx(seconds / factor, rel=1e-3)
        spectrum = np.abs(np.fft.rfft(audio))
        peak = np.fft.rfftfreq(audio.size, 1 / sr)[spectrum.argmax()]
        assert peak == pytest.approx(hz * factor, abs=1.0)


def test_corpus_clips_are_written_atomically(tmp_path):
    """A clip write that fails halfway leaves the previous file intact and no temp file behind;
    the format follows the final name (WAV, FLAC), not the temp name."""
    from training.debian_corpus import write_audio

    tone = (0.5 * np.sin(np.linspace(0, 200, 16000))).astype(np.float32)
    for name in ("clip.wav", "clip.flac"):
        path = write_audio(tmp_path / name, tone, 16000)
        audio, rate = sf.read(path)
        assert rate == 16000 and sf.info(path).format == name.split(".")[1].upper()
        assert np.abs(audio - tone).max() < 1e-3
    before = (tmp_path / "clip.wav").read_bytes()
    with pytest.raises(ValueError):  # soundfile opens (truncates) the file, then rejects the data
        write_audio(tmp_path / "clip.wav", np.array(["not", "audio"]), 16000)
    assert (tmp_path / "clip.wav").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.flac", "clip.wav"]


def test_speech_variants_vary_the_speaker(tmp_path):
    """--speech-variants: clips are synthesised with `<language>+<variant>` voices (real
    espeak-ng), and two variants of one sentence really sound different."""
    from training.debian_corpus import _espeak_list, speech

    variants = set(_espeak_list("variant"))
    assert len(variants) > 20
    paths = speech(tmp_path, clips=4, variants=True)
    assert len(paths) == 4
    for p in paths:
        voice = p.stem.split("_", 2)[2]
        assert "+" in voice and voice.split("+")[1] in variants
        audio, _ = sf.read(p)
        assert audio.size > 0 and np.isfinite(audio).all()
    plain = speech(tmp_path / "plain", clips=4)
    assert all("+" not in p.stem for p in plain)
    # same languages and seed, with and without speaker variants -> different audio
    pairs = [(sf.read(a)[0], sf.read(b)[0]) for a, b in zip(paths, plain)]
    assert any(x.size != y.size or not np.allclose(x, y) for x, y in pairs)


def _peak_hz(audio: np.ndarray, rate: int = 16000) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size)))
    return float(np.fft.rfftfreq(audio.size, 1 / rate)[spectrum.argmax()])


def test_pitch_shift_moves_a_tone_by_semitones():
    """pitch_shift: +12 doubles a tone's frequency, -7 lowers it a fifth (to within 10 cents, the
    rounding of the source rate), 0 leaves it alone; the length scales the other way."""
    from training.debian_corpus import pitch_shift

    hz = 440.0
    tone = (0.5 * np.sin(2 * np.pi * hz * np.arange(32000) / 16000)).astype(np.float32)
    assert pitch_shift(tone, 0) is tone
    for semitones in (12, -7, 5):
        shifted = pitch_shift(tone, semitones)
        ratio = 2 ** (semitones / 12)
        assert shifted.size == pytest.approx(tone.size / ratio, rel=0.01)
        cents = 1200 * np.log2(_peak_hz(shifted) / (hz * ratio))
        assert abs(cents) < 12


def test_lmms_notes_play_samples_at_many_pitches(tmp_path):
    """--lmms-notes: 10 s, 16 kHz clips of notes from the instrument and drum folders, peaks at
    most 0.9, silence between notes, notes of one instrument clip at several pitches."""
    from training.debian_corpus import NOTE_FOLDERS, lmms_notes

    root = tmp_path / "samples"
    t = np.arange(3 * 22050) / 22050
    for kind, folders in NOTE_FOLDERS.items():
        for j, folder in enumerate(folders):
            for k in range(3):
                (root / folder).mkdir(parents=True, exist_ok=True)
                decay = np.exp(-t * (8 if kind == "drums" else 1))
                sf.write(root / folder / f"s{k}.ogg", (0.3 * decay * np.sin(2 * np.pi * (220 + 50 * j + 10 * k) * t)), 22050)
    (root / "drums" / "broken.ogg").write_bytes(b"RIFF not audio")  # left out, as lmms's broken harpsichord
    paths = lmms_notes(tmp_path / "out", clips=6, seed=1, root=str(root))
    assert len(paths) == 6
    pitches = set()
    for path in paths:
        audio, rate = sf.read(path)
        assert rate == 16000 and audio.size == 10 * 16000
        assert 0.1 < np.abs(audio).max() <= 0.9 + 1e-3
        assert (np.abs(audio) < 1e-4).mean() > 0.05  # gaps between notes, not a wall of sound
        frames = audio[: audio.size // 1600 * 1600].reshape(-1, 1600)
        pitches |= {round(_peak_hz(f), -1) for f in frames if np.abs(f).max() > 0.05}
    assert len(pitches) >= 5
    assert lmms_notes(tmp_path / "none", clips=2, root=str(tmp_path / "missing")) == []  # lmms-common absent


def test_speech_words_are_isolated_words(tmp_path):
    """--speech-words: 10 s, 16 kHz clips of several separate spoken words (real espeak-ng)."""
    from training.debian_corpus import speech_words

    paths = speech_words(tmp_path, clips=2)
    assert len(paths) == 2
    for path in paths:
        audio, rate = sf.read(path)
        assert rate == 16000 and audio.size == 10 * 16000 and np.isfinite(audio).all()
        loud = np.abs(audio[: audio.size // 160 * 160].reshape(-1, 160)).max(axis=1) > 1e-3
        onsets = np.flatnonzero(np.diff(loud.astype(int)) == 1)
        assert onsets.size >= 4  # at least 4 silence-to-speech transitions: separate words
    assert not np.allclose(sf.read(paths[0])[0], sf.read(paths[1])[0])


def test_split_packed_chunks_fit_and_cover_every_file(tmp_path):
    """recipes/bundled_weights/split_packed.py: every file in exactly one chunk, no chunk over the
    limit; a file larger than the limit is a clear error."""
    src = tmp_path / "packed"
    src.mkdir()
    sizes = {"shard_00000.u7.xz": 600, "shard_00001.u7.xz": 450, "shard_00002.u7.xz": 300, "index.json": 90,
             "shard_00000.json": 120, "quantization.json": 10}
    for name, size in sizes.items():
        (src / name).write_bytes(os.urandom(size))
    out = subprocess.run([sys.executable, str(REPO / "recipes" / "bundled_weights" / "split_packed.py"), str(src),
                          str(tmp_path / "chunks"), "--limit-mb", "0.0007"], capture_output=True, text=True, check=True)
    chunks = sorted((tmp_path / "chunks").iterdir())
    assert len(chunks) == 3 and out.stdout.count("files") == 3
    seen = [f for c in chunks for f in c.iterdir()]
    assert sorted(f.name for f in seen) == sorted(sizes)
    for c in chunks:
        assert sum(f.stat().st_size for f in c.iterdir()) <= 700
    assert all((src / f.name).read_bytes() == f.read_bytes() for f in seen)
    bad = subprocess.run([sys.executable, str(REPO / "recipes" / "bundled_weights" / "split_packed.py"), str(src),
                          str(tmp_path / "c2"), "--limit-mb", "0.0005"], capture_output=True, text=True)
    assert bad.returncode != 0 and "600 bytes, over the 500-byte chunk limit" in bad.stderr


def _push_cli(folder, repo, env_overrides):
    env = {**os.environ, **env_overrides}
    return subprocess.run([sys.executable, "-m", "training.push", str(folder), repo], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def test_push_cli_names_a_refused_token_and_an_unreachable_hub(tmp_path, hub):
    folder = tmp_path / "export"
    hear_mwmae.MaskedAutoencoder(hear_mwmae.get_config("mwmae_tiny", depth=1, decoder_depth=1, encoder_only=True)).save_pretrained(folder)
    refused = _push_cli(folder, f"{hub.user}/refused", {"HF_ENDPOINT": hub.url, "HF_TOKEN": "hf_wrong_token"})
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "refused the token (401" in refused.stderr and "HF_TOKEN" in refused.stderr
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = _push_cli(folder, f"{hub.user}/down", {"HF_ENDPOINT": f"http://127.0.0.1:{port}", "HF_HUB_ETAG_TIMEOUT": "2"})
    assert down.returncode == 1 and "Traceback" not in down.stderr
    assert f"cannot reach the Hub at http://127.0.0.1:{port}" in down.stderr


def test_train_help_describes_every_flag():
    from training.train import FLAG_HELP, TrainConfig

    assert set(FLAG_HELP) == {f.name for f in dataclasses.fields(TrainConfig)}
    done = subprocess.run([sys.executable, "-m", "training.train", "--help"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    for name, description in FLAG_HELP.items():
        assert f"--{name.replace('_', '-')}" in text
        assert " ".join(description.split())[:40] in text, f"--{name} has no description in --help"


def test_fp16_trains_with_a_gradient_scaler_and_resumes_it(shard_dir, tmp_path):
    """fp16 autocast + dynamic loss scaling (for GPUs without bf16; runs on CPU too): finite losses, the
    scaler's state saved in every checkpoint and restored on --resume, so a resumed run continues
    exactly as an uninterrupted one."""
    kw = dict(data=str(shard_dir), model="mwmae_tiny", model_overrides=TINY, batch_size=4, steps=4,
              warmup_steps=1, base_lr=1e-3, workers=0, log_every=1, ckpt_every=2, device="cpu",
              precision="fp16", tensorboard=False)
    full = train(TrainConfig(out=str(tmp_path / "full"), **kw))
    meta = json.loads((tmp_path / "full" / "ckpt-00000004" / "state.json").read_text())
    assert np.isfinite(full["loss"]) and meta["grad_scaler"]["scale"] > 0
    part = tmp_path / "part"
    train(TrainConfig(out=str(part), max_steps_this_run=2, **kw))
    saved = json.loads((part / "ckpt-00000002" / "state.json").read_text())["grad_scaler"]
    assert saved["scale"] == 2.0**16  # the scaler's start: no overflow in two steps
    train(TrainConfig(out=str(part), resume=True, **kw))
    assert _losses(part) == _losses(tmp_path / "full")


@pytest.mark.slow
def test_compiled_training_matches_eager(shard_dir, tmp_path):
    """--compile (torch.compile of the model) trains the same model: losses equal eager's to float32
    rounding over a few steps."""
    kw = dict(data=str(shard_dir), model="mwmae_tiny", model_overrides=TINY, batch_size=4, steps=3,
              warmup_steps=1, base_lr=1e-3, workers=0, log_every=1, ckpt_every=3, device="cpu", tensorboard=False)
    train(TrainConfig(out=str(tmp_path / "eager"), **kw))
    train(TrainConfig(out=str(tmp_path / "compiled"), compile=True, **kw))
    eager, compiled = _losses(tmp_path / "eager"), _losses(tmp_path / "compiled")
    assert [s for s, _ in eager] == [s for s, _ in compiled] == [1, 2, 3]
    np.testing.assert_allclose([l for _, l in compiled], [l for _, l in eager], rtol=1e-4)
