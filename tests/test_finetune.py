"""Supervised training (training.finetune): data layouts, probe vs fine-tune, best export, exact resume."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

import hear_mwmae
from training.finetune import FinetuneConfig, load_classifier, parse_config, train
from training.labelled import read_labelled

from conftest import REPO, tone_task


def _label_folders(root, per_label=8, seconds=0.7):
    rng = np.random.default_rng(1)
    t = np.arange(int(seconds * 16000)) / 16000
    for label, f0 in (("low", 300), ("high", 3000)):
        (root / label).mkdir(parents=True)
        for i in range(per_label):
            audio = 0.3 * np.sin(2 * np.pi * f0 * rng.uniform(0.9, 1.1) * t) + 0.01 * rng.standard_normal(len(t))
            sf.write(root / label / f"{label}{i}.wav", audio.astype(np.float32), 16000)
    return root


def test_the_three_layouts_and_their_errors(tmp_path):
    folders = read_labelled(_label_folders(tmp_path / "folders"), valid_fraction=0.25, seed=0)
    assert folders.labels == ("high", "low") and len(folders.split("train")) == 12 and len(folders.split("valid")) == 4
    assert {label for _, label in folders.split("valid")} == {0, 1}  # stratified
    rows = ["path,label,split"] + [f"folders/{lab}/{lab}{i}.wav,{lab},{'valid' if i == 0 else 'train'}"
                                   for lab in ("low", "high") for i in range(8)]
    (tmp_path / "list.csv").write_text("\n".join(rows) + "\n")
    csv_set = read_labelled(tmp_path / "list.csv")
    assert len(csv_set.split("valid")) == 2 and all(p.is_file() for p, _, _ in csv_set.items)
    hear = read_labelled(tone_task(tmp_path / "hear"))
    assert [len(hear.split(s)) for s in ("train", "valid", "test")] == [12, 4, 4]  # folds 0-2, 3, 4
    assert all("fold04" in str(p) for p, _, split in hear.items if split == "test")
    (tmp_path / "bad.csv").write_text("file,class\nx.wav,a\n")
    with pytest.raises(ValueError, match="path,label"):
        read_labelled(tmp_path / "bad.csv")
    with pytest.raises(ValueError, match="at least 2 labels"):
        read_labelled(_single_label(tmp_path / "single"))
    with pytest.raises(FileNotFoundError, match="no labelled data"):
        read_labelled(tmp_path / "missing")


def _single_label(root):
    _label_folders(root)
    shutil.rmtree(root / "high")
    return root


def test_test_split_is_scored_once_on_the_chosen_checkpoint(converted_dir, tmp_path):
    task = tone_task(tmp_path / "hear")
    result = train(FinetuneConfig(data=str(task), out=str(tmp_path / "run"), model=str(converted_dir), mode="probe",
                                  epochs=3, batch_size=4, lr=3e-2, device="cpu"))
    assert result["test_clips"] == 4 and 0.0 <= result["test_acc"] <= 1.0
    record = json.loads((tmp_path / "run" / "best" / "finetune.json").read_text())
    assert record["test_acc"] == result["test_acc"] and record["epoch"] == result["best_epoch"]


def test_probe_keeps_the_encoder_and_learns_the_head(converted_dir, tmp_path):
    data = _label_folders(tmp_path / "data")
    out = tmp_path / "probe"
    result = train(FinetuneConfig(data=str(data), out=str(out), model=str(converted_dir), mode="probe", epochs=6,
                                  batch_size=8, lr=3e-2, valid_fraction=0.25, device="cpu"))
    assert result["best_valid_acc"] == 1.0  # low vs high tones: separable even on a random-ish micro encoder
    model, labels = load_classifier(out / "best")
    assert labels == ["high", "low"]
    encoder = hear_mwmae.load_model(str(out / "best")).encoder  # the exported encoder is a HEAR model too
    original = hear_mwmae.load_model(str(converted_dir)).encoder
    for a, b in zip(encoder.state_dict().values(), original.state_dict().values()):
        assert torch.equal(a, b)  # probe: frozen
    lines = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert [l["epoch"] for l in lines] == list(range(1, 7)) and lines[-1]["samples_seen"] == 6 * 12


def test_finetune_a_datar_classifier_trains_every_part(tmp_path):
    data = _label_folders(tmp_path / "data", per_label=4)
    out = tmp_path / "ft"
    train(FinetuneConfig(data=str(data), out=str(out), model="random:datar_tiny", mode="finetune", epochs=1,
                         batch_size=4, lr=1e-3, valid_fraction=0.25, device="cpu"))
    model, labels = load_classifier(out / "best")
    fresh = hear_mwmae.load_model("random:datar_tiny").encoder  # seed 0, as the run's starting point
    changed = [k for k, v in model.encoder.state_dict().items() if not torch.equal(v, fresh.state_dict()[k])]
    assert any("offset_net" in k for k in changed) and any("stem" in k for k in changed)
    assert model(torch.randn(2, 200, 80)).shape == (2, 2)


def test_resume_is_exact(converted_dir, tmp_path):
    data = _label_folders(tmp_path / "data", per_label=4)
    kwargs = dict(data=str(data), model=str(converted_dir), mode="finetune", epochs=3, batch_size=4, lr=1e-3,
                  valid_fraction=0.25, device="cpu")
    train(FinetuneConfig(out=str(tmp_path / "full"), **kwargs))
    train(FinetuneConfig(out=str(tmp_path / "split"), max_epochs_this_run=1, **kwargs))
    with pytest.raises(ValueError, match="--resume"):
        train(FinetuneConfig(out=str(tmp_path / "split"), **kwargs))
    train(FinetuneConfig(out=str(tmp_path / "split"), resume=True, **kwargs))
    read = lambda run: [json.loads(l)["train_loss"] for l in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
    assert read("split") == read("full")
    a, _ = load_classifier(tmp_path / "full" / "best")
    b, _ = load_classifier(tmp_path / "split" / "best")
    for (k, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(x, y), k


def test_cli_flags_and_errors(tmp_path):
    cfg = parse_config(["--data", "d", "--out", "o", "--mode", "finetune", "--precision", "bf16", "--resume"])
    assert (cfg.mode, cfg.precision, cfg.resume) == ("finetune", "bf16", True)
    with pytest.raises(ValueError, match="mode"):
        FinetuneConfig(data="d", out="o", mode="lora")
    done = subprocess.run([sys.executable, "-m", "training.finetune", "--data", str(tmp_path / "none"), "--out",
                           str(tmp_path / "o")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "no labelled data" in done.stderr and "Traceback" not in done.stderr
    helped = subprocess.run([sys.executable, "-m", "training.finetune", "--help"], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert "--valid-fraction" in helped.stdout and "frozen encoder" in helped.stdout


@pytest.mark.slow
def test_two_process_gloo_torchrun(converted_dir, tmp_path):
    data = _label_folders(tmp_path / "data", per_label=5)  # 8 training clips: 4 a rank
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
           "training.finetune", "--data", str(data), "--out", str(out), "--model", str(converted_dir), "--mode",
           "finetune", "--epochs", "2", "--batch-size", "3", "--valid-fraction", "0.2", "--device", "cpu"]
    done = subprocess.run(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    meta = json.loads((out / "ckpt-00000002" / "state.json").read_text())
    assert meta["world_size"] == 2 and meta["epoch"] == 2
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2  # only rank 0 logs
    model, labels = load_classifier(out / "best")
    assert labels == ["high", "low"] and model(torch.randn(1, 200, 80)).shape == (1, 2)
