"""From a trained network to a predictive distribution, and from a calibration split to calibrated error bars.

Estimator, calibrator, evaluator (the split chemprop v2 makes), each a value or a pure function:

    network (any nn.Module; an ensemble gives (K, n, out))  --predictive()-->  Predictive (data units)
    calibration split (y, Predictive)                        --calibrate()--->  Calibration (JSON via to_dict)
    Calibration + any Predictive      --recalibrate()-->  Predictive with the recalibrated std
                                      --apply_calibration()-->  {"lower", "upper"} or {"sets"}

`UncertaintySpec` (deepsci.training.uncertainty_spec) carries the options as plain typed values (the
`[uncertainty]` config section turned into one by `deepsci.config.uncertainty.resolve_uncertainty`).
Calibration is fitted on rows that played no part in training or model selection (the calibration
split, `Dataset.calib`): conformal guarantees need calibration rows exchangeable with the rows the bands
are put on, and validation rows used for early stopping are not (the chosen model fits them better than
fresh rows).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from deepsci.data.batch import Inputs
from deepsci.errors import ConfigError, DataError
from deepsci.evaluation.uncertainty.conformal import (
    _all_scores,
    classification_scores,
    conformal_quantile,
    cv_plus_interval,
    regression_scores,
)
from deepsci.evaluation.uncertainty.mc_dropout import mc_dropout_samples
from deepsci.evaluation.uncertainty.recalibration import SigmaCalibrator
from deepsci.tasks import task_of
from deepsci.training.inference import predict_batches, row_dim
from deepsci.training.losses import mean_variance
from deepsci.training.uncertainty_spec import UncertaintySpec

Tensor = torch.Tensor
Array = NDArray[np.float64]

__all__ = ["TargetUnscaler", "Predictive", "Calibration", "as_predictive", "decompose", "predictive", "calibrate",
           "recalibrate", "apply_calibration", "format_sets"]


class TargetUnscaler(Protocol):
    """What `predictive` needs from the target scaler: values and standard deviations back to data units."""

    def inverse_transform(self, y: Tensor) -> Tensor: ...

    def inverse_transform_std(self, std: Tensor) -> Tensor: ...


_FIELDS = ("mean", "std", "std_raw", "aleatoric", "epistemic", "proba")


@dataclass(frozen=True, eq=False)
class Predictive:
    """A model's predictive distribution at n rows, float64 numpy in the data's own units.

    Attributes:
        mean: regression: (n, t) predicted means (mean over members / samples); None for classification.
        std: (n, t) total predictive standard deviation, recalibrated when a calibration was applied
            (`recalibrate`); None for a single network without a variance head.
        std_raw: (n, t) the model's own sigma before recalibration (None until recalibrated).
        aleatoric, epistemic: (n, t) standard deviations of the two parts (sqrt E_k[s2_k], sqrt Var_k[mu_k]),
            with aleatoric^2 + epistemic^2 = std^2; present for a variance head with several members / samples.
        proba: classification: (n, k) mean class probabilities.
        member_means: regression ensembles: (K, n, t) each member's mean (CV+ bands need them).

    `as_dict()` gives the arrays that are present, keyed as in a run's evaluation ("pred", "std", ...).
    """

    mean: Array | None = None
    std: Array | None = None
    std_raw: Array | None = None
    aleatoric: Array | None = None
    epistemic: Array | None = None
    proba: Array | None = None
    member_means: Array | None = None

    @property
    def pred(self) -> Array:
        """The point prediction: the mean (regression) or the class probabilities (classification)."""
        out = self.mean if self.mean is not None else self.proba
        if out is None:
            raise DataError("this Predictive holds neither a mean nor probabilities.")
        return out

    def __len__(self) -> int:
        return int(self.pred.shape[0])

    def take(self, idx: NDArray[Any] | slice) -> "Predictive":
        """Rows `idx` of every array."""
        members = None if self.member_means is None else self.member_means[:, idx]
        return Predictive(**{f: None if getattr(self, f) is None else getattr(self, f)[idx] for f in _FIELDS},
                          member_means=members)

    def as_dict(self) -> dict[str, Array]:
        """The arrays that are present, keyed "pred", "std", "std_raw", "aleatoric", "epistemic", "member_means"."""
        out = {"pred": self.pred}
        out.update({f: getattr(self, f) for f in (*_FIELDS[1:5], "member_means") if getattr(self, f) is not None})
        return out


def as_predictive(dist: "Predictive | Mapping[str, Any]", task: str = "regression") -> Predictive:
    """A Predictive from a Predictive or an old-style dict {"pred", "std", ...}."""
    if isinstance(dist, Predictive):
        return dist
    arrays = {k: None if dist.get(k) is None else np.asarray(dist[k], dtype=np.float64)
              for k in ("pred", "std", "std_raw", "aleatoric", "epistemic", "member_means")}
    pred = arrays.pop("pred")
    return Predictive(**arrays, **({"mean": pred} if task_of(task).continuous else {"proba": pred}))


def decompose(means: Tensor, variances: Tensor | None = None) -> dict[str, Tensor]:
    """Combine K members' Gaussian predictions into one mean and its variance parts.

    With member means mu_k and variances s2_k (the ensemble as a uniform mixture, Lakshminarayanan et al.
    2017): mean = E_k[mu_k]; aleatoric = E_k[s2_k] (noise the members agree is in the data); epistemic =
    Var_k[mu_k] (population variance: disagreement between members, which shrinks with more data);
    total = aleatoric + epistemic, the variance of the mixture.

    Args:
        means: (K, n, t) member means (or (K, n) for one target).
        variances: same shape, member variances; None for members with no variance head (aleatoric = 0).

    Returns:
        dict with "mean", "aleatoric", "epistemic", "total" (variances), "std" (sqrt of total), each (n, t).
    """
    if variances is not None and variances.shape != means.shape:
        raise DataError(f"member means {tuple(means.shape)} and variances {tuple(variances.shape)} must have the "
                        "same shape (members, n, targets).")
    mean = means.mean(0)
    epistemic = means.var(0, unbiased=False)
    aleatoric = variances.mean(0) if variances is not None else torch.zeros_like(mean)
    total = aleatoric + epistemic
    return {"mean": mean, "aleatoric": aleatoric, "epistemic": epistemic, "total": total, "std": total.sqrt()}


def _raw_samples(model: nn.Module, X: Inputs, spec: UncertaintySpec, batch_size: int) -> Tensor:
    """Raw outputs as (S, n, ...) on the CPU: S = members (a stacked ensemble), samples (MC dropout) or 1.
    The model's train / eval mode is as it was afterwards."""
    if spec.method == "mc-dropout":
        return mc_dropout_samples(model, X, samples=spec.samples, seed=spec.seed, batch_size=batch_size)
    was_training = model.training
    try:
        out = predict_batches(model, X, batch_size=batch_size)
    finally:
        model.train(was_training)
    return out if row_dim(model) == 1 else out.unsqueeze(0)


