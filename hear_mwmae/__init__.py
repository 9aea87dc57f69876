"""hear_mwmae: MW-MAE (ICLR 2024) audio embeddings in PyTorch, through the HEAR API.

    import hear_mwmae
    model = hear_mwmae.load_model("path/to/checkpoint")   # or "" for the bundled weights
    emb, ts = hear_mwmae.get_timestamp_embeddings(audio, model)  # audio: (n_sounds, n_samples) 16 kHz
    scene = hear_mwmae.get_scene_embeddings(audio, model)

Importing the package is cheap: torch and the model code load on first use of a name below
(PEP 562), so ``hear-mwmae --help`` answers without importing torch.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"
__all__ = [
    "load_model", "get_scene_embeddings", "get_timestamp_embeddings", "HearModel", "MaskedAutoencoder",
    "ModelConfig", "get_config", "list_configs", "CheckpointError", "CheckpointNotFoundError",
    "PRECISIONS", "TIMESTAMP_MODES",
]
# name -> the module that defines it (imported when the name is first used)
_LAZY = {
    "load_model": "api", "get_scene_embeddings": "api", "get_timestamp_embeddings": "api",
    "HearModel": "hear", "PRECISIONS": "hear", "TIMESTAMP_MODES": "hear", "MaskedAutoencoder": "model",
    "ModelConfig": "config", "get_config": "config", "list_configs": "config",
    "CheckpointError": "checkpoint_format", "CheckpointNotFoundError": "checkpoint_format",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
