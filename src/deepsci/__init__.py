"""deepsci: deep learning for scientific data, on PyTorch.

    import deepsci as ds
    reg = ds.Regressor(hidden=(64, 64)).fit(X, y)       # scikit-learn estimators
    run = ds.Run.load("runs/solubility")                 # a run folder written by `deepsci fit`
    ds.theory.critical("tanh")                           # the theory of deep networks, computed
"""

__version__ = "0.1.0"

from deepsci import theory  # noqa: E402
from deepsci.errors import ConfigError, DataError, DeepSciError, ModelError, TrainingError  # noqa: E402
from deepsci.estimators import Classifier, Regressor  # noqa: E402
from deepsci.experiment import Config, load_config, run_experiment  # noqa: E402
from deepsci.run import Run  # noqa: E402

__all__ = ["Classifier", "Config", "ConfigError", "DataError", "DeepSciError", "ModelError", "Regressor", "Run",
           "TrainingError", "__version__", "load_config", "run_experiment", "theory"]
