"""From a trained network to a predictive distribution, and from a calibration split to conformal bands.

This is the glue a run (and the scikit-learn estimators) use; the pieces are the pure functions of the
neighbouring modules:

    network (MLP | StackedMLP) --predictive()--> {"pred", "std", "aleatoric", "epistemic"}  (data units)
    validation split          --calibrate()---> {"q": ..., "score"/"method": ..., "n": ...}  (JSON)
    any split                 --apply_calibration()--> {"lower", "upper"} or {"sets"}

`UncertaintySpec` carries the options as plain typed values (the experiment's `[uncertainty]` section
is validated at the edge and turned into one). Calibration is on the validation split only, never on
test: the conformal guarantee needs calibration rows the model never trained on and that are
exchangeable with the rows the bands are put on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from deepsci.errors import ConfigError, DataError, unknown_name
from deepsci.evaluation.uncertainty.conformal import (
    REGRESSION_SCORES,
    SET_METHODS,
    _all_scores,
    classification_scores,
    conformal_quantile,
    regression_scores,
)
from deepsci.evaluation.uncertainty.heteroscedastic import LINKS, decompose, mean_variance
from deepsci.evaluation.uncertainty.mc_dropout import mc_dropout_samples
from deepsci.models.heads import head_predictions

if TYPE_CHECKING:
    from deepsci.data.scalers import Scaler

Tensor = torch.Tensor
METHODS = ("none", "ensemble", "mc-dropout")

__all__ = ["METHODS", "UncertaintySpec", "predictive", "calibrate", "apply_calibration", "format_sets"]


@dataclass(frozen=True)
class UncertaintySpec:
    """How a model expresses uncertainty (the `[uncertainty]` config section as plain values).

    Attributes:
        method: "none" (one network), "ensemble" (a StackedMLP of `members`) or "mc-dropout" (`samples`
            stochastic passes with dropout on).
        members: ensemble size K.
        samples: MC-dropout passes T.
        heteroscedastic: regression head with 2t outputs (means, then variances via `link`), trained
            with the Gaussian NLL.
        bootstrap: each ensemble member trains on its own bootstrap resample of the training rows.
        conformal: split-conformal intervals / prediction sets calibrated on the validation split.
        level: the interval / set level 1 - alpha (0.9 for 90%).
        score: regression conformal score, "absolute" or "normalised" (by the predicted sigma).
        set_method: classification set method, "lac" or "aps".
        randomised: randomised APS scores.
        link: variance link of the heteroscedastic head.
        seed: seeds MC-dropout masks and randomised APS.
    """

    method: str = "none"
    members: int = 8
    samples: int = 50
    heteroscedastic: bool = False
    bootstrap: bool = False
    conformal: bool = False
    level: float = 0.9
    score: str = "absolute"
    set_method: str = "lac"
    randomised: bool = False
    link: str = "softplus"
    seed: int = 0

    def __post_init__(self) -> None:
        for kind, value, known in (("uncertainty method", self.method, METHODS),
                                   ("conformal score", self.score, REGRESSION_SCORES),
                                   ("prediction-set method", self.set_method, SET_METHODS),
                                   ("variance link", self.link, LINKS)):
            if value not in known:
                raise ConfigError(unknown_name(kind, value, known))
        if not 0.0 < self.level < 1.0:
            raise ConfigError(f"uncertainty level must be in (0, 1), e.g. 0.9 for 90% intervals; received {self.level}.")

    @property
    def active(self) -> bool:
        """True when the model gives more than a point prediction."""
        return self.method != "none" or self.heteroscedastic or self.conformal

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, state: dict[str, Any] | None) -> "UncertaintySpec":
        return cls(**(state or {}))


@torch.no_grad()
def _raw_samples(model: nn.Module, X: Tensor, spec: UncertaintySpec, batch_size: int) -> Tensor:
    """Raw outputs as (S, n, out): S = members (ensemble), samples (MC dropout) or 1."""
    if spec.method == "mc-dropout":
        return mc_dropout_samples(model, X, samples=spec.samples, seed=spec.seed, batch_size=batch_size)
    model.eval()
    chunks = [model(X[i:i + batch_size]) for i in range(0, X.shape[0], batch_size)]
    out = torch.cat(chunks, dim=-2) if chunks else model(X)
    return out if out.dim() == 3 else out.unsqueeze(0)  # a StackedMLP gives (K, n, out) already


def predictive(model: nn.Module, X: Tensor, task: str, spec: UncertaintySpec, y_scaler: "Scaler | None" = None,
               batch_size: int = 4096) -> dict[str, NDArray[np.float64]]:
    """The predictive distribution of `model` at X, in the data's own units (float64 numpy).

    Regression: "pred" (n, t) is the mean over members / samples; "std" (n, t) the total predictive
    standard deviation, with "aleatoric" and "epistemic" standard deviations (sqrt of E_k[s2_k] and of
    Var_k[mu_k], `decompose`) when the model has a variance head and more than one member / sample.
    A single network without a variance head has no "std".
    Classification: "pred" (n, k) is the mean of the members' / samples' class probabilities.

    Args:
        model: an MLP (or rule-wrapped MLP) giving (n, out), or a StackedMLP giving (K, n, out).
        X: (n, d) inputs, scaled as in training.
        task: "regression", "binary" or "multiclass".
        spec: the uncertainty options (method, heteroscedastic, samples, link, seed).
        y_scaler: the target scaler (regression), to return values in target units.
    """
    raw = _raw_samples(model, X, spec, batch_size).double()  # (S, n, out)
    if task != "regression":
        proba = torch.stack([head_predictions(r, task) for r in raw]).mean(0)
        return {"pred": proba.numpy()}
    if spec.heteroscedastic:
        means, variances = mean_variance(raw, link=spec.link)  # type: ignore[arg-type]  # (S, n, t) each
    else:
        means, variances = raw, None
    parts = decompose(means, variances)
    out: dict[str, Tensor] = {"pred": parts["mean"]}
    if raw.shape[0] > 1 or variances is not None:
        out["std"] = parts["std"]
    if raw.shape[0] > 1 and variances is not None:
        out["aleatoric"], out["epistemic"] = parts["aleatoric"].sqrt(), parts["epistemic"].sqrt()
    if y_scaler is not None:
        out = {k: (y_scaler.inverse_transform(v) if k == "pred" else y_scaler.inverse_transform_std(v))
               for k, v in out.items()}
    return {k: v.double().numpy() for k, v in out.items()}


def calibrate(task: str, y_cal: NDArray[Any], dist_cal: dict[str, NDArray[np.float64]],
              spec: UncertaintySpec) -> dict[str, Any]:
    """Split-conformal calibration on the validation split: the threshold(s) as a JSON-able dict.

    Regression: {"kind": "interval", "score", "q": [per target], "level", "n"}; with score "absolute" q is
    in target units (half-width), with "normalised" it multiplies the predicted sigma.
    Classification: {"kind": "set", "method", "randomised", "q", "level", "n"}.
    """
    alpha = 1.0 - spec.level
    n = int(len(y_cal))
    if n == 0:
        raise DataError("conformal calibration needs a validation split, and this run has none. Set "
                        "data.valid_fraction > 0 (e.g. 0.2), or uncertainty.conformal = false.")
    if task == "regression":
        if spec.score == "normalised" and "std" not in dist_cal:
            raise ConfigError("uncertainty.score = 'normalised' needs a predicted sigma; this model gives none. "
                              "Use an ensemble, mc-dropout or heteroscedastic = true, or score = 'absolute'.")
        scores = regression_scores(y_cal, dist_cal["pred"], dist_cal.get("std"), spec.score)  # type: ignore[arg-type]
        q = np.atleast_1d(conformal_quantile(scores, alpha))
        return {"kind": "interval", "score": spec.score, "q": [float(v) for v in q], "level": spec.level, "n": n}
    s = classification_scores(dist_cal["pred"], y_cal, spec.set_method,  # type: ignore[arg-type]
                              randomised=spec.randomised, seed=spec.seed)
    threshold = float(conformal_quantile(s, alpha))
    return {"kind": "set", "method": spec.set_method, "randomised": spec.randomised, "seed": spec.seed,
            "q": [threshold], "level": spec.level, "n": n}


def apply_calibration(calibration: dict[str, Any], dist: dict[str, NDArray[np.float64]]) -> dict[str, NDArray[Any]]:
    """Conformal bands for a predictive distribution: {"lower", "upper"} (n, t) or {"sets"} (n, k) bool."""
    q = np.asarray(calibration["q"], dtype=np.float64)
    if calibration["kind"] == "interval":
        mu = dist["pred"]
        half = q * dist["std"] if calibration["score"] == "normalised" else np.broadcast_to(q, mu.shape)
        return {"lower": mu - half, "upper": mu + half}
    p = np.asarray(dist["pred"], dtype=np.float64)
    scores = _all_scores(p, calibration["method"], bool(calibration.get("randomised", False)),
                         int(calibration.get("seed", 0)) + 1)
    return {"sets": scores <= q[0]}


def format_sets(sets: NDArray[np.bool_], class_names: list[str]) -> list[str]:
    """Prediction sets as text, class names joined by "|" (an empty set is "")."""
    return ["|".join(class_names[c] for c in np.flatnonzero(row)) for row in np.asarray(sets, dtype=bool)]
