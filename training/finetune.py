"""Supervised training of a classifier on labelled audio: a linear probe or full fine-tuning.

    python -m training.finetune --data DATA --out runs/ft --model CKPT --mode probe      # frozen encoder
    python -m training.finetune --data DATA --out runs/ft --model CKPT --mode finetune   # everything trains
    python -m training.finetune --data DATA --out runs/datar --model random:datar_tiny --mode finetune
    torchrun --standalone --nproc_per_node 2 -m training.finetune …                     # DDP, as pretraining

DATA: a folder of label folders, a ``path,label`` CSV or a HEAR task folder (training.labelled).
CKPT: anything ``load_model`` takes. An MW-MAE / MAE encoder gets a linear head on its HEAR scene
embedding (frame embeddings averaged over time);
a DATAR-style model (``datar_*``) uses its own head. Clips become whole-clip-normalised log-mel
(the HEAR path's frontend); training reads a random 2 s crop per clip and epoch (seeded by seed,
epoch and clip, so ``--resume`` is exact); validation averages the logits of every 2 s unit.
The best epoch on the validation split is exported to ``OUT/best/`` (load it with
:func:`load_classifier`; its encoder also loads with ``hear_mwmae.load_model``); where the data has a
test split, that checkpoint is scored on it once at the end (``test_acc``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from hear_mwmae import MaskedAutoencoder
from hear_mwmae.audio_io import read_audio
from hear_mwmae.checkpoint import load_checkpoint
from hear_mwmae.datar import DatarClassifier
from hear_mwmae.frontend import LogMelFrontend, reflect_index

from . import dist, state
from .labelled import read_labelled

UNIT = 200  # frames of one 2 s crop


@dataclass(frozen=True)
class FinetuneConfig:
    data: str = ""
    out: str = ""
    model: str = ""  # load_model's spec; "" = the bundled weights
    mode: str = "probe"  # probe (frozen encoder) or finetune
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_epochs: int = 1
    precision: str = "fp32"
    seed: int = 0
    valid_fraction: float = 0.1
    device: str = "cuda" if torch.cuda.is_available() else "cpu"
    resume: bool = False
    keep: int = 2
    max_epochs_this_run: int = 0  # stop (with a checkpoint) after this many epochs; 0 = to the end

    def __post_init__(self) -> None:
        if not self.data or not self.out:
            raise ValueError("--data (labelled audio) and --out are required")
        if self.mode not in ("probe", "finetune"):
            raise ValueError(f"mode must be probe or finetune, got {self.mode!r}")
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be fp32 or bf16, got {self.precision!r}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


class EncoderClassifier(nn.Module):
    """An MW-MAE / MAE encoder and a linear head on its HEAR scene embedding: (B, 200, 80) -> (B, classes).

    Why the scene embedding (the mean over time of the frame embeddings, each the frequency bands'
    tokens side by side: 5·D) rather than the mean token: averaging over bands throws away where in
    frequency a sound is, which a probe of the HEAR representation should keep."""

    def __init__(self, encoder: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.config.frame_embedding_size, num_classes)

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 200, 80) -> (B, F'·D): the mean frame embedding of the 2 s crop (what the head reads)."""
        return self.encoder.frame_embeddings(x).mean(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pooled(x))


def build_classifier(spec: str, num_classes: int, seed: int = 0) -> nn.Module:
    """The starting classifier: ``spec``'s encoder (``random:`` weights drawn with ``seed``) and a new head."""
    base = load_checkpoint(spec, seed=seed)
    if isinstance(base, DatarClassifier):
        model = DatarClassifier(base.config.replace(num_classes=num_classes))
        model.encoder.load_state_dict(base.encoder.state_dict())
        return model
    return EncoderClassifier(base.encoder, num_classes)


def _clip_logmels(paths, frontend: LogMelFrontend) -> list[torch.Tensor]:
    return [frontend(read_audio(p))[0] for p in paths]  # each (T, 80), whole-clip standardised