def predictive(model: nn.Module, X: Inputs, task: str, spec: UncertaintySpec,
               y_scaler: TargetUnscaler | None = None, batch_size: int = 4096) -> Predictive:
    """The predictive distribution of `model` at X, in the data's own units (float64 numpy).

    Regression: `mean` (n, t) is the mean over members / samples; `std` (n, t) the total predictive
    standard deviation of the mixture (`decompose`), with `aleatoric` and `epistemic` parts when the model
    has a variance head and more than one member / sample. A single network without a variance head has no
    std. The std is the model's own (uncalibrated); `recalibrate` with a `Calibration` fixes it.
    Classification: `proba` (n, k) is the mean of the members' / samples' class probabilities.

    Args:
        model: any network: a tensor or named inputs in (`deepsci.data.batch.forward`), (n, out) out; an
            ensemble (spec.method = "ensemble") gives (K, n, out).
        X: inputs (n, ...) or {name: (n, ...)}, preprocessed as in training.
        task: "regression", "binary" or "multiclass".
        spec: the uncertainty options (method, heteroscedastic, samples, link, seed).
        y_scaler: regression: any object with `inverse_transform(values)` and `inverse_transform_std(stds)`
            (torch tensors (n, t); the data layer's `Scaler` is one), to return values in target units.
        batch_size: rows per forward pass.
    """
    raw = _raw_samples(model, X, spec, batch_size).double()  # (S, n, out)
    kind = task_of(task)
    if not kind.continuous:
        proba = torch.stack([kind.predict(r) for r in raw]).mean(0)
        return Predictive(proba=proba.numpy())
    means, variances = (mean_variance(raw, link=spec.link) if spec.heteroscedastic  # type: ignore[arg-type]
                        else (raw, None))  # (S, n, t) each
    parts = decompose(means, variances)
    out: dict[str, Tensor] = {"mean": parts["mean"]}
    if raw.shape[0] > 1 or variances is not None:
        out["std"] = parts["std"]
    if raw.shape[0] > 1 and variances is not None:
        out["aleatoric"], out["epistemic"] = parts["aleatoric"].sqrt(), parts["epistemic"].sqrt()
    if spec.method == "ensemble":
        out["member_means"] = means  # (K, n, t)
    if y_scaler is not None:
        out = {k: (_unscale(y_scaler, v) if k in ("mean", "member_means") else y_scaler.inverse_transform_std(v))
               for k, v in out.items()}
    return Predictive(**{k: v.double().numpy() for k, v in out.items()})


