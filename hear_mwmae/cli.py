"""``hear-mwmae`` command line: convert, info, embed."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif", ".au")


def _cmd_convert(args) -> int:
    from .checkpoint import load_official
    from .config import ModelConfig, get_config

    config = None
    if args.config:
        p = Path(args.config)
        config = ModelConfig.from_dict(json.loads(p.read_text())) if p.is_file() else get_config(args.config)
    if args.encoder_only and config is not None:
        config = config.replace(encoder_only=True)
    model = load_official(args.src, config=config)
    if args.encoder_only and not model.config.encoder_only:
        model = model.encoder_only_copy()
    model.save_pretrained(args.dst)
    print(f"converted {args.src} -> {args.dst} ({model.num_params():,} parameters, config {model.config.variant} "
          f"D={model.config.embed_dim} depth={model.config.depth})")
    return 0


def _cmd_info(args) -> int:
    from .checkpoint import load_checkpoint
    from .hear import HearModel

    model = load_checkpoint(args.model)
    hear = HearModel(model.encoder)
    info = {
        "config": model.config.to_dict(),
        "parameters": model.num_params(),
        "encoder_parameters": model.num_params(encoder_only=True),
        "sample_rate": hear.sample_rate,
        "scene_embedding_size": hear.scene_embedding_size,
        "timestamp_embedding_size": hear.timestamp_embedding_size,
        "frame_hop_ms": model.config.frame_ms,
    }
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        c = model.config
        print(f"variant        {c.variant}{' (encoder only)' if c.encoder_only else ''}")
        print(f"encoder        D={c.embed_dim} depth={c.depth} heads={c.num_heads} windows={list(c.encoder_window_sizes) or 'global'}")
        if not c.encoder_only:
            print(f"decoder        D={c.decoder_embed_dim} depth={c.decoder_depth} heads={c.decoder_num_heads} "
                  f"windows={list(c.decoder_window_sizes) or 'global'}")
        print(f"patches        {c.patch_size[0]}x{c.patch_size[1]} on {c.img_size[0]}x{c.img_size[1]} -> grid {c.grid_size}")
        print(f"parameters     {info['parameters']:,} (encoder {info['encoder_parameters']:,})")
        print(f"sample_rate    {hear.sample_rate}")
        print(f"embeddings     scene {hear.scene_embedding_size}, timestamp {hear.timestamp_embedding_size} "
              f"every {c.frame_ms:g} ms")
    return 0


def _collect_audio(inputs: list[str]) -> list[tuple[Path, str]]:
    """(file, name relative to its input) for every audio file given or found under folders."""
    files = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES:
                    files.append((f, str(f.relative_to(p))))
        elif p.is_file():
            files.append((p, p.name))
        else:
            raise FileNotFoundError(f"no such audio file or folder: {item}")
    if not files:
        raise ValueError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) found in {inputs}")
    return files


def read_audio(path, name: str | None = None):
    """An audio file (path, or an open binary file with ``name`` for messages), any sample rate /
    channel count -> (1, n) float32 16 kHz mono tensor (mean of the channels, torchaudio resampling)."""
    import soundfile as sf
    import torch
    import torchaudio

    from .frontend import SAMPLE_RATE

    name = name or str(path)
    try:
        data, rate = sf.read(path if hasattr(path, "read") else str(path), dtype="float32", always_2d=True)
    except Exception as e:  # libsndfile raises its own error type
        raise ValueError(f"cannot decode {name}: {e}") from e
    if data.shape[0] == 0:
        raise ValueError(f"{name} holds no samples")
    audio = torch.from_numpy(data.mean(axis=1))[None]
    if rate != SAMPLE_RATE:
        audio = torchaudio.functional.resample(audio, rate, SAMPLE_RATE)
    return audio


def _save_npy(path: Path, array) -> None:
    from .checkpoint import atomic_save_npy

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_save_npy(path, array)


def _cmd_embed(args) -> int:
    import numpy as np
    from tqdm import tqdm

    from . import load_model

    if not args.out and not args.npz:
        raise ValueError("give --out DIR (one .npy per file) or --npz FILE (all in one archive)")
    files = _collect_audio(args.inputs)
    options = {"chunk_batch_size": args.batch_size, "timestamp_mode": args.timestamp_mode, "precision": args.precision,
               "embedding_layer": args.layer}
    model = load_model(args.model, **options).to(args.device)
    kinds = ("scene", "timestamp") if args.kind == "both" else (args.kind,)
    archive: dict[str, np.ndarray] = {}
    for path, name in tqdm(files, desc="embedding", unit="file", disable=args.quiet):
        audio = read_audio(path).to(args.device)
        results = {}
        if "scene" in kinds:
            results["scene"] = model.scene_embeddings(audio)[0].cpu().numpy()
        if "timestamp" in kinds:
            emb, ts = model.timestamp_embeddings(audio)
            results["timestamp"] = emb[0].cpu().numpy()
            results["timestamps_ms"] = ts[0].cpu().numpy()
        for key, value in results.items():
            if args.npz:
                archive[f"{name}/{key}"] = value
            else:
                _save_npy(Path(args.out) / f"{name}.{key}.npy", value)
    if args.npz:
        from .checkpoint import atomic_savez

        Path(args.npz).parent.mkdir(parents=True, exist_ok=True)
        atomic_savez(Path(args.npz), archive)
    if not args.quiet:
        where = args.npz or args.out
        print(f"embedded {len(files)} file(s) -> {where} ({', '.join(kinds)}; "
              f"{model.scene_embedding_size}-d, {model.config.frame_ms:g} ms hop)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hear-mwmae", description="MW-MAE audio embeddings (HEAR API) in PyTorch")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("convert", help="official Flax checkpoint -> config.json + model.safetensors")
    c.add_argument("src", help="checkpoint_<step> file (full train state or params only), or its directory")
    c.add_argument("dst", help="output directory")
    c.add_argument("--config", help="preset name or config.json to use instead of inferring it from shapes")
    c.add_argument("--encoder-only", action="store_true", help="drop the decoder (enough for embeddings)")
    c.set_defaults(func=_cmd_convert)

    i = sub.add_parser("info", help="config, parameter count and embedding sizes of a checkpoint")
    i.add_argument("model", help="checkpoint (see `embed --model`)")
    i.add_argument("--json", action="store_true", help="print JSON")
    i.set_defaults(func=_cmd_info)

    e = sub.add_parser("embed", help="audio files or folders -> embeddings (.npy per file, or one .npz)")
    e.add_argument("inputs", nargs="+", help="audio files and/or folders (searched recursively)")
    e.add_argument("--model", default="", help="checkpoint dir/file, official checkpoint, hf://owner/name, "
                                              "random:<config>; default: the bundled weights")
    e.add_argument("--out", help="output folder: <name>.scene.npy, <name>.timestamp.npy, <name>.timestamps_ms.npy")
    e.add_argument("--npz", help="write one .npz archive instead (keys <name>/scene, …)")
    e.add_argument("--kind", choices=("scene", "timestamp", "both"), default="both")
    e.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda:0")
    e.add_argument("--batch-size", type=int, default=32, help="2 s units per encoder call (memory bound)")
    e.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32",
                   help="encoder precision; bf16 is ~3x faster on CPUs with AMX (see README, Performance)")
    e.add_argument("--timestamp-mode", choices=("centered", "official"), default="centered")
    e.add_argument("--layer", type=int, default=None, metavar="K",
                   help="read the tokens after encoder block K (1..depth) through the final norm; default: the last")
    e.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    e.set_defaults(func=_cmd_embed)
    _register_optional_commands(sub)
    return p


# Subpackages that add their own subcommands (each module has ``register(subparsers)``; it must
# import its heavy optional dependencies only inside the command functions).
OPTIONAL_COMMANDS = ("hear_mwmae.evaluation.cli", "hear_mwmae.analysis.cli")


def _register_optional_commands(sub) -> None:
    import importlib

    for name in OPTIONAL_COMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name is not None and name.startswith(e.name):
                continue  # that subpackage is not part of this install
            raise
        module.register(sub)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError) as e:
        print(f"hear-mwmae {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
