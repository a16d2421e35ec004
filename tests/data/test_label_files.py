"""Issue 31: label files joined one to one with their data, set sizes in range, data fingerprints, and
predict-time columns typed as in training. Reading only: no training in this file."""

import numpy as np
import pandas as pd
import pytest

from deepsci.data import build_dataset
from deepsci.data.fasta import write_fasta
from deepsci.data.fingerprint import changed_files, data_fingerprint, own_file_note, refuse_changed_data
from deepsci.data.spec import data_config
from deepsci.errors import DataError


def _rows(d):
    return len(d.train) + len(d.valid) + len(d.test)


def _fasta(tmp_path, n=40):
    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(n)]
    write_fasta(tmp_path / "seqs.fa", ids, ["".join(rng.choice(list("ACGT"), 20)) for _ in ids])
    return ids


def _fasta_config(tmp_path, labels):
    labels.to_csv(tmp_path / "labels.csv", index=False)
    return data_config(kind="sequence", source=str(tmp_path / "seqs.fa"), labels=str(tmp_path / "labels.csv"),
                       target="label")


def test_fasta_labels_join_one_to_one(tmp_path):
    ids = _fasta(tmp_path)
    labels = pd.DataFrame({"id": ids, "label": [i % 2 for i in range(len(ids))]})
    assert _rows(build_dataset(_fasta_config(tmp_path, labels))) == 40
    twice = pd.concat([labels, pd.DataFrame({"id": ["s3"], "label": [0]})])  # s3 listed twice, two labels
    with pytest.raises(DataError, match="labels.csv lists 1 id\\(s\\) more than once: s3"):
        build_dataset(_fasta_config(tmp_path, twice))
    with pytest.raises(DataError, match="labels.csv lacks 5 of the 40 ids of '.*seqs.fa': s0, s1, s2, s3, s4; "
                                        "add a row for each \\(the FASTA file is fine\\)"):
        build_dataset(_fasta_config(tmp_path, labels.iloc[5:]))


def test_image_labels_join_one_to_one(tmp_path):
    from PIL import Image

    for i in range(12):
        Image.fromarray(np.full((5, 5), i, np.uint8)).save(tmp_path / f"im{i}.png")
    labels = pd.DataFrame({"file": [f"im{i}.png" for i in range(12)], "label": [i % 3 for i in range(12)]})

    def build(frame):
        frame.to_csv(tmp_path / "labels.csv", index=False)
        return build_dataset(data_config(kind="image", source=str(tmp_path), labels=str(tmp_path / "labels.csv"),
                                         target="label", test_fraction=0.25, valid_fraction=0.0))

    assert _rows(build(labels)) == 12
    with pytest.raises(DataError, match="lists 1 image\\(s\\) more than once: im4.png"):
        build(pd.concat([labels, labels.iloc[[4]].assign(label=2)]))
    with pytest.raises(DataError, match="lacks 2 image\\(s\\) of .*: im10.png, im11.png"):
        build(labels.iloc[:10])


@pytest.mark.parametrize("bad, shown", [(25, "25, outside 0..10"), (-3, "-3, outside 0..10")])
def test_set_sizes_beyond_the_padded_width_or_negative_are_refused(tmp_path, bad, shown):
    sizes = np.full(40, 4)
    sizes[7] = bad
    np.savez(tmp_path / "s.npz", X=np.ones((40, 10, 2)), n=sizes, y=np.arange(40) % 2)
    with pytest.raises(DataError, match=f"'n' of sample 7 is {shown} \\(the padded width\\)"):
        build_dataset(data_config(kind="set", source=str(tmp_path / "s.npz"), sizes="n", target="y"))


def test_predict_time_true_false_in_a_numeric_column_is_text(tmp_path):
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"a": rng.normal(size=40), "flag": rng.integers(0, 2, 40) == 1, "y": rng.normal(size=40)})
    train.to_csv(tmp_path / "train.csv", index=False)
    d = build_dataset(data_config(source=str(tmp_path / "train.csv"), target="y", features=["a", "flag"]))
    pd.DataFrame({"a": [0.1, 0.2], "flag": [True, False]}).to_csv(tmp_path / "new.csv", index=False)
    pre = d.preprocessor
    assert not pre.transform(pre.read(str(tmp_path / "new.csv")))[2]  # a True/False column in training too
    train.assign(flag=train["flag"].astype(float)).to_csv(tmp_path / "train.csv", index=False)
    spec = data_config(source=str(tmp_path / "train.csv"), target="y", features=["a", "flag"])
    pre = build_dataset(spec).preprocessor
    with pytest.raises(DataError, match="none of the 2 rows .* text 'True' in numeric column 'flag'"):
        pre.transform(pre.read(str(tmp_path / "new.csv")))  # was read as 1.0 / 0.0: two forecasts


def test_fingerprints_name_each_data_file_and_what_changed(tmp_path):
    (tmp_path / "a.csv").write_text("t,v\n1,2\n")
    (tmp_path / "b.csv").write_text("t,v\n3,4\n")
    spec = {"source": str(tmp_path / "a.csv"), "test_source": str(tmp_path / "b.csv"), "labels": None}
    saved = data_fingerprint(spec)
    assert sorted(saved) == ["source", "test_source"] and saved["source"]["size"] == 8
    assert set(saved["source"]) == {"path", "size", "mtime", "sha256"}
    assert data_fingerprint({"source": "co2"}) == {}  # a bundled record names no file
    refuse_changed_data(saved, spec)  # unchanged: nothing to say
    (tmp_path / "b.csv").write_text("t,v\n3,-400\n")
    assert changed_files(saved, spec) == [f"'{tmp_path / 'b.csv'}' (data.test_source)"]
    with pytest.raises(DataError, match="b.csv' \\(data.test_source\\) differ"):
        refuse_changed_data(saved, spec)
    assert "own data file" in (own_file_note(saved, tmp_path / "a.csv") or "")
    assert own_file_note(saved, tmp_path / "b.csv") is None  # changed since: another file


def test_metrics_data_carries_the_fingerprint(tmp_path):
    rng = np.random.default_rng(0)
    pd.DataFrame({"a": rng.normal(size=40), "y": rng.normal(size=40)}).to_csv(tmp_path / "t.csv", index=False)
    summary = build_dataset(data_config(source=str(tmp_path / "t.csv"), target="y")).summary.to_json()
    assert summary["fingerprint"]["source"]["path"] == str(tmp_path / "t.csv")
