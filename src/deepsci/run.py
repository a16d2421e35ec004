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
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from deepsci.errors import DataError
from deepsci.models import MLP, head_predictions
from deepsci.models.spec import model_from_spec, spec_of

if TYPE_CHECKING:
    from deepsci.data.dataset import Dataset
    from deepsci.evaluation.uncertainty import UncertaintySpec
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


def split_metrics(task: str, y_true: np.ndarray, pred: np.ndarray, class_names: list[str],
                  target_names: list[str] | None = None) -> dict[str, Any]:
    """The task's metrics for one split (see deepsci.evaluation.metrics)."""
    from deepsci.evaluation.metrics import classification_metrics, regression_metrics

    if task == "regression":
        return regression_metrics(y_true, pred, target_names=target_names)
    return classification_metrics(y_true, pred, class_names)


def evaluate_splits(model: nn.Module, dataset: "Dataset",
                    uncertainty: "UncertaintySpec | None" = None) -> dict[str, dict[str, Any]]:
    """For each split: ids, true values, predictions (data units) and metrics.

    With an active `uncertainty` spec each split also gets "dist" (the predictive distribution: mean,
    std, aleatoric/epistemic parts or probabilities), "bands" (conformal intervals or sets, calibrated
    on the validation split only) and "uncertainty" (its uncertainty metrics); "pred" is then the
    ensemble / MC-dropout mean.
    """
    from deepsci.evaluation.uncertainty import predictive

    active = uncertainty is not None and uncertainty.active
    results = {}
    for name in SPLITS:
        split = getattr(dataset, name)
        if len(split) == 0:
            continue
        y_true = true_values(split.y, dataset.task, dataset.y_scaler)
        if active:
            assert uncertainty is not None
            dist = predictive(model, split.X, dataset.task, uncertainty, dataset.y_scaler)
            pred = dist["pred"]
        else:
            pred = predict_array(model, split.X, dataset.task, dataset.y_scaler)
        results[name] = {"ids": split.ids, "y_true": y_true, "pred": pred,
                         "metrics": split_metrics(dataset.task, y_true, pred, dataset.class_names,
                                                  dataset.target_names)}
        if active:
            results[name]["dist"] = dist
    if active:
        assert uncertainty is not None
        add_uncertainty(results, dataset.task, uncertainty)
    return results


def add_uncertainty(results: dict[str, dict[str, Any]], task: str, spec: "UncertaintySpec") -> dict[str, Any] | None:
    """Calibrate conformal bands on the validation split and add "bands" and "uncertainty" to every split.

    Returns the calibration (JSON-able; None without conformal). The test split is never used to calibrate.
    """
    from deepsci.evaluation.uncertainty import apply_calibration, calibrate

    calibration = None
    if spec.conformal:
        if "valid" not in results:
            raise DataError("conformal calibration needs a validation split, and this run has none. Set "
                            "data.valid_fraction > 0 (e.g. 0.2), or uncertainty.conformal = false.")
        calibration = calibrate(task, results["valid"]["y_true"], results["valid"]["dist"], spec)
    for r in results.values():
        r["calibration"] = calibration
        r["bands"] = apply_calibration(calibration, r["dist"]) if calibration else {}
        r["uncertainty"] = split_uncertainty(task, r["y_true"], r["dist"], r["bands"], spec.level)
    return calibration


def split_uncertainty(task: str, y_true: np.ndarray, dist: dict[str, np.ndarray], bands: dict[str, np.ndarray],
                      level: float) -> dict[str, float]:
    """Uncertainty metrics of one split (see `deepsci.evaluation.uncertainty.uncertainty_metrics`)."""
    from deepsci.evaluation.uncertainty import uncertainty_metrics

    if task != "regression":
        return uncertainty_metrics(y_true, proba=dist["pred"], sets=bands.get("sets"), level=level)
    out = uncertainty_metrics(y_true, mean=dist["pred"], std=dist.get("std"), lower=bands.get("lower"),
                              upper=bands.get("upper"), level=level)
    for part in ("aleatoric", "epistemic"):
        if part in dist:
            out[f"mean_{part}_std"] = float(np.mean(dist[part]))
    return out


