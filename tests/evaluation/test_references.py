"""References for every kind of data: at least two per run, fitted on the training rows only.

For each kind (table, signal, sequence, image, set, graph, series, multi) a tiny real or simulated dataset is
built, its references are fitted, and the test holds that (1) there are at least two, each with metrics on
every split; (2) the trivial reference predicts the training rows' mean or class frequencies (not those of all
rows); (3) replacing every validation and test target (and the test rows' ids) changes no reference's
predictions, while the same references refitted on permuted training targets do change.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest
import torch

from deepsci.data import Dataset, build_dataset
from deepsci.data.dataset import Split
from deepsci.data.simulate import simulate_motifs, simulate_point_sets
from deepsci.data.spec import data_config
from deepsci.evaluation.baselines import collapse_warnings, fit_ridge_classifier
from deepsci.evaluation.evaluate import baseline_results
from deepsci.evaluation.minirocket import fit_dilations, fit_minirocket, minirocket_features
from deepsci.evaluation.references import REFERENCES, fit_references, reference_kind
from deepsci.tasks import task_of


def _table(tmp: Path) -> Dataset:
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame.head(80)
    frame.to_csv(tmp / "d.csv", index=False)
    return build_dataset(data_config(source=str(tmp / "d.csv"), target="target"), seed=0)


def _signal(tmp: Path) -> Dataset:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 80)
    t = np.linspace(0, 1, 32)
    x = np.sin(2 * np.pi * (2 + 3 * y)[:, None] * t) + 0.3 * rng.normal(size=(80, 32))
    np.savez(tmp / "s.npz", x=x, y=y)
    return build_dataset(data_config(kind="signal", source=str(tmp / "s.npz"), x="x", target="y"), seed=0)


def _sequence(tmp: Path) -> Dataset:
    simulate_motifs(n=60, length=30, seed=1).to_csv(tmp / "m.csv", index=False)
    return build_dataset(data_config(kind="sequence", source=str(tmp / "m.csv"), target="label", id_column="id",
                                     alphabet="dna"), seed=0)


def _image(tmp: Path) -> Dataset:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    np.savez(tmp / "i.npz", images=X[:90].reshape(-1, 1, 8, 8), labels=y[:90] % 3)
    return build_dataset(data_config(kind="image", source=str(tmp / "i.npz"), x="images", target="labels"), seed=0)


def _set(tmp: Path) -> Dataset:
    simulate_point_sets(n=45, seed=1).to_csv(tmp / "p.csv", index=False)
    return build_dataset(data_config(kind="set", source=str(tmp / "p.csv"), target="shape", set_column="set_id",
                                     features=["x", "y"]), seed=0)


def _graph(tmp: Path) -> Dataset:
    from deepsci.data import load_frame

    frame = load_frame("solubility")[["smiles", "SOL"]].iloc[::40].head(40)
    frame.to_csv(tmp / "g.csv", index=False)
    return build_dataset(data_config(kind="graph", source=str(tmp / "g.csv"), target="SOL", smiles_column="smiles"),
                         seed=0, cache_dir=tmp)


def _series(tmp: Path) -> Dataset:
    steps = np.arange(160)
    frame = pd.DataFrame({"step": steps, "v": np.sin(2 * np.pi * steps / 12) + 0.1 * np.cos(steps / 7.0)})
    frame.to_csv(tmp / "r.csv", index=False)
    return build_dataset(data_config(kind="series", source=str(tmp / "r.csv"), time_column="step", input_length=12,
                                     horizon=1, test_size=30, valid_size=15, season=12), seed=0)


def _multi(tmp: Path) -> Dataset:
    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame(rng.normal(size=(n, 8)), columns=[f"s{j}" for j in range(8)])
    frame["age"] = rng.uniform(20, 80, n)
    frame["dna"] = ["".join(rng.choice(list("ACGT"), rng.integers(5, 12))) for _ in range(n)]
    frame["y"] = (frame["s0"] + frame["age"] / 40 > 1.5).astype(int)
    frame.to_csv(tmp / "x.csv", index=False)
    return build_dataset(data_config(kind="multi", source=str(tmp / "x.csv"), target="y", inputs={
        "wave": {"kind": "signal", "features": [f"s{j}" for j in range(8)]},
        "meta": {"kind": "table", "features": ["age"]},
        "dna": {"kind": "sequence", "sequence_column": "dna", "alphabet": "dna"}}), seed=0)


KINDS: dict[str, Callable[[Path], Dataset]] = {"table": _table, "signal": _signal, "sequence": _sequence,
                                               "image": _image, "set": _set, "graph": _graph, "series": _series,
                                               "multi": _multi}


def _scrambled(dataset: Dataset) -> Dataset:
    """The dataset with every validation and test target replaced (reversed and shifted), rows and inputs kept."""
    def scramble(split: Split) -> Split:
        y = split.y.flip(0)
        y = y + 1.0 if y.is_floating_point() else (y + 1) % max(2, len(dataset.class_names))
        return Split(split.X, y, [f"other{i}" for i in range(len(split.ids))])
    return replace(dataset, valid=scramble(dataset.valid), test=scramble(dataset.test))


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_has_two_references_fitted_on_training_rows_only(kind: str, tmp_path: Path) -> None:
    dataset = KINDS[kind](tmp_path)
    assert reference_kind(dataset) == kind and kind in REFERENCES
    results = baseline_results(dataset)
    assert len(results) >= 2, [r.name for r in results]
    assert all({"train", "test"} <= set(r.metrics) for r in results)
    assert results[0].name == "trivial"
    references = fit_references(dataset)
    test_pred = [r.predict(dataset.test.X) for r in references]
    # the trivial reference: the training rows' statistic, not the statistic of all rows
    train_y = dataset.train.y.double().numpy()
    if task_of(dataset.task).continuous:
        np.testing.assert_allclose(test_pred[0], np.repeat(train_y.mean(0, keepdims=True), len(test_pred[0]), 0))
    else:
        freq = np.bincount(train_y.astype(int), minlength=len(dataset.class_names)) / len(train_y)
        np.testing.assert_allclose(test_pred[0][0], freq)
    # no validation or test target reaches any reference
    scrambled = [r.predict(dataset.test.X) for r in fit_references(_scrambled(dataset))]
    for ours, theirs in zip(test_pred, scrambled):
        np.testing.assert_array_equal(ours, theirs)
    # ... while the training targets do
    order = torch.randperm(len(dataset.train), generator=torch.Generator().manual_seed(0))
    permuted = replace(dataset, train=Split(dataset.train.X, dataset.train.y[order], dataset.train.ids))
    moved = [r.predict(dataset.test.X) for r in fit_references(permuted)]
    assert any(not np.allclose(a, b) for a, b in zip(test_pred[1:], moved[1:]))


def test_minirocket_transform_as_published() -> None:
    dilations, per_dilation = fit_dilations(48, 10_000)
    assert 84 * per_dilation.sum() == 9996 and dilations[0] == 1 and dilations[-1] <= (48 - 1) / 8
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 2, 48))
    transform = fit_minirocket(x, seed=0)
    features = minirocket_features(transform, x)
    assert features.shape == (6, 9996) and ((features >= 0) & (features <= 1)).all()
    # the biases are quantiles of training outputs: every feature is neither always 0 nor always 1 on them
    assert 0.2 < features.mean() < 0.8
    np.testing.assert_array_equal(features, minirocket_features(fit_minirocket(x, seed=0), x))


def test_minirocket_separates_frequencies_and_its_probabilities_are_calibrated_on_training_rows() -> None:
    rng = np.random.default_rng(1)
    t = np.linspace(0, 1, 64)
    y = np.arange(120) % 2
    x = np.sin(2 * np.pi * (3 + y)[:, None] * t + rng.uniform(0, 6, (120, 1))) + 0.5 * rng.normal(size=(120, 64))
    transform = fit_minirocket(x[:80], seed=0)
    F_train, F_test = minirocket_features(transform, x[:80]), minirocket_features(transform, x[80:])
    mean, std = F_train.mean(0), F_train.std(0) + 1e-12
    fitted = fit_ridge_classifier("binary", (F_train - mean) / std, y[:80], 2, "MiniRocket")
    proba = fitted.predict((F_test - mean) / std)
    assert np.allclose(proba.sum(1), 1) and (proba.argmax(1) == y[80:]).mean() >= 0.9


def test_collapse_is_a_warning() -> None:
    one_class = np.tile([[0.7, 0.3]], (10, 1))
    said = collapse_warnings("binary", one_class, {"accuracy": 0.5}, {"accuracy": 0.6}, ["a", "b"])
    assert len(said) == 2 and "('a') for every one of the 10 test rows" in said[0] and "at chance" in said[1]
    varied = np.array([[0.7, 0.3], [0.2, 0.8]] * 5)
    assert collapse_warnings("binary", varied, {"accuracy": 0.9}, {"accuracy": 0.6}, ["a", "b"]) == []
    assert collapse_warnings("regression", one_class, None, None, []) == []
