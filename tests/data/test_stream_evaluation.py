"""A streamed table is evaluated block by block (deepsci.evaluation.stream_evaluation) with the numbers that
`evaluate_model` gives when it gathers the same splits whole: the oracle is the in-memory evaluation of the same
Dataset and network. Blocks are made small here so that every split crosses many of them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from deepsci.data.build import build_dataset
from deepsci.errors import ConfigError
from deepsci.evaluation import stream_evaluation
from deepsci.evaluation.evaluate import evaluate_model
from deepsci.evaluation.stream_evaluation import check_streamed_uncertainty, evaluate_streamed
from deepsci.models import MLP
from deepsci.training.uncertainty_spec import UncertaintySpec

N, D = 3000, 5
# The sums themselves agree to 1e-9 (tests/evaluation/test_stream_metrics.py); here the network also predicts blocks
# of 97 rows instead of whole splits, and a float32 matmul's rounding depends on the rows it is given (~1e-7).
RTOL = 1e-6


def _dataset(tmp_path: Path, classes: bool = False, calib: float = 0.0):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, D)).astype(np.float32)
    y = np.tanh(x @ rng.normal(size=D)) + 0.2 * rng.normal(size=N)
    frame = pd.DataFrame(x, columns=[f"x{j}" for j in range(D)])
    frame["y"] = np.digitize(y, [-0.3, 0.3]) if classes else y.astype(np.float32)
    path = tmp_path / "t.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=250)
    spec = {"kind": "table", "source": str(path), "target": "y", "task": "auto", "split": "auto",
            "test_fraction": 0.2, "valid_fraction": 0.1, "calib_fraction": calib, "missing": "error",
            "featuriser": "none", "scale_features": True, "scale_targets": True, "stream": True}
    return build_dataset(spec, seed=3)


def _model(dataset) -> MLP:
    torch.manual_seed(0)
    return MLP(D, dataset.n_outputs, (16,))


def _numbers(metrics: dict) -> dict:
    """The scalar metrics of a split (the rank metrics too: every row is in the sample here)."""
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _same(streamed, memory) -> None:
    for name, result in memory.splits.items():
        got, want = _numbers(streamed.splits[name].metrics), _numbers(result.metrics)
        assert got.keys() == want.keys(), name
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=RTOL, abs=1e-12), (name, key)
    for ours, theirs in zip(streamed.baselines, memory.baselines):
        assert (ours.name, ours.description) == (theirs.name, theirs.description)
        for split, values in theirs.metrics.items():
            for key, value in _numbers(values).items():
                assert _numbers(ours.metrics[split])[key] == pytest.approx(value, rel=RTOL, abs=1e-12), (ours.name, key)


@pytest.mark.parametrize("classes", [False, True])
def test_streamed_evaluation_equals_the_gathered_one(tmp_path, monkeypatch, classes):
    monkeypatch.setattr(stream_evaluation, "BLOCK_ROWS", 97)  # blocks that cut the file's row groups anywhere
    dataset = _dataset(tmp_path, classes)
    model = _model(dataset)
    streamed = evaluate_streamed(model, dataset, keep_rows=50)
    _same(streamed, evaluate_model(model, dataset))
    test = streamed.splits["test"]
    assert test.rows == len(dataset.test) and len(test.pred) == 50  # predictions.csv's rows: the first 50
    assert list(test.ids) == list(dataset.test.ids[:50])
    assert streamed.drawn is test.sample and len(test.sample.pred) == len(dataset.test)
    assert [b.name for b in streamed.baselines] == ["trivial", "linear"]


def test_the_sample_bounds_what_is_held_and_the_rank_metric_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(stream_evaluation, "SAMPLE_ROWS", 100)
    dataset = _dataset(tmp_path)
    model = _model(dataset)
    streamed, memory = evaluate_streamed(model, dataset), evaluate_model(model, dataset)
    test = streamed.splits["test"]
    assert len(test.pred) == 0 and len(test.sample.pred) == 100  # nothing else held: no predictions.csv asked
    assert test.metrics["sample"] == {"rows": 100, "of": len(dataset.test), "metrics": ["spearman_rho"]}
    assert test.metrics["rmse"] == pytest.approx(memory.splits["test"].metrics["rmse"], rel=RTOL)
    rows = np.asarray([int(i) for i in test.sample.ids])
    assert np.all(np.diff(rows) > 0) and set(rows) <= {int(i) for i in dataset.test.ids}


def test_split_conformal_on_a_streamed_table_equals_the_gathered_one(tmp_path, monkeypatch):
    monkeypatch.setattr(stream_evaluation, "BLOCK_ROWS", 128)
    dataset = _dataset(tmp_path, calib=0.2)
    model = _model(dataset)
    spec = UncertaintySpec(method="none", conformal=True, level=0.9)
    streamed, memory = evaluate_streamed(model, dataset, spec), evaluate_model(model, dataset, spec)
    ours, theirs = dict(streamed.calibration), dict(memory.calibration)  # every calibration row is in the sample
    assert np.allclose(ours.pop("q"), theirs.pop("q"), rtol=RTOL) and ours == theirs
    for key in ("coverage", "mean_width"):
        assert streamed.splits["test"].uncertainty[key] == pytest.approx(memory.splits["test"].uncertainty[key],
                                                                          rel=RTOL)
    assert streamed.uncertainty["calibration_rows"] == len(dataset.calib)


def test_cv_plus_is_refused_before_training_for_a_streamed_table(tmp_path):
    from deepsci.config import config_from_dict
    from deepsci.experiment import run_experiment

    with pytest.raises(ConfigError, match="conformal_method = 'split'"):
        check_streamed_uncertainty(UncertaintySpec(method="ensemble", members=3, conformal=True,
                                                   conformal_method="cross-plus"))
    _dataset(tmp_path)  # writes t.parquet
    config = config_from_dict({"name": "cv", "data": {"source": str(tmp_path / "t.parquet"), "target": "y",
                                                      "stream": True},
                               "train": {"epochs": 50, "threads": 1},
                               "uncertainty": {"method": "ensemble", "members": 2, "conformal_method": "cross-plus"}})
    with pytest.raises(ConfigError, match="a streamed table does not hold"):
        run_experiment(config, tmp_path / "runs", progress=False)
    assert not (tmp_path / "runs" / "cv").exists()


@pytest.mark.slow
def test_a_streamed_run_says_its_figures_are_a_sample_and_keeps_predictions_to_the_setting(tmp_path, monkeypatch):
    from deepsci.config import config_from_dict
    from deepsci.experiment import run_experiment

    monkeypatch.setattr(stream_evaluation, "SAMPLE_ROWS", 100)
    dataset = _dataset(tmp_path)  # writes t.parquet
    config = config_from_dict({"name": "s", "seed": 3, "data": {"source": str(tmp_path / "t.parquet"), "target": "y",
                                                                "stream": True},
                               "model": {"hidden": [8]}, "train": {"epochs": 1, "batch_size": 256, "threads": 1},
                               "report": {"predictions": 30, "theory": False}})
    run = run_experiment(config, tmp_path / "runs", progress=False)
    n_test = len(dataset.test)
    html = (run.path / "report.html").read_text()
    assert f"a random sample of 100 of the {n_test:,} rows of the test split" in html
    assert (run.path / "predictions.csv").read_text().count("\n") == 31  # header and the first 30 test rows
    assert run.metrics["test"]["sample"] == {"rows": 100, "of": n_test, "metrics": ["spearman_rho"]}
    assert {"trivial", "linear"} <= set(run.metrics["baselines"])
