"""Multi-label and per-step (tagging) targets: encoding, padding, refusals, and the simulated motif sets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from pydantic import ValidationError

from deepsci.data.spec import data_config
from deepsci.data import build_dataset
from deepsci.data.preprocess import IGNORE, fit_steps, multilabel_targets, tag_targets
from deepsci.data.simulate import BASES, GATA_PWM, MOTIF_PWMS, simulate_motif_labels, simulate_motif_tags
from deepsci.errors import DataError


def test_multilabel_targets_are_the_0_1_columns_and_refuse_any_other_value():
    frame = pd.DataFrame({"a": [0, 1, 1], "b": [True, False, True], "c": [0.0, 1.0, 2.5]})
    assert multilabel_targets(frame, ["a", "b"], "t.csv").tolist() == [[0, 1], [1, 0], [1, 1]]
    with pytest.raises(DataError, match=r"column 'c' of t.csv holds 2.5 \(row 2\)"):
        multilabel_targets(frame, ["a", "c"], "t.csv")
    with pytest.raises(DataError, match="several 0/1 target columns"):
        multilabel_targets(frame, ["a"], "t.csv")


def test_tags_from_a_text_column_pad_with_ignore_and_survive_a_csv_reader(tmp_path):
    frame = pd.DataFrame({"tags": ["0110", "10", "001"]})
    y, classes = tag_targets(frame, ["tags"], [4, 2, 3], "t")
    assert classes == ["0", "1"]
    assert y.tolist() == [[0, 1, 1, 0], [1, 0, IGNORE, IGNORE], [0, 0, 1, IGNORE]]
    # pandas reads '0110' as the number 110: the dropped leading characters were '0' tags
    frame.to_csv(tmp_path / "t.csv", index=False)
    again, _ = tag_targets(pd.read_csv(tmp_path / "t.csv"), ["tags"], [4, 2, 3], "t")
    assert np.array_equal(again, y)
    with pytest.raises(DataError, match="row 1 has 2 tags for a sample of 3 steps"):
        tag_targets(frame, ["tags"], [4, 3, 3], "t")
    with pytest.raises(DataError, match="tag '2', not one of the trained tags"):
        tag_targets(pd.DataFrame({"tags": ["02"]}), ["tags"], [2], "t", class_names=["0", "1"])


def test_tags_from_an_array_read_only_the_real_steps():
    # an (n, L) tag array whose padding holds -1: never a class, since steps past each length are not read
    frame = pd.DataFrame({f"t[{j}]": col for j, col in enumerate(np.array([[2, 0, -1], [0, 2, 2]]).T)})
    y, classes = tag_targets(frame, list(frame.columns), [2, 3], "t")
    assert classes == ["0", "2"] and y.tolist() == [[1, 0, IGNORE], [0, 1, 1]]


def test_fit_steps_cuts_or_pads_to_the_model_steps():
    y = torch.tensor([[0, 1, 1], [1, IGNORE, IGNORE]])
    assert fit_steps(y, 2).tolist() == [[0, 1], [1, IGNORE]]
    assert fit_steps(y, 4).tolist() == [[0, 1, 1, IGNORE], [1, IGNORE, IGNORE, IGNORE]]


def test_simulated_tags_mark_exactly_the_planted_sites():
    frame = simulate_motif_tags(n=60, length=80, min_length=50, seed=3)
    lengths = frame["sequence"].str.len()
    assert (lengths == frame["tags"].str.len()).all() and lengths.between(50, 80).all()
    assert lengths.nunique() > 5  # variable lengths: the padding is exercised
    w = GATA_PWM.shape[1]
    for seq, tags, k in zip(frame["sequence"], frame["tags"], frame["n_sites"]):
        assert tags.count("1") == k * w  # sites never overlap
        for start in (i for i in range(len(tags)) if tags[i] == "1" and (i == 0 or tags[i - 1] == "0")):
            run = len(tags[start:]) - len(tags[start:].lstrip("1"))
            assert run % w == 0  # whole sites, possibly touching
            # a planted site is drawn from the sharpened PWM: each base has PWM probability > 0.03
            for j in range(run):
                assert GATA_PWM[BASES.index(seq[start + j]), j % w] > 0.03


def test_simulated_labels_are_the_planted_motifs():
    frame = simulate_motif_labels(n=400, seed=2)
    assert list(frame.columns) == ["id", "sequence", *MOTIF_PWMS]
    share = frame[list(MOTIF_PWMS)].mean()
    assert share.between(0.4, 0.6).all()  # prevalence 0.5 each, independent
    ebox = frame["sequence"].str.contains("CACGTG")  # the E-box consensus almost never occurs by chance (CpG)
    assert ebox[frame["ebox"] == 0].mean() < 0.05 and ebox[frame["ebox"] == 1].mean() > 0.3


def test_a_multilabel_dataset_holds_one_0_1_column_per_label(tmp_path):
    frame = simulate_motif_labels(n=120, length=60, seed=1)
    frame.to_csv(tmp_path / "m.csv", index=False)
    ds = build_dataset(data_config(kind="sequence", source=str(tmp_path / "m.csv"), sequence_column="sequence",
                                   target=list(MOTIF_PWMS), task="multilabel", id_column="id"))
    assert ds.task == "multilabel" and ds.class_names == list(MOTIF_PWMS) and ds.n_outputs == 3
    assert ds.train.y.dtype == torch.float32 and ds.train.y.shape[1] == 3
    assert ds.summary.label_counts["gata"] == int(frame["gata"].sum())
    # without task = "multilabel" several columns stay what they were: regression targets
    auto = build_dataset(data_config(kind="sequence", source=str(tmp_path / "m.csv"), sequence_column="sequence",
                                     target=list(MOTIF_PWMS), id_column="id"))
    assert auto.task == "regression"
    frame.loc[5, "tata"] = 3
    frame.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match="column 'tata' .* holds 3"):
        build_dataset(data_config(kind="sequence", source=str(tmp_path / "bad.csv"), sequence_column="sequence",
                                  target=list(MOTIF_PWMS), task="multilabel"))


def test_a_tagging_dataset_pads_its_tags_with_the_sequence_mask(tmp_path):
    frame = simulate_motif_tags(n=80, length=60, min_length=40, seed=2)
    frame.to_csv(tmp_path / "t.csv", index=False)
    ds = build_dataset(data_config(kind="sequence", source=str(tmp_path / "t.csv"), sequence_column="sequence",
                                   target="tags", task="tagging", id_column="id"))
    assert ds.task == "tagging" and ds.class_names == ["0", "1"] and ds.n_outputs == 2
    for part in (ds.train, ds.valid, ds.test):
        mask = part.X["mask"]
        assert part.y.shape == mask.shape
        assert torch.equal(part.y != IGNORE, mask)  # tags on real steps, ignored on padding
    row = frame.set_index("id").loc[ds.test.ids[0]]
    assert "".join(ds.class_names[t] for t in ds.test.y[0][ds.test.y[0] != IGNORE]) == row["tags"]


def test_signal_tagging_from_an_npz_tag_array(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2, 30))
    tags = (x[:, 0] > 0).astype(np.int64)  # (n, L): one tag per step
    np.savez(tmp_path / "s.npz", X=x, tags=tags)
    ds = build_dataset(data_config(kind="signal", source=str(tmp_path / "s.npz"), target="tags", task="tagging"))
    assert ds.train.X.shape[1:] == (2, 30) and ds.train.y.shape[1] == 30 and (ds.train.y >= 0).all()


@pytest.mark.parametrize("kind", ["table", "set", "image", "graph", "multi"])
def test_tagging_without_steps_is_refused_in_one_line(kind):
    extra = {"inputs": {"a": {"kind": "table"}, "b": {"kind": "table"}}} if kind == "multi" else {}
    with pytest.raises(ValidationError, match="task = 'tagging' .* needs data.kind = 'sequence' or 'signal'"):
        data_config(kind=kind, source="x.csv", task="tagging", **extra)
