"""The training state on disk, so a run can stop and go on (`deepsci fit --resume`).

Everything that decides what the next epoch does is saved after each epoch: weights, optimiser
moments, schedule, every callback's `state_dict()` (early stopping's best loss, epoch and weights),
history, whether training had stopped, and both random generators (batch order and dropout). A resumed
fit therefore gives bit for bit the weights, history and best epoch of an uninterrupted one.

One file, `state.safetensors`: tensors in the body, everything else as JSON in the safetensors header
metadata, so the tensors and the bookkeeping can never come from two different epochs. It is written
to a temporary name unique to the process (pid + random), created exclusively (O_EXCL) without
following symlinks (O_NOFOLLOW), synced, then renamed over the old file: a reader sees the old state or
the new one, never a mix, even with two writers. Loading never unpickles, and a truncated or garbage
file is a one-line DataError naming it.
"""

from __future__ import annotations

import json
import os
import secrets
import struct
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes

from deepsci.errors import DataError, os_error_at
from deepsci.training.callbacks import Callback, TrainingState

STATE = "state.safetensors"
FORMAT = "deepsci-training-state/2"
_TENSOR = "__tensor__"

__all__ = ["Checkpoint", "STATE", "checkpoint_epoch", "load_training_state", "read_checkpoint_meta",
           "save_training_state"]


class Checkpoint(Callback):
    """Write the trainer's state to `folder` at the end of every epoch, after every other callback.

    Args:
        folder: where `state.safetensors` goes (created if missing; a symlink is refused).
        meta: JSON-serialisable values stored with the state (e.g. the run's config fingerprint),
            read back by `read_checkpoint_meta` without loading any tensor.
    """

    runs_last = True

    def __init__(self, folder: str | Path, meta: dict[str, Any] | None = None) -> None:
        self.folder = Path(folder)
        self.meta = dict(meta or {})

    def on_epoch_end(self, trainer: TrainingState, epoch: int, logs: dict[str, Any]) -> None:
        save_training_state(trainer, self.folder, epoch, meta=self.meta)


