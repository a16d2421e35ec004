"""deepsci: deep learning for scientific data, on PyTorch.

    import deepsci as ds
    reg = ds.Regressor(hidden=(64, 64)).fit(X, y)       # scikit-learn estimators
    run = ds.Run.load("runs/solubility")                 # a run folder written by `deepsci fit`
    ds.theory.critical("tanh")                           # the theory of deep networks, computed

Names are imported on first use (PEP 562), so `import deepsci` and the `deepsci` command start fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Classifier": "deepsci.estimators", "Regressor": "deepsci.estimators",
    "Config": "deepsci.experiment", "load_config": "deepsci.experiment", "run_experiment": "deepsci.experiment",
    "Run": "deepsci.run",
    "ConfigError": "deepsci.errors", "DataError": "deepsci.errors", "DeepSciError": "deepsci.errors",
    "ModelError": "deepsci.errors", "TrainingError": "deepsci.errors",
}
_SUBPACKAGES = ("data", "evaluation", "models", "report", "rules", "theory", "training")

__all__ = sorted([*_EXPORTS, *_SUBPACKAGES, "__version__"])

if TYPE_CHECKING:
    from deepsci import data, evaluation, models, report, rules, theory, training
    from deepsci.errors import ConfigError, DataError, DeepSciError, ModelError, TrainingError
    from deepsci.estimators import Classifier, Regressor
    from deepsci.experiment import Config, load_config, run_experiment
    from deepsci.run import Run


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"deepsci.{name}")
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'deepsci' has no attribute '{name}'")
