"""Training: the Trainer, optimisers and schedules, losses, callbacks, ensembles, augmentation, TBPTT."""

from deepsci.training.augment import Augment, mixup

from deepsci.training.callbacks import Callback, EarlyStopping, ProgressBar
from deepsci.training.checkpoint import Checkpoint, read_checkpoint_meta
from deepsci.training.ensemble import (
    EnsembleLoss,
    StackedMLP,
    bootstrap_data,
    build_ensemble,
    ensemble_loss,
    per_member_batch,
    stack_models,
)
from deepsci.training.losses import DEFAULT_LOSS, LOSSES, get_loss, per_sample_loss, weighted_loss
from deepsci.training.optimisers import OPTIMISERS, SCHEDULES, make_optimiser, make_schedule
from deepsci.training.tbptt import fit_tbptt
from deepsci.training.trainer import Trainer
from deepsci.training.uncertainty import uncertainty_training

__all__ = ["Augment", "Callback", "Checkpoint", "DEFAULT_LOSS", "EarlyStopping", "EnsembleLoss", "LOSSES", "OPTIMISERS",
           "ProgressBar", "SCHEDULES", "StackedMLP", "Trainer", "bootstrap_data", "build_ensemble", "ensemble_loss",
           "fit_tbptt", "get_loss", "make_optimiser", "make_schedule", "mixup", "per_member_batch", "per_sample_loss",
           "read_checkpoint_meta", "stack_models", "uncertainty_training", "weighted_loss"]
