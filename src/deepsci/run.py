"""A run folder: what `deepsci fit` leaves, and how it loads back without executing anything.

    runs/<name>/ config.toml metrics.json history.csv predictions.csv model.safetensors model.json
                 report.html [skipped.csv]

Weights are safetensors; everything else is TOML/JSON/CSV. Loading never unpickles.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import sklearn
import torch
from safetensors.torch import save_file
from torch import nn

from deepsci.config import Config, load_config
from deepsci.config.physics import PHYSICS_RUN_FORMAT
from deepsci.data.batch import take
from deepsci.data.build import build_dataset, load_preprocessor
from deepsci.data.dataset import Dataset
from deepsci.data.preprocess import Preprocessor, fit_steps
from deepsci.data.schema import InputSchema
from deepsci.data.sequences import Vocabulary
from deepsci.errors import DataError, DeepSciError
from deepsci.evaluation.evaluate import predict_with_uncertainty, task_metrics
from deepsci.evaluation.results import Evaluation
from deepsci.evaluation.uncertainty import UncertaintySpec, format_sets
from deepsci.explain.attributions import METHODS
from deepsci.explain.explanation import Explanation, explain_split
from deepsci.folder import build_checked, read_json, spreadsheet_safe, staged
from deepsci.models import model_from_spec, spec_of
from deepsci.notebook import MAIN_FIGURES, run_card, run_figures, run_line
from deepsci.rules.feedback import rule_of
from deepsci.tasks import task_of
from deepsci.training.device import describe_device
from deepsci.training.ensemble import StackedMLP
from deepsci.training.threads import sharing_cores


# -- predictions.csv: the columns of each task --------------------------------------------------------
def predictions_frame(ids: Sequence[str], pred: np.ndarray, task: str, target_names: list[str],
                      class_names: list[str], y_true: np.ndarray | None = None,
                      uncertainty: dict[str, np.ndarray] | None = None,
                      steps: np.ndarray | None = None) -> pd.DataFrame:
    """The predictions table of `task` (its function in PREDICTION_FRAMES): one row per sample (per real
    step for tagging) with the id, [the true value], the prediction and the task's own columns.

    `uncertainty` (a split's "dist" and "bands" merged) adds the error bars (see `regression_frame` and
    `class_frame`); `steps`: each row's real steps, for tagging without y_true (default every step).
    """
    frame = PREDICTION_FRAMES[task_of(task).name]
    return frame(ids, pred, target_names=target_names, class_names=class_names, y_true=y_true,
                 uncertainty=uncertainty or {}, steps=steps)


def regression_frame(ids: Sequence[str], pred: np.ndarray, *, target_names: list[str], y_true: np.ndarray | None,
                     uncertainty: dict[str, np.ndarray], **_: Any) -> pd.DataFrame:
    """id, then per target [its true value], `<t>_pred` and from `uncertainty` `<t>_std`, `<t>_std_raw`,
    `<t>_lower`, `<t>_upper` and, for a heteroscedastic ensemble, `<t>_aleatoric_std`, `<t>_epistemic_std`."""
    frame = pd.DataFrame({"id": ids})
    for j, name in enumerate(target_names):
        if y_true is not None:
            frame[name] = y_true[:, j]
        frame[f"{name}_pred"] = pred[:, j]
        for key, column in (("std", "std"), ("std_raw", "std_raw"), ("lower", "lower"), ("upper", "upper"),
                            ("aleatoric", "aleatoric_std"), ("epistemic", "epistemic_std")):
            if key in uncertainty:
                frame[f"{name}_{column}"] = uncertainty[key][:, j]
    return frame


def class_frame(ids: Sequence[str], pred: np.ndarray, *, target_names: list[str], class_names: list[str],
                y_true: np.ndarray | None, uncertainty: dict[str, np.ndarray], **_: Any) -> pd.DataFrame:
    """id, [the true class], `<label>_pred`, `p_<class>` per class and, with conformal sets, `<label>_set` (the
    classes joined by "|") and `<label>_set_size`. pred: (n, k) class probabilities."""
    frame = pd.DataFrame({"id": ids})
    label = target_names[0] if target_names else "label"
    if y_true is not None:
        frame[label] = [class_names[i] for i in y_true]
    frame[f"{label}_pred"] = [class_names[i] for i in pred.argmax(axis=1)]
    for k, name in enumerate(class_names):
        frame[f"p_{name}"] = pred[:, k]
    if "sets" in uncertainty:
        frame[f"{label}_set"] = format_sets(uncertainty["sets"], class_names)
        frame[f"{label}_set_size"] = uncertainty["sets"].sum(axis=1)
    return frame


def multilabel_frame(ids: Sequence[str], pred: np.ndarray, *, class_names: list[str], y_true: np.ndarray | None,
                     **_: Any) -> pd.DataFrame:
    """One row per sample: id, then per label [its true 0/1], `<label>_pred` (1 when p >= 0.5), `p_<label>`."""
    frame = pd.DataFrame({"id": ids})
    for j, name in enumerate(class_names):
        if y_true is not None:
            frame[name] = y_true[:, j].astype(np.int64)
        frame[f"{name}_pred"] = (pred[:, j] >= 0.5).astype(np.int64)
        frame[f"p_{name}"] = pred[:, j]
    return frame


def tagging_frame(ids: Sequence[str], pred: np.ndarray, *, target_names: list[str], class_names: list[str],
                  y_true: np.ndarray | None, steps: np.ndarray | None, **_: Any) -> pd.DataFrame:
    """One row per real step (long layout: sequences differ in length, and a wide table would need T x k
    columns): id, position (0-based), [true tag], `<tag>_pred` (the most probable tag), `p_<tag class>`.

    Args:
        pred: (n, T, k) tag probabilities. y_true: (n, T) tag indices, -100 on padding (it decides the real
            steps). steps: (n,) real steps per row when y_true is not given (default: all T).
    """
    n, T, _k = pred.shape
    if y_true is not None:
        real = y_true != -100
    else:
        counts = np.full(n, T) if steps is None else np.asarray(steps)
        real = np.arange(T)[None, :] < counts[:, None]
    rows, positions = np.nonzero(real)
    label = (target_names[0] if target_names else "tag").split("[")[0]
    names = np.asarray(class_names, dtype=object)
    frame = pd.DataFrame({"id": np.asarray(list(ids), dtype=object)[rows], "position": positions})
    if y_true is not None:
        frame[label] = names[y_true[real]]
    p = pred[real]  # (m, k)
    frame[f"{label}_pred"] = names[p.argmax(axis=1)]
    for c, name in enumerate(class_names):
        frame[f"p_{name}"] = p[:, c]
    return frame


PredictionFrame = Callable[..., pd.DataFrame]

#: task name -> the function writing its predictions table (a new task registers its columns here)
PREDICTION_FRAMES: dict[str, PredictionFrame] = {
    "regression": regression_frame, "binary": class_frame, "multiclass": class_frame,
    "multilabel": multilabel_frame, "tagging": tagging_frame}


def real_step_counts(X: Any) -> np.ndarray | None:
    """(n,) real steps of each row of a padded sequence input (its mask), None for inputs without padding."""
    if isinstance(X, dict) and "mask" in X:
        return X["mask"].sum(1).numpy()
    return None


# -- writing ----------------------------------------------------------------------------------------
def versions() -> dict[str, str]:
    """Versions of the libraries that decide the numbers, for metrics.json and model.json."""
    return {"deepsci": version("deepsci"), "torch": torch.__version__, "numpy": np.__version__,
            "scikit-learn": sklearn.__version__, "python": platform.python_version()}


def environment(device: torch.device | str = "cpu", precision: str = "32", processes: int = 1) -> dict[str, Any]:
    """Where the numbers were computed: device (and the GPU's model), precision, training processes,
    torch threads (per process), platform.

    On a CPU, one seed gives the same metrics at any thread count for dense networks; convolutions
    and recurrent layers reduce in a thread-dependent order, so their last digits may differ. On a GPU,
    and across process counts, see docs/scale.md for what is and is not bit-reproducible.
    """
    return {**describe_device(torch.device(device)), "precision": precision, "processes": processes,
            "torch_threads": torch.get_num_threads(), "platform": platform.platform()}


def metrics_document(*, config: Config, dataset: Dataset, evaluation: Evaluation, history: list[dict[str, Any]],
                     timings: dict[str, Any], best_epoch: int, trained_on: dict[str, Any] | None = None
                     ) -> dict[str, Any]:
    """The content of metrics.json: the evaluation, the run's facts (`trained_on`: the `environment` it
    trained in, default this host's CPU), and the data summary."""
    out = evaluation.metrics_json()
    out.update(task=dataset.task, seed=config.seed, best_epoch=best_epoch, epochs_run=len(history),
               timings=timings, versions=versions(), environment=trained_on or environment(),
               data=dataset.summary.to_json())
    return out


def model_document(*, config: Config, dataset: Dataset, model: nn.Module, evaluation: Evaluation,
                   uncertainty: UncertaintySpec | None) -> dict[str, Any]:
    """The content of model.json: enough to rebuild the model and its preprocessing without unpickling."""
    stacked = isinstance(model, StackedMLP)
    return {
        "format": "deepsci-run/2",
        "model": model.member_spec if stacked else spec_of(model),
        "members": model.members if stacked else 1,
        "task": dataset.task,
        "inputs": {name: schema.to_dict() for name, schema in dataset.inputs.items()},
        "preprocessor": dataset.preprocessor.to_dict(),
        "uncertainty": uncertainty.to_dict() if uncertainty is not None else None,
        "calibration": evaluation.calibration,
        "rule": config.train.rule,
        "versions": versions(),
    }


def write_run(path: Path, *, config: Config, dataset: Dataset, model: nn.Module, history: list[dict[str, Any]],
              evaluation: Evaluation, timings: dict[str, Any], best_epoch: int,
              uncertainty: UncertaintySpec | None = None, report_html: str | None = None,
              checkpoint: Path | None = None, trained_on: dict[str, Any] | None = None,
              extra: dict[str, Any] | None = None) -> "Run":
    """Write the whole run folder at `path` atomically: a staging sibling, published in one step.

    `report_html` is report.html's text, rendered from the same values (deepsci.report.run_report); None
    writes no report. `checkpoint` (the training state folder) moves into the run as checkpoint/ once the
    run is published. `trained_on` is where the model trained (`environment(device, precision,
    processes)`; default this host's CPU). `extra` adds top-level blocks to metrics.json (the theory section).
    """
    with staged(path) as tmp:
        (tmp / "config.toml").write_text(config.toml())
        metrics = metrics_document(config=config, dataset=dataset, evaluation=evaluation, history=history,
                                   timings=timings, best_epoch=best_epoch, trained_on=trained_on)
        metrics.update(extra or {})
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2, default=_json_default))
        pd.DataFrame(history).to_csv(tmp / "history.csv", index=False)
        rows = prediction_rows(config.report.predictions, streamed=dataset.summary.stream is not None)
        if rows != 0:  # written in blocks of rows: a streamed test split's table is never held twice as text
            spreadsheet_safe(_test_predictions(evaluation, dataset, rows)).to_csv(
                tmp / "predictions.csv", index=False, chunksize=PREDICTION_BLOCK_ROWS)
        if dataset.skipped:
            pd.DataFrame(dataset.skipped).to_csv(tmp / "skipped.csv", index=False)
        save_file({k: v.contiguous() for k, v in _plain_state(model).items()}, tmp / "model.safetensors")
        meta = model_document(config=config, dataset=dataset, model=model, evaluation=evaluation,
                              uncertainty=uncertainty)
        (tmp / "model.json").write_text(json.dumps(meta, indent=2, default=_json_default))
        if report_html is not None:
            (tmp / "report.html").write_text(report_html, encoding="utf-8")
    # Moved only once the run is published: a kill before this leaves the checkpoint where --resume looks.
    if checkpoint is not None and checkpoint.is_dir():
        checkpoint.rename(path / "checkpoint")
    return Run.load(path)


