"""Training: the Trainer, optimisers and schedules, losses, callbacks."""

from deepsci.training.callbacks import Callback, EarlyStopping, ProgressBar
from deepsci.training.ensemble import (
    StackedMLP,
    bootstrap_data,
    build_ensemble,
    ensemble_loss,
    per_member_batch,
    stack_models,
)
from deepsci.training.losses import DEFAULT_LOSS, LOSSES, get_loss
from deepsci.training.optimisers import OPTIMISERS, SCHEDULES, make_optimiser, make_schedule
from deepsci.training.trainer import Trainer

__all__ = ["Callback", "DEFAULT_LOSS", "EarlyStopping", "LOSSES", "OPTIMISERS", "ProgressBar", "SCHEDULES",
           "StackedMLP", "Trainer", "bootstrap_data", "build_ensemble", "ensemble_loss", "get_loss",
           "make_optimiser", "make_schedule", "per_member_batch", "stack_models"]
