"""Equal-budget comparison on suite classification tasks (docs/deformable.md, issue 23).

    python recipes/deformable/compare.py --tasks-dir tasks/ --tasks drums,spoken_digit --seeds 3 --out runs/compare

Every trained encoder gets the same budget with ``training.finetune``: the same epochs, batch size,
warm-up and cosine schedule, data order, crops and seeds. The linear probe's encoder runs once (its
features are cached) and its head trains for ``--probe-epochs``. Models are chosen on the validation fold
(the best epoch); the test fold (the task's last) is scored once per run. Reported: test accuracy
as mean ± 95 % CI over seeds per task, and the mean over tasks. The models:

- DATAR-style classifier (``datar_tiny``, 2.3 M parameters), from scratch, every parameter trained;
- MW-MAE-Tiny, the bundled encoder, linear probe (frozen);
- MW-MAE-Tiny, the bundled encoder, fine-tuned;
- a plain ViT of similar size: MW-MAE-Tiny's encoder with 6 blocks (2.7 M), random init, trained.

Re-running skips finished runs (their ``best/finetune.json`` holds a test score).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from hear_mwmae import MaskedAutoencoder, get_config  # noqa: E402
from hear_mwmae.atomic import atomic_write_text  # noqa: E402
from training.finetune import FinetuneConfig, train  # noqa: E402

# name -> (model spec or "vit6", mode, peak lr)
MODELS = {
    "DATAR-style (datar_tiny), from scratch": ("random:datar_tiny", "finetune", 1e-3),
    "MW-MAE-Tiny (bundled), linear probe": ("bundled", "probe", 1e-2),
    "MW-MAE-Tiny (bundled), fine-tuned": ("bundled", "finetune", 3e-4),
    "ViT (6 blocks, 192-d), from scratch": ("vit6", "finetune", 1e-3),
}
T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57}  # two-sided t, by degrees of freedom


def task_folder(tasks_dir: Path, name: str) -> Path:
    found = sorted((p for p in tasks_dir.iterdir() if p.is_dir() and p.name.startswith(name + "-")),
                   key=lambda p: not p.name.endswith("-full"))  # the full build first
    if not found:
        raise FileNotFoundError(f"no built task {name!r} in {tasks_dir} (hear-mwmae tasks build {name} --out {tasks_dir})")
    return found[0]


def vit6(folder: Path, seed: int) -> str:
    torch.manual_seed(seed)
    MaskedAutoencoder(get_config("mwmae_tiny", depth=6, encoder_only=True)).save_pretrained(folder)
    return str(folder)


def mean_ci(values) -> str:
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return f"{v.mean():.3f}"
    return f"{v.mean():.3f} ± {T95.get(len(v) - 1, 2.0) * v.std(ddof=1) / np.sqrt(len(v)):.3f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks-dir", required=True)
    p.add_argument("--tasks", default="drums,spoken_digit")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=6, help="epochs of every trained encoder (the equal budget)")
    p.add_argument("--probe-epochs", type=int, default=100,
                   help="epochs of the probe's head, on features its frozen encoder computed once")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--models", default="", help="comma-separated subset of the model names (default: all)")
    p.add_argument("--out", default="runs/compare")
    args = p.parse_args()
    out = Path(args.out)
    models = {k: v for k, v in MODELS.items() if not args.models or k in args.models.split(",")}
    results = json.loads((out / "results.json").read_text()) if (out / "results.json").is_file() else {}
    for task in args.tasks.split(","):
        folder = task_folder(Path(args.tasks_dir), task)
        for name, (spec, mode, lr) in models.items():
            for seed in range(args.seeds):
                key = f"{task} | {name} | seed {seed}"
                if key in results:
                    continue
                run = out / task / name.split(" ")[0].lower().replace("-", "") / f"{mode}-seed{seed}"
                model = vit6(run.parent / f"vit6-seed{seed}", seed) if spec == "vit6" else spec
                t0 = time.time()
                epochs = args.probe_epochs if mode == "probe" else args.epochs
                res = train(FinetuneConfig(data=str(folder), out=str(run), model=model, mode=mode, epochs=epochs,
                                           batch_size=args.batch_size, lr=lr, seed=seed, device="cpu", resume=True))
                results[key] = {"task": task, "model": name, "seed": seed, "test_acc": res["test_acc"],
                                "valid_acc": res["best_valid_acc"], "best_epoch": res["best_epoch"],
                                "seconds": time.time() - t0}
                out.mkdir(parents=True, exist_ok=True)
                atomic_write_text(out / "results.json", json.dumps(results, indent=2))
                print(key, results[key], flush=True)
    tasks = args.tasks.split(",")
    lines = ["| model | " + " | ".join(f"{t} (test top-1)" for t in tasks) + " | mean |", "|---" * (len(tasks) + 2) + "|"]
    for name in models:
        per_task = [[r["test_acc"] for r in results.values() if r["task"] == t and r["model"] == name] for t in tasks]
        cells = [mean_ci(v) if v else "–" for v in per_task]
        means = [np.mean(v) for v in per_task if v]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {np.mean(means):.3f} |" if means else "")
    table = "\n".join(lines) + "\n"
    atomic_write_text(out / "results.md", table)
    print(table)


if __name__ == "__main__":
    main()
