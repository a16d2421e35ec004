"""References for every kind of data: simple models fitted on the same training rows as the network.

Every run reports at least two (metrics.json "baselines", the console's reference table, the report's
"Against simple references"), so a model that learned little is told from one that learned a lot:

    kind      references
    table     trivial; ridge / logistic regression on the table's (scaled) columns
    signal    trivial; ridge / logistic on the flattened signal (average-pooled to at most 1024 values);
              MiniRocket (random convolutions + ridge classifier, deepsci.evaluation.minirocket)
    image     trivial; ridge / logistic on the flattened image (average-pooled to at most 1024 values)
    sequence  trivial; ridge / logistic on k-mer frequencies (tokens: k = 1, 2, 3 while the k-mers number at
              most 4096) or on pooled steps (vectors: mean, std and max over the real steps, and the length)
    set       trivial; ridge / logistic on pooled elements (mean, std and max over the real elements, and size)
    graph     trivial; ridge / logistic on Morgan fingerprints (radius 2, 2048 bits) of the molecules
    reaction  trivial; the nearest neighbour by Tanimoto similarity of difference fingerprints
    series    trivial (the training mean: climatology); persistence; seasonal-naive (one season earlier, where
              data.season is set); linear autoregression (least squares on the training windows)
    multi     trivial; ridge / logistic on every input's features side by side

The interface: `REFERENCES` maps a data kind to a function `make(rows: TrainingRows) -> list[Reference]`.
`TrainingRows` holds the training split only (inputs, targets as trained, task, schemas, summary), so a
reference cannot see a validation or test target; each `Reference.predict(X)` takes the model inputs of any
split and gives the training targets' units (scaled regression values) or class probabilities. A new kind
(a streamed table, say) registers its own function under its key (`reference_kind`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from deepsci.data.batch import Inputs, n_rows
from deepsci.data.schema import InputSchema
from deepsci.data.summary import DataSummary
from deepsci.data.timeseries import (fit_linear_autoregression, linear_autoregression_predict,
                                     persistence_forecast, seasonal_naive_forecast)
from deepsci.evaluation.baselines import Fitted, fit_linear, fit_ridge_classifier, fit_trivial
from deepsci.evaluation.minirocket import fit_minirocket, minirocket_features
from deepsci.tasks import task_of

if TYPE_CHECKING:
    from deepsci.data.dataset import Dataset

#: most values a flattened signal or image keeps (average pooling beyond), and most k-mers counted
MAX_FLAT = 1024
MAX_KMERS = 4096
#: MiniRocket's published feature count, and the rows x length above which fewer are used (the transform's
#: cost grows with rows x length x features)
MINIROCKET_FEATURES = 10_000
MINIROCKET_BUDGET = 2e9


@dataclass(frozen=True)
class TrainingRows:
    """What a reference may be fitted on: the training split and the facts of the build, nothing else.

    Attributes:
        X: the training split's model inputs (deepsci.data.batch); y: its targets as trained (regression
            (n, t) scaled; classification (n,) class indices; multilabel (n, k) 0/1).
        task, n_classes: the task name and the number of classes (0 for regression).
        inputs: the dataset's input schemas by name; summary: its DataSummary (season, horizon, targets).
        seed: the run's seed (MiniRocket's biases).
    """

    X: Inputs
    y: np.ndarray
    task: str
    n_classes: int
    inputs: dict[str, InputSchema]
    summary: DataSummary
    seed: int = 0


@dataclass(frozen=True)
class Reference:
    """A reference fitted on the training rows: its name, one line saying what it is, and its predictions.

    predict(X) takes any split's model inputs and returns regression (n, t) values in the training targets'
    units (scaled), classification (n, k) class probabilities, multilabel (n, k) label probabilities.
    """

    name: str
    description: str
    predict: Callable[[Inputs], np.ndarray]


ReferenceMaker = Callable[[TrainingRows], list[Reference]]
Featurise = Callable[[torch.Tensor, "torch.Tensor | None", InputSchema], np.ndarray]


# -- features of one input, by structure (fixed transforms: nothing is fitted) -------------------------------
def _flat(x: torch.Tensor, mask: torch.Tensor | None, schema: InputSchema) -> np.ndarray:
    """A table as it is (already scaled); a signal or image flattened, average-pooled to <= MAX_FLAT values."""
    x = _zero_padding(x, mask).double()
    if x.dim() == 2:
        return x.numpy()
    n, c, spatial = x.shape[0], x.shape[1], x.shape[2:]
    side = max(1, int((MAX_FLAT / c) ** (1 / len(spatial))))
    size = tuple(min(s, side) for s in spatial)
    if size != tuple(spatial):
        pool = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}[len(spatial)]
        x = pool(x, size)  # type: ignore[operator,arg-type]
    return x.reshape(n, -1).numpy()


def _zero_padding(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """A signal (n, C, L) with the steps its mask (n, L) marks as padding set to 0 (other inputs unchanged)."""
    if mask is None or x.dim() != 3 or tuple(mask.shape) != (x.shape[0], x.shape[2]):
        return x
    return x.masked_fill(~mask.bool()[:, None, :], 0.0)


def _kmers(x: torch.Tensor, mask: torch.Tensor | None, schema: InputSchema) -> np.ndarray:
    """Frequencies of the k-mers of token sequences (n, L) (k = 1, 2, 3 while their count stays <= MAX_KMERS),
    over windows that lie wholly on real (unmasked) steps."""
    n_symbols = int(schema.n_symbols or int(x.max()) + 1)
    real = mask if mask is not None else torch.ones_like(x, dtype=torch.bool)
    parts, total, k = [], 0, 1
    while k <= min(3, x.shape[1]) and total + n_symbols ** k <= MAX_KMERS:
        span = x.shape[1] - k + 1
        code = sum(x[:, j:j + span].long() * n_symbols ** j for j in range(k))  # (n, span)
        ok = torch.stack([real[:, j:j + span] for j in range(k)]).all(0)
        rows = torch.arange(len(x))[:, None].expand_as(code)
        counts = torch.zeros(len(x), n_symbols ** k, dtype=torch.float64)
        counts.index_put_((rows[ok], code[ok]), torch.ones(int(ok.sum()), dtype=torch.float64), accumulate=True)
        parts.append(counts / counts.sum(1, keepdim=True).clamp(min=1))
        total += n_symbols ** k
        k += 1
    return torch.cat(parts, dim=1).numpy()


def _pooled(x: torch.Tensor, mask: torch.Tensor | None, schema: InputSchema) -> np.ndarray:
    """Mean, standard deviation and maximum of each feature over the real elements of (n, S, d), and the size."""
    x = x.double()
    real = (mask if mask is not None else torch.ones(x.shape[:2], dtype=torch.bool))[..., None].double()
    size = real.sum(1).clamp(min=1)  # (n, 1)
    mean = (x * real).sum(1) / size
    std = ((((x - mean[:, None]) ** 2) * real).sum(1) / size).sqrt()
    top = x.masked_fill(real == 0, float("-inf")).amax(1)
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    return torch.cat([mean, std, top, size], dim=1).numpy()


def _sequence(x: torch.Tensor, mask: torch.Tensor | None, schema: InputSchema) -> np.ndarray:
    return _kmers(x, mask, schema) if schema.tokens else _pooled(x, mask, schema)


def _fingerprints(graphs: Any) -> np.ndarray:
    """Morgan fingerprints (n, 2048) of a split's molecules, or their pooled atom features and molecule vectors
    where the SMILES are not kept."""
    if getattr(graphs, "smiles", None) is None:
        starts, counts = graphs.atom_start, graphs.n_atoms
        sums = torch.stack([graphs.atom_x[s:s + c].double().sum(0) for s, c in zip(starts.tolist(), counts.tolist())])
        return torch.cat([sums / counts[:, None].clamp(min=1), graphs.mol_x.double()], dim=1).numpy()
    from deepsci.data.molecules import featurise_smiles  # RDKit, an optional heavy dependency: imported when used

    return np.nan_to_num(featurise_smiles(graphs.smiles, kind="morgan", cache=False).X.astype(np.float64))


#: features of one input, by the input's structure
FEATURES: dict[str, Featurise] = {"table": _flat, "signal": _flat, "image": _flat, "sequence": _sequence,
                                  "set": _pooled, "window": _flat}
#: what `FEATURES` gives, in words (a sequence's depends on whether it holds tokens or vectors)
FEATURE_NAMES: dict[str, Callable[[InputSchema], str]] = {
    "table": lambda s: "the table's columns", "signal": lambda s: "the flattened signal",
    "image": lambda s: "the flattened image", "set": lambda s: "pooled elements (mean, std, max, size)",
    "window": lambda s: "the flattened window",
    "sequence": lambda s: "k-mer frequencies" if s.tokens else "pooled steps (mean, std, max, length)"}


def _parts(X: Inputs, inputs: dict[str, InputSchema]) -> list[tuple[InputSchema, torch.Tensor, torch.Tensor | None]]:
    """(schema, tensor, mask or None) of each named input of X (one input: X itself; several: X[name])."""
    if len(inputs) == 1:
        schema = next(iter(inputs.values()))
        if isinstance(X, dict):
            return [(schema, X["x"], X.get("mask"))]
        assert isinstance(X, torch.Tensor)
        return [(schema, X, None)]
    assert isinstance(X, dict)
    return [(s, X[name], X.get(f"{name}_mask")) for name, s in inputs.items()]


def _features(X: Inputs, inputs: dict[str, InputSchema]) -> np.ndarray:
    """Every input's features side by side (n, d)."""
    return np.concatenate([FEATURES[s.structure](x, m, s) for s, x, m in _parts(X, inputs)], axis=1)