def _crop(mel: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    t = mel.shape[0]
    start = int(rng.integers(0, t - UNIT + 1)) if t > UNIT else 0
    return mel.index_select(0, torch.from_numpy(reflect_index(t, UNIT, offset=start)))


def _units(mel: torch.Tensor) -> torch.Tensor:
    n = math.ceil(mel.shape[0] / UNIT)
    return mel.index_select(0, torch.from_numpy(reflect_index(mel.shape[0], n * UNIT))).view(n, UNIT, -1)


@torch.no_grad()
def accuracy(model: nn.Module, mels: list[torch.Tensor], labels: list[int], device, autocast) -> float:
    """Share of clips whose logits, averaged over their 2 s units, pick the right label."""
    model.eval()
    hits = 0
    for mel, label in zip(mels, labels):
        with autocast():
            logits = model(_units(mel).to(device)).float().mean(dim=0)
        hits += int(logits.argmax()) == label
    return hits / max(1, len(mels))


@torch.no_grad()
def clip_features(model: nn.Module, mels: list[torch.Tensor], device, autocast) -> torch.Tensor:
    """(clips, D) frozen-encoder features: the pooled token of every 2 s unit, averaged over the clip.

    Why precomputed: a probe's encoder never changes, so its features are computed once (no crops),
    and the head trains on them; the head then sees at evaluation what it saw in training."""
    model.eval()
    feats = []
    for mel in mels:
        with autocast():
            feats.append(model.pooled(_units(mel).to(device)).float().mean(dim=0))
    return torch.stack(feats)


def train(cfg: FinetuneConfig) -> dict:
    info, device = dist.setup(cfg.device)
    out = Path(cfg.out)
    data = read_labelled(cfg.data, cfg.valid_fraction, cfg.seed)
    train_set, valid_set = data.split("train"), data.split("valid")
    frontend = LogMelFrontend()
    train_mels, valid_mels = _clip_logmels([p for p, _ in train_set], frontend), _clip_logmels([p for p, _ in valid_set], frontend)
    torch.manual_seed(cfg.seed)
    model = build_classifier(cfg.model, len(data.labels), cfg.seed).to(device)
    if cfg.mode == "probe":
        model.encoder.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    per_rank = math.ceil(len(train_set) / info.world_size)  # every rank gets as many clips (the last wrap around)
    per_epoch = math.ceil(per_rank / cfg.batch_size)
    total, warmup = cfg.epochs * per_epoch, cfg.warmup_epochs * per_epoch
    epoch, best, best_epoch = 0, -1.0, -1
    existing = state.list_checkpoints(out)
    if existing and not cfg.resume:
        raise ValueError(f"{out} already holds checkpoints ({existing[-1].name}); pass --resume, or use a new --out")
    if cfg.resume and (found := state.load_latest(out)) is not None:
        tensors, meta, path = found
        state.restore(tensors, meta, model, opt)
        epoch, best, best_epoch = meta["epoch"], meta["best_valid_acc"], meta["best_epoch"]
        if info.is_main:
            print(f"resumed from {path} (epoch {epoch})")
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if cfg.precision == "bf16" else contextlib.nullcontext
    probe = cfg.mode == "probe"
    trained = model.head if probe else model  # a probe trains the head on precomputed features
    ddp = torch.nn.parallel.DistributedDataParallel(trained) if info.enabled else trained
    if probe:
        train_feats = clip_features(model, train_mels, device, autocast)
        valid_feats = clip_features(model, valid_mels, device, autocast)
    targets = torch.tensor([label for _, label in train_set])
    stop = cfg.epochs if cfg.max_epochs_this_run <= 0 else min(cfg.epochs, epoch + cfg.max_epochs_this_run)
    while epoch < stop:
        model.train()
        if probe:
            model.encoder.eval()  # frozen: no dropout anyway, but keep it in inference mode
        order = np.random.default_rng([cfg.seed, epoch]).permutation(len(train_set))
        # Why equal shares: DDP's all-reduce needs every rank to take the same number of steps.
        order = np.resize(order, per_rank * info.world_size)[info.rank :: info.world_size]
        losses = []
        for k in range(per_epoch):
            idx = order[k * cfg.batch_size : (k + 1) * cfg.batch_size]
            if len(idx) == 0:
                continue
            step = epoch * per_epoch + k
            lr = cfg.lr * min(1.0, (step + 1) / max(1, warmup)) * (0.5 * (1 + math.cos(math.pi * min(1.0, step / total))))
            for group in opt.param_groups:
                group["lr"] = lr
            if probe:
                logits = ddp(train_feats[idx])
            else:
                x = torch.stack([_crop(train_mels[i], np.random.default_rng([cfg.seed, epoch, int(i)])) for i in idx])
                with autocast():
                    logits = ddp(x.to(device))
            loss = nn.functional.cross_entropy(logits.float(), targets[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(dist.mean_over_ranks(loss.detach(), info)))
        epoch += 1
        valid_labels = [label for _, label in valid_set]
        if probe:
            with torch.no_grad():
                acc = float((model.head(valid_feats).argmax(-1).cpu() == torch.tensor(valid_labels)).float().mean())
        else:
            acc = accuracy(model, valid_mels, valid_labels, device, autocast)
        if info.is_main:
            improved = acc > best
            if improved:
                best, best_epoch = acc, epoch
                export_best(model, out / "best", data.labels, {"valid_acc": acc, "epoch": epoch, **dataclasses.asdict(cfg)})
            meta = {"epoch": epoch, "best_valid_acc": best, "best_epoch": best_epoch, "world_size": info.world_size,
                    "config": dataclasses.asdict(cfg)}
            state.save(out, epoch, model, opt, meta, keep=cfg.keep)
            line = {"epoch": epoch, "samples_seen": epoch * len(train_set), "train_loss": float(np.mean(losses)),
                    "valid_acc": acc, "lr": lr, "best": improved}
            with open(out / "metrics.jsonl", "a") as f:
                f.write(json.dumps(line) + "\n")
            print(json.dumps(line), flush=True)
        dist.barrier(info)
    result = {"epochs": epoch, "best_valid_acc": best, "best_epoch": best_epoch, "labels": list(data.labels)}
    test_set = data.split("test")
    if info.is_main and test_set and epoch == cfg.epochs:  # once, on the chosen checkpoint
        chosen, _ = load_classifier(out / "best")
        result["test_acc"] = accuracy(chosen.to(device), _clip_logmels([p for p, _ in test_set], frontend),
                                      [label for _, label in test_set], device, autocast)
        result["test_clips"] = len(test_set)
        record = json.loads((out / "best" / "finetune.json").read_text())
        (out / "best" / "finetune.json").write_text(json.dumps({**record, "test_acc": result["test_acc"]}, indent=2))
    dist.cleanup(info)
    return result


def export_best(model: nn.Module, folder: Path, labels, record: dict) -> Path:
    """``folder/``: the encoder in our format (loadable by ``hear_mwmae.load_model``; a DATAR model with its
    head), ``head.safetensors`` for an MW-MAE/MAE head, ``labels.json`` and ``finetune.json``. Atomic."""
    tmp = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    if isinstance(model, DatarClassifier):
        model.save_pretrained(tmp)
    else:
        slim = MaskedAutoencoder(model.encoder.config.replace(encoder_only=True))
        slim.encoder.load_state_dict(model.encoder.state_dict())
        slim.save_pretrained(tmp)
        save_file({k: v.detach().cpu().contiguous() for k, v in model.head.state_dict().items()}, str(tmp / "head.safetensors"))
    (tmp / "labels.json").write_text(json.dumps({"labels": list(labels)}, indent=2))
    (tmp / "finetune.json").write_text(json.dumps(record, indent=2))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


def load_classifier(folder: str | Path) -> tuple[nn.Module, list[str]]:
    """An exported ``best/`` folder -> (classifier in eval mode, its labels)."""
    folder = Path(folder)
    labels = json.loads((folder / "labels.json").read_text())["labels"]
    base = load_checkpoint(folder)
    if isinstance(base, DatarClassifier):
        return base.eval(), labels
    model = EncoderClassifier(base.encoder, len(labels))
    model.head.load_state_dict(load_file(str(folder / "head.safetensors")))
    return model.eval(), labels


FLAG_HELP = {
    "data": "labelled audio: a folder of label folders, a path,label CSV, or a HEAR task folder (required)",
    "out": "run folder: checkpoints, metrics.jsonl, best/ (required)",
    "model": "load_model spec of the starting weights (checkpoint, hf://, random:datar_tiny, …); '' = bundled",
    "mode": "probe (frozen encoder, linear head) or finetune (every parameter)",
    "epochs": "passes over the training clips", "batch_size": "clips per rank and step",
    "lr": "peak learning rate (AdamW; linear warm-up, cosine to 0)", "weight_decay": "AdamW weight decay",
    "warmup_epochs": "epochs of linear warm-up", "precision": "fp32, or bf16 autocast (fast on GPUs and AMX CPUs)",
    "seed": "seed of the head, the data order, the crops and the held-out split",
    "valid_fraction": "share of each label held out for validation when the data has no validation split",
    "device": "cuda or cpu (default: cuda when available)",
    "resume": "continue from the latest checkpoint of --out (exact)", "keep": "checkpoints kept",
    "max_epochs_this_run": "stop with a checkpoint after this many epochs of this run; 0 = run to the end",
}


def parse_config(argv: list[str] | None = None) -> FinetuneConfig:
    p = argparse.ArgumentParser(prog="python -m training.finetune", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    for f in dataclasses.fields(FinetuneConfig):
        flag, text = f"--{f.name.replace('_', '-')}", FLAG_HELP[f.name]
        if f.type in ("bool", bool):
            p.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=f.default, help=text)
        else:
            p.add_argument(flag, dest=f.name, type=type(f.default), default=f.default, help=text)
    return FinetuneConfig(**vars(p.parse_args(argv)))


def main(argv: list[str] | None = None) -> int:
    try:
        result = train(parse_config(argv))
    except (ValueError, FileNotFoundError) as e:
        print(f"python -m training.finetune: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
