"""Evaluate a trained model on every split of its Dataset: predictions, metrics, references, error bars.

Predictions and metrics are in the data's own units: the run's preprocessor turns scaled regression
outputs back. The test split is never used to choose or calibrate anything.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch
from torch import nn

from deepsci.data.batch import Inputs
from deepsci.errors import DataError
from deepsci.evaluation.baselines import collapse_warnings, worse_than_trivial
from deepsci.evaluation.forecast import baseline_forecasts, forecast_comparison
from deepsci.evaluation.metrics import task_metrics
from deepsci.evaluation.references import fit_references
from deepsci.evaluation.results import BaselineResult, Evaluation, SplitResult
from deepsci.evaluation.uncertainty import (Calibration, apply_calibration, calibrate, held_out_calibration,
                                            predictive, recalibrate, sampled_layers, uncertainty_metrics)
from deepsci.evaluation.uncertainty.levels import coverage_by_level, uncertainty_notes, without_uncalibrated_sigma
from deepsci.tasks import task_of
from deepsci.training.inference import predict_batches
from deepsci.training.uncertainty_spec import UncertaintySpec

if TYPE_CHECKING:
    from deepsci.data.dataset import Dataset, Split

SPLITS = ("train", "valid", "test")


def predictions(outputs: torch.Tensor, task: str, inverse_targets: Callable[[torch.Tensor], torch.Tensor]) -> np.ndarray:
    """Raw outputs as predictions in data units: regression (n, t) values; classification (n, k) probabilities
    (multilabel: one sigmoid per label; tagging: (n, T, k) per step).

    Probabilities are computed in float64, so each row sums to 1 within 1e-12.
    """
    kind = task_of(task)
    pred = kind.predict(outputs.double())
    if kind.continuous:
        pred = inverse_targets(pred)
    return pred.double().numpy()


def truth(y: torch.Tensor, task: str, inverse_targets: Callable[[torch.Tensor], torch.Tensor]) -> np.ndarray:
    """Targets in data units: regression (n, t) float64; classification (n,) class indices; multilabel (n, k)
    0/1; tagging (n, T) tag indices (-100 on padded steps)."""
    if task_of(task).continuous:
        return inverse_targets(y.double()).double().numpy()
    return y.long().numpy()


def split_truth(split: "Split", task: str, inverse_targets: Callable[[torch.Tensor], torch.Tensor]) -> np.ndarray:
    """A split's targets in data units: the values as read where the builder kept them (`Split.y_raw`, exact),
    else `truth` of its tensor."""
    if split.y_raw is not None and len(split.y_raw) == len(split.y):
        return split.y_raw
    return truth(split.y, task, inverse_targets)


def evaluate_model(model: nn.Module, dataset: "Dataset", spec: UncertaintySpec | None = None, *,
                   season: int | None = None) -> Evaluation:
    """Predictions, metrics, references and error bars of a trained model on every split of `dataset`.

    With an active uncertainty spec the predictive distribution of each split is computed, the
    calibration (conformal thresholds, sigma scale) is fitted on the calibration split only (rows that
    took no part in training or model selection), and applied to every split.
    """
    task, pre = dataset.task, dataset.preprocessor
    names = [n for n in SPLITS + ("calib",) if (s := getattr(dataset, n, None)) is not None and len(s) > 0]
    truths = {n: split_truth(getattr(dataset, n), task, pre.inverse_targets) for n in names}
    outputs = {n: predict_with_uncertainty(model, getattr(dataset, n).X, task, pre, spec, None) for n in names}

    def fit(at: UncertaintySpec) -> Any:
        """The calibration of `at` on this run's rows. K-fold members: the calibration split fits the sigma only,
        and the bands come from the members' out-of-fold residuals on the training rows."""
        cal = fit_calibration(task, truths.get("calib"), outputs["calib"][1] if "calib" in outputs else None,
                              replace(at, conformal=False, conformal_method="split") if at.k_fold else at)
        if at.k_fold:
            cal = held_out_calibration(model, dataset.train.X, truths["train"], at, TargetUnits(pre), cal)
        return cal

    calibration = fit(spec) if spec is not None and spec.active else None
    notes: list[str] = []
    splits: dict[str, SplitResult] = {}
    for n in names:
        pred, dist, _ = outputs[n]
        bands: dict[str, np.ndarray] = {}
        uncertainty: dict[str, Any] = {}
        if dist is not None:  # an active spec gave it
            assert spec is not None
            notes = uncertainty_notes(spec, calibration, valid_rows=len(dataset.valid),
                                      has_sigma=dist.get("std") is not None)
            dist = without_uncalibrated_sigma(spec, calibration, recalibrate(calibration, dist).as_dict())
            bands = apply_calibration(calibration, dist) if calibration is not None else {}
            uncertainty = split_uncertainty(task, truths[n], dist, bands, spec.level)
            if n == "test" and calibration is not None and calibration.conformal:
                uncertainty["coverage_by_level"] = coverage_by_level(lambda level: fit(replace(spec, level=level)),
                                                                     dist, truths[n], task_of(task).continuous)
        splits[n] = SplitResult(name=n, ids=getattr(dataset, n).ids, y_true=truths[n], pred=pred,
                                metrics=task_metrics(task, truths[n], pred, dataset.class_names, dataset.target_names),
                                dist=dist, bands=bands, uncertainty=uncertainty)
    baselines = baseline_results(dataset)
    forecast = forecast_results(dataset, splits, season)
    stored = calibration.to_dict() if calibration is not None else None
    summary = uncertainty_summary(spec, model, stored, splits) if spec is not None and spec.active else None
    return Evaluation(task=task, splits=splits, baselines=baselines, forecast=forecast, uncertainty=summary,
                      calibration=stored, warnings=(*baseline_warnings(task, splits, baselines), *notes))