#: rows of predictions.csv for a streamed test split unless `[report] predictions` says otherwise, and the rows
#: written at a time
STREAMED_PREDICTION_ROWS = 100_000
PREDICTION_BLOCK_ROWS = 100_000


def prediction_rows(setting: int | None, *, streamed: bool) -> int | None:
    """Test rows predictions.csv holds: `[report] predictions` (0: no file), else all (None), else for a
    streamed table the first STREAMED_PREDICTION_ROWS."""
    if setting is not None:
        return setting
    return STREAMED_PREDICTION_ROWS if streamed else None


def _test_predictions(evaluation: Evaluation, dataset: Dataset, rows: int | None = None) -> pd.DataFrame:
    """predictions.csv: the test split (valid where there is no test), its first `rows` (None: all), with its
    uncertainty columns."""
    shown = evaluation.shown
    if shown.frame is not None:  # a model of symbol sequences brings its own table
        return shown.frame if rows is None else shown.frame.head(rows)
    n = len(shown.pred) if rows is None else min(rows, len(shown.pred))
    extra = {k: v[:n] for k, v in {**(shown.dist or {}), **shown.bands}.items()}
    return predictions_frame([shown.ids[i] for i in range(n)], shown.pred[:n], dataset.task, dataset.target_names,
                             dataset.class_names, shown.y_true[:n], extra)


