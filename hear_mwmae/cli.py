"""``hear-mwmae`` command line: convert, info, embed."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

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
    elif model.config.variant == "datar":
        c = model.config
        print(f"variant        datar-style classifier ({c.num_classes or 'no'} classes, adaptor {c.input_adaptor})")
        print(f"stages         dims {list(c.dims)} depths {list(c.depths)} heads {list(c.heads)} "
              f"grids {[list(g) for g in c.stage_grids]}")
        print(f"parameters     {info['parameters']:,} (backbone {info['encoder_parameters']:,})")
        print(f"embeddings     scene {hear.scene_embedding_size}, timestamp {hear.timestamp_embedding_size} "
              f"every {c.frame_ms:g} ms")
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


def _cmd_embed(args) -> int:
    from .batch import EmbedJob, run

    options = {"chunk_batch_size": args.batch_size, "timestamp_mode": args.timestamp_mode, "precision": args.precision,
               "embedding_layer": args.layer}
    job = EmbedJob(inputs=args.inputs, out=args.out, npz=args.npz, kind=args.kind, model=args.model,
                   options=options, overwrite=args.overwrite)  # refuses bad inputs/outputs before any work
    if args.precision == "fp16" and args.device.split(":")[0] == "cpu":
        raise ValueError("--precision fp16 on CPU is slower than fp32 (no fp16 matmul kernels); use --precision fp32 "
                         "(or bf16 on CPUs with AMX / AVX-512-bf16); fp16 is for GPUs without bf16")
    from tqdm import tqdm

    from . import load_model

    model = load_model(args.model, device=args.device, **options)
    report = run(job, model, progress=lambda files: tqdm(files, desc="embedding", unit="file", disable=args.quiet))
    for failure in report.failed:
        print(f"hear-mwmae embed: could not embed {failure['path']}: {failure['error']}", file=sys.stderr)
    if not args.quiet:
        where = " and ".join(str(p) for p in (args.out, args.npz) if p)
        print(f"embedded {len(report.embedded)} file(s) -> {where} ({', '.join(job.keys)}; {model.scene_embedding_size}-d, "
              f"{model.config.frame_ms:g} ms hop); {len(report.skipped)} already done, {len(report.failed)} failed"
              f"; report: {', '.join(str(p) for p in job.report_paths())}")
    return 1 if report.failed else 0


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
    i.add_argument("model", nargs="?", default="", help="checkpoint (see `embed --model`); default: the bundled weights")
    i.add_argument("--json", action="store_true", help="print JSON")
    i.set_defaults(func=_cmd_info)

    e = sub.add_parser("embed", help="audio files or folders -> embeddings (.npy per file, or one .npz)")
    e.add_argument("inputs", nargs="+", help="audio files and/or folders (searched recursively)")
    e.add_argument("--model", default="", help="checkpoint dir/file, official checkpoint, hf://owner/name, "
                                              "random:<config>, or bundled (the default): the bundled weights")
    e.add_argument("--out", help="output folder: <name>.scene.npy, <name>.timestamp.npy, <name>.timestamps_ms.npy, "
                                 "<name> = the path relative to the inputs' common folder; report in embed_report.json")
    e.add_argument("--npz", help="one .npz archive (keys <name>/scene, …; report in <archive>.report.json); "
                                 "with --out, both are written")
    e.add_argument("--overwrite", action="store_true",
                   help="re-embed files whose outputs exist (default: skip them, so an interrupted run resumes)")
    e.add_argument("--kind", choices=("scene", "timestamp", "both"), default="both")
    e.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda:0")
    e.add_argument("--batch-size", type=int, default=32, help="2 s units per encoder call (memory bound)")
    e.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32",
                   help="encoder precision; bf16 is faster on CPUs with AMX or AVX-512-bf16 and on GPUs, "
                        "slower on CPUs without (docs/performance.md); fp16 is for GPUs only")
    e.add_argument("--timestamp-mode", choices=("centered", "official"), default="centered")
    e.add_argument("--layer", type=int, default=None, metavar="K",
                   help="read the tokens after encoder block K (1..depth) through the final norm; default: the last")
    e.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    e.set_defaults(func=_cmd_embed)
    _register_optional_commands(sub)
    return p


# Commands of other installed packages (the tools in tools/: eval, tasks, analyze), found through
# entry points so that the runtime imports no tool. Each is a ``register(subparsers)`` function that
# imports its heavy dependencies only inside the command functions.
COMMANDS_GROUP = "hear_mwmae.commands"


def _register_optional_commands(sub) -> None:
    from importlib.metadata import entry_points

    for entry in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        entry.load()(sub)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError) as e:  # CheckpointError is a ValueError
        print(f"hear-mwmae {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