def forecast_results(dataset: "Dataset", splits: dict[str, SplitResult], season: int | None) -> dict[str, Any] | None:
    """Test RMSE of the model and of persistence, seasonal-naive and linear AR on the same test windows (None
    where the inputs are not windows of a series, or there is no test split)."""
    if "test" not in splits or not any(schema.structure == "window" for schema in dataset.inputs.values()):
        return None
    test = splits["test"]
    return forecast_comparison(test.y_true, test.pred, baseline_forecasts(dataset, season))


def uncertainty_summary(spec: UncertaintySpec, model: nn.Module, calibration: dict[str, Any] | None,
                        splits: dict[str, SplitResult]) -> dict[str, Any]:
    """metrics.json["uncertainty"]: the method, the calibration and where it was fitted, per split metrics."""
    out: dict[str, Any] = {"method": spec.method, "members": int(getattr(model, "members", 1)),
                           "heteroscedastic": spec.heteroscedastic, "level": spec.level,
                           "conformal_method": spec.conformal_method, "scheme": spec.scheme,
                           "calibration": calibration}
    if spec.method == "mc-dropout":
        out["samples"] = spec.samples
        out["sampled_layers"] = sampled_layers(model)  # every dropout MC dropout samples, by module name
    if spec.method == "ensemble":
        out["ensemble_form"] = getattr(model, "FORM", "stacked")  # stacked MLP, sequential or vectorised members
    out.update({n: r.uncertainty for n, r in splits.items() if n in ("valid", "test", "calib")})
    return out


def baseline_results(dataset: "Dataset") -> tuple[BaselineResult, ...]:
    """The references of the dataset's kind (deepsci.evaluation.references), fitted on its training rows, with
    the task's metrics on every split in data units."""
    task, inverse = dataset.task, dataset.preprocessor.inverse_targets
    seed = int(dataset.summary.split.get("seed") or 0)
    results: list[BaselineResult] = []
    for reference in fit_references(dataset, seed):
        metrics: dict[str, dict[str, Any]] = {}
        for name in SPLITS:
            split = getattr(dataset, name)
            if len(split) == 0:
                continue
            pred = reference.predict(split.X)
            if task_of(task).continuous:
                pred = inverse(torch.as_tensor(pred)).double().numpy()
            metrics[name] = task_metrics(task, truth(split.y, task, inverse), pred, dataset.class_names,
                                         dataset.target_names)
        results.append(BaselineResult(reference.name, reference.description, metrics))
    return tuple(results)


