"""Training checkpoints: ``ckpt-<step>/`` = state.safetensors (model, optimizer, RNG tensors) +
state.json (step, configs, data position, optimizer hyper-parameters). No pickle anywhere.

A checkpoint directory is written under a temporary name and renamed into place, so a kill at
any moment leaves either the previous checkpoints or a complete new one; the last ``keep`` are kept.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

PREFIX = "ckpt-"


def _optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors = {}
    for pid, state in sd["state"].items():
        for key, value in state.items():
            tensors[f"optim.{pid}.{key}"] = value.detach().cpu().contiguous() if torch.is_tensor(value) \
                else torch.tensor(value)
    return tensors, {"param_groups": sd["param_groups"]}


def _optimizer_state(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, pid, key = name.split(".", 2)
            state.setdefault(int(pid), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save(directory: Path, step: int, model: torch.nn.Module, opt: torch.optim.Optimizer, meta: dict,
         keep: int = 3) -> Path:
    """Write ``directory/ckpt-<step>/`` atomically and prune to the last ``keep``."""
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"{PREFIX}{step:08d}"
    tmp = directory / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    opt_tensors, opt_meta = _optimizer_tensors(opt)
    tensors.update(opt_tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    save_file(tensors, str(tmp / "state.safetensors"))
    (tmp / "state.json").write_text(json.dumps({"step": step, **meta, "optimizer": opt_meta}, indent=2))
    for f in tmp.iterdir():  # data on disk before the rename makes it visible
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in list_checkpoints(directory)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(directory: Path) -> list[Path]:
    """Complete checkpoint dirs, oldest first."""
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if p.is_dir() and p.name.startswith(PREFIX)
             and (p / "state.json").is_file() and (p / "state.safetensors").is_file()]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX):]))


def load_latest(directory: Path) -> tuple[dict[str, torch.Tensor], dict, Path] | None:
    """(tensors, meta, path) of the newest checkpoint that reads back cleanly, else None."""
    for path in reversed(list_checkpoints(directory)):
        try:
            return read(path)
        except (SafetensorError, OSError, ValueError):
            continue  # damaged: fall back to the previous one
    return None


def read(path: Path) -> tuple[dict[str, torch.Tensor], dict, Path]:
    """(tensors, meta, path) of one ``ckpt-<step>/`` folder."""
    return load_file(str(path / "state.safetensors")), json.loads((path / "state.json").read_text()), path


def restore(tensors: dict[str, torch.Tensor], meta: dict, model: torch.nn.Module, opt: torch.optim.Optimizer) -> None:
    model.load_state_dict(model_state(tensors), strict=True)
    opt.load_state_dict(_optimizer_state(tensors, meta["optimizer"]))
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])


def model_state(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
