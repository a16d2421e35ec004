"""Data-parallel training over several processes and machines: torch.distributed, started by torchrun.

Every process (rank) holds the whole model and the whole training data, draws the same shuffled
order from the same seed, and takes its shard of each global batch; DistributedDataParallel averages
the gradients across ranks during the backward pass, so every rank applies the same update. The
loss of each shard is scaled so that the average of the ranks' gradients is the gradient of the global
batch's mean loss, whatever the shard sizes: a run on N processes takes the steps of a one-process run
with the same global batch (train.batch_size), up to the order of floating-point sums.

The backend is gloo on CPUs and NCCL on CUDA GPUs (each process drives the GPU of its local rank).
Only rank 0 writes the run folder and the checkpoints.

    torchrun --nproc-per-node 4 -m deepsci fit CONFIG.toml          # one machine, 4 processes
    deepsci fit CONFIG.toml --nproc 4                               # the same, started by deepsci
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import uuid
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
import torch.distributed as dist
from torch import nn

from deepsci.errors import ConfigError, TrainingError

__all__ = ["World", "all_reduce_sum", "check_one_device_per_process", "launch", "launched_world", "process_group",
           "shard", "wrap", "world"]


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (rank 0 of 1 when not distributed)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files and prints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def world() -> World:
    """The current process group's world, or the single-process world where none is running."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank())))
    return World()


def launched_world() -> World:
    """The world torchrun announced in this process's environment (before the group is joined)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    return World(int(os.environ.get("RANK", "0")), size, int(os.environ.get("LOCAL_RANK", "0")))


@contextlib.contextmanager
def process_group(device: torch.device) -> Iterator[World]:
    """Join the process group torchrun set up (gloo for a CPU, NCCL for CUDA), and leave it at the end.

    A process not started by torchrun (WORLD_SIZE unset or 1), or one already in a group, runs as is.
    """
    announced = launched_world()
    if not announced.distributed or not dist.is_available() or dist.is_initialized():
        yield world()
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend, device_id=device if device.type == "cuda" else None)
    try:
        yield world()
    finally:
        dist.destroy_process_group()


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """`model` inside DistributedDataParallel when several processes train, else `model` itself."""
    if not world().distributed:
        return model
    # torch.distributed's stack, loaded only when several processes train
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def shard(idx: torch.Tensor, current: World) -> tuple[torch.Tensor, float]:
    """This rank's rows of a global batch `idx` (B,), and the factor its mean loss is scaled by.

    The batch is cut into `size` nearly equal contiguous parts. DDP averages the ranks' gradients, so a
    shard of b rows out of B has its mean loss multiplied by size * b / B: the average over ranks is then
    the gradient of the global batch's mean. A rank left without rows (a last batch smaller than the
    world) takes the batch's first row with factor 0, so it still joins the gradient all-reduce.
    """
    if not current.distributed:
        return idx, 1.0
    mine = idx.tensor_split(current.size)[current.rank]
    if mine.numel() == 0:
        return idx[:1], 0.0
    return mine, current.size * mine.numel() / idx.numel()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """The sum of `tensor` over all ranks (in place; the tensor itself when not distributed)."""
    if world().distributed:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def check_one_device_per_process(name: str, processes: int | None = None) -> None:
    """Refuse a device naming one GPU for several processes (they would share it, and NCCL fails).

    `processes` defaults to the world torchrun announced to this process.
    """
    processes = launched_world().size if processes is None else processes
    if processes > 1 and name.startswith("cuda:"):
        raise ConfigError(f"train.device = '{name}' names one GPU for {processes} processes; set "
                          "train.device = 'cuda' (or 'auto') so that each process takes the GPU of its local rank.")


def launch(nproc: int, args: Sequence[str]) -> int:
    """Run `python -m deepsci ARGS` in `nproc` processes on this machine (torchrun --standalone); the exit status.

    The status is that of the first process that failed (2 for a user's error, printed by that process),
    else 0.
    """
    # torchrun's launcher (elastic agent, its logging): imported only by a multi-process launch
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    if "OMP_NUM_THREADS" not in os.environ:  # share the cores, instead of each process taking all of them
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // nproc))
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=uuid.uuid4().hex,
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0)
    # the agent logs each stop of a process as a warning and an error: the one line below says it instead
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    try:
        elastic_launch(config, entrypoint=sys.executable)("-m", "deepsci", *args)
    except ChildFailedError as exc:
        lost = lost_processes({rank: failure.exitcode for rank, failure in exc.failures.items()})
        if lost:
            raise TrainingError(lost) from None
        _, first = exc.get_first_failure()
        return int(first.exitcode) if first.exitcode and first.exitcode > 0 else 1
    return 0


def lost_processes(exit_codes: dict[int, int]) -> str:
    """One line naming the training processes a signal ended (exit code -N), or "" when none was.

    A process killed from outside (the OOM killer, `kill -9`) leaves the others waiting on it; they stop
    quietly (`peer_lost`) and this line is all the user sees, with the way to go on.
    """
    killed = {rank: -code for rank, code in sorted(exit_codes.items()) if code is not None and code < 0}
    # the launcher ends the survivors with SIGTERM: the lost ones are those another signal ended
    lost = {rank: sig for rank, sig in killed.items() if sig != signal.SIGTERM} or killed
    if not lost:
        return ""
    names = ", ".join(f"rank {rank} ({_signal_name(sig)})" for rank, sig in lost.items())
    verb = "was" if len(lost) == 1 else "were"
    return (f"training process {names} {verb} lost, so the other processes stopped. Run the same command with "
            "--resume to go on from the last checkpoint.")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


#: how gloo reports a peer that is gone (it raises a plain RuntimeError naming the socket error)
_PEER_LOST = ("Connection reset by peer", "Connection closed by peer", "Broken pipe")


def peer_lost(exc: BaseException) -> bool:
    """True when `exc` is a collective failing because another training process is gone."""
    distributed_error = getattr(dist, "DistNetworkError", ())
    return isinstance(exc, RuntimeError) and (isinstance(exc, distributed_error) or
                                              any(text in str(exc) for text in _PEER_LOST))
