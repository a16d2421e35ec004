"""Evaluation of a streamed table (`[data] stream = true`) in blocks of rows: memory bounded whatever the row count.

Each split is read in one pass of BLOCK_ROWS rows at a time. Every block is predicted by the network (with its
error bars where an uncertainty method is active) and by each reference (trivial, streamed ridge), and fed to the
task's metrics accumulator (`deepsci.evaluation.stream_metrics`), so every metric but the rank statistics covers
every row. What a pass keeps besides the sums:

    head     the shown split's (test, else valid) first `keep_rows` rows: predictions.csv (`[report] predictions`)
    sample   a seeded uniform random sample of SAMPLE_ROWS rows of each split: Spearman's rho and ROC-AUC, the
             uncertainty metrics (coverage, widths, NLL) and the report's figures (`Evaluation.drawn`)

Error bars: the calibration (conformal thresholds, sigma scaling) is fitted on a seeded random sample of at most
CALIB_ROWS rows of the calibration split, gathered in its own pass. A random subsample of calibration rows is still
exchangeable with the test rows, so split conformal's guarantee holds at that size (the threshold's quantile is then
known to 1 / (CALIB_ROWS + 1)). CV+ needs every training row's held-out residual and is refused for a streamed table
before training (`check_streamed_uncertainty`).

Memory: a block of features and outputs (BLOCK_ROWS x d floats, twice), the samples and the head, and the sums.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np
import torch
from torch import nn

from deepsci.data.batch import Inputs, take
from deepsci.data.stream import StreamedRows
from deepsci.errors import ConfigError
from deepsci.evaluation.evaluate import (TargetUnits, baseline_warnings, fit_calibration, predictions,
                                         split_uncertainty, truth, uncertainty_summary)
from deepsci.evaluation.references import Reference, fit_references
from deepsci.evaluation.results import BaselineResult, Evaluation, SplitResult
from deepsci.evaluation.stream_metrics import metrics_accumulator, sample_rows
from deepsci.evaluation.uncertainty import Calibration, apply_calibration, predictive, recalibrate
from deepsci.evaluation.uncertainty.levels import coverage_by_level, uncertainty_notes, without_uncalibrated_sigma
from deepsci.tasks import task_of
from deepsci.training.inference import predict_batches
from deepsci.training.uncertainty_spec import UncertaintySpec

if TYPE_CHECKING:
    from deepsci.data.dataset import Dataset, Split

__all__ = ["BLOCK_ROWS", "CALIB_ROWS", "SAMPLE_ROWS", "check_streamed_uncertainty", "evaluate_streamed"]

BLOCK_ROWS = 65_536  # rows predicted at once: 65,536 x 20 float32 features are 5 MB
SAMPLE_ROWS = 50_000  # rows of each split kept for the rank metrics, the uncertainty metrics and the figures
CALIB_ROWS = 100_000  # calibration rows the conformal thresholds and the sigma scale are fitted on, at most
SPLITS = ("train", "valid", "test", "calib")


def check_streamed_uncertainty(spec: UncertaintySpec) -> None:
    """Refuse, before training, error bars a streamed table cannot give in bounded memory (CV+ / K-fold members)."""
    if spec.active and spec.k_fold:
        raise ConfigError(f"uncertainty.conformal_method = '{spec.conformal_method}' needs every training row's "
                          "held-out residual, which a streamed table does not hold; set uncertainty.conformal_method "
                          "= 'split' with data.calib_fraction > 0 (e.g. 0.1), or uncertainty.method = 'none'.")


# -- rows kept while a split streams by ----------------------------------------------------------------------------
@dataclass
class Kept:
    """Rows of one split kept while it streams by: the local rows `where` (sorted), their ids, truth and
    predictions (the network's as "model", each reference's under its name), predictive distribution and bands."""

    where: np.ndarray
    ids: list[str] = field(default_factory=list)
    truth: list[np.ndarray] = field(default_factory=list)
    preds: dict[str, list[np.ndarray]] = field(default_factory=dict)
    dist: list[dict[str, np.ndarray]] = field(default_factory=list)
    bands: list[dict[str, np.ndarray]] = field(default_factory=list)

    def pick(self, start: int, stop: int) -> np.ndarray:
        """The kept rows inside the block [start, stop), as positions in the block."""
        lo, hi = np.searchsorted(self.where, [start, stop])
        return self.where[lo:hi] - start

    def add(self, at: np.ndarray, ids: list[str], y: np.ndarray, preds: dict[str, np.ndarray],
            dist: dict[str, np.ndarray] | None, bands: dict[str, np.ndarray]) -> None:
        """Keep block rows `at` of the block's truth, predictions, distribution and bands."""
        if not len(at):
            return
        self.ids += ids
        self.truth.append(y[at])
        for name, p in preds.items():
            self.preds.setdefault(name, []).append(p[at])
        if dist is not None:
            self.dist.append({k: v[:, at] if k == "member_means" else v[at] for k, v in dist.items()})
        self.bands.append({k: v[at] for k, v in bands.items()})

    def result(self, name: str, y_empty: np.ndarray, pred_empty: np.ndarray, **fields: Any) -> SplitResult:
        """The kept rows as a SplitResult (metrics and the rest in `fields`)."""
        y = np.concatenate(self.truth) if self.truth else y_empty
        pred = np.concatenate(self.preds["model"]) if self.truth else pred_empty
        dist = _joined(self.dist) if self.dist else None
        return SplitResult(name=name, ids=self.ids, y_true=y, pred=pred, dist=dist,
                           bands=_joined(self.bands) if self.bands else {}, **fields)


