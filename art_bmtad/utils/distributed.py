"""Distributed training on PyTorch's own engine: ``torch.distributed`` set up from torchrun's environment.

Distributed training is a launch choice, not another trainer. Under ``torchrun --nproc_per_node N -m art_bmtad
train ...`` the command calls :func:`init_from_env` before building the classifier; the trainers then see an
initialised process group and

* wrap the student in ``DistributedDataParallel`` for the two training forwards (attacks use the raw module),
* give each rank its equal share of every global batch (``batch_size`` stays the global batch), from a
  permutation seeded per epoch and identical on all ranks,
* broadcast the frozen teachers from rank 0 once, so that every rank distils from the same teachers,
* average the balancers' inputs (per-teacher losses and entropies) and the recorded step values over the ranks,
  so temperatures, weights and history are identical everywhere,
* write files and show progress on rank 0 only.

Every helper here is a no-op (or returns the single-process answer) when no process group with more than one
process is initialised, so the trainers call them unconditionally.
"""
from __future__ import annotations

import contextlib
import datetime
import os
import time
from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.distributed as dist

ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistributedContext:
    """Where this process sits in a distributed run.

    Attributes:
        rank: global rank.
        world_size: number of processes.
        local_rank: rank on this node (the GPU index under NCCL).
        backend: ``"nccl"`` or ``"gloo"``.
        device: the device this process trains on.
    """

    rank: int
    world_size: int
    local_rank: int
    backend: str
    device: torch.device


