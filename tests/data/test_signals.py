"""Signals: the validation scheme chosen from the data size, per-series normalisation, the simulated light curves."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from deepsci.config import config_from_dict
from deepsci.data import build_dataset
from deepsci.data.featurisers import per_series
from deepsci.data.physics.lightcurves import CLASSES, photometric_sigma, simulate_light_curves
from deepsci.data.validation import SMALL_SET_ROWS, resolve_valid_fraction
from deepsci.errors import DataError
from deepsci.experiment import run_experiment


@pytest.fixture()
def waves(tmp_path: Path) -> Path:
    """40 two-class signals (n, 1, 24): sines against square waves, noisy."""
    rng = np.random.default_rng(0)
    t = np.linspace(0, 4 * np.pi, 24)
    y = np.arange(40) % 2
    x = np.where(y[:, None] == 0, np.sin(t), np.sign(np.sin(t))) + 0.3 * rng.normal(size=(40, 24))
    np.savez(tmp_path / "waves.npz", X=x[:, None].astype(np.float32), label=y)
    return tmp_path / "waves.npz"


def test_auto_validation_follows_the_data_size() -> None:
    assert resolve_valid_fraction("auto", SMALL_SET_ROWS - 1) == 0.0
    assert resolve_valid_fraction("auto", SMALL_SET_ROWS) == 0.1
    assert resolve_valid_fraction(0.25, 10) == 0.25  # a fraction the user gives is kept
    patient = config_from_dict({"name": "x", "data": {"kind": "signal", "source": "a.npz"}, "train": {"patience": 5}})
    assert patient.data.valid_fraction == 0.1  # early stopping asked for: "auto" keeps rows to stop on


def test_small_signal_set_trains_on_every_row(waves: Path) -> None:
    config = config_from_dict({"name": "w", "data": {"kind": "signal", "source": str(waves), "target": "label"},
                               "uncertainty": {"method": "none"}})
    dataset = build_dataset(config.data, seed=0)
    assert len(dataset.valid) == 0 and len(dataset.train) == 32 and len(dataset.test) == 8
    assert dataset.summary.split["validation"].startswith("none ('auto': 32 training rows")


def test_per_series_scaling_z_normalises_each_series(waves: Path) -> None:
    x = torch.randn(5, 2, 30, dtype=torch.float64) * 3 + 7
    z = per_series(x)
    assert torch.allclose(z.double().mean(-1), torch.zeros(5, 2, dtype=torch.float64), atol=1e-6)
    assert torch.allclose(z.double().std(-1, unbiased=False), torch.ones(5, 2, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(per_series(x * 0.5 - 3), z, atol=1e-5)  # level and amplitude removed
    assert torch.equal(per_series(torch.full((1, 1, 4), 2.0)), torch.zeros(1, 1, 4))  # a flat series: zeros
    config = config_from_dict({"name": "w", "data": {"kind": "signal", "source": str(waves), "target": "label",
                                                     "scale": "per-series"}})
    test = build_dataset(config.data, seed=0).test.X
    assert torch.allclose(test.mean(-1), torch.zeros(len(test), 1), atol=1e-5)


@pytest.mark.slow
def test_default_signal_run_and_ignored_patience(waves: Path, tmp_path: Path) -> None:
    """No [model]: a ResNet trains (no refusal); train.patience without validation rows is a warning."""
    raw = {"name": "w", "data": {"kind": "signal", "source": str(waves), "target": "label", "valid_fraction": 0.0},
           "train": {"epochs": 2, "patience": 3}, "report": {"html": False}, "uncertainty": {"method": "none"}}
    run = run_experiment(config_from_dict(raw), out=tmp_path, progress=False)
    metrics = json.loads((run.path / "metrics.json").read_text())
    assert run.config.model.kind == "cnn" and getattr(run.config.model, "preset") == "resnet"
    assert metrics["epochs_run"] == 2
    assert any("train.patience = 3 was ignored" in w for w in metrics["warnings"])


def test_light_curves_physics() -> None:
    sim = simulate_light_curves(800, length=96, seed=3)
    X, labels = sim["X"], sim["label"]
    assert X.shape == (800, 2, 96) and sorted(set(labels)) == sorted(CLASSES)
    assert all(np.count_nonzero(labels == c) == 200 for c in CLASSES)  # balanced
    seen = X[:, 1] > 0
    assert np.all(X[:, 0][~seen] == 0) and 0.3 < seen.mean() < 0.85  # gaps hold 0; weather and the long gap
    gaps = [max((len(run) for run in "".join("1" if s else "0" for s in row).split("1")), default=0) for row in seen]
    assert min(gaps) >= 10  # every season has its long gap
    assert photometric_sigma(np.array([22.5]))[0] == pytest.approx(np.hypot(0.01, 0.2))  # S/N 5 at the depth
    flat = labels == "flat"  # a flat star's scatter is its photometric noise alone (Monte Carlo vs the formula)
    scatter = np.array([row[s].std() for row, s in zip(X[flat, 0], seen[flat])])
    expected = photometric_sigma(sim["m0"][flat])
    assert np.median(scatter / expected) == pytest.approx(1.0, abs=0.08)
    transient = X[labels == "transient", 0]
    assert np.median(transient.min(1)) < -0.4  # transients brighten (negative magnitude offsets)


def _vector_sequences(path: Path, lengths: list[int], steps: int) -> Path:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(len(lengths), steps, 2)).astype(np.float32)
    np.savez(path, X=x, lengths=np.array(lengths), label=np.arange(len(lengths)) % 2)
    return path


def test_over_long_test_sequence_is_refused_or_truncated(tmp_path: Path) -> None:
    """data.md: a vector sequence longer than every training sequence is an error, or cut with truncate = true."""
    train = _vector_sequences(tmp_path / "train.npz", [3, 4, 5, 6] * 5, 8)
    test = _vector_sequences(tmp_path / "test.npz", [4, 8, 5, 6], 8)
    data = {"kind": "sequence", "source": str(train), "test_source": str(test), "target": "label",
            "lengths": "lengths", "valid_fraction": 0.0}
    with pytest.raises(DataError, match="8 steps, more than the longest training sequence"):
        build_dataset(config_from_dict({"name": "s", "data": data}).data, seed=0)
    cut = build_dataset(config_from_dict({"name": "s", "data": {**data, "truncate": True}}).data, seed=0)
    assert cut.test.X["mask"].sum(1).tolist() == [4, 6, 5, 6]


def test_lengths_beyond_the_steps_are_refused(tmp_path: Path) -> None:
    """(n, C, L) data read as a sequence is C steps of L features: its lengths exceed the steps, and are refused."""
    path = _vector_sequences(tmp_path / "s.npz", [20] * 8, 3)  # lengths count L = 20, the array has 3 'steps'
    data = {"kind": "sequence", "source": str(path), "target": "label", "lengths": "lengths"}
    with pytest.raises(DataError, match="outside 0..3"):
        build_dataset(config_from_dict({"name": "s", "data": data}).data, seed=0)
