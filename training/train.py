"""Pretrain MW-MAE or MAE on precomputed log-mel shards. One readable loop, nanoGPT style.

Single process (CPU or one GPU):
    python -m training.train --data shards/ --out runs/tiny --model mwmae_tiny --steps 2000
One node, 8 GPUs:
    torchrun --standalone --nproc_per_node 8 -m training.train --data shards/ --out runs/base --model mwmae_base
Two nodes (run on each, with its --node_rank):
    torchrun --nnodes 2 --node_rank 0 --nproc_per_node 8 --rdzv_backend c10d --rdzv_endpoint HOST:29500 \\
        -m training.train --data shards/ --out runs/base --model mwmae_base
Resume the latest valid checkpoint of --out (also after kill -9): add --resume.
Continue pretraining a published or exported model with a new schedule: --init-from DIR_OR_HF_REF.

Defaults follow the official recipe (docs/design.md §D2, §D8, §D10): AdamW β (0.9, 0.999), weight
decay 0.05 on every parameter, lr = 1.5e-5 × effective batch / 256, linear warm-up then cosine
to 0, mask ratio 0.8, no augmentation (``--mix-prob`` adds one, off by default). One deliberate
difference: each rank draws its own masking noise (the official pmap replicated it, so every
device used the same masks).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from hear_mwmae import MaskedAutoencoder, get_config
from hear_mwmae.devices import cpu_matmul_is_slow, describe

from . import dist, state
from .data import LogMelCrops, make_loader
from .optim import effective_lr, lr_at, make_adamw, param_groups

# Why: the targets are per-clip normalised log-mel patches, so a loss far above 1 means broken
# data, not learning; a finite 2.7e9 (a silent clip) once trained on and froze AdamW unnoticed.
LOSS_LIMIT = 1e3


PRECISIONS = ("fp32", "bf16", "fp16")
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class TrainConfig:
    data: str = ""
    out: str = ""
    model: str = "mwmae_tiny"
    model_overrides: dict = field(default_factory=dict)
    batch_size: int = 32  # per rank and micro-step
    accum_steps: int = 1
    steps: int = 1000  # optimizer steps in the whole schedule
    warmup_steps: int = 100
    base_lr: float = 1.5e-5
    weight_decay: float = 0.05
    decay_all: bool = True
    beta1: float = 0.9
    beta2: float = 0.999
    clip_grad: float = 0.0  # 0 = off (official: off)
    precision: str = "fp32"  # or bf16 (autocast), or fp16 (autocast + gradient scaler, for GPUs without bf16)
    compile: bool = False  # torch.compile the model (opt-in: docs/training.md has the measured gain)
    seed: int = 0
    workers: int = 2
    device: str = "cuda" if torch.cuda.is_available() else "cpu"
    log_every: int = 10
    ckpt_every: int = 500
    keep: int = 3
    png_every: int = 0
    tensorboard: bool = True
    resume: bool = False
    max_steps_this_run: int = 0  # stop (with a checkpoint) after this many steps; 0 = run to the end
    push_to_hub: str = ""  # owner/name: export the final checkpoint to OUT/export and upload it
    init_from: str = ""  # start a new run from these weights (export dir, hf://, .safetensors); fresh optimizer
    init_encoder_from: str = ""  # start from this checkpoint's encoder only (encoder-only exports too); fresh decoder
    freeze_encoder_steps: int = 0  # no encoder gradients for the first N steps (a fresh decoder warms up), then its own schedule
    freeze_encoder: bool = False  # no gradients into the encoder for the whole run: fit a decoder to fixed features
    mix_prob: float = 0.0  # share of crops mixed with another clip's crop (log-mixup-exp); official: 0
    mix_ratio: float = 0.4  # largest weight of the mixed-in clip (λ ~ U(0, mix_ratio))

    def __post_init__(self) -> None:
        if not self.data or not self.out:
            raise ValueError("--data (a shard folder from `python -m training.shards`) and --out are required")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.init_from and self.init_encoder_from:
            raise ValueError("pass --init-from (encoder + decoder) or --init-encoder-from (encoder only), not both")
        if self.freeze_encoder and self.freeze_encoder_steps:
            raise ValueError("pass --freeze-encoder (the whole run) or --freeze-encoder-steps N (the first N steps), "
                             "not both")
        if not 0 <= self.freeze_encoder_steps < self.steps:
            raise ValueError(f"freeze_encoder_steps must be in [0, steps) = [0, {self.steps}), got "
                             f"{self.freeze_encoder_steps} (the encoder would never train; to hold it for the whole run, "
                             f"pass --freeze-encoder)")
        for name in ("batch_size", "accum_steps", "steps", "log_every", "ckpt_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


FLAG_HELP = {
    "data": "shard folder written by `python -m training.shards` (required)",
    "out": "run folder: checkpoints ckpt-<step>/, metrics.jsonl, TensorBoard logs (required)",
    "model": "model config name, e.g. mwmae_tiny, mae_base (hear_mwmae.list_configs())",
    "model_overrides": "JSON dict of ModelConfig fields to change, e.g. '{\"decoder_depth\": 2}'",
    "batch_size": "crops per rank and micro-step",
    "accum_steps": "micro-steps per optimizer step (effective batch = batch-size x accum-steps x ranks)",
    "steps": "optimizer steps of the whole schedule (warm-up + cosine)",
    "warmup_steps": "linear warm-up steps",
    "base_lr": "learning rate per 256 crops of effective batch (official 1.5e-5)",
    "weight_decay": "AdamW weight decay (official 0.05)",
    "decay_all": "decay every parameter, biases and norms included, as the official code (--no-decay-all: weights only)",
    "beta1": "AdamW beta1", "beta2": "AdamW beta2",
    "clip_grad": "clip the global gradient norm to this value; 0 = off (official: off)",
    "precision": "fp32; bf16 (autocast; fast on GPUs and CPUs with AMX / AVX-512-bf16, very slow on AVX2-only CPUs); "
                 "fp16 (autocast with a dynamic gradient scaler, for GPUs without bf16, e.g. V100/T4)",
    "compile": "torch.compile the model before training (first steps are slow while it compiles; see docs/training.md)",
    "seed": "seed of the initialisation, data order, crops and masks",
    "workers": "data-loader worker processes",
    "device": "cuda or cpu (default: cuda when available)",
    "log_every": "steps between metrics.jsonl / TensorBoard lines",
    "ckpt_every": "steps between checkpoints",
    "keep": "checkpoints to keep (older ones are deleted)",
    "png_every": "steps between reconstruction PNGs; 0 = none",
    "tensorboard": "write TensorBoard logs (--no-tensorboard: metrics.jsonl only)",
    "resume": "continue from the latest valid checkpoint of --out (exact: same losses as an uninterrupted run)",
    "max_steps_this_run": "stop with a checkpoint after this many steps of this run; 0 = run to the end",
    "push_to_hub": "OWNER/NAME: at the end, export the final checkpoint to OUT/export and upload it",
    "init_from": "start a new run from these weights (export folder, hf://owner/name, .safetensors), fresh optimizer",
    "freeze_encoder_steps": "hold the encoder for the first N steps (no gradients into it, so clipping and AdamW see the "
                            "decoder only) while a fresh decoder learns; then the encoder follows a schedule of its own "
                            "over the remaining steps (warm-up of --warmup-steps, cosine) with fresh AdamW moments",
    "freeze_encoder": "hold the encoder for the whole run (no gradients, so no backward pass through it): fit a "
                      "decoder to a fixed encoder, e.g. to give the encoder-only bundled weights a full checkpoint",
    "init_encoder_from": "start a new run from the encoder of this checkpoint (encoder-only exports and the bundled "
                         "weights too: 'bundled'), a freshly initialised decoder of --model and a fresh optimizer",
    "mix_prob": "share of crops mixed with another clip's crop (log-mixup-exp); official: 0",
    "mix_ratio": "largest weight of the mixed-in clip (lambda ~ U(0, mix-ratio))",
}


def parse_config(argv: list[str] | None = None) -> TrainConfig:
    """Flags for every TrainConfig field; ``--config file.json`` sets defaults that flags override."""
    p = argparse.ArgumentParser(prog="python -m training.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="JSON file with TrainConfig fields")
    for f in dataclasses.fields(TrainConfig):
        flag = f"--{f.name.replace('_', '-')}"
        default = f.default if f.default is not dataclasses.MISSING else None
        shown = f" (default: {default})" if default not in (None, "") and f.name != "device" else ""
        text = FLAG_HELP[f.name] + shown
        if f.type in ("bool", bool):
            p.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=text)
        elif f.name == "model_overrides":
            p.add_argument(flag, dest=f.name, type=json.loads, default=None, help=text)
        else:
            kind = type(default) if default is not None else str
            p.add_argument(flag, dest=f.name, type=kind, default=None, help=text)
    args = p.parse_args(argv)
    values = json.loads(Path(args.config).read_text()) if args.config else {}
    unknown = set(values) - {f.name for f in dataclasses.fields(TrainConfig)}
    if unknown:
        raise ValueError(f"unknown keys in {args.config}: {sorted(unknown)}")
    values.update({k: v for k, v in vars(args).items() if k != "config" and v is not None})
    return TrainConfig(**values)


class Logger:
    """metrics.jsonl (+ TensorBoard scalars when available), rank 0 only."""

    def __init__(self, out: Path, resume_step: int, tensorboard: bool) -> None:
        self.path = out / "metrics.jsonl"
        if self.path.exists():  # drop lines past the checkpoint we resume from (they will be redone)
            keep = [l for l in self.path.read_text().splitlines() if l and json.loads(l)["step"] <= resume_step]
            self.path.write_text("".join(l + "\n" for l in keep))
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self.tb = SummaryWriter(str(out / "tensorboard"), purge_step=resume_step + 1)
            except ImportError:
                pass

    def log(self, record: dict) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.tb is not None:
            for k, v in record.items():
                if k != "step" and isinstance(v, (int, float)):
                    self.tb.add_scalar(f"train/{k}", v, record["step"])

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def _mask_seed(seed: int, rank: int, step: int, micro: int) -> int:
    return int(np.random.SeedSequence([seed, rank, step, micro]).generate_state(1)[0])


def _config_diff(theirs, ours, fields) -> dict:
    """{field: (checkpoint's value, this run's value)} for the ``fields`` where two configs differ."""
    return {k: (getattr(theirs, k), getattr(ours, k)) for k in fields if getattr(theirs, k) != getattr(ours, k)}


def _init_weights(model: MaskedAutoencoder, source: str) -> None:
    """Copy encoder + decoder weights of a full checkpoint (same architecture) into ``model``."""
    from hear_mwmae.checkpoint import load_checkpoint

    loaded = load_checkpoint(source)
    if loaded.config.encoder_only:
        raise ValueError(f"--init-from {source} is encoder-only; pretraining needs the decoder too "
                         f"(export without --encoder-only, or start from scratch)")
    if loaded.config != model.config:
        diff = _config_diff(loaded.config, model.config, [f.name for f in dataclasses.fields(model.config)
                                                           if f.name != "name"])
        raise ValueError(f"--init-from {source} has another architecture than --model/--model-overrides "
                         f"(field: (checkpoint, this run)) {diff}; pass matching --model/--model-overrides")
    model.load_state_dict(loaded.state_dict())


# The fields that shape the encoder's weights; the decoder's (and the variant) may differ.
ENCODER_FIELDS = ("img_size", "patch_size", "embed_dim", "depth", "num_heads", "mlp_ratio", "encoder_window_sizes",
                  "use_cls_token")


def _init_encoder(model: MaskedAutoencoder, source: str) -> None:
    """Copy the encoder weights of any checkpoint with the same encoder into ``model``; its decoder keeps
    its fresh initialisation (e.g. a lighter or another kind of decoder than the checkpoint was trained with)."""
    from hear_mwmae.checkpoint import load_checkpoint

    loaded = load_checkpoint(source)
    if diff := _config_diff(loaded.config, model.config, ENCODER_FIELDS):
        hint = " (the MAE baseline has a cls token: pass --model-overrides '{\"use_cls_token\": false}')" \
            if "use_cls_token" in diff else ""
        raise ValueError(f"--init-encoder-from {source} has another encoder than --model/--model-overrides "
                         f"(field: (checkpoint, this run)) {diff}{hint}")
    weights = {k[len("encoder."):]: v for k, v in loaded.state_dict().items() if k.startswith("encoder.")}
    model.encoder.load_state_dict(weights)  # strict: every encoder tensor, nothing else


def split_encoder_groups(groups: list[dict], model: MaskedAutoencoder) -> list[dict]:
    """Each AdamW group split in two: its encoder parameters (tagged ``encoder``) and the rest."""
    encoder = {id(p) for p in model.encoder.parameters()}
    out = []
    for g in groups:
        enc = [p for p in g["params"] if id(p) in encoder]
        rest = [p for p in g["params"] if id(p) not in encoder]
        out += [{**g, "params": enc, "encoder": True}, {**g, "params": rest}]
    return [g for g in out if g["params"]]


# Flags that shape the optimizer's parameter groups or the encoder's schedule: a resume must keep them.
RESUME_FIXED = ("freeze_encoder", "freeze_encoder_steps", "decay_all")


def _check_resume_flags(saved: dict, cfg: TrainConfig, path: Path) -> None:
    for name in RESUME_FIXED:
        if name in saved and saved[name] != getattr(cfg, name):
            flag = "--" + name.replace("_", "-")
            raise ValueError(f"{path} was trained with {name}={saved[name]!r}, now {getattr(cfg, name)!r}: resume "
                             f"with the same {flag}, or start a new run from an export of it (--init-from)")


def _loss_problem(loss: float, step: int, data: str) -> str | None:
    """Why training must stop at this loss (stopping without saving), or None when it is sane."""
    if not math.isfinite(loss):
        return (f"non-finite loss ({loss}) at step {step}: stopping without saving. "
                f"Lower --base-lr, try --clip-grad 1.0 or --precision fp32, check the data "
                f"(report.json of the shards), then --resume from the last good checkpoint.")
    if loss > LOSS_LIMIT:
        return (f"loss {loss:.3g} at step {step} (crops are normalised: a sane loss is about 1 or less): a batch "
                f"holds blown-up values, e.g. a silent or corrupt clip of {data}. Stopping without saving; rebuild "
                f"the shards with `python -m training.shards` (it skips silent clips), then --resume.")
    return None


def train(cfg: TrainConfig) -> dict:
    info, device = dist.setup(cfg.device)
    out = Path(cfg.out)
    torch.manual_seed(cfg.seed)
    model = MaskedAutoencoder(get_config(cfg.model, **cfg.model_overrides)).to(device).train()
    world_batch = cfg.batch_size * cfg.accum_steps * info.world_size
    peak_lr = effective_lr(cfg.base_lr, cfg.batch_size, cfg.accum_steps, info.world_size)
    if cfg.freeze_encoder:  # before the groups: param_groups leaves out what needs no gradient
        model.encoder.requires_grad_(False)
    groups = param_groups(model, cfg.weight_decay, cfg.decay_all)
    if cfg.freeze_encoder_steps:  # the encoder's parameters get groups of their own, with their own schedule
        groups = split_encoder_groups(groups, model)
    opt = make_adamw(groups, peak_lr, (cfg.beta1, cfg.beta2))
    mask_gen = torch.Generator(device=device)
    step, elapsed, resumed_scaler, last_loss = 0, 0.0, None, float("nan")
    existing = state.list_checkpoints(out)
    if existing and not cfg.resume:
        raise ValueError(f"{out} already holds checkpoints ({existing[-1].name}); pass --resume to "
                         f"continue that run, or choose a new --out (nothing was overwritten)")
    if cfg.init_from and not existing:  # a resumed run already holds these weights
        _init_weights(model, cfg.init_from)
    if cfg.init_encoder_from and not existing:
        _init_encoder(model, cfg.init_encoder_from)
    if cfg.resume and (found := state.load_latest(out)) is not None:
        tensors, meta, path = found
        if meta["world_size"] != info.world_size:
            raise ValueError(f"{path} was written by {meta['world_size']} ranks; resume with the same number "
                             f"(now {info.world_size}) to continue the same data order")
        _check_resume_flags(meta.get("train_config", {}), cfg, path)
        state.restore(tensors, meta, model, opt)
        step, elapsed = meta["step"], meta.get("elapsed_s", 0.0)
        last_loss = meta.get("last_loss", float("nan"))  # what a run resumed at its end reports
        resumed_scaler = meta.get("grad_scaler")
        if info.is_main:
            print(f"resumed from {path} (step {step})")
    ddp = torch.nn.parallel.DistributedDataParallel(model) if info.enabled else model
    dataset = LogMelCrops(cfg.data, seed=cfg.seed, mix_prob=cfg.mix_prob, mix_ratio=cfg.mix_ratio)
    consumed = step * cfg.batch_size * cfg.accum_steps
    loader = iter(make_loader(dataset, cfg.batch_size, info.rank, info.world_size, cfg.seed, consumed, cfg.workers,
                              pin_memory=device.type == "cuda"))
    logger = Logger(out, step, cfg.tensorboard) if info.is_main else None
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "train_config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=2))
    autocast = (lambda: torch.autocast(device.type, dtype=AUTOCAST_DTYPES[cfg.precision])) \
        if cfg.precision in AUTOCAST_DTYPES else contextlib.nullcontext
    # Why a scaler for fp16 only: fp16's 5-bit exponent underflows small gradients; bf16 has fp32's range.
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.precision == "fp16")
    if resumed_scaler is not None:
        scaler.load_state_dict(resumed_scaler)
    if info.is_main and cfg.precision == "fp16" and device.type == "cpu":
        print("warning: --precision fp16 is meant for GPUs without bf16; on a CPU it is slow (use fp32 or bf16)",
              file=sys.stderr)
    forward = torch.compile(ddp) if cfg.compile else ddp
    if info.is_main and cfg.precision == "bf16" and device.type == "cpu" and cpu_matmul_is_slow(torch.bfloat16):
        print("warning: --precision bf16 on this CPU (no AMX / AVX-512 bf16 kernels) is far slower than fp32 "
              "(benchmarks/embed_throughput.py measured bf16 embeddings ~9x slower than fp32 on an AVX2 EPYC); use --precision fp32",
              file=sys.stderr)
    fixed_clip, fixed_noise = dataset[(0, 0)], torch.rand(1, model.config.num_patches, generator=torch.Generator().manual_seed(1234))
    host = describe(device)  # for the card: the GPU's name, or the CPU's model and cores
    stop = cfg.steps if cfg.max_steps_this_run <= 0 else min(cfg.steps, step + cfg.max_steps_this_run)
    from tqdm import tqdm

    bar = tqdm(total=cfg.steps, initial=step, desc="pretrain", unit="step", disable=not info.is_main)
    while step < stop:
        t0 = time.perf_counter()
        lr = lr_at(step, peak_lr, cfg.warmup_steps, cfg.steps)
        # Why hold the encoder: a fresh decoder's first gradients are noise, and they pull a pretrained
        # encoder away from what it learned (docs/experiments.md, round two). Its gradients are dropped
        # (below), so AdamW neither moves nor decays it; lr 0 is what the log shows.
        held = cfg.freeze_encoder_steps
        holding = step < held
        enc_lr = 0.0 if holding else lr_at(step - held, peak_lr, cfg.warmup_steps, cfg.steps - held)
        for group in opt.param_groups:
            group["lr"] = enc_lr if group.get("encoder") else lr
        if held and not info.enabled:  # one process: no backward through a held encoder at all
            # (DDP expects every parameter it was built with to get a gradient, so there they are
            # computed and dropped below instead.)
            model.encoder.requires_grad_(not holding)
        total = torch.zeros((), device=device)
        for micro in range(cfg.accum_steps):
            x = next(loader).to(device, non_blocking=True)
            # Masks are a pure function of (seed, rank, step, micro-step): exact after a resume.
            mask_gen.manual_seed(_mask_seed(cfg.seed, info.rank, step, micro))
            noise = torch.rand(x.shape[0], model.config.num_patches, generator=mask_gen, device=device)
            sync = contextlib.nullcontext() if (micro == cfg.accum_steps - 1 or not info.enabled) else ddp.no_sync()
            with sync:
                with autocast():
                    loss, _, _ = forward(x, noise=noise)
                scaler.scale(loss / cfg.accum_steps).backward()
            total += loss.detach() / cfg.accum_steps
        if holding:
            # Why drop a held encoder's gradients: clipping then sees the decoder's norm alone (the fresh
            # decoder's noisy encoder gradients would shrink its steps), and AdamW keeps no moments of
            # them, so the encoder's optimizer state starts when its schedule does.
            for p in model.encoder.parameters():
                p.grad = None
        if cfg.clip_grad > 0:
            scaler.unscale_(opt)  # clip the true gradients (a no-op without fp16)
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad)
        mean_loss = float(dist.mean_over_ranks(total, info))
        problem = _loss_problem(mean_loss, step + 1, cfg.data)
        if problem:
            bar.close()
            dist.cleanup(info)
            raise FloatingPointError(problem)
        scaler.step(opt)  # fp16: skips the step when the scaled gradients overflowed
        scaler.update()
        opt.zero_grad(set_to_none=True)
        step += 1
        dt = time.perf_counter() - t0
        elapsed += dt
        last_loss = mean_loss
        if info.is_main:
            bar.update()
            bar.set_postfix(loss=f"{mean_loss:.4f}", lr=f"{lr:.2e}", sps=f"{world_batch / dt:.1f}")
            if step % cfg.log_every == 0 or step == stop:
                logger.log({"step": step, "samples_seen": step * world_batch, "loss": mean_loss, "lr": lr,
                            "samples_per_s": world_batch / dt, "elapsed_s": elapsed,
                            **({"encoder_lr": enc_lr} if held else {})})
            if cfg.png_every and step % cfg.png_every == 0:
                from .viz import save_reconstruction

                save_reconstruction(model, fixed_clip, fixed_noise, out / "reconstructions" / f"step{step:08d}.png",
                                    title=f"{cfg.model} step {step}")
        if step % cfg.ckpt_every == 0 or step == stop:
            if info.is_main:
                meta = {"train_config": dataclasses.asdict(cfg), "model_config": model.config.to_dict(),
                        "world_size": info.world_size, "samples_seen": step * world_batch, "elapsed_s": elapsed,
                        "device": str(device), "host": host, "last_loss": mean_loss}
                if scaler.is_enabled():
                    meta["grad_scaler"] = scaler.state_dict()
                state.save(out, step, model, opt, meta, keep=cfg.keep)
            dist.barrier(info)
    bar.close()
    if logger is not None:
        logger.close()
    if info.is_main and cfg.push_to_hub and step == cfg.steps:
        from .export import PushError, export, push

        exported = export(out, out / "export")
        try:
            push(exported, cfg.push_to_hub)
            print(f"pushed {exported} to {cfg.push_to_hub}")
        except PushError as e:  # the run itself is done and saved: say how to push it later
            print(f"python -m training.train: the upload failed: {e}. The run and its export are kept; "
                  f"push later with: python -m training.push {exported} {cfg.push_to_hub}", file=sys.stderr)
    dist.cleanup(info)
    return {"step": step, "loss": last_loss, "elapsed_s": elapsed}


def main(argv: list[str] | None = None) -> int:
    result = train(parse_config(argv))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
