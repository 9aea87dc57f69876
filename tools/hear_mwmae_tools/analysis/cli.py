"""``hear-mwmae analyze attention|similarity|prune|viz|deform|compare`` (docs/design.md §D24).

Only argparse is imported here: ``register`` runs whenever ``hear-mwmae`` starts, so torch,
numpy and matplotlib are imported by the commands themselves (``analysis/commands.py``).
"""

from __future__ import annotations

import argparse


def _run(name: str):
    def call(args) -> int:
        from . import commands

        return getattr(commands, name)(args)
    return call


def _common(p: argparse.ArgumentParser, model: bool = True, clips: int = 32) -> None:
    if model:
        p.add_argument("--model", required=True, help="checkpoint (dir, official checkpoint, hf://…, random:<config>)")
        p.add_argument("--part", choices=("encoder", "decoder"), default="encoder", help="attention layers analysed")
        p.add_argument("--mask-ratio", type=float, default=None,
                       help="0 = unmasked (default for the encoder); default for the decoder: the model's (0.8)")
        p.add_argument("--query-set", choices=("all", "masked", "visible"), default="all",
                       help="decoder queries averaged over")
    p.add_argument("--audio", default="synthetic", help="audio file or folder (e.g. a HEAR task), or 'synthetic'")
    p.add_argument("--n-clips", type=int, default=clips, help="2 s crops analysed (CPU-sized default)")
    p.add_argument("--seed", type=int, default=0, help="seed of crops, masks and token subsets")
    p.add_argument("--batch-size", type=int, default=8, help="clips per forward pass")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cuda:0")
    p.add_argument("--out", default="analysis_out", help="output folder (.npz + .json + .png)")
    p.add_argument("--no-plots", action="store_true", help="write .npz/.json only")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")


def register(subparsers) -> None:
    """Add the ``analyze`` subcommand (with its own subcommands) to ``hear-mwmae``."""
    a = subparsers.add_parser("analyze", help="attention-head analyses: distances, entropies, PWCCA, pruning, viewer")
    sub = a.add_subparsers(dest="analysis", required=True)

    p = sub.add_parser("attention", help="mean attention distance, entropy, SAT scores and head categories per head")
    _common(p)
    p.add_argument("--distance", default="euclid_patch,time,freq,time_patch,freq_patch,euclid_bins",
                   help="comma-separated distance variants")
    p.add_argument("--cls-policy", choices=("renormalize", "raw"), default="renormalize",
                   help="MAE baseline: drop CLS and renormalise patch keys, or keep raw weights")
    p.set_defaults(func=_run("cmd_attention"))

    p = sub.add_parser("similarity", help="PWCCA / SVCCA / CCA / CKA between heads or layers (one or two models)")
    _common(p)
    p.add_argument("--other", help="second checkpoint: model × model matrix (same clips, masks and tokens)")
    p.add_argument("--metric", choices=("pwcca", "svcca", "cca", "cka"), default="pwcca")
    p.add_argument("--level", choices=("head", "layer"), default="head")
    p.add_argument("--direction", choices=("x", "y", "smaller", "mean"), default="mean", help="PWCCA weighting side")
    p.add_argument("--tokens-per-clip", type=int, default=50)
    p.add_argument("--null", type=int, default=5, help="permutations for the null level (0 = none)")
    p.set_defaults(func=_run("cmd_similarity"))

    p = sub.add_parser("prune", help="head pruning curves (head mask) and attention-span curves")
    _common(p, clips=16)
    p.add_argument("--rank-by", default="globalness,verticality,diagonality,max_weight",
                   help="comma-separated rankings (also entropy, distance, window, verticality_time/_freq)")
    p.add_argument("--scorer", default="recon", help="'recon' (masked MSE on held-out clips) or 'probe:TASK_DIR'")
    p.add_argument("--steps", default="", help="comma-separated pruned-head counts (default: ~9 evenly spaced)")
    p.add_argument("--random-seeds", type=int, default=3, help="random rankings for the reference band")
    p.add_argument("--span", default="", help="comma-separated |Δt| radii in time steps ('all' = no limit)")
    p.add_argument("--span-mode", choices=("renormalize", "zero"), default="renormalize")
    p.set_defaults(func=_run("cmd_prune"))

    p = sub.add_parser("viz", help="one clip: a head's attention map and a query's attention on the log-mel")
    _common(p, clips=1)
    p.add_argument("--block", type=int, default=1, help="block 1..depth of --part (blocks count from 1 everywhere)")
    p.add_argument("--head", type=int, default=0, help="head index 0..heads-1 of that block")
    p.add_argument("--query", default="", help="query patch 't,f' (default: the grid centre)")
    p.set_defaults(func=_run("cmd_viz"))

    p = sub.add_parser("deform", help="where deformable heads sample: points over the log-mel, offsets per block")
    _common(p, model=False, clips=8)
    p.add_argument("--model", required=True, help="a model with deformable attention (mwmae_*_deform, datar_*)")
    p.add_argument("--mask-ratio", type=float, default=None, help="MW-MAE decoder: default the model's (0.8)")
    p.set_defaults(func=_run("cmd_deform"))

    p = sub.add_parser("compare", help="figures comparing two `analyze attention` results (e.g. MAE vs MW-MAE)")
    p.add_argument("results", nargs=2, help="two attention_<part>.npz files")
    p.add_argument("--labels", default="", help="comma-separated panel labels (default: from the metadata)")
    p.add_argument("--out", default="analysis_out", help="output folder")
    p.set_defaults(func=_run("cmd_compare"))