def _feature_words(inputs: dict[str, InputSchema]) -> str:
    return " + ".join(FEATURE_NAMES[s.structure](s) for s in inputs.values())


class _Standardise:
    """Features standardised with the training rows' mean and standard deviation (constant columns: 1)."""

    def __init__(self, F_train: np.ndarray) -> None:
        self.mean = F_train.mean(axis=0)
        std = F_train.std(axis=0)
        self.std = np.where(std > 0, std, 1.0)

    def __call__(self, F_any: np.ndarray) -> np.ndarray:
        return (F_any - self.mean) / self.std


def _trivial(rows: TrainingRows) -> Reference:
    """The training mean / class or label frequencies, for any split's rows (their inputs are not read)."""
    fitted = fit_trivial(rows.task, rows.y, rows.n_classes)
    return Reference("trivial", fitted.description, lambda X: fitted.predict(np.empty((n_rows(X), 0))))


def _on(featurise: Callable[[Inputs], np.ndarray], fitted: Fitted, name: str) -> Reference:
    """A Reference that featurises any split's inputs, then predicts with a model fitted on training features."""
    return Reference(name, fitted.description, lambda X: fitted.predict(featurise(X)))


# -- the references of each data kind ------------------------------------------------------------------------
def table_references(rows: TrainingRows) -> list[Reference]:
    """The training mean / class frequencies, and ridge / logistic regression on the (already scaled) columns."""
    def featurise(X: Inputs) -> np.ndarray:
        return _features(X, rows.inputs)
    F_train = featurise(rows.X)
    return [_trivial(rows), _on(featurise, fit_linear(rows.task, F_train, rows.y, rows.n_classes), "linear")]


