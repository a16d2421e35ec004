"""Training: the Trainer, optimisers and schedules, losses, callbacks."""

from deepsci.training.callbacks import Callback, EarlyStopping, ProgressBar
from deepsci.training.losses import DEFAULT_LOSS, LOSSES, get_loss
from deepsci.training.optimisers import OPTIMISERS, SCHEDULES, make_optimiser, make_schedule
from deepsci.training.trainer import Trainer

__all__ = ["Callback", "DEFAULT_LOSS", "EarlyStopping", "LOSSES", "OPTIMISERS", "ProgressBar", "SCHEDULES",
           "Trainer", "get_loss", "make_optimiser", "make_schedule"]
