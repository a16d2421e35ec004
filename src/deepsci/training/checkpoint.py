"""The training state on disk, so a run can stop and go on (`deepsci fit --resume`).

Everything that decides what the next epoch does is saved after each epoch: weights, optimiser
moments, schedule, early-stopping record, history and both random generators (batch order and
dropout). Tensors go to safetensors, the rest to JSON: loading a checkpoint never unpickles.
A resumed fit therefore gives the same weights as an uninterrupted one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import load_file, save_file

from deepsci.errors import DataError
from deepsci.training.callbacks import Callback

if TYPE_CHECKING:
    from deepsci.training.trainer import Trainer

TENSORS, STATE = "state.safetensors", "state.json"


class Checkpoint(Callback):
    """Write the trainer's state to `folder` at the end of every epoch (atomically: temp file, rename)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def on_epoch_end(self, trainer: "Trainer", epoch: int, logs: dict[str, Any]) -> None:
        save_training_state(trainer, self.folder, epoch)


def save_training_state(trainer: "Trainer", folder: Path, epoch: int) -> None:
    """Save the state after `epoch` (1-based) to folder/state.safetensors and folder/state.json."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach() for k, v in trainer.model.state_dict().items()}
    optimiser = trainer.optimizer.state_dict()
    for index, state in optimiser["state"].items():
        for name, value in state.items():
            tensors[f"optim.{index}.{name}"] = value if torch.is_tensor(value) else torch.tensor(value)
    tensors["rng.batches"] = trainer.generator.get_state()
    tensors["rng.global"] = torch.get_rng_state()
    stopper = trainer.early_stopping
    if stopper is not None and stopper._best_state is not None:
        tensors.update({f"best.{k}": v for k, v in stopper._best_state.items()})
    meta = {"epoch": epoch, "history": trainer.history_, "param_groups": optimiser["param_groups"],
            "scheduler": trainer.scheduler.state_dict() if trainer.scheduler is not None else None,
            "early_stopping": ({"best_loss": stopper.best_loss, "best_epoch": stopper.best_epoch}
                               if stopper is not None else None)}
    _atomic(folder / TENSORS, lambda p: save_file({k: v.contiguous() for k, v in tensors.items()}, p))
    _atomic(folder / STATE, lambda p: p.write_text(json.dumps(meta)))


def load_training_state(trainer: "Trainer", folder: Path) -> int:
    """Restore a trainer from `folder`; returns the last completed epoch."""
    if not (folder / TENSORS).is_file() or not (folder / STATE).is_file():
        raise DataError(f"no training checkpoint in '{folder}' (expected {TENSORS} and {STATE}). "
                        "Run without --resume to start afresh.")
    tensors = load_file(folder / TENSORS)
    meta = json.loads((folder / STATE).read_text())
    try:
        trainer.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    except RuntimeError as exc:
        raise DataError(f"the checkpoint in '{folder}' is of another architecture ({exc}). Resume with the "
                        "config it was trained with, or run without --resume.") from None
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    trainer.optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    if trainer.scheduler is not None and meta["scheduler"] is not None:
        trainer.scheduler.load_state_dict(meta["scheduler"])
    stopper = trainer.early_stopping
    if stopper is not None and meta["early_stopping"] is not None:
        stopper.best_loss = meta["early_stopping"]["best_loss"]
        stopper.best_epoch = meta["early_stopping"]["best_epoch"]
        best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
        stopper._best_state = best or None
    trainer.generator.set_state(tensors["rng.batches"])
    torch.set_rng_state(tensors["rng.global"])
    trainer.history_ = list(meta["history"])
    return int(meta["epoch"])


def _atomic(path: Path, write: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)
