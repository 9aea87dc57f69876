"""Where weights come from: our folders and files, official Flax files, the Hub, random, bundled.

Nothing here unpickles. Our format itself is :mod:`hear_mwmae.checkpoint_format`. Sources accepted
by :func:`load_checkpoint`:

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

from .checkpoint_format import (CONFIG_NAME, WEIGHTS_NAME, CheckpointError, CheckpointNotFoundError, build_from_file,
                                read_config, refuse_pickle)
from .config import ModelConfig, get_config
from .flax_checkpoint import (
    convert_params,
    infer_config,
    is_flax_checkpoint_file,
    latest_checkpoint,
    read_flax_params,
    _official_config_json,
)
from .datar import DatarClassifier
from .model import MaskedAutoencoder

BUNDLED_DIR = Path(__file__).parent / "weights"
NO_WEIGHTS_HELP = (
    "Ways to get weights: (1) convert the official MW-MAE Flax checkpoint with "
    "`hear-mwmae convert checkpoint_<step> my_model/` and pass `load_model('my_model')`; "
    "(2) a Hub model: `load_model('hf://owner/name')`; (3) pretrain your own with the training "
    "package; (4) random weights for baselines/tests: `load_model('random:mwmae_base')`."
)


def parse_hub_ref(ref: str) -> tuple[str, str | None]:
    """``hf://owner/name[@revision]`` -> (repo_id, revision)."""
    body = ref[len("hf://"):]
    repo, _, revision = body.partition("@")
    parts = repo.split("/")
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"bad Hub reference {ref!r}: expected hf://owner/name or hf://owner/name@revision")
    return repo, revision or None


def model_class(config):
    """The model class of a config (object or config.json dict): MW-MAE / MAE, or the DATAR-style classifier."""
    family = config.get("family") if isinstance(config, dict) else getattr(config, "family", "")
    return DatarClassifier if family == "datar" else MaskedAutoencoder


def _load_weights_file(weights: Path):
    """A ``.safetensors`` file -> model; config from ``config.json`` beside it, else the file's header."""
    config = read_config(weights)
    return build_from_file(model_class(config), config, weights)


def _load_our_dir(directory: Path):
    weights = directory / WEIGHTS_NAME
    if not weights.is_file():
        raise CheckpointNotFoundError(f"{directory}: no {WEIGHTS_NAME} (and no official checkpoint_<step> file)")
    return _load_weights_file(weights)


def load_official(path: str | Path, config: ModelConfig | None = None):
    """Official Flax checkpoint (file, or directory -> latest ``checkpoint_<step>``) -> our model."""
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
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"model_file_path must be a str or path, got {type(source).__name__}")
    source = os.fspath(source)
    if source in BUNDLED_SPELLINGS:
        if not bundled_weights_available():
            raise CheckpointNotFoundError(f"no bundled default weights in this install ({BUNDLED_DIR}). " + NO_WEIGHTS_HELP)
        return _load_our_dir(BUNDLED_DIR)
    if source.startswith("random:"):
        torch.manual_seed(seed)
        config = get_config(source[len("random:"):])
        return model_class(config)(config).eval()
    if source.startswith("hf://"):
        return _load_from_hub(source)
    path = Path(source).expanduser()
    if not path.exists():
        raise CheckpointNotFoundError(f"checkpoint {source!r} does not exist. " + NO_WEIGHTS_HELP)
    refuse_pickle(path)
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
