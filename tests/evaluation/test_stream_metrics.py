"""Metrics accumulated block by block equal the in-memory functions on the same rows (1e-9 relative)."""

import numpy as np
import pytest

from deepsci.evaluation.metrics import classification_metrics, multilabel_metrics, regression_metrics
from deepsci.evaluation.stream_metrics import metrics_accumulator, sample_rows

RTOL = 1e-9


def _close(streamed, memory, path="") -> None:
    """Every value of the in-memory dict, in the streamed one, equal to RTOL (None as None, lists elementwise)."""
    for key, value in memory.items():
        got = streamed[key]
        where = f"{path}{key}"
        if isinstance(value, dict):
            _close(got, value, where + ".")
        elif value is None or isinstance(value, str):
            assert got == value, where
        elif isinstance(value, list) and value and isinstance(value[0], str):
            assert got == value, where
        elif isinstance(value, list):
            assert np.allclose(np.asarray(got, dtype=float), np.asarray(value, dtype=float), rtol=RTOL, atol=0), where
        else:
            assert got == pytest.approx(value, rel=RTOL, abs=1e-15), where


def _accumulate(task, y, p, cuts, classes=(), targets=("a",)):
    acc = metrics_accumulator(task, list(classes), list(targets))
    for a, b in zip([0, *cuts], [*cuts, len(y)]):
        acc.add(y[a:b], p[a:b])
    return acc


CUTS = [1, 700, 701, 2345, 4000]  # uneven blocks, one of a single row


def test_regression_two_targets_every_row_sampled_equals_regression_metrics():
    rng = np.random.default_rng(0)
    y = rng.normal(5.0, 3.0, size=(5000, 2))
    p = y + rng.normal(0.0, 1.0, size=y.shape) + 100.0  # an offset: the moments must be merged, not summed raw
    acc = _accumulate("regression", y, p, CUTS, targets=("u", "v"))
    got = acc.result(y, p)
    _close(got, regression_metrics(y, p, target_names=["u", "v"]))
    assert "sample" not in got


def test_regression_rank_metric_from_a_sample_the_rest_exact():
    rng = np.random.default_rng(1)
    y = rng.normal(size=(5000, 1))
    p = 0.8 * y + 0.3 * rng.normal(size=y.shape)
    at = sample_rows(len(y), 800, seed=3)
    got = _accumulate("regression", y, p, CUTS).result(y[at], p[at])
    full = regression_metrics(y, p)
    for key in ("rmse", "mae", "r2", "pearson_r"):
        assert got[key] == pytest.approx(full[key], rel=RTOL)
    assert got["spearman_rho"] == pytest.approx(regression_metrics(y[at], p[at])["spearman_rho"], rel=RTOL)
    assert got["sample"] == {"rows": 800, "of": 5000, "metrics": ["spearman_rho"]}


def test_constant_target_gives_no_r2_as_in_memory():
    y = np.full((300, 1), 2.0)
    p = np.linspace(0, 1, 300)[:, None]
    got = _accumulate("regression", y, p, [100, 200]).result(y, p)
    assert got["r2"] is None and got["pearson_r"] is None and got["spearman_rho"] is None
    assert got["rmse"] == pytest.approx(regression_metrics(y, p)["rmse"], rel=RTOL)


@pytest.mark.parametrize("k", [2, 4])
def test_classes_equal_classification_metrics(k):
    rng = np.random.default_rng(k)
    n = 5000
    y = rng.integers(0, k - 1, size=n) if k > 2 else rng.integers(0, k, size=n)  # k = 4: the last class absent
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    names = [f"c{j}" for j in range(k)]
    got = _accumulate("binary" if k == 2 else "multiclass", y, p, CUTS, classes=names).result(y, p)
    _close(got, classification_metrics(y, p, names))


def test_multilabel_equals_multilabel_metrics():
    rng = np.random.default_rng(5)
    y = (rng.random((4000, 3)) < [0.2, 0.5, 0.7]).astype(float)
    p = np.clip(0.6 * y + 0.4 * rng.random(y.shape), 0, 1)
    got = _accumulate("multilabel", y, p, [10, 1000, 3999], classes=["a", "b", "c"]).result(y, p)
    _close(got, multilabel_metrics(y, p, ["a", "b", "c"]))


def test_sample_rows_is_seeded_sorted_distinct_and_bounded():
    a, b = sample_rows(10_000_000, 1000, seed=7), sample_rows(10_000_000, 1000, seed=7)
    assert np.array_equal(a, b) and len(np.unique(a)) == 1000 and np.all(np.diff(a) > 0)
    assert a.max() < 10_000_000
    assert np.array_equal(sample_rows(50, 1000, seed=7), np.arange(50))


def test_tagging_is_refused_in_one_line():
    from deepsci.errors import ConfigError

    with pytest.raises(ConfigError, match="streamed table"):
        metrics_accumulator("tagging", ["O", "B"], [])
