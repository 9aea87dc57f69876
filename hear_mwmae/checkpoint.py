"""Checkpoints: our format (config.json + model.safetensors), official Flax files, the Hub.

Nothing here unpickles. Sources accepted by :func:`load_checkpoint`:

* a directory with ``config.json`` + ``model.safetensors`` (``save_pretrained`` output), or
  that ``.safetensors`` file alone (its header metadata carries the config);
* an official Flax checkpoint: a ``checkpoint_<step>`` file, or a directory of them
  (the latest step is taken), converted in memory;
* ``hf://owner/name[@revision]`` on the Hugging Face Hub (honours ``HF_HUB_OFFLINE`` and the cache);
* ``random:<config name>``: freshly initialised weights (a baseline, or for tests);
* ``""`` or ``"bundled"``: the weights bundled inside the package (a local folder that happens to be
  named ``bundled`` is spelled ``./bundled``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .atomic import atomic_write, atomic_write_bytes
from .config import ModelConfig, get_config
from .flax_checkpoint import (
    convert_params,
    infer_config,
    is_flax_checkpoint_file,
    latest_checkpoint,
    read_flax_params,
    _official_config_json,
)

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
BUNDLED_DIR = Path(__file__).parent / "weights"
PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle")
_METADATA_KEY = "hear_mwmae_config"


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, or does not fit its config."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """No checkpoint where one was asked for."""


NO_WEIGHTS_HELP = (
    "Ways to get weights: (1) convert the official MW-MAE Flax checkpoint with "
    "`hear-mwmae convert checkpoint_<step> my_model/` and pass `load_model('my_model')`; "
    "(2) a Hub model: `load_model('hf://owner/name')`; (3) pretrain your own with the training "
    "package; (4) random weights for baselines/tests: `load_model('random:mwmae_base')`."
)


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
def _refuse_pickle(path: Path) -> None:
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
    on the meta device, see :func:`build_empty`).
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


def build_empty(config):
    """A ``MaskedAutoencoder`` whose parameters live on the meta device: no memory, no init cost."""
    from .model import MaskedAutoencoder

    with torch.device("meta"):
        return MaskedAutoencoder(config)


def _config_from_safetensors(path: Path) -> dict | None:
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{path} is not a readable safetensors file ({e})") from e
    return json.loads(meta[_METADATA_KEY]) if _METADATA_KEY in meta else None


def parse_hub_ref(ref: str) -> tuple[str, str | None]:
    """``hf://owner/name[@revision]`` -> (repo_id, revision)."""
    body = ref[len("hf://"):]
    repo, _, revision = body.partition("@")
    parts = repo.split("/")
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"bad Hub reference {ref!r}: expected hf://owner/name or hf://owner/name@revision")
    return repo, revision or None


def resolve_weights_file(model_id: str, revision=None, **hub_kwargs) -> Path:
    """Local directory -> its model.safetensors; otherwise download it from the Hub repo ``model_id``."""
    if os.path.isdir(model_id):
        path = Path(model_id) / WEIGHTS_NAME
        if not path.is_file():
            raise CheckpointNotFoundError(f"{model_id} has no {WEIGHTS_NAME}")
        return path
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(repo_id=model_id, filename=WEIGHTS_NAME, revision=revision, **hub_kwargs))


def _from_config_and_file(config: ModelConfig | dict, weights: Path):
    try:
        model = build_empty(config)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"invalid config for {weights}: {e}") from e
    load_safetensors_into(model, weights, assign=True)  # the file's tensors become the parameters
    return model.eval()


def _load_weights_file(weights: Path):
    """A ``.safetensors`` file -> model; config from ``config.json`` beside it, else the file's header."""
    cfg_path = weights.parent / CONFIG_NAME
    if cfg_path.is_file():
        try:
            config = json.loads(cfg_path.read_text())
        except json.JSONDecodeError as e:
            raise CheckpointError(f"{cfg_path} is not valid JSON ({e})") from e
    else:
        config = _config_from_safetensors(weights)
        if config is None:
            raise CheckpointNotFoundError(f"{weights.parent}: no {CONFIG_NAME} beside {weights.name} "
                                          f"and no config in its metadata")
    return _from_config_and_file(config, weights)


def _load_our_dir(directory: Path):
    weights = directory / WEIGHTS_NAME
    if not weights.is_file():
        raise CheckpointNotFoundError(f"{directory}: no {WEIGHTS_NAME} (and no official checkpoint_<step> file)")
    return _load_weights_file(weights)


