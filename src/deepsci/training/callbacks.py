"""Callbacks: hooks into the training loop, empty by default (override the ones you need).

The Trainer calls, in order: on_fit_start, then per epoch on_epoch_start, on_batch_end for each
batch, on_epoch_end (with the epoch's logs), and finally on_fit_end. A callback stops training by
setting `trainer.stop_training = True`.
"""

from __future__ import annotations

import copy
import sys
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from deepsci.training.trainer import Trainer


class Callback:
    """Base class with empty hooks."""

    def on_fit_start(self, trainer: "Trainer") -> None:
        pass

    def on_epoch_start(self, trainer: "Trainer", epoch: int) -> None:
        pass

    def on_batch_end(self, trainer: "Trainer", batch: int, logs: dict[str, Any]) -> None:
        pass

    def on_epoch_end(self, trainer: "Trainer", epoch: int, logs: dict[str, Any]) -> None:
        pass

    def on_fit_end(self, trainer: "Trainer") -> None:
        pass


class EarlyStopping(Callback):
    """Stop when the validation loss has not improved for `patience` epochs; restore the best weights.

    Improvement means a decrease by more than `min_delta` (in loss units). The best epoch is kept
    in `best_epoch` and reported in the run's metrics.
    """

    def __init__(self, patience: int, min_delta: float = 0.0) -> None:
        self.patience, self.min_delta = patience, min_delta
        self.best_loss = float("inf")
        self.best_epoch = -1
        self._best_state: dict[str, torch.Tensor] | None = None

    def on_epoch_end(self, trainer: "Trainer", epoch: int, logs: dict[str, Any]) -> None:
        loss = logs.get("valid_loss")
        if loss is None:
            return
        if loss < self.best_loss - self.min_delta:
            self.best_loss, self.best_epoch = loss, epoch
            self._best_state = copy.deepcopy(trainer.model.state_dict())
        elif epoch - self.best_epoch >= self.patience:
            trainer.stop_training = True

    def on_fit_end(self, trainer: "Trainer") -> None:
        if self._best_state is not None:
            trainer.model.load_state_dict(self._best_state)


class ProgressBar(Callback):
    """A rich progress bar on a terminal; a plain line every `every` epochs when output is not a TTY."""

    def __init__(self, every: int = 10) -> None:
        self.every = every
        self._progress: Any = None
        self._task: Any = None

    def on_fit_start(self, trainer: "Trainer") -> None:
        if sys.stderr.isatty():
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(TextColumn("epoch {task.completed}/{task.total}"), BarColumn(),
                                      TextColumn("{task.fields[status]}"), TimeRemainingColumn(),
                                      transient=True)
            self._task = self._progress.add_task("fit", total=trainer.epochs, status="")
            self._progress.start()

    def on_epoch_end(self, trainer: "Trainer", epoch: int, logs: dict[str, Any]) -> None:
        status = f"train {logs['train_loss']:.4f}"
        if logs.get("valid_loss") is not None:
            status += f"  valid {logs['valid_loss']:.4f}"
        if self._progress is not None:
            self._progress.update(self._task, advance=1, status=status)
        elif epoch % self.every == 0 or epoch == trainer.epochs:
            print(f"epoch {epoch}/{trainer.epochs}  {status}", file=sys.stderr, flush=True)

    def on_fit_end(self, trainer: "Trainer") -> None:
        if self._progress is not None:
            self._progress.stop()