def _unscale(y_scaler: TargetUnscaler, values: Tensor) -> Tensor:
    """Values (..., t) back to data units: leading dims are flattened into rows for the scaler."""
    return y_scaler.inverse_transform(values.reshape(-1, values.shape[-1])).reshape(values.shape)


@dataclass(frozen=True, eq=False)
class Calibration:
    """What was learned on the calibration split: conformal thresholds and the sigma recalibration.

    Attributes:
        kind: "interval" (regression conformal), "set" (classification conformal) or "sigma" (recalibration
            only, no conformal bands).
        level: the interval / set level 1 - alpha.
        n: calibration rows.
        calibrated_on: the split it was fitted on ("calib"; "valid" only for old run folders).
        q: conformal threshold(s): per target for intervals (a half-width in target units for the "absolute"
            score, a multiple of the recalibrated sigma for "normalised"), one for sets; () without conformal.
        score: regression conformal score; method, randomised, seed: the set method.
        sigma: the fitted sigma recalibration, or None (classification, or a model without sigma).
        residuals, residual_members: CV+ bands (conformal_method "cross-plus") only: the (n, t) out-of-fold
            residuals and the member each was measured from (n,); the band at x is then
            `cv_plus_interval` of the members' means at x, not mean +- q (q is kept as a summary).
    """

    kind: str
    level: float
    n: int
    calibrated_on: str = "calib"
    q: tuple[float, ...] = ()
    score: str | None = None
    method: str | None = None
    randomised: bool = False
    seed: int = 0
    sigma: SigmaCalibrator | None = None
    residuals: tuple[tuple[float, ...], ...] = ()
    residual_members: tuple[int, ...] = ()

    @property
    def conformal(self) -> bool:
        """True when it holds conformal bands (intervals or sets), not a sigma recalibration alone."""
        return _KINDS[self.kind].conformal

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (model.json, metrics.json); the keys of the old calibration dict plus the new ones."""
        out: dict[str, Any] = {"kind": self.kind, "level": self.level, "n": self.n,
                               "calibrated_on": self.calibrated_on, "q": list(self.q)}
        out.update({key: getattr(self, key) for key in _KINDS[self.kind].fields})
        if self.residuals:
            out.update(residuals=[list(r) for r in self.residuals], residual_members=list(self.residual_members))
        out["sigma"] = self.sigma.to_dict() if self.sigma is not None else None
        return out

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> "Calibration":
        """Rebuild from `to_dict()` output, or the calibration dict of an older run (calibrated on "valid")."""
        try:
            kind = str(state["kind"])
            if kind not in _KINDS:
                raise ValueError(f"kind '{kind}' is not one of {', '.join(_KINDS)}")
            q = tuple(float(v) for v in state.get("q") or ())
            sigma = state.get("sigma")
            return cls(kind=kind, level=float(state["level"]), n=int(state["n"]),
                       calibrated_on=str(state.get("calibrated_on", "valid")), q=q,
                       score=state.get("score"), method=state.get("method"),
                       randomised=bool(state.get("randomised", False)), seed=int(state.get("seed", 0)),
                       sigma=SigmaCalibrator.from_dict(sigma) if sigma else None,
                       residuals=tuple(tuple(float(v) for v in r) for r in state.get("residuals") or ()),
                       residual_members=tuple(int(k) for k in state.get("residual_members") or ()))
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise DataError(f"the stored calibration is malformed ({err!r}); expected the keys kind, level, n, q "
                            "as written by Calibration.to_dict().") from err


def calibrate(task: str, y_cal: NDArray[Any], dist_cal: "Predictive | Mapping[str, Any]", spec: UncertaintySpec,
              *, calibrated_on: str = "calib") -> Calibration:
    """Fit the calibration on the calibration split: sigma recalibration first, then conformal thresholds.

    The conformal scores use the recalibrated sigma (score "normalised"), so `apply_calibration` and the
    thresholds agree. Fit it on rows that played no part in training or model selection.

    Args:
        task: "regression", "binary" or "multiclass".
        y_cal: calibration targets in data units, (n, t) (regression) or (n,) labels.
        dist_cal: the model's `Predictive` on those rows (raw, as `predictive` returns it).
        spec: level, score, set method, recalibration method.
        calibrated_on: the split's name, recorded in the result (and metrics.json).
    """
    dist = as_predictive(dist_cal, task)
    n = int(len(y_cal))
    if n == 0:
        raise DataError(f"calibration needs rows that played no part in training, and the '{calibrated_on}' split "
                        "is empty. Set data.calib_fraction > 0 (e.g. 0.2), or uncertainty.conformal = false "
                        "and uncertainty.recalibration = 'none'.")
    alpha = 1.0 - spec.level
    if not task_of(task).continuous:
        if not spec.conformal:
            return Calibration(kind="sigma", level=spec.level, n=n, calibrated_on=calibrated_on)
        s = classification_scores(dist.pred, y_cal, spec.set_method,  # type: ignore[arg-type]
                                  randomised=spec.randomised, seed=spec.seed)
        return Calibration(kind="set", level=spec.level, n=n, calibrated_on=calibrated_on,
                           q=(float(conformal_quantile(s, alpha)),), method=spec.set_method,
                           randomised=spec.randomised, seed=spec.seed)
    sigma = None
    raw_std = dist.std_raw if dist.std_raw is not None else dist.std
    if spec.recalibration != "none" and raw_std is not None:
        sigma = SigmaCalibrator(spec.recalibration).fit(y_cal, dist.pred, raw_std)  # type: ignore[arg-type]
    cal = Calibration(kind="sigma", level=spec.level, n=n, calibrated_on=calibrated_on, sigma=sigma)
    if not spec.conformal:
        return cal
    dist = recalibrate(cal, dist)
    if spec.score == "normalised" and dist.std is None:
        raise ConfigError("uncertainty.score = 'normalised' needs a predicted sigma; this model gives none. "
                          "Use an ensemble, mc-dropout or heteroscedastic = true, or score = 'absolute'.")
    scores = regression_scores(y_cal, dist.pred, dist.std, spec.score)  # type: ignore[arg-type]
    q = np.atleast_1d(conformal_quantile(scores, alpha))
    return replace(cal, kind="interval", q=tuple(float(v) for v in q), score=spec.score)


def _as_calibration(calibration: "Calibration | Mapping[str, Any]") -> Calibration:
    return calibration if isinstance(calibration, Calibration) else Calibration.from_dict(calibration)


def recalibrate(calibration: "Calibration | Mapping[str, Any] | None",
                dist: "Predictive | Mapping[str, Any]") -> Predictive:
    """The Predictive with its sigma recalibrated: std from std_raw (kept), aleatoric / epistemic scaled alike.

    Idempotent: it always starts from the model's own sigma (std_raw when present). Without a sigma
    calibration the distribution is returned unchanged.
    """
    d = as_predictive(dist)
    cal = None if calibration is None else _as_calibration(calibration)
    if cal is None or cal.sigma is None or (d.std is None and d.std_raw is None):
        return d
    raw = d.std_raw if d.std_raw is not None else d.std
    assert raw is not None
    new = cal.sigma.apply(raw)
    # The parts scale with the total, so aleatoric^2 + epistemic^2 = std^2 still holds; an already
    # recalibrated Predictive's parts are first brought back to the raw scale (factor std_raw / std).
    factor = _ratio(new, raw) * (_ratio(raw, d.std) if d.std_raw is not None and d.std is not None else 1.0)

    def rescale(part: Array | None) -> Array | None:
        return None if part is None else part * factor

    return replace(d, std=new, std_raw=raw, aleatoric=rescale(d.aleatoric), epistemic=rescale(d.epistemic))


def _ratio(a: Array, b: Array) -> Array:
    """a / b, with 1 where b is 0."""
    return np.divide(a, b, out=np.ones_like(a), where=b > 0)


def apply_calibration(calibration: "Calibration | Mapping[str, Any]",
                      dist: "Predictive | Mapping[str, Any]") -> dict[str, NDArray[Any]]:
    """Conformal bands for a predictive distribution: {"lower", "upper"} (n, t), {"sets"} (n, k) bool, or {}.

    The sigma of a "normalised" score is the recalibrated one, as in `calibrate` (recalibration is
    applied here from std_raw, so a raw or an already recalibrated Predictive give the same bands).
    """
    cal = _as_calibration(calibration)
    return _KINDS[cal.kind].bands(cal, dist)


def _interval_bands(cal: Calibration, dist: "Predictive | Mapping[str, Any]") -> dict[str, NDArray[Any]]:
    """Regression bands {"lower", "upper"} (n, t): mean +- q (times the recalibrated sigma for the
    "normalised" score), or the CV+ band of the members' means."""
    q = np.asarray(cal.q, dtype=np.float64)
    d = recalibrate(cal, as_predictive(dist))
    mu = d.pred
    if cal.residuals:
        if d.member_means is None:
            raise DataError("these CV+ bands need each ensemble member's prediction, and this prediction has "
                            "none; predict with the ensemble itself (deepsci.evaluation.uncertainty.predictive).")
        lower, upper = cv_plus_interval(d.member_means, cal.residual_members, cal.residuals, 1.0 - cal.level)
        return {"lower": lower, "upper": upper}
    if cal.score != "normalised":
        half = np.broadcast_to(q, mu.shape)
    elif d.std is None:
        raise DataError("these conformal bands were calibrated with sigma ('normalised' score), and this "
                        "prediction has none.")
    else:
        half = q * d.std
    return {"lower": mu - half, "upper": mu + half}


