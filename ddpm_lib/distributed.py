"""Data-parallel training across processes: torchrun's environment, the process group, rank 0's duties.

Used by ``python -m ddpm_lib train`` under ``torchrun --nproc_per_node=N`` (the README's "Past one machine"). Rank
r of N takes rows r*B/N .. (r+1)*B/N - 1 of the global batch a single process would draw, with the same t, noise
and dropped labels; DistributedDataParallel averages the gradients, so N processes take one process's step.
NCCL between GPUs, Gloo on CPUs; rank 0 alone writes. Without torchrun everything here is a no-op.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Literal

import torch
import torch.distributed as dist

Backend = Literal["gloo", "nccl"]
BACKENDS: tuple[str, ...] = ("gloo", "nccl")
ENV_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


class DistributedError(RuntimeError):
    """A data-parallel run that cannot go on: the process group disagrees, or another process stopped."""


@dataclass(frozen=True)
class DistributedContext:
    """Who this process is in a data-parallel run: rank r of world_size processes (0 of 1 alone)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: Backend | None = None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that logs and writes files."""
        return self.rank == 0

    def local_batch(self, batch_size: int) -> int:
        """Images per process for a global ``batch_size``; the world size must divide it."""
        if batch_size % self.world_size:
            lower = batch_size - batch_size % self.world_size
            options = ", ".join(str(b) for b in (lower, lower + self.world_size) if b > 0)
            raise ValueError(f"the global batch size {batch_size} is not divisible by the {self.world_size} processes "
                             f"of this run (each takes an equal share); use --batch-size {options}")
        return batch_size // self.world_size

    def batch_slice(self, batch_size: int) -> slice:
        """This rank's rows of a global batch of ``batch_size``."""
        local = self.local_batch(batch_size)
        return slice(self.rank * local, (self.rank + 1) * local)


def context_from_env(environ: dict[str, str] | None = None) -> DistributedContext:
    """The context torchrun describes in ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``; a single process without them."""
    env = dict(os.environ) if environ is None else environ
    if "WORLD_SIZE" not in env:
        return DistributedContext()
    values: dict[str, int] = {}
    for key in ENV_KEYS:
        raw = env.get(key, "0" if key != "WORLD_SIZE" else "")
        try:
            values[key] = int(raw)
        except ValueError:
            raise ValueError(f"environment variable {key}={raw!r} is not a whole number; start the run with "
                             f"`torchrun --nproc_per_node=N -m ddpm_lib train ...`, which sets it") from None
    world, rank, local = values["WORLD_SIZE"], values["RANK"], values["LOCAL_RANK"]
    if world < 1 or not 0 <= rank < world or local < 0:
        raise ValueError(f"inconsistent torchrun environment: RANK={rank}, WORLD_SIZE={world}, LOCAL_RANK={local} "
                         f"(need 0 <= RANK < WORLD_SIZE)")
    return DistributedContext(rank=rank, world_size=world, local_rank=local)


def choose_backend(device: torch.device, backend: str | None = None) -> Backend:
    """``backend`` checked against ``device``, or NCCL for CUDA and Gloo for the CPU."""
    if backend is None:
        return "nccl" if device.type == "cuda" else "gloo"
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid backends are {', '.join(BACKENDS)}")
    if backend == "nccl" and (device.type != "cuda" or not torch.cuda.is_available()):
        raise ValueError("backend 'nccl' needs CUDA GPUs, and this run is on the CPU (no CUDA device found); "
                         "use --backend gloo, or leave --backend out to pick it from the device")
    return "nccl" if backend == "nccl" else "gloo"


def process_device(ctx: DistributedContext, device: torch.device) -> torch.device:
    """The device of this process: on CUDA, GPU number ``local_rank`` (one GPU per process)."""
    if device.type != "cuda" or not ctx.enabled:
        return device
    if ctx.local_rank >= torch.cuda.device_count():
        raise ValueError(f"process with LOCAL_RANK={ctx.local_rank} has no GPU of its own: this machine has "
                         f"{torch.cuda.device_count()}; use --nproc_per_node={torch.cuda.device_count()} or fewer")
    return torch.device("cuda", ctx.local_rank)


def start(ctx: DistributedContext, device: torch.device, backend: str | None = None,
          timeout_s: float = 600.0) -> DistributedContext:
    """Join the process group of a torchrun run (a no-op for a single process); returns the context with its backend.
    A process that waits more than ``timeout_s`` for the others raises instead of hanging."""
    chosen = choose_backend(device, backend)
    if not ctx.enabled:
        return ctx
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(chosen, timeout=datetime.timedelta(seconds=timeout_s))
    if dist.get_world_size() != ctx.world_size or dist.get_rank() != ctx.rank:
        raise DistributedError(f"the process group ({dist.get_rank()} of {dist.get_world_size()}) disagrees with the "
                           f"environment (RANK={ctx.rank}, WORLD_SIZE={ctx.world_size})")
    return DistributedContext(ctx.rank, ctx.world_size, ctx.local_rank, chosen)


def stop(ctx: DistributedContext) -> None:
    """Leave the process group (after a last barrier, so no rank exits while others still write)."""
    if ctx.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def abort(ctx: DistributedContext) -> None:
    """Leave the process group at once, after an error (a barrier could wait for a process that died)."""
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()


def average(ctx: DistributedContext, value: torch.Tensor) -> torch.Tensor:
    """The mean of a scalar tensor over all processes (itself for a single process)."""
    if not ctx.enabled:
        return value
    out = value.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / ctx.world_size


def barrier(ctx: DistributedContext) -> None:
    """Wait until every process reaches this point (a no-op for a single process)."""
    if ctx.enabled:
        dist.barrier()