def _joined(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Blocks of {name: array} joined by rows (an ensemble's member means (K, n, t) on dim 1)."""
    return {k: np.concatenate([p[k] for p in parts], axis=1 if k == "member_means" else 0) for k in parts[0]}


def _blocks(split: "Split") -> Iterator[tuple[int, int, Inputs]]:
    """(start, stop, inputs of rows [start, stop)) of a split, BLOCK_ROWS at a time, in order: a streamed split reads
    its blocks once, and drops them after the pass."""
    n = len(split)
    try:
        for start in range(0, n, BLOCK_ROWS):
            stop = min(n, start + BLOCK_ROWS)
            yield start, stop, take(split.X, slice(start, stop))
    finally:
        release(split)


def release(split: "Split | None") -> None:
    """Let a streamed split drop the blocks it holds (its last window, about 32 MB)."""
    if split is not None and isinstance(split.X, StreamedRows):
        split.X.release()


def _ids(split: "Split", start: int, at: np.ndarray) -> list[str]:
    """Ids of block rows `at` of the block starting at `start`."""
    return [split.ids[int(start + i)] for i in at]


# -- predictions of one block --------------------------------------------------------------------------------------
class BlockPredictor:
    """(pred, dist, bands) of a block of inputs, as `evaluate_model` computes them for a whole split.

    `had_sigma` records whether the model's own predictive gave a sigma before `without_uncalibrated_sigma`
    (what `uncertainty_notes` asks)."""

    def __init__(self, model: nn.Module, task: str, preprocessor: Any, spec: UncertaintySpec | None,
                 calibration: Calibration | None) -> None:
        self.model, self.task, self.preprocessor, self.spec = model, task, preprocessor, spec
        self.calibration, self.had_sigma = calibration, False

    def __call__(self, X: Inputs) -> tuple[np.ndarray, dict[str, np.ndarray] | None, dict[str, np.ndarray]]:
        spec, calibration = self.spec, self.calibration
        if spec is None or not spec.active:
            return predictions(predict_batches(self.model, X), self.task, self.preprocessor.inverse_targets), None, {}
        own = recalibrate(calibration, predictive(self.model, X, self.task, spec, TargetUnits(self.preprocessor)))
        self.had_sigma = self.had_sigma or own.std is not None
        dist = without_uncalibrated_sigma(spec, calibration, own.as_dict())
        return dist["pred"], dist, apply_calibration(calibration, dist) if calibration is not None else {}


def _reference_predictions(references: list[Reference], X: Inputs, task: str, inverse: Any) -> dict[str, np.ndarray]:
    """Each reference's predictions of a block in data units."""
    out = {}
    for reference in references:
        pred = reference.predict(X)
        out[reference.name] = inverse(torch.as_tensor(pred)).double().numpy() if task_of(task).continuous else pred
    return out


# -- the passes ----------------------------------------------------------------------------------------------------
def calibration_rows(model: nn.Module, dataset: "Dataset", spec: UncertaintySpec,
                     seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
    """(y_cal, dist_cal): the truth and the model's own predictive distribution at a seeded random sample of at
    most CALIB_ROWS rows of the calibration split, gathered in one pass (None where there are no calibration rows).
    Only the sample's rows are predicted."""
    calib = dataset.calib
    if calib is None or len(calib) == 0:
        return None
    task, pre = dataset.task, dataset.preprocessor
    where = sample_rows(len(calib), CALIB_ROWS, seed)
    ys, dists = [], []
    for start, stop, X in _blocks(calib):
        lo, hi = np.searchsorted(where, [start, stop])
        if hi > lo:
            rows = torch.from_numpy(where[lo:hi] - start)
            dists.append(predictive(model, take(X, rows), task, spec, TargetUnits(pre)).as_dict())
            ys.append(truth(calib.y[start:stop].index_select(0, rows), task, pre.inverse_targets))
    return np.concatenate(ys), _joined(dists)


@dataclass
class Pass:
    """One split after its pass: the network's result, each reference's metrics."""

    result: SplitResult
    references: dict[str, dict[str, Any]]


def stream_split(name: str, split: "Split", dataset: "Dataset", predict: BlockPredictor,
                 references: list[Reference], *, keep_rows: int, seed: int) -> Pass:
    """One pass over a split: metrics of the network and of each reference on every row, the first `keep_rows`
    rows and a random sample of SAMPLE_ROWS rows kept."""
    task, pre = dataset.task, dataset.preprocessor
    n = len(split)
    head, sample = Kept(np.arange(min(keep_rows, n), dtype=np.int64)), Kept(sample_rows(n, SAMPLE_ROWS, seed))
    accumulators = {k: metrics_accumulator(task, dataset.class_names, dataset.target_names)
                    for k in ["model", *(r.name for r in references)]}
    for start, stop, X in _blocks(split):
        y = truth(split.y[start:stop], task, pre.inverse_targets)
        pred, dist, bands = predict(X)
        preds = {"model": pred, **_reference_predictions(references, X, task, pre.inverse_targets)}
        for key, values in preds.items():
            accumulators[key].add(y, values)
        for kept in (head, sample):
            at = kept.pick(start, stop)
            kept.add(at, _ids(split, start, at), y, preds if kept is sample else {"model": pred}, dist, bands)
    y_empty = truth(split.y[:0], task, pre.inverse_targets)
    pred_empty = np.zeros((0, *y_empty.shape[1:]) if task_of(task).continuous else (0, len(dataset.class_names)))
    sample_y = np.concatenate(sample.truth) if sample.truth else y_empty
    sampled = {k: np.concatenate(v) for k, v in sample.preds.items()}
    metrics = accumulators["model"].result(sample_y, sampled["model"])
    drawn = sample.result(name, y_empty, pred_empty, metrics={}, rows=n)
    result = head.result(name, y_empty, pred_empty, metrics=metrics, rows=n, sample=drawn)
    return Pass(result, {r.name: accumulators[r.name].result(sample_y, sampled[r.name]) for r in references})


def evaluate_streamed(model: nn.Module, dataset: "Dataset", spec: UncertaintySpec | None = None, *,
                      keep_rows: int = 0) -> Evaluation:
    """`evaluate_model` for a streamed table, block by block (see the module docstring).

    Args:
        model: the trained network. dataset: a streamed Dataset (its splits' X read from disk).
        spec: the run's uncertainty method (None or inactive: no error bars).
        keep_rows: rows of the shown split (test, else valid) held for predictions.csv, from its first row.
    """
    task = dataset.task
    seed = int(dataset.summary.split.get("seed") or 0)
    for name in SPLITS:  # the windows training left behind
        release(getattr(dataset, name, None))
    active = spec if spec is not None and spec.active else None
    if active is not None:
        check_streamed_uncertainty(active)
    held = calibration_rows(model, dataset, active, seed) if active is not None and active.needs_calibration else None

    def fit(at: UncertaintySpec) -> Any:
        """The calibration of `at` on the calibration sample (the one-line refusal where there is none)."""
        y_cal, dist_cal = held if held is not None else (None, None)
        return fit_calibration(task, y_cal, dist_cal, at)

    calibration = fit(active) if active is not None else None
    predict = BlockPredictor(model, task, dataset.preprocessor, spec, calibration)
    references = fit_references(dataset, seed)
    names = [n for n in SPLITS if (s := getattr(dataset, n, None)) is not None and len(s) > 0]
    shown = "test" if "test" in names else "valid"
    passes = {n: stream_split(n, getattr(dataset, n), dataset, predict, references if n != "calib" else [],
                              keep_rows=keep_rows if n == shown else 0, seed=seed + SPLITS.index(n))
              for n in names}
    splits = {n: p.result for n, p in passes.items()}
    stored = calibration.to_dict() if calibration is not None else None
    notes: list[str] = []
    summary = None
    if active is not None:
        notes = uncertainty_notes(active, calibration, valid_rows=len(dataset.valid), has_sigma=predict.had_sigma)
        levels = fit if calibration is not None and calibration.conformal else None
        splits = {n: _with_uncertainty(r, task, active, levels if n == "test" else None) for n, r in splits.items()}
        summary = {**uncertainty_summary(active, model, stored, splits), "sample_rows": SAMPLE_ROWS,
                   "calibration_rows": None if held is None else len(held[0])}
    baselines = tuple(BaselineResult(r.name, r.description,
                                     {n: p.references[r.name] for n, p in passes.items() if r.name in p.references})
                      for r in references)
    # the warnings read the test split's values: its sample stands in for them, its metrics are every row's
    drawn = {n: replace(r.sample, metrics=r.metrics) if r.sample is not None else r for n, r in splits.items()}
    return Evaluation(task=task, splits=splits, baselines=baselines, uncertainty=summary, calibration=stored,
                      warnings=(*baseline_warnings(task, drawn, baselines), *notes))


def _with_uncertainty(result: SplitResult, task: str, spec: UncertaintySpec,
                      fit: Callable[[UncertaintySpec], Any] | None) -> SplitResult:
    """A split's uncertainty metrics from its sample rows (metrics.json says how many: uncertainty.sample_rows);
    `fit` (the test split's): also the coverage of each level, calibrated as the run's own."""
    sample = result.sample
    if sample is None or sample.dist is None:
        return result
    uncertainty = split_uncertainty(task, sample.y_true, sample.dist, sample.bands, spec.level)
    if fit is not None:
        uncertainty["coverage_by_level"] = coverage_by_level(lambda level: fit(replace(spec, level=level)),
                                                             sample.dist, sample.y_true, task_of(task).continuous)
    return replace(result, uncertainty=uncertainty, sample=replace(sample, uncertainty=uncertainty))