def baseline_warnings(task: str, splits: dict[str, SplitResult], baselines: tuple[BaselineResult, ...]) -> tuple[str, ...]:
    """Warnings about the test numbers: a model worse than the trivial reference, an undefined R², a collapsed
    classifier (one class for every test row, or training accuracy at chance)."""
    warnings: list[str] = []
    test = splits.get("test")
    if task_of(task).continuous and test is not None and np.ptp(test.y_true, axis=0).min() == 0:
        warnings.append("a target is constant on the test split, so R² and correlations are undefined (null in "
                        "metrics.json); judge the model by RMSE / MAE, or use a test split where the target varies.")
    trivial = next((b for b in baselines if b.name == "trivial"), None)
    if trivial is not None and test is not None and "test" in trivial.metrics:
        warning = worse_than_trivial(task, test.metrics, trivial.metrics["test"])
        if warning:
            warnings.append(warning)
    train = splits.get("train")
    warnings += collapse_warnings(task, test.pred if test is not None else None,
                                  train.metrics if train is not None else None,
                                  trivial.metrics.get("train") if trivial is not None else None,
                                  list(test.metrics.get("class_names", [])) if test is not None else [])
    return tuple(warnings)


class TargetUnits:
    """The preprocessor's target transform in the shape `predictive` expects (a scaler's two inverses)."""

    def __init__(self, preprocessor: Any) -> None:
        self.inverse_transform = preprocessor.inverse_targets
        self.inverse_transform_std = preprocessor.inverse_std


def predict_with_uncertainty(model: nn.Module, X: Inputs, task: str, preprocessor: Any, spec: UncertaintySpec | None,
                             calibration: dict[str, Any] | None) -> tuple[np.ndarray, dict[str, np.ndarray] | None,
                                                                          dict[str, np.ndarray]]:
    """(pred, dist, bands) for inputs X in data units: the one path of evaluation, `predict` and `Run.predict`.

    Without an active uncertainty spec dist is None and bands empty; with one, pred is the predictive mean
    (ensemble / MC dropout), dist the predictive distribution (sigma recalibrated where a calibration holds
    a scale) and bands the conformal intervals or sets of the stored calibration.
    """
    if spec is None or not spec.active:
        return predictions(predict_batches(model, X), task, preprocessor.inverse_targets), None, {}
    dist = recalibrate(calibration or None, predictive(model, X, task, spec, TargetUnits(preprocessor)))
    fitted = Calibration.from_dict(calibration) if calibration else None
    shown = without_uncalibrated_sigma(spec, fitted, dist.as_dict()) if calibration is not None else dist.as_dict()
    return dist.pred, shown, apply_calibration(calibration, dist) if calibration else {}


def fit_calibration(task: str, y_cal: np.ndarray | None, dist_cal: Any, spec: UncertaintySpec) -> Any:
    """Sigma recalibration and conformal thresholds fitted on the calibration split (None when not asked for).

    The calibration split is carved from the training rows and plays no part in training, early stopping
    or the learning-rate schedule, so its residuals are exchangeable with the test split's.
    """
    if not spec.needs_calibration:
        return None
    if y_cal is None or dist_cal is None:
        raise DataError("conformal calibration needs rows that took no part in training or model selection, and "
                        "this run has none. Set data.calib_fraction (e.g. 0.2), or uncertainty.conformal = false.")
    return calibrate(task, y_cal, dist_cal, spec, calibrated_on="calib")


def split_uncertainty(task: str, y_true: np.ndarray, dist: dict[str, np.ndarray], bands: dict[str, np.ndarray],
                      level: float) -> dict[str, Any]:
    """Uncertainty metrics of one split (see `deepsci.evaluation.uncertainty.uncertainty_metrics`)."""
    if not task_of(task).continuous:
        return uncertainty_metrics(y_true, proba=dist["pred"], sets=bands.get("sets"), level=level)
    out = uncertainty_metrics(y_true, mean=dist["pred"], std=dist.get("std"), lower=bands.get("lower"),
                              upper=bands.get("upper"), std_raw=dist.get("std_raw"), level=level)
    for part in ("aleatoric", "epistemic"):
        if part in dist:
            out[f"mean_{part}_std"] = float(np.mean(dist[part]))
    return out
