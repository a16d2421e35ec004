"""Where training runs and in what precision: device names, data placement, autocast and gradient scaling.

    device     "auto" (CUDA when present, else the CPU), "cpu", "cuda", "cuda:N", "mps"
    precision  "32" (float32 throughout), "bf16-mixed" (autocast to bfloat16), "16-mixed" (autocast to
               float16 with a gradient scaler, since float16 gradients underflow without one)

Mixed precision keeps the weights and optimiser state in float32 and runs the matrix products of the
forward pass in 16 bits (torch.autocast chooses which ops); Micikevicius et al. (2018), "Mixed
precision training". Data moves to the device once where it fits in a fraction of the free device
memory; otherwise each batch is copied from pinned host memory without blocking the host.
"""

from __future__ import annotations

import contextlib
import os
import re
from typing import Any, Iterator

import torch
from torch import nn

from deepsci.data.batch import Inputs, RowSource, to_device
from deepsci.errors import ConfigError

PRECISIONS = ("32", "bf16-mixed", "16-mixed")
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
# Data may take this share of the device's free memory; the rest is the model's, its activations' and
# the optimiser's.
RESIDENT_FRACTION = 0.5

__all__ = ["PRECISIONS", "autocast", "check_device_name", "check_precision", "describe_device", "grad_scaler",
           "input_bytes", "model_device", "move_batch", "move_tensor", "place", "resolve_device", "same_random_streams"]


def check_device_name(name: str) -> str:
    """`name` if it is a device name deepsci accepts (its availability is checked when training starts)."""
    if not DEVICE_PATTERN.match(name):
        raise ConfigError(f"train.device = '{name}' is not a device name; use 'auto', 'cpu', 'cuda', 'cuda:N' "
                          "(N the GPU's index) or 'mps'.")
    return name


def resolve_device(name: str | torch.device = "auto", *, local_rank: int | None = None) -> torch.device:
    """The torch.device that `name` means on this machine.

    "auto" is the CUDA GPU when torch sees one, else the CPU (Apple's "mps" is used only when named).
    In a multi-process run (`local_rank` given) "cuda" and "auto" mean the GPU of this process's local
    rank, so that each process on a node drives its own GPU; "auto" is the CPU for every process when the
    machine runs more processes (torchrun's LOCAL_WORLD_SIZE) than it has GPUs.

    Raises:
        ConfigError: an unknown name, or a device this machine or torch build does not have.
    """
    local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1")) if local_rank is not None else 1
    device = (name if isinstance(name, torch.device)
              else torch.device(_resolve_name(check_device_name(name), local_processes)))
    if device.type == "cuda":
        _check_cuda(device)
        if device.index is None:
            _check_one_gpu_per_process(local_processes)
            index = local_rank if local_rank is not None else torch.cuda.current_device()
            device = torch.device("cuda", index)
            _check_cuda(device)
    elif device.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ConfigError("train.device = 'mps' but torch sees no Apple GPU (MPS) here; set train.device = 'cpu' "
                          "or 'auto'.")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"train.device = '{device}' is not supported; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'.")
    return device