def _set_bands(cal: Calibration, dist: "Predictive | Mapping[str, Any]") -> dict[str, NDArray[Any]]:
    """Classification prediction sets {"sets"} (n, k) bool: the classes whose score is within q."""
    p = as_predictive(dist, "multiclass").pred
    scores = _all_scores(p, str(cal.method), cal.randomised, cal.seed + 1)
    return {"sets": scores <= cal.q[0]}


@dataclass(frozen=True)
class _Kind:
    """What a calibration kind means: conformal or not, the fields it stores, and the bands it puts on a
    predictive distribution."""

    conformal: bool
    fields: tuple[str, ...]
    bands: Callable[[Calibration, "Predictive | Mapping[str, Any]"], dict[str, NDArray[Any]]]


#: the calibration kinds: "interval" (regression conformal), "set" (classification conformal), "sigma"
#: (recalibration only, no bands)
_KINDS: dict[str, _Kind] = {
    "interval": _Kind(True, ("score",), _interval_bands),
    "set": _Kind(True, ("method", "randomised", "seed"), _set_bands),
    "sigma": _Kind(False, (), lambda cal, dist: {}),
}


def format_sets(sets: NDArray[np.bool_], class_names: list[str]) -> list[str]:
    """Prediction sets as text, class names joined by "|" (an empty set is "")."""
    return ["|".join(class_names[c] for c in np.flatnonzero(row)) for row in np.asarray(sets, dtype=bool)]
