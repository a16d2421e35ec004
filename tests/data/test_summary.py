"""DataSummary: one frozen value per build, whose JSON is the "data" of metrics.json as run folders have
always held it (the keys and their order, hand-copied from a run folder written before the type existed)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from deepsci.data import build_dataset
from deepsci.data.summary import DataSummary, target_counts

ROWS = ["source", "kind", "task", "target", "rows_read", "rows_used", "n_dropped", "dropped", "split", "inputs",
        "n_features", "featuriser", "featurisation_seconds", "cache_hit", "nonfinite_filled", "ignored_columns",
        "class_counts"]
TEXT = ["source", "kind", "task", "characters", "vocabulary", "seq_length", "split", "n_train", "n_valid", "n_test",
        "unigram_entropy_nats"]


def test_a_table_and_a_text_summary_keep_their_metrics_json_layout(tmp_path) -> None:
    frame = pd.DataFrame({"a": np.arange(40.0), "b": np.arange(40.0) ** 0.5, "y": ["u", "v"] * 20})
    frame.to_csv(tmp_path / "t.csv", index=False)
    table = build_dataset({"source": str(tmp_path / "t.csv"), "target": "y"}, seed=0).summary
    assert list(table.to_json()) == ROWS + ["fingerprint"]  # issue 31: the data files read, last
    assert table.class_counts == {"u": 20, "v": 20} and table.label_counts is None
    (tmp_path / "t.txt").write_text("abcde fghij " * 100)
    text = build_dataset({"kind": "text", "source": str(tmp_path / "t.txt"), "seq_length": 10}, seed=0).summary
    assert list(text.to_json()) == TEXT + ["fingerprint"] and text.vocabulary == 11
    json.dumps([table.to_json(), text.to_json()])
    with pytest.raises(AttributeError):
        table.task = "regression"  # type: ignore[misc]  # frozen: the rooms above read it, never write it


def test_target_counts_per_task() -> None:
    assert target_counts("regression", np.zeros((3, 1)), []) == (None, None)
    assert target_counts("binary", np.array([0, 1, 1]), ["a", "b"]) == ({"a": 1, "b": 2}, None)
    assert target_counts("multilabel", np.array([[1, 0], [1, 1]]), ["p", "q"]) == (None, {"p": 2, "q": 1})
    tags = np.array([[0, 1, -100], [1, 1, 1]])  # padding steps carry no tag
    assert target_counts("tagging", tags, ["O", "B"]) == ({"O": 1, "B": 4}, None)
    assert isinstance(DataSummary(source="x", kind="table", task="binary", split={}), DataSummary)
