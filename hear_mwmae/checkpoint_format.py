"""Our checkpoint format: ``config.json`` + ``model.safetensors``. Writing, reading, checking.

The one place that reads and writes it, for local folders and Hub repos alike (the Hub mixin of
:class:`~hear_mwmae.model.MaskedAutoencoder` and :func:`hear_mwmae.checkpoint.load_checkpoint` both
end in :func:`build_from_file`). It knows no model class (the caller passes one), so the model
module can use it without an import circle. Nothing here unpickles.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from huggingface_hub import PyTorchModelHubMixin
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .atomic import atomic_write, atomic_write_bytes
from .config import ModelConfig

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle")
_METADATA_KEY = "hear_mwmae_config"


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, or does not fit its config."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """No checkpoint where one was asked for."""


# ---- writing -----------------------------------------------------------------------------
def save_safetensors(model, directory: str | Path) -> Path:
    """Write ``config.json`` and ``model.safetensors`` (atomically; config also in the header metadata)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    config_json = json.dumps(model.config.to_dict(), indent=2, sort_keys=True)
    atomic_write(directory / WEIGHTS_NAME,
                 lambda tmp: save_file(state, tmp, metadata={"format": "pt", _METADATA_KEY: config_json}))
    atomic_write_bytes(directory / CONFIG_NAME, config_json.encode())
    return directory / WEIGHTS_NAME



# ---- reading -----------------------------------------------------------------------------
def refuse_pickle(path: Path) -> None:
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise CheckpointError(f"{path}: pickle checkpoints ({', '.join(PICKLE_SUFFIXES)}) are refused because loading "
                              f"them can run arbitrary code. Convert to safetensors (config.json + model.safetensors).")
    if path.is_file():
        with open(path, "rb") as f:
            head = f.read(4)
        if head[:2] == b"PK" or head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
            raise CheckpointError(f"{path} looks like a torch.save/pickle file; pickles are never loaded. "
                                  f"Use a safetensors checkpoint (config.json + model.safetensors).")


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path} is not a readable safetensors file ({e}); it may be truncated — "
                              f"re-download or re-export it") from e


def load_safetensors_into(model, path: str | Path, strict: bool = True, assign: bool = False) -> None:
    """Load weights into ``model`` after checking names and shapes against it.

    ``assign=True`` puts the file's tensors into the model without a copy (for a model built
    on the meta device, see :func:`build_from_file`).
    """
    state = read_safetensors(Path(path))
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if (strict or assign) and (missing or unexpected):
        raise CheckpointError(f"{path} does not match its config: missing {len(missing)} tensors {missing[:4]}, "
                              f"unexpected {len(unexpected)} {unexpected[:4]}")
    wrong = [(k, tuple(state[k].shape), tuple(v.shape)) for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if wrong:
        k, got, want = wrong[0]
        raise CheckpointError(f"{path}: {len(wrong)} tensors have shapes that do not match the config, "
                              f"e.g. {k}: {got} in the file vs {want} from config.json")
    model.load_state_dict(state, strict=strict, assign=assign)


def config_from_header(path: Path) -> dict | None:
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{path} is not a readable safetensors file ({e})") from e
    return json.loads(meta[_METADATA_KEY]) if _METADATA_KEY in meta else None



def read_config(weights: Path) -> dict:
    """The config of a ``model.safetensors``: ``config.json`` beside it, else the file's header metadata."""
    cfg_path = weights.parent / CONFIG_NAME
    if cfg_path.is_file():
        try:
            return json.loads(cfg_path.read_text())
        except json.JSONDecodeError as e:
            raise CheckpointError(f"{cfg_path} is not valid JSON ({e})") from e
    config = config_from_header(weights)
    if config is None:
        raise CheckpointNotFoundError(f"{weights.parent}: no {CONFIG_NAME} beside {weights.name} "
                                      f"and no config in its metadata")
    return config


def resolve_weights_file(model_id: str, revision=None, **hub_kwargs) -> Path:
    """Local directory -> its model.safetensors; otherwise download it from the Hub repo ``model_id``."""
    if os.path.isdir(model_id):
        path = Path(model_id) / WEIGHTS_NAME
        if not path.is_file():
            raise CheckpointNotFoundError(f"{model_id} has no {WEIGHTS_NAME}")
        return path
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(repo_id=model_id, filename=WEIGHTS_NAME, revision=revision, **hub_kwargs))


def build_from_file(cls, config: ModelConfig | dict, weights: Path):
    """``cls(config)`` built on the meta device (no init work), the file's tensors as its parameters.

    Names and shapes are checked against the config first (:func:`load_safetensors_into`).
    """
    try:
        with torch.device("meta"):
            model = cls(config)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"invalid config for {weights}: {e}") from e
    load_safetensors_into(model, weights, strict=True, assign=True)
    return model.eval()


class SafetensorsHubMixin(PyTorchModelHubMixin):
    """``save_pretrained`` / ``from_pretrained`` / ``push_to_hub`` in our format for any model class
    built from a ``config`` (MW-MAE / MAE, the DATAR-style classifier): safetensors only, names and
    shapes checked, never unpickled; local folders and Hub repos load through :func:`build_from_file`."""

    def _save_pretrained(self, save_directory) -> None:
        save_safetensors(self, save_directory)

    @classmethod
    def _from_pretrained(cls, *, model_id: str, revision=None, cache_dir=None, force_download=False,
                         local_files_only=False, token=None, map_location: str = "cpu", strict: bool = True,
                         **model_kwargs):
        weights = resolve_weights_file(model_id, revision=revision, cache_dir=cache_dir, force_download=force_download,
                                       local_files_only=local_files_only, token=token)
        config = model_kwargs.get("config") or read_config(weights)
        return build_from_file(cls, config, weights).to(map_location)