def init_from_env(backend: str | None = None, timeout_s: float = 1800.0) -> DistributedContext | None:
    """Initialise the default process group from torchrun's environment variables, if there are any.

    Args:
        backend: ``"nccl"`` or ``"gloo"``; default NCCL when CUDA is available, else gloo.
        timeout_s: timeout of collective operations.

    Returns:
        The context, or ``None`` when the process was not started by torchrun with ``WORLD_SIZE > 1`` (a plain
        single-process run; nothing is initialised).

    Raises:
        ValueError: torchrun variables are incomplete or inconsistent, or NCCL was asked for without CUDA.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    missing = [name for name in ENV_VARS if name not in os.environ]
    if missing:
        raise ValueError(f"WORLD_SIZE > 1 but the torchrun variables {missing} are not set; launch with torchrun")
    local_rank = int(os.environ["LOCAL_RANK"])
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend == "nccl":
        if not torch.cuda.is_available():
            raise ValueError("backend 'nccl' needs CUDA; use 'gloo' on CPUs")
        if local_rank >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} GPUs are visible")
        torch.cuda.set_device(local_rank)  # ART places CUDA models on the current device
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend, init_method="env://", timeout=datetime.timedelta(seconds=timeout_s))
    return DistributedContext(dist.get_rank(), dist.get_world_size(), local_rank, backend, device)


@contextlib.contextmanager
def process_group_from_env() -> Iterator[DistributedContext | None]:
    """:func:`init_from_env` for the duration of a command, then :func:`shutdown` (when it initialised a group)."""
    context = init_from_env()
    try:
        yield context
    finally:
        if context is not None:
            shutdown()


# How long :func:`shutdown` lets gloo's worker threads finish before the interpreter may begin to exit.
WORKER_DRAIN_S = 0.25


def shutdown() -> None:
    """Destroy the default process group, if one is initialised, then let its worker threads finish.

    ``DistributedDataParallel``'s reducer keeps the gloo backend (and its worker threads) alive past
    ``destroy_process_group``. A worker that drops the last reference to a collective's tensor needs the GIL; if it
    is still waiting for it when the interpreter finalises, the process aborts ("terminate called without an active
    exception") after the run has finished and torchrun reports the rank as failed. Sleeping here hands the GIL
    over while the interpreter is fully alive, so such a pending release completes first.
    """
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
        time.sleep(WORKER_DRAIN_S)


def is_distributed() -> bool:
    """Whether a process group with more than one process is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's global rank (0 when not distributed)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """Number of processes (1 when not distributed)."""
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """Rank 0, the one that writes files and shows progress."""
    return rank() == 0


def mean_across_ranks(tensor: torch.Tensor) -> torch.Tensor:
    """The element-wise mean of ``tensor`` over all ranks (``tensor`` itself when not distributed)."""
    if not is_distributed():
        return tensor
    total = tensor.detach().clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total / dist.get_world_size()


def means_across_ranks(*parts: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:
    """Each 1-D tensor of ``parts`` averaged over all ranks, all in one all-reduce (``parts`` themselves when not
    distributed), so that every rank sees the same values at the cost of one collective; ``None`` stays ``None``."""
    if not is_distributed():
        return parts
    present = [part for part in parts if part is not None]
    means = iter(mean_across_ranks(torch.cat(present)).split([len(part) for part in present]))
    return tuple(None if part is None else next(means) for part in parts)


def sum_across_ranks(tensor: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of ``tensor`` over all ranks (``tensor`` itself when not distributed)."""
    if not is_distributed():
        return tensor
    total = tensor.detach().clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total


def mean_of_values(values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """0-dim tensors averaged over all ranks in one all-reduce (float64; unchanged when not distributed)."""
    if not is_distributed() or not values:
        return values
    averaged = mean_across_ranks(torch.stack([v.detach().double().reshape(()) for v in values.values()]))
    return dict(zip(values, averaged.unbind()))


def broadcast_module(module: torch.nn.Module, src: int = 0) -> None:
    """Copy every parameter and buffer of ``module`` from rank ``src`` to all ranks (in place)."""
    if not is_distributed():
        return
    with torch.no_grad():
        for tensor in module.state_dict().values():
            dist.broadcast(tensor, src)


def broadcast_int(value: int, device: torch.device, src: int = 0) -> int:
    """Rank ``src``'s integer, on every rank."""
    if not is_distributed():
        return value
    holder = torch.tensor([value], dtype=torch.int64, device=device)
    dist.broadcast(holder, src)
    return int(holder.item())


def broadcast_object(value: Any, src: int = 0) -> Any:
    """Rank ``src``'s small Python object (a path, an error message) on every rank.

    Transported with ``torch.distributed``'s object collectives between this run's own processes; nothing read
    from a file goes through it.
    """
    if not is_distributed():
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src)
    return holder[0]


def gather_objects(value: Any) -> list[Any]:
    """Every rank's small Python object, in rank order, on every rank (``[value]`` when not distributed)."""
    if not is_distributed():
        return [value]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def all_ranks_agree(ok: bool, device: torch.device) -> bool:
    """True when ``ok`` holds on every rank (one all-reduce)."""
    if not is_distributed():
        return ok
    flag = torch.tensor([0 if ok else 1], dtype=torch.int64, device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.SUM)
    return int(flag.item()) == 0


def wrap_for_training(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``DistributedDataParallel(module)`` when distributed, else ``module`` itself.

    DDP broadcasts rank 0's parameters and buffers at construction, so every rank starts from the same student.
    """
    if not is_distributed():
        return module
    if device.type != "cuda":
        return torch.nn.parallel.DistributedDataParallel(module)
    index = device.index if device.index is not None else torch.cuda.current_device()
    return torch.nn.parallel.DistributedDataParallel(module, device_ids=[index])


def epoch_order(n_samples: int, seed: int, epoch: int) -> torch.Tensor:
    """The sample order of one epoch: a permutation seeded by ``(seed, epoch)``, the same on every rank.

    Padded by repeating its first indices to a multiple of the world size (as ``DistributedSampler`` does), so
    every rank gets an equal share of every batch. CPU ``int64``.
    """
    generator = torch.Generator().manual_seed(seed + epoch)
    order = torch.randperm(n_samples, generator=generator)
    padding = -n_samples % world_size()
    return torch.cat([order, order.repeat(padding // n_samples + 1)[:padding]]) if padding else order


def shard_of(batch_index: torch.Tensor) -> torch.Tensor:
    """This rank's contiguous equal share of a global batch's indices (all of them when not distributed)."""
    world = world_size()
    if world == 1:
        return batch_index
    return batch_index.view(world, -1)[rank()]