def feature_references(rows: TrainingRows) -> list[Reference]:
    """The trivial model, and ridge / logistic regression on standardised features of every input (flattened
    signals and images, k-mer frequencies, pooled sets and steps; `FEATURES`)."""
    F_train = _features(rows.X, rows.inputs)
    scale = _Standardise(F_train)

    def featurise(X: Inputs) -> np.ndarray:
        return scale(_features(X, rows.inputs))
    linear = fit_linear(rows.task, scale(F_train), rows.y, rows.n_classes, _feature_words(rows.inputs))
    return [_trivial(rows), _on(featurise, linear, "linear")]


def signal_references(rows: TrainingRows) -> list[Reference]:
    """The trivial and linear references, and MiniRocket: random-convolution features (Dempster et al. 2021),
    standardised, with a ridge classifier (classification) or ridge regression."""
    (_, x, mask), = _parts(rows.X, rows.inputs)
    x = _zero_padding(x, mask)
    budget = MINIROCKET_BUDGET / max(1, x.shape[0] * x.shape[-1])
    n_features = int(min(MINIROCKET_FEATURES, max(840, budget)))
    transform = fit_minirocket(x, n_features=n_features, seed=rows.seed)
    F_train = minirocket_features(transform, x)
    scale = _Standardise(F_train)

    def featurise(X: Inputs) -> np.ndarray:
        (_, series, pad), = _parts(X, rows.inputs)
        return scale(minirocket_features(transform, _zero_padding(series, pad)))
    what = f"MiniRocket features ({transform.n_features})"
    if mask is not None:  # variable length: the published transform takes one length; the padding is read as zeros
        what += (f" of the series zero-padded after their end to the longest training series ({x.shape[-1]} steps): "
                 "MiniRocket reads the padding as zeros")
    fitted = fit_ridge_classifier(rows.task, scale(F_train), rows.y, rows.n_classes, what)
    return [*feature_references(rows), _on(featurise, fitted, "minirocket")]