def _plain_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weights of the forward network only (a learning rule's feedback matrices are not weights)."""
    if isinstance(model, StackedMLP):  # every member: each key with a leading members dim
        return model.member_state_dict()
    spec = spec_of(model)
    ruled = spec.get("kind") == "mlp" or rule_of(model) != "backprop"  # feedback buffers are not weights
    keys = set(model_from_spec(spec).state_dict()) if ruled else None
    return {k: v.detach().cpu() for k, v in model.state_dict().items() if keys is None or k in keys}


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
    """A run folder loaded back: config, model, preprocessor, metadata and metrics. Nothing in it is executed."""

    path: Path
    config: Config
    model: nn.Module
    meta: dict[str, Any]
    metrics: dict[str, Any]

    @classmethod
    def load(cls, path: str | Path) -> "Run":
        """Load `runs/<name>/` (config.toml, model.json, model.safetensors, metrics.json).

        Every file is checked before anything is allocated: sizes read from model.json are bounded,
        weights are safetensors whose names and shapes must match the architecture. A damaged or
        tampered folder gives one DataError line naming the file and the problem.
        """
        path = Path(path)
        missing = [f for f in ("config.toml", "model.json", "model.safetensors", "metrics.json")
                   if not (path / f).is_file()]
        if missing:
            raise DataError(f"'{path}' is not a complete run folder (missing {', '.join(missing)}). "
                            "Pass the folder that `deepsci fit` wrote, e.g. runs/solubility.")
        if read_json(path / "model.json", "model spec").get("format") == PHYSICS_RUN_FORMAT:
            raise DataError(f"'{path}' is a physics-informed run (an equation, no data): its solution on the grid is "
                            f"{path / 'predictions.csv'}, its error in metrics.json. predict, evaluate and explain "
                            "take runs fitted to data.")
        meta: dict[str, Any] = read_json(path / "model.json", "model spec", require=("model", "task", "preprocessor"))
        model = build_checked(lambda: model_from_spec(meta["model"]), path / "model.safetensors",
                              members=meta.get("members", 1))
        model.eval()
        return cls(path=path, config=load_config(path / "config.toml"), model=model, meta=meta,
                   metrics=read_json(path / "metrics.json", "metrics"))

    @property
    def task(self) -> str:
        return str(self.meta["task"])

    def __repr__(self) -> str:
        """One line: name, task, the test split's headline metrics and the folder (not the whole config)."""
        return run_line(self.config.name, self.task, self.metrics, self.path)

    def _repr_html_(self) -> str:
        """Jupyter's view of a run: a compact card with the metrics, references, error bars and main figure."""
        main = next(iter(self._figures(MAIN_FIGURES).values()), None)
        return run_card(self.config.name, self.task, self.metrics, self.path, main)

    @property
    def figures(self) -> dict[str, Any]:
        """The report's figures as matplotlib Figures ("learning_curves", "parity", "residuals" or "roc", "pr",
        "confusion"), redrawn from the run folder, to restyle or save (`run.figures["parity"].savefig(...)`)."""
        return self._figures(None)

    def _figures(self, only: Sequence[str] | None) -> dict[str, Any]:
        pre = self.preprocessor
        return run_figures(self.path, self.task, pre.target_names, pre.class_names, self.config.report.units, only)

    @property
    def preprocessor(self) -> Preprocessor:
        """The fitted preprocessor of the run (featurisers, vocabularies, scalers), as in training."""
        if not hasattr(self, "_preprocessor"):
            try:
                self._preprocessor = load_preprocessor(self.meta["preprocessor"])
            except DeepSciError:
                raise
            except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
                raise DataError(f"{self.path / 'model.json'}: the preprocessor entry is damaged ({type(exc).__name__}: "
                                f"{exc}). Fit the run again.") from None
        return self._preprocessor

    @sharing_cores
    def sample(self, length: int, *, temperature: float = 1.0, prompt: str = "", seed: int = 0) -> str:
        """Text generated by a character-level model (model.kind = "charlm"), continuing `prompt`."""
        featuriser = getattr(self.preprocessor, "featurisers", {}).get("x")
        vocab_state = getattr(featuriser, "state", {}).get("vocabulary")
        if not hasattr(self.model, "sample") or vocab_state is None:
            raise DataError(f"'{self.path}' is not a run of a character-level model (model.kind = 'charlm'); "
                            "`sample` needs one, e.g. from examples/text_lstm.toml.")
        vocab = Vocabulary.from_dict(vocab_state)
        cue = vocab.encode(prompt) if prompt else None
        sampler: Any = self.model.sample
        out = sampler(length, temperature=temperature, generator=torch.Generator().manual_seed(seed), prompt=cue)
        return prompt + vocab.decode(out)

    @sharing_cores
    def evaluate(self, source: str | Path | pd.DataFrame | Any) -> dict[str, Any]:
        """Metrics of the model on new labelled data (a file, frame or arrays holding the targets)."""
        pre = self.preprocessor
        if pre.reader.get("kind") == "text":
            raise DataError(f"'{self.path}' is a character-level language model; its held-out cross-entropy is in "
                            "metrics.json. `deepsci evaluate` takes runs of tables, signals, images, sequences, sets "
                            "and series; sample from this one with `deepsci sample`.")
        raw, X, ids, skipped = self._inputs(source)
        self.skipped_ = skipped
        if hasattr(pre, "labelled_rows"):  # a record: only the windows whose targets lie inside it
            used = pre.labelled_rows(raw)
            X = take(X, torch.as_tensor(used, dtype=torch.int64))
        else:  # independent rows: every row that was not skipped
            used = np.setdiff1d(np.arange(len(raw)), [s["row"] for s in skipped])
        y = pre.targets(raw, used)
        pred, _, _ = self._predictions(X)
        task = task_of(self.task)
        if task.per_step:  # the tags of the steps the model sees (cut or padded as its inputs)
            y = fit_steps(y, pred.shape[1])
        y_true = y.double().numpy() if task.continuous else y.long().numpy()
        metrics = task_metrics(self.task, y_true, pred, self.preprocessor.class_names,
                               self.preprocessor.target_names)
        return {**metrics, "rows": int(len(used)), "skipped": len(skipped)}

    @sharing_cores
    def predict(self, source: str | Path | pd.DataFrame | Any) -> pd.DataFrame:
        """Predictions for new data (file, DataFrame or arrays), transformed exactly as in training.

        Rows that cannot be used (e.g. an unparsable SMILES) are left out and listed in `skipped_`.
        """
        _, X, ids, skipped = self._inputs(source)
        self.skipped_ = skipped
        pred, dist, bands = self._predictions(X)
        return predictions_frame(ids, pred, self.task, self.preprocessor.target_names,
                                 self.preprocessor.class_names, uncertainty={**(dist or {}), **bands},
                                 steps=real_step_counts(X))

    @sharing_cores
    def explain(self, source: str | Path | pd.DataFrame | Any = None, *, methods: Sequence[str] = METHODS,
                rows: int = 200, epsilons: Sequence[float] = (), seed: int = 0) -> Explanation:
        """Which inputs drove the predictions: attributions of each method on the first `rows` rows of `source`
        (new data, transformed as in training), or of the run's own test split when `source` is None.

        Labelled rows also get permutation importance, and a classifier with `epsilons` given its FGSM/PGD accuracy
        at each ε. `deepsci explain` writes the same Explanation as explain.html and attributions.csv;
        `.frame()` is that table, and `deepsci.explain.figures.importance_figure` draws it.
        """
        inputs = self.meta.get("inputs", {})
        if len(inputs) != 1:
            raise DataError(f"'{self.path}' has a model of {len(inputs)} inputs; attributions take a model with one "
                            "input.")
        X, y = self._explained_rows(source)
        return explain_split(self.model, X, y, InputSchema.from_dict(next(iter(inputs.values()))), self.task,
                             methods=methods, rows=rows, seed=seed,
                             epsilons=() if task_of(self.task).continuous else epsilons)

    def _explained_rows(self, source: Any) -> tuple[Any, torch.Tensor | None]:
        """(inputs, labels or None): `source` transformed by the run's preprocessor, or the run's own test split
        rebuilt from its config (same seed, same split; its validation split when it has no test rows)."""
        if source is None:
            dataset = build_dataset(self.config.data, seed=self.config.seed)
            part = dataset.test if len(dataset.test) else dataset.valid
            return part.X, part.y
        raw, X, _, skipped = self._inputs(source)
        used = np.setdiff1d(np.arange(len(raw)), [s["row"] for s in skipped])
        try:
            y = self.preprocessor.targets(raw, used)
        except DataError:  # unlabelled rows: every method but permutation
            return X, None
        if task_of(self.task).continuous:
            y = self.preprocessor.scale_targets(y)
        return X, torch.as_tensor(y)

    def _inputs(self, source: Any) -> tuple[Any, Any, list[str], list[dict[str, Any]]]:
        pre = self.preprocessor
        if isinstance(source, Path) and not source.exists():
            source = str(source)  # a catalog name given on the command line ("motifs", "co2")
        raw = pre.read(source)
        X, ids, skipped = pre.transform(raw)
        return raw, X, ids, skipped

    def _predictions(self, X: Any) -> tuple[np.ndarray, dict[str, np.ndarray] | None, dict[str, np.ndarray]]:
        spec = UncertaintySpec.from_dict(self.meta.get("uncertainty"))
        pred, dist, bands = predict_with_uncertainty(self.model, X, self.task, self.preprocessor, spec,
                                                     self.meta.get("calibration"))
        bad = ~np.isfinite(pred).all(axis=tuple(range(1, pred.ndim)))
        if bad.any():  # never a blank prediction with exit 0
            raise DataError(f"the model gives non-finite predictions for {int(bad.sum())} input row(s) (first: row "
                            f"{int(np.flatnonzero(bad)[0])}); their inputs lie far outside the training data. Check "
                            "those rows' values and units.")
        return pred, dist, bands
