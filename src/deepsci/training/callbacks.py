"""Callbacks: hooks into the training loop, empty by default (override the ones you need).

The Trainer calls, in order: on_fit_start, then per epoch on_epoch_start, on_batch_end for each
batch, on_epoch_end (with the epoch's logs), and finally on_fit_end. If anything raises inside fit
(an error, or KeyboardInterrupt on Ctrl-C), every callback's on_exception runs before the exception
propagates, so a progress bar can give the terminal back. A callback stops training by setting
`trainer.stop_training = True`.

A callback that carries state across epochs (EarlyStopping's best loss and weights) returns it from
`state_dict()` and takes it back in `load_state_dict()` (Lightning's pattern): the checkpoint saves
every callback's state, so a resumed fit goes on exactly where it stopped. Values may be JSON scalars,
lists, dicts and tensors (tensors go to safetensors, never to a pickle).

Callbacks with `runs_last = True` (the Checkpoint) run after all others at each hook, so they see the
epoch as every other callback has recorded it.
"""

from __future__ import annotations

import sys
from typing import Any, Protocol

import torch
from torch import nn


class TrainingState(Protocol):
    """What a callback reads or sets on the loop that calls it; the Trainer is one.

    Callbacks are typed against this, not the Trainer class, so that the Trainer imports its callbacks
    and nothing imports the Trainer back.
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    generator: torch.Generator
    callbacks: list["Callback"]
    history_: list[dict[str, Any]]
    epochs: int
    stop_training: bool


class Callback:
    """Base class with empty hooks and no state."""

    runs_last: bool = False

    def on_fit_start(self, trainer: TrainingState) -> None:
        pass

    def on_epoch_start(self, trainer: TrainingState, epoch: int) -> None:
        pass

    def on_batch_end(self, trainer: TrainingState, batch: int, logs: dict[str, Any]) -> None:
        pass

    def on_epoch_end(self, trainer: TrainingState, epoch: int, logs: dict[str, Any]) -> None:
        pass

    def on_fit_end(self, trainer: TrainingState) -> None:
        pass

    def on_exception(self, trainer: TrainingState, exc: BaseException) -> None:
        """Called when fit raises (including KeyboardInterrupt), before the exception propagates."""

    def state_dict(self) -> dict[str, Any]:
        """The state a resumed fit needs (JSON values and tensors); empty by default."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""


class EarlyStopping(Callback):
    """Stop when the validation loss has not improved for `patience` epochs; restore the best weights.

    Improvement means a decrease by more than `min_delta` (in loss units). The best epoch is kept
    in `best_epoch` and reported in the run's metrics. The patience counter is the current epoch minus
    `best_epoch`, so `state_dict()` (best loss, best epoch, best weights) is all a resumed fit needs.
    """

    def __init__(self, patience: int, min_delta: float = 0.0) -> None:
        self.patience, self.min_delta = patience, min_delta
        self.best_loss = float("inf")
        self.best_epoch = -1
        self.best_state: dict[str, torch.Tensor] | None = None

    def on_epoch_end(self, trainer: TrainingState, epoch: int, logs: dict[str, Any]) -> None:
        loss = logs.get("valid_loss")
        if loss is None:
            return
        if loss < self.best_loss - self.min_delta:
            self.best_loss, self.best_epoch = loss, epoch
            self.best_state = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
        elif epoch - self.best_epoch >= self.patience:
            trainer.stop_training = True

    def on_fit_end(self, trainer: TrainingState) -> None:
        if self.best_state is not None:
            trainer.model.load_state_dict(self.best_state)

    def state_dict(self) -> dict[str, Any]:
        return {"best_loss": self.best_loss, "best_epoch": self.best_epoch,
                "best_state": self.best_state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_loss = float(state["best_loss"])
        self.best_epoch = int(state["best_epoch"])
        self.best_state = state.get("best_state")


class ProgressBar(Callback):
    """A rich progress bar on a terminal; a plain line every `every` epochs when output is not a TTY.

    The bar is stopped (and the cursor shown again) at the end of fit and on any exception,
    KeyboardInterrupt included.
    """

    def __init__(self, every: int = 10) -> None:
        self.every = every
        self._progress: Any = None
        self._task: Any = None

    def on_fit_start(self, trainer: TrainingState) -> None:
        if sys.stderr.isatty():
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(TextColumn("epoch {task.completed}/{task.total}"), BarColumn(),
                                      TextColumn("{task.fields[status]}"), TimeRemainingColumn(),
                                      transient=True)
            self._task = self._progress.add_task("fit", total=trainer.epochs, status="",
                                                 completed=len(trainer.history_))
            self._progress.start()

    def on_epoch_end(self, trainer: TrainingState, epoch: int, logs: dict[str, Any]) -> None:
        status = f"train {logs['train_loss']:.4f}"
        if logs.get("valid_loss") is not None:
            status += f"  valid {logs['valid_loss']:.4f}"
        if self._progress is not None:
            self._progress.update(self._task, advance=1, status=status)
        elif epoch % self.every == 0 or epoch == trainer.epochs:
            print(f"epoch {epoch}/{trainer.epochs}  {status}", file=sys.stderr, flush=True)

    def on_fit_end(self, trainer: TrainingState) -> None:
        self.close()

    def on_exception(self, trainer: TrainingState, exc: BaseException) -> None:
        self.close()

    def close(self) -> None:
        """Stop the live display and show the cursor again (idempotent)."""
        if self._progress is not None:
            progress, self._progress = self._progress, None
            progress.stop()

