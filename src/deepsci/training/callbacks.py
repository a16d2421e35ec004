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
import time
from typing import Any, Callable, Protocol

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
    """Training progress: a rich display on a terminal, a bar updating in place in a Jupyter notebook (tqdm.auto,
    where tqdm and ipywidgets are installed: `deepsci[notebook]`), plain log lines otherwise.

    On a terminal two bars move: epochs, and the batches of the current epoch with rows/s and the time
    left in the epoch. Elsewhere (a log file, a batch job) a line is printed every `every` epochs and, at
    the latest, `seconds` after the previous line, within an epoch too (batch k/N, rows/s, ETA), so a
    long epoch on a large streamed table still shows that it moves. The display is stopped (and the
    cursor shown again) at the end of fit and on any exception, KeyboardInterrupt included.

    The batches per epoch and rows per batch come from the batch logs ("batches", "rows") where the loop
    gives them, else from the previous epoch and `trainer.batch_size`; without either, the first epoch
    shows no ETA.

    Args:
        every: epochs between plain lines.
        seconds: longest wait between plain lines, in seconds.
        clock: the time source in seconds (monotonic; a test passes its own).
    """

    def __init__(self, every: int = 10, seconds: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.every, self.seconds, self.clock = every, seconds, clock
        self._progress: Any = None
        self._bar: Any = None  # the notebook's tqdm bar of epochs
        self._task: Any = None
        self._batch_task: Any = None
        self._epoch, self._batches, self._rows = 0, 0, 0
        self._per_epoch: int | None = None
        self._epoch_start = self._last_line = self._last_draw = 0.0

    def on_fit_start(self, trainer: TrainingState) -> None:
        self._last_line = self.clock()
        if sys.stderr.isatty():
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn  # a terminal's bar only

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                      TextColumn("{task.fields[status]}"), TimeRemainingColumn(),
                                      transient=True)
            self._task = self._progress.add_task(f"epoch {len(trainer.history_)}/{trainer.epochs}",
                                                 total=trainer.epochs, status="", completed=len(trainer.history_))
            self._batch_task = self._progress.add_task("batch", total=None, status="")
            self._progress.start()
        elif in_notebook():
            self._bar = notebook_bar(trainer.epochs, len(trainer.history_))

    def on_epoch_start(self, trainer: TrainingState, epoch: int) -> None:
        self._epoch, self._batches, self._rows = epoch, 0, 0
        self._epoch_start = self.clock()
        if self._progress is not None:
            self._progress.reset(self._batch_task, total=self._per_epoch, status="")

    def on_batch_end(self, trainer: TrainingState, batch: int, logs: dict[str, Any]) -> None:
        self._batches = batch + 1
        self._rows += int(logs.get("rows", getattr(trainer, "batch_size", 0)))
        if logs.get("batches"):
            self._per_epoch = int(logs["batches"])
        now = self.clock()
        if self._progress is not None:
            if now - self._last_draw >= 0.1:  # a redraw costs more than a small model's step
                self._last_draw = now
                self._progress.update(self._batch_task, completed=self._batches, total=self._per_epoch,
                                      description=f"batch {self._batches}/{self._per_epoch or '?'}",
                                      status=f"{self._rate(now):,.0f} rows/s  loss {logs['loss']:.4f}")
        elif self._bar is None and now - self._last_line >= self.seconds:
            self._line(f"epoch {self._epoch}/{trainer.epochs}  {self._within(now)}  loss {logs['loss']:.4f}", now)

    def on_epoch_end(self, trainer: TrainingState, epoch: int, logs: dict[str, Any]) -> None:
        self._per_epoch = self._per_epoch or self._batches or None
        status = f"train {logs['train_loss']:.4f}"
        if logs.get("valid_loss") is not None:
            status += f"  valid {logs['valid_loss']:.4f}"
        now = self.clock()
        if self._progress is not None:
            self._progress.update(self._task, advance=1, status=status, description=f"epoch {epoch}/{trainer.epochs}")
        elif self._bar is not None:
            self._bar.set_postfix_str(status, refresh=False)
            self._bar.update(1)
        elif epoch % self.every == 0 or epoch == trainer.epochs or now - self._last_line >= self.seconds:
            self._line(f"epoch {epoch}/{trainer.epochs}  {status}  {self._rate(now):,.0f} rows/s", now)

    def _rate(self, now: float) -> float:
        """Rows per second so far in this epoch."""
        return self._rows / max(now - self._epoch_start, 1e-9)

    def _within(self, now: float) -> str:
        """"batch k/N  R rows/s  ETA m:ss" of the running epoch (N and ETA where the batch count is known)."""
        text = f"batch {self._batches}/{self._per_epoch or '?'}  {self._rate(now):,.0f} rows/s"
        if self._per_epoch and self._batches:
            left = (now - self._epoch_start) / self._batches * max(self._per_epoch - self._batches, 0)
            text += f"  ETA {int(left) // 60}:{int(left) % 60:02d}"
        return text

    def _line(self, text: str, now: float) -> None:
        print(text, file=sys.stderr, flush=True)
        self._last_line = now

    def on_fit_end(self, trainer: TrainingState) -> None:
        self.close()

    def on_exception(self, trainer: TrainingState, exc: BaseException) -> None:
        self.close()

    def close(self) -> None:
        """Stop the live display and show the cursor again (idempotent)."""
        if self._progress is not None:
            progress, self._progress = self._progress, None
            progress.stop()
        if self._bar is not None:
            bar, self._bar = self._bar, None
            bar.close()


def in_notebook() -> bool:
    """True inside a Jupyter kernel (IPython's ZMQ shell), where a bar can update in place."""
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return type(shell).__name__ == "ZMQInteractiveShell"


def notebook_bar(epochs: int, done: int) -> Any:
    """A tqdm.auto bar of `epochs` epochs (`done` already run): an ipywidgets bar in a notebook; None where tqdm is
    not installed (the plain lines are printed then)."""
    try:
        from tqdm.auto import tqdm  # optional (deepsci[notebook]): imported in a notebook only
    except ImportError:
        return None
    return tqdm(total=epochs, initial=done, desc="epochs", unit="epoch", leave=True)
