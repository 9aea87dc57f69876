"""Implementations of ``hear-mwmae analyze …`` (parsers in ``analysis/cli.py``).

Every command writes ``<name>.npz`` + ``<name>.json`` (all parameters: model, clips, seeds, mask
condition, distance variants, CLS policy, …) and, unless ``--no-plots``, PNG figures.
"""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from hear_mwmae.atomic import atomic_write_bytes
from hear_mwmae.checkpoint import load_checkpoint
from .data import load_clips
from .grid import TokenGrid, check_variants
from .io import load_result, save_figure, save_result
from .sat import classify_heads, sat_scores


def _say(args, text: str) -> None:
    if not getattr(args, "quiet", False):
        print(text)


def _mask_ratio(args, model) -> float:
    if args.mask_ratio is not None:
        return float(args.mask_ratio)
    return 0.0 if args.part == "encoder" else float(model.config.mask_ratio)


def _clips(args, model, seed: int | None = None):
    seed = args.seed if seed is None else seed
    logmel, names = load_clips(args.audio, args.n_clips, seed, model.config.img_size[0])
    return logmel, {"source": str(args.audio), "n_clips": args.n_clips, "seed": seed, "names": names}


def _label(model, source: str) -> str:
    variant = "MAE" if model.config.variant == "mae" else "MW-MAE"
    return f"{variant} ({Path(source).name or source})"


