"""torchrun / DDP helpers: NCCL on GPUs, gloo on CPU; rank 0 logs and saves."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup(device: str) -> tuple[DistInfo, torch.device]:
    """Read torchrun's env (RANK, LOCAL_RANK, WORLD_SIZE) and start the process group if needed."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return DistInfo(), torch.device(device)
    info = DistInfo(int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0")), world)
    if device.startswith("cuda"):
        torch.cuda.set_device(info.local_rank)
        dev = torch.device("cuda", info.local_rank)
        torch_dist.init_process_group("nccl")
    else:
        dev = torch.device(device)
        torch_dist.init_process_group("gloo")
    return info, dev


def mean_over_ranks(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.enabled:
        value = value.detach().clone()
        torch_dist.all_reduce(value)
        value /= info.world_size
    return value


def barrier(info: DistInfo) -> None:
    if info.enabled:
        torch_dist.barrier()


def cleanup(info: DistInfo) -> None:
    if info.enabled and torch_dist.is_initialized():
        torch_dist.destroy_process_group()
