"""The sweep's sampler: Optuna's TPE, its random draws seeded per trial from (seed, trial number)."""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
from optuna.samplers import BaseSampler, TPESampler
from optuna.trial import FrozenTrial


class TrialSeededTPE(BaseSampler):
    """TPE (Bergstra et al. 2011, Optuna's default sampler) with one random stream per trial number.

    One seeded sampler per worker would make workers that share a study draw the same points, and a
    resumed study repeat its first ones. A fresh TPE sampler per trial, seeded by (seed, the trial's
    number), keeps a one-worker sweep reproducible and gives every trial its own draws: TPE keeps
    nothing between trials but its random state (it reads the history from the storage each time).
    `constant_liar` makes concurrent workers steer away from the points of trials still running.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.inner = self._tpe(0)

    def _tpe(self, number: int) -> TPESampler:
        mixed = int(np.random.SeedSequence([self.seed, number]).generate_state(1)[0])
        return TPESampler(seed=mixed, constant_liar=True)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.inner = self._tpe(trial.number)
        self.inner.before_trial(study, trial)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, Any]:
        return self.inner.infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, Any]) -> dict[str, Any]:
        return self.inner.sample_relative(study, trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: Any) -> Any:
        return self.inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: Any, values: Any) -> None:
        self.inner.after_trial(study, trial, state, values)
