"""How a model expresses uncertainty, as one frozen value: `UncertaintySpec`, its vocabulary and its checks.

The `[uncertainty]` config section (deepsci.config.uncertainty) turns into an `UncertaintySpec` once the task
is known; training (deepsci.training.uncertainty) builds the model and loss from it, and evaluation
(deepsci.evaluation.uncertainty) the predictive distribution and its calibration. The names each option
may take and the rules that tie options together live here, once: the config section, the spec and the
estimators all check against them.

This module imports neither torch nor pydantic: the config reads it at the edge.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from deepsci.errors import ConfigError, DataError, unknown_name

if TYPE_CHECKING:
    from deepsci.tasks import Task

__all__ = ["CONFORMAL_METHODS", "LINKS", "METHODS", "RECALIBRATIONS", "REGRESSION_SCORES", "SET_METHODS",
           "UncertaintySpec", "options_problem"]

METHODS: tuple[str, ...] = ("none", "ensemble", "mc-dropout")
CONFORMAL_METHODS: tuple[str, ...] = ("split", "cross", "cross-plus")
REGRESSION_SCORES: tuple[str, ...] = ("absolute", "normalised")  # deepsci.evaluation.uncertainty.conformal
SET_METHODS: tuple[str, ...] = ("lac", "aps")  # deepsci.evaluation.uncertainty.conformal
RECALIBRATIONS: tuple[str, ...] = ("none", "scaling", "isotonic")  # deepsci.evaluation.uncertainty.recalibration
LINKS: tuple[str, ...] = ("softplus", "exp")  # deepsci.training.losses.mean_variance


def options_problem(*, method: str, bootstrap: bool, heteroscedastic: bool | str, conformal: bool | None,
                    conformal_method: str, score: str) -> str | None:
    """What is inconsistent in a set of uncertainty options, or None when they fit together.

    The one home of the rules across options: the `[uncertainty]` section raises the message as a
    validation error (`heteroscedastic` may still be "auto", `conformal` None: not yet resolved), and
    `UncertaintySpec` as a ConfigError.
    """
    if bootstrap and method != "ensemble":
        return "bootstrap = true resamples ensemble members; set method = 'ensemble' or drop bootstrap"
    if score == "normalised" and method == "none" and heteroscedastic is not True:
        return ("score = 'normalised' divides by a predicted sigma, and this model gives none; set "
                "method = 'ensemble' or 'mc-dropout', or heteroscedastic = true, or score = 'absolute'")
    if conformal_method not in ("split", "auto") and (method not in ("ensemble", "auto") or bootstrap
                                                      or conformal is False or score != "absolute"):
        return (f"conformal_method = '{conformal_method}' deals the training rows into one fold per ensemble "
                "member: it needs method = 'ensemble', bootstrap = false, conformal on and score = 'absolute'; "
                "or set conformal_method = 'split'")
    return None


@dataclass(frozen=True)
class UncertaintySpec:
    """How a model expresses uncertainty (the `[uncertainty]` config section as plain values).

    Attributes:
        method: "none" (one network), "ensemble" (K members stacked, output (K, n, out)) or "mc-dropout"
            (`samples` stochastic passes with dropout on).
        members: ensemble size K.
        samples: MC-dropout passes T.
        heteroscedastic: regression head with 2t outputs (means, then variances via `link`), trained
            with the Gaussian NLL (Lakshminarayanan et al. 2017 deep ensembles).
        bootstrap: each ensemble member trains on its own bootstrap resample of the training rows.
        conformal: conformal intervals / prediction sets.
        conformal_method: "split" (calibrated on the calibration split), or for regression ensembles
            "cross" / "cross-plus": member k trains without fold k of the training rows and the bands come
            from every training row's out-of-fold residual, around the ensemble mean ("cross") or as CV+
            around each member ("cross-plus"); see `deepsci.evaluation.uncertainty.cross_conformal`.
        recalibration: sigma recalibration on the calibration split: "scaling", "isotonic" or "none".
        level: the interval / set level 1 - alpha (0.9 for 90%).
        score: regression conformal score, "absolute" or "normalised" (by the predicted sigma).
        set_method: classification set method, "lac" or "aps".
        randomised: randomised APS scores.
        link: variance link of the heteroscedastic head.
        beta: beta-NLL exponent of the heteroscedastic loss (`gaussian_nll`); 0 is the plain NLL.
        vectorise: ensembles of networks other than MLPs: vmap the members over stacked parameters
            (deepsci.training.ensemble_any.VmapEnsemble) instead of running them one after another; refused for
            networks with batch norm or recurrent layers. MLP ensembles are stacked either way.
        seed: seeds MC-dropout masks and randomised APS.
        scheme: one line naming the error bars chosen, their cost and how to turn them off (console, metrics.json).

    Raises:
        ConfigError: an unknown name, a level outside (0, 1), or options that do not fit together
            (`options_problem`).
    """

    method: str = "none"
    members: int = 8
    samples: int = 50
    heteroscedastic: bool = False
    bootstrap: bool = False
    conformal: bool = False
    conformal_method: str = "split"
    recalibration: str = "none"
    level: float = 0.9
    score: str = "absolute"
    set_method: str = "lac"
    randomised: bool = False
    link: str = "softplus"
    beta: float = 0.0
    vectorise: bool = False
    seed: int = 0
    scheme: str = ""

    def __post_init__(self) -> None:
        for kind, value, known in (("uncertainty method", self.method, METHODS),
                                   ("conformal score", self.score, REGRESSION_SCORES),
                                   ("conformal method", self.conformal_method, CONFORMAL_METHODS),
                                   ("prediction-set method", self.set_method, SET_METHODS),
                                   ("sigma recalibration", self.recalibration, RECALIBRATIONS),
                                   ("variance link", self.link, LINKS)):
            if value not in known:
                raise ConfigError(unknown_name(kind, value, known))
        if not 0.0 < self.level < 1.0:
            raise ConfigError(f"uncertainty level must be in (0, 1), e.g. 0.9 for 90% intervals; "
                              f"received {self.level}.")
        problem = options_problem(method=self.method, bootstrap=self.bootstrap, heteroscedastic=self.heteroscedastic,
                                  conformal=self.conformal, conformal_method=self.conformal_method, score=self.score)
        if problem is not None:
            raise ConfigError(f"uncertainty: {problem}.")

    @property
    def active(self) -> bool:
        """True when the model gives more than a point prediction."""
        return self.method != "none" or self.heteroscedastic or self.conformal

    @property
    def k_fold(self) -> bool:
        """True when the ensemble's members train on K folds for cross-conformal bands."""
        return self.conformal_method != "split"

    @property
    def needs_calibration(self) -> bool:
        """True when a calibration split is needed: conformal bands, or a sigma to recalibrate."""
        return self.conformal or (self.recalibration != "none" and (self.method != "none" or self.heteroscedastic))

    def check_task(self, task: "Task") -> None:
        """Refuse options the task cannot take (ConfigError): a variance head or K-fold members on classes,
        or error bars on per-label / per-step probabilities."""
        if self.heteroscedastic and not task.continuous:
            raise ConfigError(f"uncertainty.heteroscedastic = true is for regression (a mean-and-variance head); "
                              f"this task is {task.name}. Set heteroscedastic = false or 'auto' (class probabilities "
                              "already carry the aleatoric part).")
        if not task.per_row and (self.method != "none" or self.conformal):
            raise ConfigError(f"[uncertainty] (method '{self.method}', conformal {self.conformal}) is for "
                              f"regression, binary and multiclass tasks; this task is {task.name}. Remove the "
                              "[uncertainty] section (its per-label / per-step probabilities are the model's own).")
        if self.k_fold and not task.continuous:
            raise ConfigError(f"uncertainty.conformal_method = '{self.conformal_method}' is for regression ensembles; "
                              f"this task is {task.name}. Use conformal_method = 'split'.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, state: dict[str, Any] | None) -> "UncertaintySpec":
        try:
            return cls(**(state or {}))
        except TypeError as err:
            raise DataError(f"the stored uncertainty options are malformed ({err}); expected the keys "
                            f"{', '.join(cls.__dataclass_fields__)}.") from err
