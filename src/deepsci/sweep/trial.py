"""One trial of a sweep: a normal run folder trained from the sampled config, watched epoch by epoch.

The `TrialReporter` callback (deepsci.sweep.reporter) hands each epoch's validation loss to the Optuna
trial, whose pruner may stop a trial that is doing worse than the others were at the same epoch
(Optuna's `TrialPruned` ends the fit; the trial is recorded as pruned with the losses it reported).
A trial that completes is scored by a validation metric read from its metrics.json: the test split
never steers the search.
"""

from __future__ import annotations

import math
import os
import shutil
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from deepsci.config import config_from_dict
from deepsci.errors import ConfigError
from deepsci.folder import checkpoint_dir
from deepsci.sweep.space import Range, sample, substitute

if TYPE_CHECKING:
    import optuna

# Direction of each metric a sweep can optimise: "loss" is the validation loss the model was trained on
# (at the epoch whose weights the run keeps); the others are the validation metrics in metrics.json.
MINIMISE = ("loss", "rmse", "mae", "mse", "log_loss", "nll", "crps", "brier", "ece")
MAXIMISE = ("r2", "pearson_r", "spearman_rho", "accuracy", "balanced_accuracy", "roc_auc", "f1_macro",
            "average_precision")


Direction = Literal["minimize", "maximize"]


def direction_of(metric: str) -> Direction:
    """"minimize" or "maximize" for a metric name (Optuna's words).

    Raises:
        ConfigError: a metric without a known direction, listing those known.
    """
    if metric in MINIMISE:
        return "minimize"
    if metric in MAXIMISE:
        return "maximize"
    raise ConfigError(f"--metric {metric!r} is not one a sweep can optimise; use one of: "
                      f"{', '.join(MINIMISE + MAXIMISE)} (validation metrics; loss is the default).")


def objective_value(metrics: dict[str, Any], losses: dict[int, float], metric: str) -> float:
    """The trial's score: the validation `metric` of its metrics.json, or for "loss" the validation loss
    at the epoch whose weights the run kept (`best_epoch`).

    Raises:
        ConfigError: the run has no validation rows, or no such metric for its task (naming those it has).
    """
    if metric == "loss":
        best = metrics.get("best_epoch")
        value = losses.get(int(best)) if best is not None else None
        if value is None:
            raise ConfigError("the trial has no validation loss to optimise: the data gives no validation rows. "
                              "Set data.valid_fraction (e.g. 0.1) so trials can be compared without the test split.")
        return value
    valid = metrics.get("valid") or {}
    value = valid.get(metric)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        known = [k for k, v in valid.items() if isinstance(v, (int, float)) and k in MINIMISE + MAXIMISE]
        raise ConfigError(f"--metric {metric!r} is not among this run's validation metrics "
                          f"({', '.join(['loss', *known]) if valid else 'none: the data gives no validation rows'}). "
                          "Choose one of them.")
    return float(value)


def discard_checkpoint(out: Path, name: str) -> None:
    """Remove the training state a stopped trial left beside its run (`out/.<name>.checkpoint/`): a pruned or
    failed trial is never resumed, its number is not drawn again."""
    shutil.rmtree(checkpoint_dir(out, name), ignore_errors=True)


def run_name(study: str, number: int) -> str:
    """The run folder of trial `number` of a study: `<study>-t007` (the number padded to 3 digits)."""
    return f"{study}-t{number:03d}"


def run_trial(trial: "optuna.trial.Trial", raw: dict[str, Any], ranges: list[Range], *, out: Path, study: str,
              metric: str, source: str = "config") -> float:
    """Train one trial's config into the run folder `out/<study>-tNNN` and return its score.

    The sampled values are recorded by Optuna as the trial's params; the run folder's name, the epochs
    trained and the worker (host:pid) that ran it go in its user attributes. A pruned or failed trial
    leaves no run folder and no checkpoint behind.

    Raises:
        optuna.TrialPruned: the pruner stopped the trial.
        DeepSciError: the trial's config or data failed (TrainingError: its loss diverged).
    """
    from deepsci.experiment import run_experiment  # these import torch: on use, so `import deepsci.sweep` stays light
    from deepsci.sweep.reporter import TrialReporter

    name = run_name(study, trial.number)
    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    config = config_from_dict({**substitute(raw, sample(trial, ranges)), "name": name}, source=source)
    reporter = TrialReporter(trial, maximise=direction_of(metric) == "maximize")
    try:
        run = run_experiment(config, out, progress=False, callbacks=[reporter])
    except BaseException as exc:
        discard_checkpoint(out, name)
        trial.set_user_attr("epochs", max(reporter.losses, default=0))
        trial.set_user_attr("note", str(exc).split("\n")[0][:300])
        raise
    trial.set_user_attr("run", name)
    trial.set_user_attr("epochs", int(run.metrics.get("epochs_run") or max(reporter.losses, default=0)))
    return objective_value(run.metrics, reporter.losses, metric)
