"""The HEAR API functions (re-exported as ``hear_mwmae.load_model`` etc.)."""

from __future__ import annotations

import torch

from .checkpoint import load_checkpoint
from .devices import check_device
from .hear import HearModel

_LOAD_OPTIONS = ("chunk_batch_size", "timestamp_mode", "precision", "compile", "device", "seed", "sample_rate",
                 "embedding_layer")


def load_model(model_file_path: str = "", **options) -> HearModel:
    """Load an MW-MAE/MAE encoder as a HEAR model.

    Args:
        model_file_path: ``""`` or ``"bundled"`` (the bundled weights), a directory or ``model.safetensors`` of ours,
            an official Flax ``checkpoint_<step>`` file or its directory, ``hf://owner/name[@rev]``,
            or ``random:<config name>``.
        chunk_batch_size: 2 s units per encoder call (bounds memory; default 32).
        timestamp_mode: ``"centered"`` (default) or ``"official"`` (frame starts, as the JAX code).
        precision: ``"fp32"`` (default, exact official numbers) or ``"bf16"``: the encoder runs as a
            bf16 copy (about 3× faster on CPUs with AMX/AVX-512-bf16 and on recent GPUs; ~1 % relative
            error, like the official bf16 runtime; fp16 on GPUs without bf16); ``"fp16"`` forces fp16.
        compile: ``torch.compile`` the encoder (default False; slow first call, ~10 % faster after).
        device: where to put the model, once (default CPU); audio on another device is brought to it
            and the embeddings are returned on the audio's device.
        seed: RNG seed for ``random:`` weights (default 0).
        embedding_layer: read the tokens after encoder block k (1..depth) through the final norm,
            running only the first k blocks (default None: the last block, the official output).

    Returns:
        ``HearModel`` with ``sample_rate``, ``scene_embedding_size``, ``timestamp_embedding_size``.
    """
    unknown = sorted(set(options) - set(_LOAD_OPTIONS))
    if unknown:
        raise TypeError(f"unknown load_model options {unknown}; valid options: {list(_LOAD_OPTIONS)}")
    rate = options.pop("sample_rate", 16000)
    if rate != 16000:
        raise ValueError(f"MW-MAE expects 16000 Hz audio, got sample_rate={rate!r}; resample to 16 kHz first")
    device = options.pop("device", None)
    device = check_device(device) if device is not None else None
    model = load_checkpoint(model_file_path, seed=int(options.pop("seed", 0)))
    hear_model = HearModel(model.encoder, **options)
    return hear_model.to(device) if device is not None else hear_model


def _check_model(model) -> HearModel:
    if not isinstance(model, HearModel):
        raise TypeError(f"model must be the HearModel returned by hear_mwmae.load_model(), got {type(model).__name__}")
    return model


def get_timestamp_embeddings(audio: torch.Tensor, model: HearModel) -> tuple[torch.Tensor, torch.Tensor]:
    """(n_sounds, n_samples) 16 kHz audio -> (embeddings (n_sounds, n_frames, E), timestamps ms (n_sounds, n_frames)).

    One 5·D embedding every 40 ms (4×16 patches); float32 on the audio's device.
    """
    return _check_model(model).timestamp_embeddings(audio)


def get_scene_embeddings(audio: torch.Tensor, model: HearModel) -> torch.Tensor:
    """(n_sounds, n_samples) 16 kHz audio -> (n_sounds, E) float32: mean of the frame embeddings."""
    return _check_model(model).scene_embeddings(audio)
