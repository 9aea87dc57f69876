"""MW-MAE with random weights as a HEAR module: ``hear_mwmae_tools.baselines.random_mwmae``.

The untrained network under the exact runtime of ``hear_mwmae`` (same frontend, chunking and
timestamps): what pretraining adds is the gap between this and a trained checkpoint of the
same config. Options: ``config`` (preset name, default ``mwmae_base``; ``mwmae_tiny`` for the
quick suite), ``seed`` (initialisation, default 0) and the runtime options of
``hear_mwmae.load_model`` (``precision``, ``chunk_batch_size``, ``timestamp_mode``, ``device``).
"""

from __future__ import annotations

import hear_mwmae
from hear_mwmae import HearModel, get_scene_embeddings, get_timestamp_embeddings

__all__ = ["load_model", "get_scene_embeddings", "get_timestamp_embeddings"]

DEFAULT_CONFIG = "mwmae_base"


def load_model(model_file_path: str = "", config: str = DEFAULT_CONFIG, seed: int = 0, **options) -> HearModel:
    """Randomly initialised MW-MAE of preset ``config`` (``torch.manual_seed(seed)`` before init)."""
    if model_file_path:
        raise ValueError(f"random_mwmae builds random weights and takes no weights file, got {model_file_path!r}; "
                         f"load a checkpoint with hear_mwmae.load_model(path) instead")
    return hear_mwmae.load_model(f"random:{config}", seed=seed, **options)
