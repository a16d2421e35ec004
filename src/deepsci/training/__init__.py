"""Training: the Trainer, optimisers and schedules, losses, callbacks, ensembles, augmentation, TBPTT."""

from deepsci.training.augment import Augment, mixup

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
from deepsci.training.tbptt import fit_tbptt
from deepsci.training.trainer import Trainer

__all__ = ["Augment", "Callback", "DEFAULT_LOSS", "EarlyStopping", "LOSSES", "OPTIMISERS", "ProgressBar", "SCHEDULES",
           "StackedMLP", "Trainer", "bootstrap_data", "build_ensemble", "ensemble_loss", "fit_tbptt", "get_loss",
           "make_optimiser", "make_schedule", "mixup", "per_member_batch", "stack_models"]
