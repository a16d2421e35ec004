"""From a trained network to a predictive distribution, and from a calibration split to calibrated error bars.

Estimator, calibrator, evaluator (the split chemprop v2 makes), each a value or a pure function:

    network (any nn.Module; an ensemble gives (K, n, out))  --predictive()-->  Predictive (data units)
    calibration split (y, Predictive)                        --calibrate()--->  Calibration (JSON via to_dict)
    Calibration + any Predictive      --recalibrate()-->  Predictive with the recalibrated std
                                      --apply_calibration()-->  {"lower", "upper"} or {"sets"}

`UncertaintySpec` carries the options as plain typed values (the `[uncertainty]` config section turned
into one by `deepsci.config.uncertainty.resolve_uncertainty`). Calibration is fitted on rows that played
no part in training or model selection (the calibration split, `Dataset.calib`): conformal guarantees need
calibration rows exchangeable with the rows the bands are put on, and validation rows used for early
stopping are not (the chosen model fits them better than fresh rows).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Iterator, Protocol

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from deepsci.data.batch import Inputs, forward, n_rows, take
from deepsci.errors import ConfigError, DataError, unknown_name
from deepsci.evaluation.uncertainty.conformal import (
    REGRESSION_SCORES,
    SET_METHODS,
    _all_scores,
    classification_scores,
    conformal_quantile,
    cv_plus_interval,
    regression_scores,
)
from deepsci.evaluation.uncertainty.heteroscedastic import LINKS, decompose, mean_variance
from deepsci.evaluation.uncertainty.mc_dropout import mc_dropout_samples
from deepsci.evaluation.uncertainty.recalibration import RECALIBRATIONS, SigmaCalibrator
from deepsci.models.heads import head_predictions

Tensor = torch.Tensor
Array = NDArray[np.float64]
METHODS = ("none", "ensemble", "mc-dropout")
CONFORMAL_METHODS = ("split", "cross", "cross-plus")

__all__ = ["CONFORMAL_METHODS", "METHODS", "UncertaintySpec", "TargetUnscaler", "Predictive", "Calibration",
           "predictive", "calibrate", "recalibrate", "apply_calibration", "format_sets"]


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
        seed: seeds MC-dropout masks and randomised APS.
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
    seed: int = 0

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
            raise ConfigError(f"uncertainty level must be in (0, 1), e.g. 0.9 for 90% intervals; received {self.level}.")

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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, state: dict[str, Any] | None) -> "UncertaintySpec":
        try:
            return cls(**(state or {}))
        except TypeError as err:
            raise DataError(f"the stored uncertainty options are malformed ({err}); expected the keys "
                            f"{', '.join(cls.__dataclass_fields__)}.") from err


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

    For the transition from dicts, `dist["pred"]` (mean or proba), `dist["std"]`, `"std" in dist` and
    `dist.get(...)` still work; new code should read the attributes.
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

    # -- read-only mapping access, for callers written against the old dict --------------------------
    def __getitem__(self, key: str) -> Array:
        return self.as_dict()[key]

    def __contains__(self, key: object) -> bool:
        return key in self.as_dict()

    def __iter__(self) -> Iterator[str]:
        return iter(self.as_dict())

    def keys(self) -> Any:
        return self.as_dict().keys()

    def get(self, key: str, default: Any = None) -> Any:
        return self.as_dict().get(key, default)


def as_predictive(dist: "Predictive | Mapping[str, Any]", task: str = "regression") -> Predictive:
    """A Predictive from a Predictive or an old-style dict {"pred", "std", ...}."""
    if isinstance(dist, Predictive):
        return dist
    arrays = {k: None if dist.get(k) is None else np.asarray(dist[k], dtype=np.float64)
              for k in ("pred", "std", "std_raw", "aleatoric", "epistemic", "member_means")}
    pred = arrays.pop("pred")
    return Predictive(**arrays, **({"mean": pred} if task == "regression" else {"proba": pred}))


@torch.no_grad()
def _raw_samples(model: nn.Module, X: Inputs, spec: UncertaintySpec, batch_size: int) -> Tensor:
    """Raw outputs as (S, n, ...) on the CPU: S = members (ensemble), samples (MC dropout) or 1."""
    from deepsci.training.device import model_device, move_batch

    if spec.method == "mc-dropout":
        return mc_dropout_samples(model, X, samples=spec.samples, seed=spec.seed, batch_size=batch_size)
    was_training = model.training
    model.eval()
    try:
        n = n_rows(X)
        # An ensemble's rows are dim 1 of (K, n, out); any other model's are dim 0.
        row_dim = 1 if spec.method == "ensemble" else 0
        device = model_device(model)  # each batch to the model's device, its outputs back to the host
        chunks = [forward(model, move_batch(take(X, slice(i, i + batch_size)), device)).cpu()
                  for i in range(0, n, batch_size)]
        out = torch.cat(chunks, dim=row_dim) if chunks else forward(model, move_batch(X, device)).cpu()
    finally:
        model.train(was_training)
    return out if spec.method == "ensemble" else out.unsqueeze(0)


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
    if task != "regression":
        proba = torch.stack([head_predictions(r, task) for r in raw]).mean(0)
        return Predictive(proba=proba.numpy())
    if spec.heteroscedastic:
        means, variances = mean_variance(raw, link=spec.link)  # type: ignore[arg-type]  # (S, n, t) each
    else:
        means, variances = raw, None
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
        return self.kind in ("interval", "set")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (model.json, metrics.json); the keys of the old calibration dict plus the new ones."""
        out: dict[str, Any] = {"kind": self.kind, "level": self.level, "n": self.n,
                               "calibrated_on": self.calibrated_on, "q": list(self.q)}
        if self.kind == "interval":
            out["score"] = self.score
        if self.residuals:
            out.update(residuals=[list(r) for r in self.residuals], residual_members=list(self.residual_members))
        if self.kind == "set":
            out.update(method=self.method, randomised=self.randomised, seed=self.seed)
        out["sigma"] = self.sigma.to_dict() if self.sigma is not None else None
        return out

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> "Calibration":
        """Rebuild from `to_dict()` output, or the calibration dict of an older run (calibrated on "valid")."""
        try:
            kind = str(state["kind"])
            if kind not in ("interval", "set", "sigma"):
                raise ValueError(f"kind '{kind}' is not interval, set or sigma")
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
    if task != "regression":
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
    q = np.asarray(cal.q, dtype=np.float64)
    if cal.kind == "interval":
        d = recalibrate(cal, as_predictive(dist))
        mu = d.pred
        if cal.residuals:
            if d.member_means is None:
                raise DataError("these CV+ bands need each ensemble member's prediction, and this prediction has "
                                "none; predict with the ensemble itself (deepsci.evaluation.uncertainty.predictive).")
            lower, upper = cv_plus_interval(d.member_means, cal.residual_members, cal.residuals, 1.0 - cal.level)
            return {"lower": lower, "upper": upper}
        if cal.score == "normalised":
            if d.std is None:
                raise DataError("these conformal bands were calibrated with sigma ('normalised' score), and this "
                                "prediction has none.")
            half = q * d.std
        else:
            half = np.broadcast_to(q, mu.shape)
        return {"lower": mu - half, "upper": mu + half}
    if cal.kind == "set":
        p = as_predictive(dist, "multiclass").pred
        scores = _all_scores(p, str(cal.method), cal.randomised, cal.seed + 1)
        return {"sets": scores <= q[0]}
    return {}


def format_sets(sets: NDArray[np.bool_], class_names: list[str]) -> list[str]:
    """Prediction sets as text, class names joined by "|" (an empty set is "")."""
    return ["|".join(class_names[c] for c in np.flatnonzero(row)) for row in np.asarray(sets, dtype=bool)]