def load_official(path: str | Path, config: ModelConfig | None = None):
    """Official Flax checkpoint (file, or directory -> latest ``checkpoint_<step>``) -> our model."""
    from .model import MaskedAutoencoder

    path = Path(path)
    if not path.exists():
        raise CheckpointNotFoundError(f"official checkpoint {path} does not exist")
    file = latest_checkpoint(path) if path.is_dir() else path
    if file is None:
        raise CheckpointNotFoundError(f"{path}: no checkpoint_<step> file")
    params = read_flax_params(file)
    config = config or infer_config(params, _official_config_json(path))
    model = MaskedAutoencoder(config)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    state = convert_params(params, config, expected)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    return model.eval()


BUNDLED_SPELLINGS = ("", "bundled")  # the one way every command names the bundled weights


def bundled_weights_available() -> bool:
    return (BUNDLED_DIR / WEIGHTS_NAME).is_file()


def _load_from_hub(source: str):
    """``hf://owner/name[@revision]`` -> model; Hub failures become CheckpointNotFoundError naming repo and cause."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (EntryNotFoundError, HFValidationError, LocalEntryNotFoundError,
                                        RepositoryNotFoundError, RevisionNotFoundError)

    from .model import MaskedAutoencoder

    repo, revision = parse_hub_ref(source)
    try:
        # config.json first, ourselves: from_pretrained swallows that failure and then dies on a missing `config`.
        config_file = hf_hub_download(repo_id=repo, filename=CONFIG_NAME, revision=revision)
        try:
            config = json.loads(Path(config_file).read_text())
        except json.JSONDecodeError as e:
            raise CheckpointError(f"{source}: {CONFIG_NAME} is not valid JSON ({e})") from e
        return MaskedAutoencoder.from_pretrained(repo, revision=revision, config=config)
    except CheckpointError:
        raise
    except (OSError, HFValidationError) as e:  # every huggingface_hub HTTP/cache error is an OSError
        if isinstance(e, LocalEntryNotFoundError):
            why = "it is not in the local Hugging Face cache and the Hub cannot be reached (offline?)"
        elif isinstance(e, RevisionNotFoundError):
            why = f"the repository has no revision {revision!r}"
        elif isinstance(e, RepositoryNotFoundError):
            why = "the repository does not exist, or is private/gated and your token (HF_TOKEN) has no access"
        elif isinstance(e, EntryNotFoundError):
            why = f"the repository lacks {CONFIG_NAME} or {WEIGHTS_NAME}"
        elif isinstance(e, HFValidationError):
            why = "invalid repo id or revision"
        else:
            why = "the Hub request failed"
        detail = " ".join(str(e).split())[:500]
        raise CheckpointNotFoundError(f"cannot load {source} from the Hugging Face Hub: {why} "
                                      f"({type(e).__name__}: {detail})") from e


def load_checkpoint(source: str | os.PathLike = "", seed: int = 0):
    """Any supported source (see module docstring) -> ``MaskedAutoencoder`` in eval mode on CPU."""
    from .model import MaskedAutoencoder

    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"model_file_path must be a str or path, got {type(source).__name__}")
    source = os.fspath(source)
    if source in BUNDLED_SPELLINGS:
        if not bundled_weights_available():
            raise CheckpointNotFoundError(f"no bundled default weights in this install ({BUNDLED_DIR}). " + NO_WEIGHTS_HELP)
        return _load_our_dir(BUNDLED_DIR)
    if source.startswith("random:"):
        torch.manual_seed(seed)
        return MaskedAutoencoder(get_config(source[len("random:"):])).eval()
    if source.startswith("hf://"):
        return _load_from_hub(source)
    path = Path(source).expanduser()
    if not path.exists():
        raise CheckpointNotFoundError(f"checkpoint {source!r} does not exist. " + NO_WEIGHTS_HELP)
    _refuse_pickle(path)
    if path.is_dir():
        if (path / WEIGHTS_NAME).is_file():
            return _load_our_dir(path)
        if latest_checkpoint(path) is not None:
            return load_official(path)
        raise CheckpointNotFoundError(f"{path} holds neither {CONFIG_NAME} + {WEIGHTS_NAME} nor an official "
                                      f"checkpoint_<step> file. " + NO_WEIGHTS_HELP)
    if path.suffix == ".safetensors":
        return _load_weights_file(path)
    if is_flax_checkpoint_file(path):
        return load_official(path)
    raise CheckpointError(f"{path}: unrecognised checkpoint format (expected model.safetensors, a directory, "
                          f"or an official Flax checkpoint_<step> file)")
