"""A run folder: what `deepsci fit` leaves, and how it loads back without executing anything.

    runs/<name>/ config.toml metrics.json history.csv predictions.csv model.safetensors model.json
                 report.html [skipped.csv]

Weights are safetensors; everything else is TOML/JSON/CSV. Loading never unpickles.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from deepsci.errors import DataError
from deepsci.models import MLP, head_predictions

if TYPE_CHECKING:
    from deepsci.data.dataset import Dataset
    from deepsci.data.scalers import Scaler
    from deepsci.experiment import Config

SPLITS = ("train", "valid", "test")


# -- predictions and metrics ------------------------------------------------------------------------
@torch.no_grad()
def predict_array(model: nn.Module, X: torch.Tensor, task: str, y_scaler: "Scaler | None",
                  batch_size: int = 4096) -> np.ndarray:
    """Predictions in the data's own units: regression (n, t) values; classification (n, k) probabilities."""
    model.eval()
    outputs = torch.cat([model(X[i:i + batch_size]) for i in range(0, X.shape[0], batch_size)])
    pred = head_predictions(outputs.double(), task)  # float64, so probabilities sum to 1 within 1e-12
    if task == "regression" and y_scaler is not None:
        pred = y_scaler.inverse_transform(pred)
    return pred.double().numpy()


def true_values(y: torch.Tensor, task: str, y_scaler: "Scaler | None") -> np.ndarray:
    """Targets in the data's own units: regression (n, t); classification (n,) class indices."""
    if task == "regression" and y_scaler is not None:
        y = y_scaler.inverse_transform(y)
    return y.double().numpy() if task == "regression" else y.long().numpy()


def split_metrics(task: str, y_true: np.ndarray, pred: np.ndarray, class_names: list[str]) -> dict[str, Any]:
    """The task's metrics for one split (see deepsci.evaluation.metrics)."""
    from deepsci.evaluation.metrics import classification_metrics, regression_metrics

    if task == "regression":
        return regression_metrics(y_true, pred)
    return classification_metrics(y_true, pred, class_names)


def evaluate_splits(model: nn.Module, dataset: "Dataset") -> dict[str, dict[str, Any]]:
    """For each split: ids, true values, predictions (data units) and metrics."""
    results = {}
    for name in SPLITS:
        split = getattr(dataset, name)
        if len(split) == 0:
            continue
        y_true = true_values(split.y, dataset.task, dataset.y_scaler)
        pred = predict_array(model, split.X, dataset.task, dataset.y_scaler)
        results[name] = {"ids": split.ids, "y_true": y_true, "pred": pred,
                         "metrics": split_metrics(dataset.task, y_true, pred, dataset.class_names)}
    return results


def predictions_frame(ids: list[str], pred: np.ndarray, task: str, target_names: list[str],
                      class_names: list[str], y_true: np.ndarray | None = None) -> pd.DataFrame:
    """One row per sample: id, [true value], prediction; classification adds p_<class> columns."""
    frame = pd.DataFrame({"id": ids})
    if task == "regression":
        for j, name in enumerate(target_names):
            if y_true is not None:
                frame[name] = y_true[:, j]
            frame[f"{name}_pred"] = pred[:, j]
        return frame
    label = target_names[0] if target_names else "label"
    if y_true is not None:
        frame[label] = [class_names[i] for i in y_true]
    frame[f"{label}_pred"] = [class_names[i] for i in pred.argmax(axis=1)]
    for k, name in enumerate(class_names):
        frame[f"p_{name}"] = pred[:, k]
    return frame


# -- writing ----------------------------------------------------------------------------------------
def versions() -> dict[str, str]:
    import deepsci

    return {"deepsci": deepsci.__version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def write_run(path: Path, *, config: "Config", dataset: "Dataset", model: nn.Module,
              history: list[dict[str, Any]], results: dict[str, dict[str, Any]], timings: dict[str, Any],
              best_epoch: int, extra_sections: list[Any] = ()) -> "Run":
    """Write the whole run folder at `path`, atomically (temporary sibling, then rename)."""
    import tomli_w

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        config_toml = tomli_w.dumps(_drop_none(config.model_dump()))
        (tmp / "config.toml").write_text(config_toml)
        metrics = {name: r["metrics"] for name, r in results.items()}
        metrics.update(task=dataset.task, seed=config.seed, best_epoch=best_epoch, epochs_run=len(history),
                       timings=timings, versions=versions(), data=dataset.summary)
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2, default=_json_default))
        pd.DataFrame(history).to_csv(tmp / "history.csv", index=False)
        test = results.get("test") or results["valid"]
        predictions_frame(test["ids"], test["pred"], dataset.task, dataset.target_names, dataset.class_names,
                          test["y_true"]).to_csv(tmp / "predictions.csv", index=False)
        if dataset.skipped:
            pd.DataFrame(dataset.skipped).to_csv(tmp / "skipped.csv", index=False)
        save_file({k: v.contiguous() for k, v in _plain_state(model).items()}, tmp / "model.safetensors")
        (tmp / "model.json").write_text(json.dumps(_model_meta(model, dataset, config), indent=2))
        if config.report.html:
            from deepsci.report.run_report import build_run_report

            build_run_report(tmp / "report.html", config=config, config_toml=config_toml, dataset=dataset,
                             metrics=metrics, results=results, history=history, extra_sections=extra_sections)
        _replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Run.load(path)


