"""data.train_fraction (deepsci.data.splits.keep_training_share): a seeded, stratified share of the training rows,
after the split; valid and test rows as they were, so runs on a share are judged on the same rows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from deepsci.config import config_from_dict
from deepsci.data.build import build_dataset
from deepsci.data.splits import DROPPED, TEST, TRAIN, VALID, split_codes
from deepsci.errors import ConfigError

LABELS = np.array(["a"] * 300 + ["b"] * 100 + ["c"] * 40, dtype=object)  # 440 rows, unequal classes


def test_a_quarter_of_the_training_rows_is_kept_by_class_and_valid_and_test_do_not_move():
    full, _ = split_codes(len(LABELS), labels=LABELS, seed=5)
    quarter, summary = split_codes(len(LABELS), labels=LABELS, seed=5, train_fraction=0.25)
    for part in (VALID, TEST):
        np.testing.assert_array_equal(quarter == part, full == part)
    kept, train = np.flatnonzero(quarter == TRAIN), np.flatnonzero(full == TRAIN)
    assert set(kept) <= set(train) and len(kept) == round(0.25 * len(train))
    assert set(np.flatnonzero(quarter == DROPPED)) == set(train) - set(kept)
    for label in ("a", "b", "c"):  # each class keeps its share of the training rows, to one row
        assert abs((LABELS[kept] == label).sum() - 0.25 * (LABELS[train] == label).sum()) <= 1
    assert summary["train"] == len(kept) and summary["train_fraction"] == 0.25
    assert summary["train_unused"] == len(train) - len(kept)


def test_the_share_is_seeded_and_all_rows_is_the_plain_split():
    draw = [np.flatnonzero(split_codes(len(LABELS), labels=LABELS, seed=s, train_fraction=0.5)[0] == TRAIN)
            for s in (1, 1, 2)]
    np.testing.assert_array_equal(draw[0], draw[1])
    assert len(draw[0]) != len(draw[2]) or (draw[0] != draw[2]).any()
    codes, summary = split_codes(len(LABELS), labels=LABELS, seed=1, train_fraction=1.0)
    np.testing.assert_array_equal(codes, split_codes(len(LABELS), labels=LABELS, seed=1)[0])
    assert "train_fraction" not in summary  # metrics.json of a run on all rows reads as before


def test_a_regression_share_is_random_and_seeded():
    codes, summary = split_codes(200, seed=0, train_fraction=0.3)
    assert summary["train"] == round(0.3 * (summary["train"] + summary["train_unused"])) and summary["test"] == 40


@pytest.mark.parametrize("fraction", [0.0, -0.5, 1.5])
def test_a_share_outside_zero_to_one_is_refused_in_one_line(fraction):
    with pytest.raises(ConfigError, match=r"train_fraction must be in \(0, 1\]; received") as caught:
        split_codes(100, train_fraction=fraction)
    assert "\n" not in str(caught.value)
    with pytest.raises(ConfigError, match="train_fraction") as caught:
        config_from_dict({"name": "x", "data": {"source": "solubility", "train_fraction": fraction}})
    assert "\n" not in str(caught.value).strip()


def test_a_streamed_table_keeps_the_same_share_as_in_memory(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(600, 3)).astype(np.float32), columns=["x0", "x1", "x2"])
    frame["y"] = (frame["x0"] > 0).astype(np.int64)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "t.parquet", row_group_size=128)
    spec = {"kind": "table", "source": str(tmp_path / "t.parquet"), "target": "y", "featuriser": "none",
            "train_fraction": 0.4}
    streamed, memory = build_dataset({**spec, "stream": True}, seed=3), build_dataset(spec, seed=3)
    assert streamed.summary.split == memory.summary.split
    for part in ("train", "valid", "test"):
        assert list(getattr(streamed, part).ids) == list(getattr(memory, part).ids), part


@pytest.mark.slow
def test_a_run_on_half_the_training_images_records_it_and_keeps_the_test_images(tmp_path, fit_config):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    np.savez(tmp_path / "digits.npz", images=X.reshape(-1, 1, 8, 8)[:300], labels=y[:300])
    data = {"kind": "image", "source": str(tmp_path / "digits.npz"), "x": "images", "target": "labels"}
    full = build_dataset(data, seed=0)  # the split of a run on every training image
    half = fit_config("half", "[data]\n" + "".join(f'{k} = "{v}"\n' for k, v in data.items()) + "train_fraction = 0.5\n"
                      '[model]\nkind = "cnn"\nchannels = [4]\nhidden = [8]\n[train]\nepochs = 1\n'
                      "[report]\nhtml = false\n")
    split = json.loads((half / "metrics.json").read_text())["data"]["split"]
    assert split["train_fraction"] == 0.5 and split["train"] == round(len(full.train) / 2)
    assert split["train_unused"] == len(full.train) - split["train"]
    assert (split["valid"], split["test"]) == (len(full.valid), len(full.test))
    tested = pd.read_csv(half / "predictions.csv", dtype={"id": str})["id"]
    assert sorted(tested) == sorted(full.test.ids)
