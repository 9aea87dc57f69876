"""Run heareval 2021.1.3's two runners, unmodified, with the Python 3.11 workarounds applied from outside.

    python -m hear_mwmae_tools.evaluation.heareval_driver embeddings MODULE [--model W] --tasks-dir D ...
    python -m hear_mwmae_tools.evaluation.heareval_driver predictions EMBEDDING_TASK_DIR ... [--grid fast]

The arguments after the stage name are heareval's own (``heareval.embeddings.runner`` and
``heareval.predictions.runner``). Before handing over, this module (docs/design.md §D14):

- sets ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``: heareval reloads its own Lightning checkpoints,
  whose hyper-parameters hold torch classes, and torch >= 2.6 refuses them by default;
- makes ``tf.test.is_gpu_available`` follow torch: with tensorflow-cpu on a CUDA machine the
  embeddings runner would otherwise stop with "GPUs not available in tensorflow";
- replaces ``heareval.gpu_max_mem.device_name``, which calls ``.decode()`` on the ``str``
  that current NVML bindings return (only reached on CUDA machines);
- with ``HEAR_MWMAE_PREDICTION_SEED=s`` (s > 0), seeds the downstream training with 42 + s
  instead of heareval's fixed 42, for repeated runs over seeds.

Everything else (pytorch-lightning 1.8.6, setuptools < 81 for dcase_util's pkg_resources,
``--no-deps`` installs) is the install recipe in DEVELOPERS.md; :func:`missing_requirements`
checks it without importing the heavy packages.
"""

from __future__ import annotations

import importlib.util
import os
import sys

GRIDS = ("default", "fast", "faster")  # heareval hyper-parameter grids

SEED_ENV = "HEAR_MWMAE_PREDICTION_SEED"
HEAREVAL_SEED = 42
INSTALL_HINT = ('pip install -e "tools/[eval]" && pip install --no-deps heareval==2021.1.3 dcase_util==0.2.20 '
                'sed_eval==0.2.1  (see DEVELOPERS.md, "HEAR evaluation")')
_REQUIRED = {  # import name -> what provides it
    "heareval": "heareval==2021.1.3 (--no-deps)",
    "dcase_util": "dcase_util==0.2.20 (--no-deps)",
    "sed_eval": "sed_eval==0.2.1 (--no-deps)",
    "pytorch_lightning": "pytorch-lightning==1.8.6",
    "tensorflow": "tensorflow-cpu",
    "pkg_resources": "setuptools<81",
    "slugify": "python-slugify",
    "intervaltree": "intervaltree",
    "more_itertools": "more-itertools",
    "torchinfo": "torchinfo",
    "sklearn": "scikit-learn",
    "pandas": "pandas",
    "librosa": "librosa",
    "validators": "validators",
    "future": "future",
}


def missing_requirements() -> list[str]:
    """Packages the two runners need that are not installed (by find_spec; nothing is imported)."""
    missing = [pkg for name, pkg in _REQUIRED.items() if importlib.util.find_spec(name) is None]
    if "pytorch-lightning==1.8.6" not in missing:
        from importlib.metadata import version

        if not version("pytorch-lightning").startswith(("1.8.", "1.6.")):
            missing.append(f"pytorch-lightning==1.8.6 (found {version('pytorch-lightning')}: PL >= 1.9 breaks "
                           f"heareval's event tasks, PL 2 every task)")
    return missing


def _patch_tensorflow() -> None:
    import tensorflow as tf
    import torch

    tf.test.is_gpu_available = lambda *args, **kwargs: torch.cuda.is_available()


def _patch_gpu_name() -> None:
    import torch

    import heareval.gpu_max_mem as gpu_max_mem

    def device_name(device_index: int = 0) -> str:
        return torch.cuda.get_device_name(device_index) if torch.cuda.is_available() else "cpu"

    gpu_max_mem.device_name = device_name


def _patch_seed() -> None:
    offset = int(os.environ.get(SEED_ENV, "0") or 0)
    if offset == 0:
        return
    import heareval.predictions.task_predictions as tp

    original = tp.seed_everything

    def seed_everything(seed=None, workers=False):
        return original(HEAREVAL_SEED + offset if seed == HEAREVAL_SEED else seed, workers=workers)

    tp.seed_everything = seed_everything


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("embeddings", "predictions"):
        print("usage: python -m hear_mwmae_tools.evaluation.heareval_driver {embeddings|predictions} ARGS...", file=sys.stderr)
        return 2
    missing = missing_requirements()
    if missing:
        print(f"heareval cannot run: missing {', '.join(missing)}. Install with: {INSTALL_HINT}", file=sys.stderr)
        return 3
    os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    stage, args = argv[0], argv[1:]
    if stage == "embeddings":
        _patch_tensorflow()  # the predictions side never imports tensorflow: keep it out of that process
        _patch_gpu_name()
        from heareval.embeddings.runner import runner
    else:
        _patch_gpu_name()
        _patch_seed()
        from heareval.predictions.runner import runner
    runner.main(args=args, prog_name=f"heareval-{stage}", standalone_mode=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