def _replace_dir(tmp: Path, path: Path) -> None:
    """Move `tmp` to `path`, replacing an earlier run of that name only once the new one is complete."""
    old = None
    if path.exists():
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        path.rename(old)
    tmp.rename(path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _plain_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weights of the forward network only (a learning rule's feedback matrices are not weights)."""
    keys = set(MLP.from_spec(model.spec()).state_dict()) if hasattr(model, "spec") else None
    return {k: v.detach() for k, v in model.state_dict().items() if keys is None or k in keys}


def _model_meta(model: nn.Module, dataset: "Dataset", config: "Config") -> dict[str, Any]:
    return {
        "format": "deepsci-run/1",
        "model": model.spec() if hasattr(model, "spec") else {},
        "task": dataset.task,
        "feature_names": dataset.feature_names,
        "target_names": dataset.target_names,
        "class_names": dataset.class_names,
        "featuriser": dataset.featuriser,
        "x_scaler": dataset.x_scaler.to_dict() if dataset.x_scaler is not None else None,
        "y_scaler": dataset.y_scaler.to_dict() if dataset.y_scaler is not None else None,
        "rule": config.train.rule,
        "versions": versions(),
    }


def _drop_none(value: Any) -> Any:
    """TOML has no null: leave unset optional keys out of the resolved config."""
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


# -- loading ----------------------------------------------------------------------------------------
@dataclass
class Run:
    """A run folder loaded back: config, model, metadata and metrics. Nothing in it is executed."""

    path: Path
    config: "Config"
    model: nn.Module
    meta: dict[str, Any]
    metrics: dict[str, Any]

    @classmethod
    def load(cls, path: str | Path) -> "Run":
        """Load `runs/<name>/` (config.toml, model.json, model.safetensors, metrics.json)."""
        from deepsci.experiment import load_config

        path = Path(path)
        missing = [f for f in ("config.toml", "model.json", "model.safetensors", "metrics.json")
                   if not (path / f).is_file()]
        if missing:
            raise DataError(f"'{path}' is not a complete run folder (missing {', '.join(missing)}). "
                            "Pass the folder that `deepsci fit` wrote, e.g. runs/solubility.")
        meta = json.loads((path / "model.json").read_text())
        model = MLP.from_spec(meta["model"])
        model.load_state_dict(load_file(path / "model.safetensors"))
        model.eval()
        return cls(path=path, config=load_config(path / "config.toml"), model=model, meta=meta,
                   metrics=json.loads((path / "metrics.json").read_text()))

    @property
    def task(self) -> str:
        return str(self.meta["task"])

    def _scalers(self) -> tuple["Scaler | None", "Scaler | None"]:
        from deepsci.data.scalers import Scaler

        x, y = self.meta.get("x_scaler"), self.meta.get("y_scaler")
        return (Scaler.from_dict(x) if x else None, Scaler.from_dict(y) if y else None)

    def evaluate(self, source: str | Path | pd.DataFrame) -> dict[str, Any]:
        """Metrics of the model on a new labelled table (it must hold the target column(s))."""
        from deepsci.data import prepare_targets

        frame, skipped, pred = self._predict(source)
        skipped_rows = {s["row"] for s in skipped}
        rows = [r for r in range(len(frame)) if r not in skipped_rows]
        y = prepare_targets(frame, self.meta["target_names"], self.task, self.meta["class_names"], rows)
        return split_metrics(self.task, y.double().numpy() if self.task == "regression" else y.numpy(), pred,
                             self.meta["class_names"])

    def predict(self, source: str | Path | pd.DataFrame) -> pd.DataFrame:
        """Predictions for a new table (file or DataFrame), featurised and scaled as in training.

        Rows that cannot be used (e.g. an unparsable SMILES) are left out; `skipped_` lists them.
        """
        frame, skipped, pred = self._predict(source)
        self.skipped_ = skipped
        return predictions_frame(self._ids, pred, self.task, self.meta["target_names"], self.meta["class_names"])

    def _predict(self, source: str | Path | pd.DataFrame) -> tuple[pd.DataFrame, list[dict[str, Any]], np.ndarray]:
        from deepsci.data import prepare_inputs, read_table

        frame = source if isinstance(source, pd.DataFrame) else read_table(source)
        frame = frame.reset_index(drop=True)
        x_scaler, y_scaler = self._scalers()
        X, self._ids, skipped = prepare_inputs(frame, self.meta["featuriser"], self.meta["feature_names"], x_scaler)
        return frame, skipped, predict_array(self.model, X, self.task, y_scaler)
