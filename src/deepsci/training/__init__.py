"""Training: the Trainer, optimisers and schedules, losses, callbacks, ensembles, augmentation, TBPTT.

Names are imported on first use (PEP 562), so `deepsci.config` can read the name registries in
`deepsci.training.names` without importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Augment": "augment", "mixup": "augment",
    "Callback": "callbacks", "EarlyStopping": "callbacks", "ProgressBar": "callbacks",
    "Checkpoint": "checkpoint", "read_checkpoint_meta": "checkpoint",
    "EnsembleLoss": "ensemble", "StackedMLP": "ensemble", "bootstrap_data": "ensemble", "build_ensemble": "ensemble",
    "ensemble_loss": "ensemble", "per_member_batch": "ensemble", "stack_models": "ensemble",
    "predict_batches": "inference",
    "LOSSES": "losses", "gaussian_nll": "losses", "get_loss": "losses", "per_sample_loss": "losses",
    "weighted_loss": "losses",
    "OPTIMISERS": "optimisers", "SCHEDULES": "optimisers", "make_optimiser": "optimisers", "make_schedule": "optimisers",
    "ChunkedSequences": "tbptt", "ResetState": "tbptt", "TruncatedBPTT": "tbptt", "fit_tbptt": "tbptt",
    "tbptt_training": "tbptt", "unwrap": "tbptt",
    "Trainer": "trainer",
    "uncertainty_training": "uncertainty",
    "UncertaintySpec": "uncertainty_spec",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from deepsci.training.augment import Augment, mixup
    from deepsci.training.callbacks import Callback, EarlyStopping, ProgressBar
    from deepsci.training.checkpoint import Checkpoint, read_checkpoint_meta
    from deepsci.training.ensemble import (EnsembleLoss, StackedMLP, bootstrap_data, build_ensemble, ensemble_loss,
                                           per_member_batch, stack_models)
    from deepsci.training.inference import predict_batches
    from deepsci.training.losses import LOSSES, gaussian_nll, get_loss, per_sample_loss, weighted_loss
    from deepsci.training.optimisers import OPTIMISERS, SCHEDULES, make_optimiser, make_schedule
    from deepsci.training.tbptt import ChunkedSequences, ResetState, TruncatedBPTT, fit_tbptt, tbptt_training, unwrap
    from deepsci.training.trainer import Trainer
    from deepsci.training.uncertainty import uncertainty_training
    from deepsci.training.uncertainty_spec import UncertaintySpec


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"deepsci.training.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'deepsci.training' has no attribute '{name}'")