def predictions_frame(ids: list[str], pred: np.ndarray, task: str, target_names: list[str],
                      class_names: list[str], y_true: np.ndarray | None = None,
                      uncertainty: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """One row per sample: id, [true value], prediction; classification adds p_<class> columns.

    `uncertainty` (a split's "dist" and "bands" merged) adds, per regression target, `<t>_std`,
    `<t>_lower`, `<t>_upper` and, for a heteroscedastic ensemble, `<t>_aleatoric_std` and
    `<t>_epistemic_std`; for classification `<label>_set` (the conformal set, classes joined by "|")
    and `<label>_set_size`.
    """
    frame = pd.DataFrame({"id": ids})
    extra = uncertainty or {}
    if task == "regression":
        for j, name in enumerate(target_names):
            if y_true is not None:
                frame[name] = y_true[:, j]
            frame[f"{name}_pred"] = pred[:, j]
            for key, column in (("std", "std"), ("lower", "lower"), ("upper", "upper"),
                                ("aleatoric", "aleatoric_std"), ("epistemic", "epistemic_std")):
                if key in extra:
                    frame[f"{name}_{column}"] = extra[key][:, j]
        return frame
    label = target_names[0] if target_names else "label"
    if y_true is not None:
        frame[label] = [class_names[i] for i in y_true]
    frame[f"{label}_pred"] = [class_names[i] for i in pred.argmax(axis=1)]
    for k, name in enumerate(class_names):
        frame[f"p_{name}"] = pred[:, k]
    if "sets" in extra:
        from deepsci.evaluation.uncertainty import format_sets

        frame[f"{label}_set"] = format_sets(extra["sets"], class_names)
        frame[f"{label}_set_size"] = extra["sets"].sum(axis=1)
    return frame


# -- writing ----------------------------------------------------------------------------------------
def versions() -> dict[str, str]:
    import deepsci

    return {"deepsci": deepsci.__version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def write_run(path: Path, *, config: "Config", dataset: "Dataset", model: nn.Module,
              history: list[dict[str, Any]], results: dict[str, dict[str, Any]], timings: dict[str, Any],
              best_epoch: int, extra_sections: Sequence[Any] = ()) -> "Run":
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
        if "dist" in next(iter(results.values())):
            metrics["uncertainty"] = _uncertainty_summary(model, config, results)
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2, default=_json_default))
        pd.DataFrame(history).to_csv(tmp / "history.csv", index=False)
        test = results.get("test") or results["valid"]
        frame = test.get("frame")  # a model of symbol sequences brings its own table
        if frame is None:
            frame = predictions_frame(test["ids"], test["pred"], dataset.task, dataset.target_names,
                                      dataset.class_names, test["y_true"],
                                      {**test.get("dist", {}), **test.get("bands", {})})
        frame.to_csv(tmp / "predictions.csv", index=False)
        if dataset.skipped:
            pd.DataFrame(dataset.skipped).to_csv(tmp / "skipped.csv", index=False)
        save_file({k: v.contiguous() for k, v in _plain_state(model).items()}, tmp / "model.safetensors")
        meta = _model_meta(model, dataset, config)
        if "dist" in next(iter(results.values())):
            meta.update(_uncertainty_meta(model, config, results))
        (tmp / "model.json").write_text(json.dumps(meta, indent=2))
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