def _meta(args, model, source: str, **extra) -> dict:
    meta = {
        "command": f"analyze {args.analysis}",
        "model": source,
        "label": _label(model, source),
        "model_config": model.config.to_dict(),
        "grid": TokenGrid.from_config(model.config).to_dict(),
        "device": str(args.device),
        "batch_size": args.batch_size,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    meta.update(extra)
    return meta


def _condition(args, ratio: float) -> dict:
    return {"part": args.part, "mask_ratio": ratio, "mask_seed": args.seed, "query_set": args.query_set,
            "masking": "unmasked" if ratio == 0 else "per-clip seeded random masking, rng([seed, clip index])"}


def _head_labels(model, part: str, layers) -> list[str]:
    windows = (model.config.decoder_window_sizes if part == "decoder" else model.config.encoder_window_sizes)
    heads = model.config.decoder_num_heads if part == "decoder" else model.config.num_heads
    # Blocks are numbered 1..depth wherever a person reads them (labels, plots, file names, flags).
    if any(windows):
        name = lambda w: f"w={w}" if w > 0 else ("g" if w == 0 else "d")  # noqa: E731  (d = deformable)
        return [f"B{l + 1} " + name(w) for l in layers for w in windows]
    return [f"B{l + 1}H{h}" for l in layers for h in range(heads)]


def cmd_attention(args) -> int:
    from .plots import depth_scatter, distance_vs_entropy
    from .stats import collect_attention_stats

    model = load_checkpoint(args.model).to(args.device).eval()
    ratio = _mask_ratio(args, model)
    variants = check_variants([v.strip() for v in args.distance.split(",") if v.strip()])
    variants += tuple(v for v in ("time_patch", "time") if v not in variants)  # needed by SAT D and the plots
    logmel, clips = _clips(args, model)
    res = collect_attention_stats(model, logmel, args.part, mask_ratio=ratio, seed=args.seed, batch_size=args.batch_size,
                                  query_set=args.query_set, variants=variants, cls_policy=args.cls_policy,
                                  progress=not args.quiet)
    grid = TokenGrid.from_config(model.config)
    scores = sat_scores(res, grid.grid[0])
    categories = classify_heads(scores["globalness"], scores["verticality"], scores["diagonality"])
    arrays = {**res, **{f"sat_{k}": v for k, v in scores.items()}, "categories": categories.astype("U8")}
    meta = _meta(args, model, args.model, condition=_condition(args, ratio), distance_variants=list(variants),
                 cls_policy=args.cls_policy, clips=clips, entropy_unit="nats",
                 sat={"diagonality": "-dist_time_patch / T_p", "classification": "best rank among G, V, D"})
    name = f"attention_{args.part}"
    npz, _ = save_result(args.out, name, arrays, meta)
    written = [npz]
    if not args.no_plots:
        label = {meta["label"]: res}
        cond = f"{args.part}, mask {ratio:g}, {args.n_clips} clips"
        for stat in ("dist_time", "dist_freq", "entropy"):
            if stat in res:
                written.append(save_figure(depth_scatter(label, stat, cond), Path(args.out) / f"{name}_{stat}.png"))
        written.append(save_figure(distance_vs_entropy(label, "time", cond), Path(args.out) / f"{name}_dist_vs_entropy.png"))
    counts = {c: int((categories == c).sum()) for c in ("global", "vertical", "diagonal")}
    _say(args, f"{args.part}: {res['entropy'].size} heads over {args.n_clips} clips; categories {counts}\n"
               + "\n".join(f"  wrote {p}" for p in written))
    return 0


def cmd_similarity(args) -> int:
    from .features import collect_head_features, head_representations, layer_representations
    from .matrices import matrix_null, similarity_matrix
    from .plots import similarity_heatmap

    model = load_checkpoint(args.model).to(args.device).eval()
    other = load_checkpoint(args.other).to(args.device).eval() if args.other else None
    ratio = _mask_ratio(args, model)
    logmel, clips = _clips(args, model)
    kw = dict(tokens_per_clip=args.tokens_per_clip, mask_ratio=ratio, seed=args.seed, query_set=args.query_set,
              batch_size=args.batch_size, progress=not args.quiet)
    reps, labels = [], []
    for m in (model, other) if other is not None else (model,):
        feats = collect_head_features(m, logmel, args.part, **kw)
        if args.level == "head":
            r, _ = head_representations(feats)
            labels.append(_head_labels(m, args.part, sorted(feats)))
        else:
            r, layer_ids = layer_representations(feats)
            labels.append([f"B{l + 1}" for l in layer_ids])
        reps.append(r)
    reps_b = reps[1] if other is not None else None
    matrix = similarity_matrix(reps[0], reps_b, args.metric, direction=args.direction)
    null = matrix_null(reps[0], reps_b, args.metric, n_perm=args.null, seed=args.seed, direction=args.direction)
    null_level = float(np.mean(null)) if len(null) else None
    name = f"similarity_{args.part}_{args.level}_{args.metric}"
    meta = _meta(args, model, args.model, other=args.other, condition=_condition(args, ratio), clips=clips,
                 metric=args.metric, level=args.level, direction=args.direction, tokens_per_clip=args.tokens_per_clip,
                 datapoints=int(reps[0][0].shape[0]), null_permutations=args.null, null_mean=null_level,
                 null_std=float(np.std(null)) if len(null) else None,
                 features="per-head context vectors before the output projection (float64 analysis)")
    arrays = {"matrix": matrix, "null": null, "row_labels": np.array(labels[0]),
              "col_labels": np.array(labels[-1])}
    npz, _ = save_result(args.out, name, arrays, meta)
    written = [npz]
    if not args.no_plots:
        block = (model.config.decoder_num_heads if args.part == "decoder" else model.config.num_heads) \
            if args.level == "head" else None
        title = f"{args.metric.upper()} {args.level}s, {args.part}: {_label(model, args.model)}" + \
            (f" vs {_label(other, args.other)}" if other is not None else "")
        fig = similarity_heatmap(matrix, labels[0], labels[-1], title=title, metric=args.metric, block=block,
                                 null_level=null_level)
        written.append(save_figure(fig, Path(args.out) / f"{name}.png"))
    _say(args, f"{args.metric} matrix {matrix.shape}, null ≈ {null_level}\n" + "\n".join(f"  wrote {p}" for p in written))
    return 0


def _int_list(text: str, name: str) -> list[int | None]:
    out = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        if item == "all":
            out.append(None)
            continue
        try:
            out.append(int(item))
        except ValueError:
            raise ValueError(f"{name}: expected comma-separated integers, got {item!r}") from None
    return out


def cmd_prune(args) -> int:
    from .plots import pruning_plot
    from .pruning import default_steps, pruning_curve, random_band, span_curve
    from .sat import rank_heads
    from .scorers import LinearProbeScorer, ReconstructionScorer
    from .stats import collect_attention_stats

    model = load_checkpoint(args.model).to(args.device).eval()
    ratio = _mask_ratio(args, model)
    if args.scorer == "recon":
        heldout, heldout_meta = _clips(args, model, seed=args.seed + 1)  # other crops/clips than the ranking statistics
        scorer = ReconstructionScorer(heldout, seed=args.seed, batch_size=args.batch_size)
        scorer_meta = {"scorer": scorer.name, "heldout_clips": heldout_meta, "mask_ratio": model.config.mask_ratio}
    elif args.scorer.startswith("probe:"):
        scorer = LinearProbeScorer(args.scorer[len("probe:"):], batch_size=args.batch_size)
        scorer_meta = {"scorer": scorer.name, "task": args.scorer[len("probe:"):], "split": "last fold / test"}
    else:
        raise ValueError(f"--scorer must be 'recon' or 'probe:TASK_DIR', got {args.scorer!r}")
    logmel, clips = _clips(args, model)
    stats = collect_attention_stats(model, logmel, args.part, mask_ratio=ratio, seed=args.seed,
                                    batch_size=args.batch_size, query_set=args.query_set,
                                    variants=("time_patch", "time"), progress=not args.quiet)
    num_layers, num_heads = stats["entropy"].shape
    steps = [s for s in _int_list(args.steps, "--steps") if s is not None] or default_steps(num_layers * num_heads)
    t_p = model.config.grid_size[0]
    progress = not args.quiet
    arrays, curves = {"steps": np.asarray(steps)}, {}
    for by in [b.strip() for b in args.rank_by.split(",") if b.strip()]:
        order = rank_heads(stats, by, num_time_steps=t_p, seed=args.seed)
        curves[by] = pruning_curve(model, args.part, order, scorer, steps, progress)
        arrays[f"curve_{by}"], arrays[f"order_{by}"] = curves[by], np.asarray(order)
    seeds = list(range(args.seed, args.seed + args.random_seeds))
    arrays["random"] = random_band(model, args.part, scorer, steps, seeds, progress) if seeds else np.zeros((0, len(steps)))
    radii = _int_list(args.span, "--span")
    if radii:
        arrays["span_radii"] = np.asarray([t_p - 1 if r is None else r for r in radii])
        arrays["span_scores"] = span_curve(model, args.part, radii, scorer, args.span_mode, progress)
    name = f"prune_{args.part}"
    meta = _meta(args, model, args.model, condition=_condition(args, ratio), clips=clips, rankings=list(curves),
                 random_seeds=seeds, span_mode=args.span_mode, higher_is_better=scorer.higher_is_better,
                 pruning="head outputs zeroed before the output projection (its bias kept)", **scorer_meta)
    npz, _ = save_result(args.out, name, arrays, meta)
    written = [npz]
    if not args.no_plots:
        title = f"{_label(model, args.model)}, {args.part}"
        written.append(save_figure(pruning_plot(steps, curves, arrays["random"], ylabel=scorer.name, title=title),
                                   Path(args.out) / f"{name}.png"))
        if radii:
            fig = pruning_plot(arrays["span_radii"], {f"span ({args.span_mode})": arrays["span_scores"]},
                               ylabel=scorer.name, xlabel="attention span |Δt| (time steps)", title=title)
            written.append(save_figure(fig, Path(args.out) / f"span_{args.part}.png"))
    base = curves[next(iter(curves))][0] if curves and steps[0] == 0 else None
    _say(args, f"{scorer.name}: unpruned {base}\n" + "\n".join(f"  wrote {p}" for p in written))
    return 0


def cmd_viz(args) -> int:
    from .viewer import attention_view, clip_attention

    model = load_checkpoint(args.model).to(args.device).eval()
    ratio = _mask_ratio(args, model)
    grid = TokenGrid.from_config(model.config)
    logmel, clips = _clips(args, model)
    depth = len(getattr(model, args.part).blocks)
    if not 1 <= args.block <= depth:
        raise ValueError(f"--block {args.block} out of range: the {args.part} has blocks 1..{depth}")
    maps = clip_attention(model, logmel[0], args.part, args.block - 1, mask_ratio=ratio, seed=args.seed)
    if not 0 <= args.head < maps.shape[0]:
        raise ValueError(f"--head {args.head} out of range [0, {maps.shape[0]})")
    q = _int_list(args.query, "--query") or [grid.grid[0] // 2, grid.grid[1] // 2]
    if len(q) != 2 or None in q:
        raise ValueError(f"--query must be 't,f', got {args.query!r}")
    name = f"viz_{args.part}_B{args.block}_H{args.head}"
    meta = _meta(args, model, args.model, condition=_condition(args, ratio), clips=clips, block=args.block,
                 head=args.head, query=q, cls_policy="renormalize")
    npz, _ = save_result(args.out, name, {"maps": maps, "logmel": logmel[0].numpy()}, meta)
    written = [npz]
    if not args.no_plots:
        fig = attention_view(logmel[0].numpy(), maps[args.head], grid, tuple(q),
                             title=f"{_label(model, args.model)}: {args.part} block {args.block} head {args.head} "
                                   f"({clips['names'][0]})")
        written.append(save_figure(fig, Path(args.out) / f"{name}.png"))
    _say(args, "\n".join(f"  wrote {p}" for p in written))
    return 0


def cmd_deform(args) -> int:
    from .deform import collect_sample_positions, offset_figure, offset_summary, sample_points_figure

    model = load_checkpoint(args.model).to(args.device).eval()
    datar = model.config.variant == "datar"
    ratio = 0.0 if datar else (model.config.mask_ratio if args.mask_ratio is None else float(args.mask_ratio))
    logmel, clips = _clips(args, model)
    res = collect_sample_positions(model, logmel, mask_ratio=ratio, seed=args.seed, batch_size=args.batch_size)
    summary = offset_summary(res, model.config.img_size)
    arrays = {**{f"positions_{i + 1}": p for i, p in enumerate(res["positions"])},
              **{f"references_{i + 1}": r for i, r in enumerate(res["references"])}, **summary}
    meta = {"command": "analyze deform", "model": args.model, "model_config": model.config.to_dict(),
            "layers": res["labels"], "grids": res["grids"], "mask_ratio": ratio, "mask_seed": args.seed, "clips": clips,
            "units": {"positions": "(t, f) grid cells of each layer's grid", "dt_ms": "ms", "df_bins": "mel bins"}}
    npz, _ = save_result(args.out, "deform", arrays, meta)
    written = [npz]
    if not args.no_plots:
        name = Path(args.model).name or args.model
        written.append(save_figure(sample_points_figure(logmel[0].numpy(), res, model.config.img_size,
                                                        title=f"{name}: samples of clip {clips['names'][0]}"),
                                   Path(args.out) / "deform_points.png"))
        written.append(save_figure(offset_figure(summary, res["labels"], title=f"{name}: mean offsets"),
                                   Path(args.out) / "deform_offsets.png"))
    lines = [f"  {label}: |dt| {dt:.1f} ms, |df| {df:.2f} mel bins" for label, dt, df
             in zip(res["labels"], summary["dt_ms"], summary["df_bins"])]
    _say(args, "\n".join(lines + [f"  wrote {p}" for p in written]))
    return 0


def cmd_compare(args) -> int:
    from .plots import depth_scatter, distance_vs_entropy

    loaded = [load_result(p) for p in args.results]
    for arrays, meta in loaded:
        if "entropy" not in arrays or "uniform_entropy" not in arrays:
            raise ValueError("compare takes two `analyze attention` results (attention_<part>.npz)")
    labels = [s.strip() for s in args.labels.split(",") if s.strip()] or \
        [m.get("label", Path(p).stem) for (_, m), p in zip(loaded, args.results)]
    if len(labels) != 2 or labels[0] == labels[1]:
        labels = [f"{i + 1}: {lab}" for i, lab in enumerate(labels[:2] + ["", ""][len(labels):])]
    conds = [m.get("condition", {}) for _, m in loaded]
    differ = sorted(k for k in set(conds[0]) | set(conds[1]) if conds[0].get(k) != conds[1].get(k))
    results = {lab: arrays for lab, (arrays, _) in zip(labels, loaded)}
    written = []
    out = Path(args.out)
    note = "" if not differ else f" (conditions differ: {', '.join(differ)})"
    for stat in ("dist_time", "dist_freq", "dist_euclid_patch", "entropy"):
        if all(stat in a for a in results.values()):
            written.append(save_figure(depth_scatter(results, stat, note.strip()), out / f"compare_{stat}.png"))
    written.append(save_figure(distance_vs_entropy(results, "time", note.strip()), out / "compare_dist_vs_entropy.png"))
    summary = {"command": "analyze compare", "results": [str(p) for p in args.results], "labels": labels,
               "conditions": conds, "figures": [str(p) for p in written]}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "compare.json", (json.dumps(summary, indent=2) + "\n").encode())
    if differ:
        print(f"warning: the two results were computed under different conditions: {differ}")
    print("\n".join(f"  wrote {p}" for p in written))
    return 0