def save_training_state(trainer: TrainingState, folder: Path, epoch: int, meta: dict[str, Any] | None = None) -> None:
    """Save the state after `epoch` (1-based) to folder/state.safetensors, atomically."""
    folder = Path(folder)
    _refuse_symlink(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {f"model.{k}": v.detach() for k, v in trainer.model.state_dict().items()}
    optimiser = trainer.optimizer.state_dict()
    for index, state in optimiser["state"].items():
        for name, value in state.items():
            tensors[f"optim.{index}.{name}"] = value if torch.is_tensor(value) else torch.tensor(value)
    tensors["rng.batches"] = trainer.generator.get_state()
    tensors["rng.global"] = torch.get_rng_state()
    device = _cuda_device(trainer)
    if device is not None:  # dropout on a GPU draws from that GPU's generator
        tensors["rng.cuda"] = torch.cuda.get_rng_state(device)
    callbacks = {key: _to_tree(cb.state_dict(), f"callback.{key}", tensors)
                 for key, cb in _keyed(trainer.callbacks).items()}
    state = {"format": FORMAT, "epoch": epoch, "stop_training": trainer.stop_training,
             "history": trainer.history_, "param_groups": optimiser["param_groups"],
             "scheduler": trainer.scheduler.state_dict() if trainer.scheduler is not None else None,
             "callbacks": callbacks, "meta": meta or {}}
    # Saved from the host: a GPU run's checkpoint loads on any machine (weights_only is never needed).
    data = save_bytes({k: v.detach().cpu().contiguous() for k, v in tensors.items()},
                      metadata={"deepsci": json.dumps(state)})
    _write_atomic(folder / STATE, data)


def load_training_state(trainer: TrainingState, folder: Path) -> int:
    """Restore a trainer from `folder`; returns the last completed epoch.

    Raises:
        DataError: no checkpoint, a damaged one, a symlink, or one of another architecture.
    """
    path = Path(folder) / STATE
    tensors, state = _read(path)
    try:
        # load_state_dict copies each tensor into the parameter in place, on whatever device the model is
        trainer.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise DataError(f"the checkpoint '{path}' is of another architecture ({first}). Resume with the "
                        "config it was trained with, or run without --resume.") from None
    try:
        _restore_rest(trainer, tensors, state)
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as exc:
        raise DataError(f"the checkpoint '{path}' does not fit this trainer ({type(exc).__name__}: {exc}). "
                        "Resume with the config it was trained with, or run without --resume.") from None
    return int(state["epoch"])


def read_checkpoint_meta(path: str | Path) -> dict[str, Any]:
    """The `meta` dict saved with a checkpoint (a folder or its state.safetensors), tensors not loaded.

    Raises:
        DataError: no checkpoint, a symlink, or a damaged file (one line naming it).
    """
    return dict(_header_only(path)["meta"])


def checkpoint_epoch(path: str | Path) -> int:
    """The last completed epoch saved in a checkpoint (a folder or its state.safetensors)."""
    return int(_header_only(path)["epoch"])


def _header_only(path: str | Path) -> dict[str, Any]:
    """The JSON state of a checkpoint (a folder or its state.safetensors), tensors not loaded."""
    path = Path(path)
    path = path if path.name.endswith(".safetensors") and not path.is_dir() else path / STATE
    return _header_state(path, _read_bytes(path))


# -- restoring ----------------------------------------------------------------------------------------
def _restore_rest(trainer: TrainingState, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
    """Optimiser, schedule, callbacks, random streams and history (the model is already loaded)."""
    optim: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            optim.setdefault(int(index), {})[name] = value
    trainer.optimizer.load_state_dict({"state": optim, "param_groups": state["param_groups"]})
    if trainer.scheduler is not None and state["scheduler"] is not None:
        trainer.scheduler.load_state_dict(state["scheduler"])
    saved = state["callbacks"]
    for key, cb in _keyed(trainer.callbacks).items():
        if key in saved:
            cb.load_state_dict(_from_tree(saved[key], tensors))
    trainer.generator.set_state(tensors["rng.batches"])
    torch.set_rng_state(tensors["rng.global"])
    device = _cuda_device(trainer)
    if device is not None and "rng.cuda" in tensors:
        torch.cuda.set_rng_state(tensors["rng.cuda"], device)
    trainer.history_ = list(state["history"])
    trainer.stop_training = bool(state["stop_training"])


def _cuda_device(trainer: TrainingState) -> torch.device | None:
    """The trainer's CUDA device, or None where it trains elsewhere."""
    device = getattr(trainer, "device", None)
    return device if isinstance(device, torch.device) and device.type == "cuda" else None


def _keyed(callbacks: list[Callback]) -> dict[str, Callback]:
    """Callbacks by a stable key: the class name, with '#2', '#3', ... for repeats."""
    out: dict[str, Callback] = {}
    for cb in callbacks:
        name = type(cb).__name__
        repeats = sum(type(other).__name__ == name for other in out.values())
        out[f"{name}#{repeats + 1}" if repeats else name] = cb
    return out


def _to_tree(value: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """JSON-able copy of a callback state with each tensor moved to `tensors` (a placeholder stays)."""
    if torch.is_tensor(value):
        key = f"{prefix}.{len(tensors)}"
        tensors[key] = value.detach().clone()
        return {_TENSOR: key}
    if isinstance(value, dict):
        return {str(k): _to_tree(v, prefix, tensors) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_tree(v, prefix, tensors) for v in value]
    return value


def _from_tree(tree: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(tree, dict):
        if set(tree) == {_TENSOR}:
            return tensors[tree[_TENSOR]]
        return {k: _from_tree(v, tensors) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_from_tree(v, tensors) for v in tree]
    return tree


# -- the file -----------------------------------------------------------------------------------------
def _refuse_symlink(path: Path) -> None:
    if path.is_symlink():
        raise DataError(f"the checkpoint path '{path}' is a symlink; deepsci never writes or reads a checkpoint "
                        "through one. Remove the link or choose another --out.")


def _write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` via an exclusive, unique temporary file and an atomic rename."""
    _refuse_symlink(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(8)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(tmp, flags, 0o644)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)  # rename never follows a symlink at `path`: it replaces the link itself
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        named = os_error_at(exc, path)
        if named is exc:
            raise
        raise named from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _read_bytes(path: Path) -> bytes:
    _refuse_symlink(path.parent)
    _refuse_symlink(path)
    if not path.is_file():
        raise DataError(f"no training checkpoint in '{path.parent}' (expected {STATE}). "
                        "Run without --resume to start afresh.")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def _damaged(path: Path, why: str) -> DataError:
    return DataError(f"the checkpoint '{path}' is damaged or not a deepsci checkpoint ({why}). Delete it and "
                     "run without --resume.")


def _header_state(path: Path, data: bytes) -> dict[str, Any]:
    """The JSON state stored in the safetensors header's metadata."""
    if len(data) < 8:
        raise _damaged(path, f"{len(data)} bytes, truncated")
    (size,) = struct.unpack("<Q", data[:8])
    if size > len(data) - 8:
        raise _damaged(path, f"header of {size} bytes in a file of {len(data)}, truncated")
    try:
        header = json.loads(data[8:8 + size])
        state = json.loads(header["__metadata__"]["deepsci"])
    except (ValueError, KeyError, TypeError) as exc:
        raise _damaged(path, f"unreadable header: {type(exc).__name__}") from None
    try:
        body = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
    except (KeyError, TypeError, ValueError, IndexError):
        raise _damaged(path, "unreadable tensor table") from None
    if body != len(data) - 8 - size:
        raise _damaged(path, f"{len(data) - 8 - size} bytes of tensor data where the header lists {body}, truncated")
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise _damaged(path, f"format {state.get('format') if isinstance(state, dict) else None!r}, "
                             f"expected {FORMAT!r}")
    return state


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    data = _read_bytes(path)
    state = _header_state(path, data)
    try:
        tensors = load_bytes(data)
    except Exception as exc:  # safetensors raises its own SafetensorError for every kind of damage
        raise _damaged(path, str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    return tensors, state