def _uncertainty_summary(model: nn.Module, config: "Config", results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """metrics.json["uncertainty"]: the method, the conformal calibration and each split's uncertainty metrics."""
    from deepsci.training.ensemble import StackedMLP

    u = config.uncertainty
    first = next(iter(results.values()))
    out: dict[str, Any] = {"method": u.method, "members": model.members if isinstance(model, StackedMLP) else 1,
                           "heteroscedastic": u.heteroscedastic, "level": u.level,
                           "calibration": first.get("calibration"), "calibrated_on": "valid"}
    if u.method == "mc-dropout":
        out["samples"] = u.samples
    out.update({name: r["uncertainty"] for name, r in results.items() if name in ("valid", "test")})
    return out


def _uncertainty_meta(model: nn.Module, config: "Config", results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """model.json keys that rebuild the uncertainty: members, the spec and the conformal thresholds."""
    from deepsci.training.ensemble import StackedMLP

    spec = uncertainty_spec(config)
    member_spec = model.member_spec if isinstance(model, StackedMLP) else None
    return {"members": model.members if isinstance(model, StackedMLP) else 1,
            **({"model": member_spec} if member_spec is not None else {}),
            "uncertainty": spec.to_dict(), "calibration": next(iter(results.values())).get("calibration")}


def uncertainty_spec(config: "Config") -> "UncertaintySpec":
    """The config's [uncertainty] section as the library's plain `UncertaintySpec` (seeded by config.seed)."""
    from deepsci.evaluation.uncertainty import UncertaintySpec

    u = config.uncertainty
    return UncertaintySpec(method=u.method, members=u.members, samples=u.samples, heteroscedastic=u.heteroscedastic,
                           bootstrap=u.bootstrap, conformal=bool(u.conformal), level=u.level, score=u.score,
                           set_method=u.set_method, randomised=u.randomised, link=u.link, seed=config.seed)


def _plain_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weights of the forward network only (a learning rule's feedback matrices are not weights)."""
    from deepsci.training.ensemble import StackedMLP

    if isinstance(model, StackedMLP):  # every member: each key with a leading members dim
        return model.member_state_dict()
    spec = spec_of(model)
    keys = set(MLP.from_spec(spec).state_dict()) if spec.get("kind") == "mlp" else None
    return {k: v.detach() for k, v in model.state_dict().items() if keys is None or k in keys}


def _model_meta(model: nn.Module, dataset: "Dataset", config: "Config") -> dict[str, Any]:
    return {
        "format": "deepsci-run/1",
        "model": spec_of(model),
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
        model: nn.Module
        if int(meta.get("members", 1)) > 1:  # a stacked ensemble: rebuild K members, load the stacked weights
            from deepsci.training.ensemble import StackedMLP

            model = StackedMLP([model_from_spec(meta["model"]) for _ in range(int(meta["members"]))])
            model.load_member_state_dict(load_file(path / "model.safetensors"))
        else:
            model = model_from_spec(meta["model"])
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

    def sample(self, length: int, *, temperature: float = 1.0, prompt: str = "", seed: int = 0) -> str:
        """Text generated by a character-level model (model.kind = "charlm"), continuing `prompt`."""
        from deepsci.data.sequences import Vocabulary

        vocab_state = self.meta.get("featuriser", {}).get("vocabulary")
        if not hasattr(self.model, "sample") or vocab_state is None:
            raise DataError(f"'{self.path}' is not a run of a character-level model (model.kind = 'charlm'); "
                            "`sample` needs one, e.g. from examples/text_lstm.toml.")
        vocab = Vocabulary.from_dict(vocab_state)
        cue = vocab.encode(prompt) if prompt else None
        sampler: Any = self.model.sample
        out = sampler(length, temperature=temperature, generator=torch.Generator().manual_seed(seed),
                                prompt=cue)
        return prompt + vocab.decode(out)

    def evaluate(self, source: str | Path | pd.DataFrame) -> dict[str, Any]:
        """Metrics of the model on a new labelled table (it must hold the target column(s))."""
        from deepsci.data import prepare_targets

        frame, skipped, pred = self._predict(source)
        skipped_rows = {s["row"] for s in skipped}
        rows = [r for r in range(len(frame)) if r not in skipped_rows]
        y = prepare_targets(frame, self.meta["target_names"], self.task, self.meta["class_names"], rows)
        return split_metrics(self.task, y.double().numpy() if self.task == "regression" else y.numpy(), pred,
                             self.meta["class_names"], self.meta["target_names"])

    def predict(self, source: str | Path | pd.DataFrame) -> pd.DataFrame:
        """Predictions for a new table (file or DataFrame), featurised and scaled as in training.

        Rows that cannot be used (e.g. an unparsable SMILES) are left out; `skipped_` lists them.
        """
        frame, skipped, pred = self._predict(source)
        self.skipped_ = skipped
        return predictions_frame(self._ids, pred, self.task, self.meta["target_names"], self.meta["class_names"],
                                 uncertainty=self._uncertainty)

    def _predict(self, source: str | Path | pd.DataFrame) -> tuple[pd.DataFrame, list[dict[str, Any]], np.ndarray]:
        from deepsci.data import FEATURE_KINDS, prepare_inputs, read_table
        from deepsci.evaluation.uncertainty import UncertaintySpec, apply_calibration, predictive

        kind = self.meta["featuriser"].get("kind", "none")
        if kind not in ("none", *FEATURE_KINDS):
            raise DataError(f"'{self.path}' is a run on {kind} data; `predict` and `evaluate` take tables "
                            "(table and molecule runs). For this run, load it in Python with "
                            "deepsci.Run.load(path) and call run.model on tensors shaped like its training data.")
        frame = source if isinstance(source, pd.DataFrame) else read_table(source)
        frame = frame.reset_index(drop=True)
        x_scaler, y_scaler = self._scalers()
        X, self._ids, skipped = prepare_inputs(frame, self.meta["featuriser"], self.meta["feature_names"], x_scaler)
        spec = UncertaintySpec.from_dict(self.meta.get("uncertainty"))
        self._uncertainty: dict[str, np.ndarray] | None = None
        if not spec.active:
            return frame, skipped, predict_array(self.model, X, self.task, y_scaler)
        # The uncertainty the run was trained with: ensemble / MC-dropout spread and the stored conformal bands.
        dist = predictive(self.model, X, self.task, spec, y_scaler)
        calibration = self.meta.get("calibration")
        self._uncertainty = {**dist, **(apply_calibration(calibration, dist) if calibration else {})}
        return frame, skipped, dist["pred"]
