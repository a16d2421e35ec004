"""The tagging example's model and training learn on a small set in seconds. The full examples' numbers
(docs/images_and_sequences.md: per-base F1 0.955/0.948, macro ROC-AUC 0.919/0.952 at seeds 0/1) take minutes
of CPU each, so they are measured by the commands that page gives, not in `make test`.
"""

from __future__ import annotations

import pytest

from deepsci.data.simulate import simulate_motif_tags

pytestmark = pytest.mark.slow


def test_the_tagger_example_learns_on_a_small_set_in_seconds(tmp_path, fit_example):
    # the example's model and training on 240 sequences of 30-48 bases, 12 epochs (about 10 s of CPU):
    # per-base F1 0.915 when measured (seed 0); the floor leaves room for thread-dependent LSTM digits
    simulate_motif_tags(n=240, length=48, min_length=30, seed=5).to_csv(tmp_path / "small.csv", index=False)
    metrics = fit_example("motifs_tagger", tmp_path, f"data.source={tmp_path / 'small.csv'}", "data.target=tags",
                          "train.epochs=12", "train.lr=0.01", "report.html=false")
    assert metrics["test"]["f1"] > 0.85
    assert sum(metrics["data"]["class_counts"].values()) == sum(metrics[p]["steps"] for p in ("train", "valid", "test"))

