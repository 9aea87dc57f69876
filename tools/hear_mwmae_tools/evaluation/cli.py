"""``hear-mwmae eval`` and ``hear-mwmae tasks``: registered into the main CLI by ``register``.

Only argparse is imported here; torch, heareval and the builders load inside the commands.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .heareval_driver import GRIDS


def register(subparsers) -> None:
    """Add the ``eval`` and ``tasks`` subcommands to the ``hear-mwmae`` parser."""
    e = subparsers.add_parser("eval", help="HEAR evaluation with heareval (embeddings + predictions) -> results table")
    e.add_argument("--model", action="append", required=True, metavar="SPEC",
                   help="model to evaluate (repeat for several): bundled (the bundled weights), checkpoint path, hf://owner/name, random:<config>, "
                        "or a HEAR module name such as hear_mwmae_tools.baselines.logmel; '?key=value&…' adds load_model options")
    e.add_argument("--tasks-dir", required=True, help="folder of HEAR task folders (ours or the official ones)")
    e.add_argument("--tasks", help="comma-separated task folder names or task names (default: all in --tasks-dir)")
    e.add_argument("--mode", choices=("release", "dev"), default="release",
                   help="dev: the tasks' dev copies, to choose models and settings; release (default): the release "
                        "copies, scored only for a release table (docs/evaluation.md)")
    e.add_argument("--grid", choices=GRIDS, default="default", help="heareval hyper-parameter grid (default: default)")
    e.add_argument("--grid-points", type=int, default=8, help="grid points tried per task (heareval's default 8)")
    e.add_argument("--seeds", type=int, default=1, help="downstream training seeds per task (default 1)")
    e.add_argument("--out", default="runs/eval", help="output folder (embeddings, logs, results.md/json)")
    e.add_argument("--model-options", default="{}", help="JSON dict of load_model options for every model")
    e.add_argument("--keep-logs", action="store_true", help="keep heareval's Lightning logs and checkpoints")
    e.set_defaults(func=_cmd_eval)

    t = subparsers.add_parser("tasks", help="build, list or check the real-audio HEAR tasks")
    tsub = t.add_subparsers(dest="tasks_command", required=True)
    b = tsub.add_parser("build", help="build a task (or 'all') into a tasks folder")
    b.add_argument("name", help="task name (see `hear-mwmae tasks list`) or 'all'")
    b.add_argument("--out", required=True, help="tasks folder; the task goes to OUT/<name>-<version>-<mode>/")
    b.add_argument("--limit", type=int, help="small subset (mode 'small'): N clips/sources per split, for tests")
    b.add_argument("--force", action="store_true", help="rebuild even if the task is already built")
    b.add_argument("--source", help="source file/folder instead of the default (spoken_digit, "
                                    "speech_commands_small, drums)")
    b.add_argument("--part", choices=("both", "release", "dev"), default="both",
                   help="which copy: release (scored for release tables), dev (for choosing models), or both "
                        "(default; tasks without a dev copy build their release copy only)")
    b.set_defaults(func=_cmd_tasks_build)
    ls = tsub.add_parser("list", help="list the task builders")
    ls.set_defaults(func=_cmd_tasks_list)
    c = tsub.add_parser("check", help="check task folders the way heareval reads them")
    c.add_argument("folders", nargs="+")
    c.set_defaults(func=_cmd_tasks_check)


def _cmd_eval(args) -> int:
    from .models import parse_model
    from .runner import evaluate

    try:
        options = json.loads(args.model_options)
    except json.JSONDecodeError as e:
        raise ValueError(f"--model-options must be a JSON dict, e.g. '{{\"precision\": \"bf16\"}}' ({e})") from None
    if not isinstance(options, dict):
        raise ValueError("--model-options must be a JSON dict, e.g. '{\"precision\": \"bf16\"}'")
    specs = [parse_model(m, options) for m in args.model]
    names = [n.strip() for n in args.tasks.split(",") if n.strip()] if args.tasks else None
    try:
        runs = evaluate(specs, args.tasks_dir, args.out, names, args.grid, args.grid_points, args.seeds,
                        args.keep_logs, log=lambda msg: print(msg, flush=True), mode=args.mode)
    except RuntimeError as e:
        print(f"hear-mwmae eval: error: {e}", file=sys.stderr)
        return 3
    print((Path(args.out) / "results.md").read_text())
    failed = [r for r in runs if r.error]
    for r in failed:
        print(f"FAILED {r.model} / {r.task}: {r.error}", file=sys.stderr)
    return 1 if failed else 0


def _cmd_tasks_build(args) -> int:
    import inspect
    import time

    from .tasks import TASKS, build_task, builder, parts_of
    from .tasks.hearformat import check_task

    names = list(TASKS) if args.name == "all" else [args.name]
    for name in names:
        kwargs = {}
        if args.source:
            if "source" not in inspect.signature(builder(name).build).parameters:
                raise ValueError(f"--source is not supported by the {name} builder (its sources are Debian packages)")
            if len(names) > 1:
                raise ValueError("--source needs a single task name, not 'all'")
            kwargs["source"] = args.source
        parts = parts_of(name) if args.part == "both" else [args.part]
        if args.part == "dev" and "dev" not in parts_of(name):
            if len(names) == 1:
                raise ValueError(f"task {name} has no dev copy (its audio is too little to split); use --part release")
            continue
        for part in parts:
            start = time.time()
            folder = build_task(name, args.out, limit=args.limit, force=args.force, part=part, **kwargs)
            summary = check_task(folder)
            counts = ", ".join(f"{k} {v}" for k, v in summary["counts"].items())
            print(f"{name} ({part}): {folder} ({len(summary['labels'])} labels; {counts}; "
                  f"{time.time() - start:.0f} s)", flush=True)
    return 0


def _cmd_tasks_list(args) -> int:
    from .tasks import TASKS, builder

    for name in TASKS:
        print(f"{name:24s} {builder(name).DESCRIPTION}")
    return 0


def _cmd_tasks_check(args) -> int:
    from .tasks.hearformat import check_task

    for folder in args.folders:
        summary = check_task(folder)
        meta = summary["metadata"]
        print(f"{folder}: OK ({meta['embedding_type']}/{meta['prediction_type']}, {meta['split_mode']}, "
              f"{len(summary['labels'])} labels, clips {summary['counts']})")
    return 0
