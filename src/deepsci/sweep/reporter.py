"""The Trainer callback through which a sweep's trial reports each epoch to Optuna, and is pruned."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deepsci.training.callbacks import Callback, TrainingState

if TYPE_CHECKING:
    import optuna


class TrialReporter(Callback):
    """Reports each epoch's validation loss to an Optuna trial and prunes the trial when its pruner says so.

    Optuna's pruners compare intermediate values in the study's direction, so a study that maximises a
    metric receives the negated loss (lower loss is still better). Losses are kept in `losses`
    (epoch -> validation loss, epochs from 1).
    """

    def __init__(self, trial: "optuna.trial.Trial", maximise: bool = False) -> None:
        self.trial, self.sign = trial, -1.0 if maximise else 1.0
        self.losses: dict[int, float] = {}

    def on_epoch_end(self, trainer: TrainingState, epoch: int, logs: dict[str, Any]) -> None:
        import optuna

        loss = logs.get("valid_loss")
        if loss is None:  # no validation rows: nothing to judge the trial by mid-way
            return
        self.losses[epoch] = float(loss)
        self.trial.report(self.sign * float(loss), step=epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {epoch} of {trainer.epochs}: validation loss "
                                     f"{loss:.4g} is worse than the pruner allows at that epoch")