def _resolve_name(name: str, local_processes: int = 1) -> str:
    """"auto" is CUDA when there is a GPU for each of this machine's `local_processes`, else the CPU."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() and torch.cuda.device_count() >= local_processes else "cpu"
    return name


def _check_one_gpu_per_process(local_processes: int) -> None:
    """Refuse more processes on this machine than it has GPUs (NCCL cannot put two ranks on one GPU)."""
    count = torch.cuda.device_count()
    if local_processes > count:
        raise ConfigError(f"train.device = 'cuda' gives each process its own GPU, but {local_processes} processes "
                          f"run on this machine and it has {count}; use --nproc {count} (or fewer), or "
                          "train.device = 'cpu' or 'auto' to train the processes on the CPU.")


def _check_cuda(device: torch.device) -> None:
    if not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
        raise ConfigError(f"train.device = '{device}' but torch {torch.__version__} ({build}) sees no CUDA GPU; "
                          "set train.device = 'cpu' or 'auto', or install a CUDA build of torch on a GPU machine.")
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise ConfigError(f"train.device = '{device}' but this machine has {count} CUDA GPU(s), "
                          f"cuda:0 to cuda:{count - 1}; choose one of them.")


def check_precision(precision: str, device: torch.device) -> str:
    """`precision` if the device can train in it.

    Raises:
        ConfigError: an unknown precision, or bfloat16 on a GPU without it (before NVIDIA Ampere).
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"train.precision = '{precision}' is unknown; use one of: {', '.join(PRECISIONS)}.")
    if precision == "bf16-mixed" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError(f"train.precision = 'bf16-mixed' but {torch.cuda.get_device_name(device)} has no bfloat16 "
                          "arithmetic; use '16-mixed' or '32'.")
    return precision


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    """The autocast context of a mixed precision (a no-op context for "32")."""
    if precision == "32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16-mixed" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler | None:
    """A dynamic loss scaler for "16-mixed" (float16's 5 exponent bits underflow small gradients), else None."""
    if precision != "16-mixed":
        return None
    return torch.amp.GradScaler(device.type)


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (or buffer); the CPU for a model with neither."""
    for parameter in model.parameters():
        return parameter.device
    for buffer in model.buffers():
        return buffer.device
    return torch.device("cpu")


def input_bytes(X: Inputs) -> int:
    """Bytes held by an input's tensors (0 for a RowSource, which holds its rows elsewhere)."""
    if isinstance(X, RowSource):
        return 0
    parts = X.values() if isinstance(X, dict) else [X]
    return sum(t.numel() * t.element_size() for t in parts)


def _fits(nbytes: int, device: torch.device) -> bool:
    """Whether `nbytes` of data may live on the device for the whole fit."""
    if device.type != "cuda":
        return True  # the CPU holds it already; Apple GPUs share the host's memory
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes <= RESIDENT_FRACTION * free


def place(arrays: list[Any], device: torch.device) -> tuple[list[Any], bool]:
    """The inputs, targets and weights of a fit, where the training loop reads them from.

    Returns (arrays, resident): `resident` True when everything now lives on `device` (moved once:
    batches are then index slices on the device, with no copy per step); False when they stay on the
    host (a RowSource, or more than the device can hold), pinned where the device is a CUDA GPU so
    that `move_batch` copies each batch without blocking. None entries stay None.
    """
    if device.type == "cpu":
        return arrays, True
    present = [a for a in arrays if a is not None]
    if any(isinstance(a, RowSource) for a in present) or not _fits(sum(input_bytes(a) for a in present), device):
        pinned = [a if a is None or isinstance(a, RowSource) or device.type != "cuda" else _pin(a) for a in arrays]
        return pinned, False
    return [a if a is None else to_device(a, device) for a in arrays], True


def _pin(x: Inputs) -> Inputs:
    """x in pinned host memory; tensors already pinned, or already on a device, are left as they are."""
    if isinstance(x, dict):
        return {k: _pin_tensor(v) for k, v in x.items()}
    assert isinstance(x, torch.Tensor)
    return _pin_tensor(x)


def _pin_tensor(x: torch.Tensor) -> torch.Tensor:
    return x.pin_memory() if x.device.type == "cpu" and not x.is_pinned() else x


def move_batch(x: Inputs, device: torch.device) -> Inputs:
    """One batch on `device`: a copy from pinned memory that does not block the host where the device
    is a CUDA GPU (the step's kernels queue behind it on the same stream)."""
    if isinstance(x, torch.Tensor) and x.device == device:
        return x
    if device.type == "cuda":
        x = _pin(x)
    return to_device(x, device)


def move_tensor(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """`move_batch` for one tensor (targets, weights)."""
    moved = move_batch(x, device)
    assert isinstance(moved, torch.Tensor)
    return moved


def describe_device(device: torch.device) -> dict[str, Any]:
    """The device as metrics.json records it: its name, and the card's model for a GPU."""
    out: dict[str, Any] = {"device": str(device)}
    if device.type == "cuda":
        out["device_name"] = torch.cuda.get_device_name(device)
        out["cuda"] = torch.version.cuda
    return out


@contextlib.contextmanager
def same_random_streams(device: torch.device) -> Iterator[None]:
    """Fork the random generators the device's kernels draw from (the CPU's, and this GPU's)."""
    devices = [device.index if device.index is not None else 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        yield