def graph_references(rows: TrainingRows) -> list[Reference]:
    """The trivial model, and ridge / logistic regression on Morgan fingerprints (radius 2, 2048 bits)."""
    F_train = _fingerprints(rows.X)
    words = "Morgan fingerprints (radius 2, 2048 bits)" if getattr(rows.X, "smiles", None) is not None \
        else "pooled atom features and molecule vectors"
    linear = fit_linear(rows.task, F_train, rows.y, rows.n_classes, words)
    return [_trivial(rows), _on(_fingerprints, linear, "linear")]


def reaction_references(rows: TrainingRows) -> list[Reference]:
    """The trivial model, and the nearest neighbour: each reaction gets the target of the training reaction whose
    difference fingerprint (Morgan counts radius 2, 2048 bits, product minus reactants; Schneider et al. 2015)
    is most Tanimoto-similar (deepsci.data.reactions)."""
    from deepsci.data.reactions import difference_fingerprints, nearest_neighbour  # RDKit: imported when used

    F_train = difference_fingerprints(getattr(rows.X, "reactions"))
    exclusive = task_of(rows.task).exclusive

    def predict(X: Inputs) -> np.ndarray:
        nearest = rows.y[nearest_neighbour(F_train, difference_fingerprints(getattr(X, "reactions")))]
        return np.eye(rows.n_classes)[nearest.astype(np.int64)] if exclusive else nearest
    words = "the target of the most Tanimoto-similar training reaction (difference fingerprint, Morgan radius 2)"
    return [_trivial(rows), Reference("nearest-neighbour", words, predict)]


def series_references(rows: TrainingRows) -> list[Reference]:
    """Forecasts of the same windows: the training mean (climatology), persistence, seasonal-naive (where a
    season fits in the window) and a linear autoregression fitted on the training windows
    (deepsci.data.timeseries)."""
    summary, X = rows.summary, rows.X
    assert isinstance(X, torch.Tensor)
    horizon = int(summary.horizon or 1)
    channels = [list(summary.channels or []).index(t) for t in summary.targets or []] or [0]
    W = fit_linear_autoregression(X, torch.as_tensor(rows.y, dtype=X.dtype))
    out = [replace(_trivial(rows), description="training mean (climatology)"),
           Reference("persistence", "the last value, repeated",
                     lambda X: persistence_forecast(_tensor(X), horizon, channels).double().numpy())]
    season = summary.season
    if season is not None and season <= X.shape[1]:
        out.append(Reference("seasonal-naive", f"the value one season ({season} steps) earlier",
                             lambda X: seasonal_naive_forecast(_tensor(X), horizon, season, channels).double().numpy()))
    out.append(Reference("linear autoregression", "least squares on the training windows",
                         lambda X: linear_autoregression_predict(W, _tensor(X)).double().numpy()))
    return out


def _tensor(X: Inputs) -> torch.Tensor:
    assert isinstance(X, torch.Tensor)
    return X


#: the references of each data kind (keys: metrics.json's data.kind; "stream" for a streamed table)
REFERENCES: dict[str, ReferenceMaker] = {
    "table": table_references, "signal": signal_references, "image": feature_references,
    "sequence": feature_references, "set": feature_references, "graph": graph_references,
    "reaction": reaction_references,
    "series": series_references, "multi": feature_references,
}


def reference_kind(dataset: "Dataset") -> str:
    """The key of `REFERENCES` for a dataset: "stream" for a streamed table, else its data kind."""
    return "stream" if dataset.summary.stream is not None else dataset.summary.kind


def training_rows(dataset: "Dataset", seed: int = 0) -> TrainingRows:
    """The training split of `dataset`, with the targets as the network trains on them."""
    task = task_of(dataset.task)
    y = dataset.train.y.double().numpy() if task.continuous or task.multilabel else dataset.train.y.long().numpy()
    return TrainingRows(dataset.train.X, y, dataset.task, len(dataset.class_names), dataset.inputs, dataset.summary,
                        seed)


def fit_references(dataset: "Dataset", seed: int = 0) -> list[Reference]:
    """The references of the dataset's kind, fitted on its training rows ([] for a kind or task without any:
    text, per-step tags)."""
    make = REFERENCES.get(reference_kind(dataset))
    task = task_of(dataset.task)
    if make is None or task.per_step or not (task.per_row or task.multilabel) or len(dataset.train) == 0:
        return []
    return make(training_rows(dataset, seed))
