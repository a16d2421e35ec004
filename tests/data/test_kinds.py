"""Every input kind builds; given splits are honoured and recorded; the preprocessor round trip is exact."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from deepsci.data.spec import data_config
from deepsci.data import Preprocessor, build_dataset, write_fasta
from deepsci.data.simulate import GATA_PWM, consensus, simulate_motifs, simulate_point_sets
from deepsci.errors import DataError


def _round_trip(pre: Preprocessor) -> Preprocessor:
    return Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))


def _equal(a, b) -> bool:  # type: ignore[no-untyped-def]
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    return torch.equal(a, b)


@pytest.fixture()
def signal_npz(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 64)
    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 2, n)
        x = np.sin(2 * np.pi * (3 + 4 * y)[:, None] * t) + 0.3 * rng.normal(size=(n, 64))
        return x, y
    xa, ya = make(120)
    xb, yb = make(40)
    np.savez(tmp_path / "sig.npz", train_signals=xa, train_labels=ya, held_out=xb, held_out_y=yb)
    return tmp_path / "sig.npz"


def test_npz_signals_with_named_test_arrays_build_with_the_given_rows(signal_npz: Path) -> None:
    cfg = data_config(kind="signal", source=str(signal_npz), x="train_signals", target="train_labels",
                      test_x="held_out", test_target="held_out_y")
    ds = build_dataset(cfg, seed=0)
    s = ds.summary.split
    assert s["method"] == "given" and s["test"] == 40 and "held_out" in s["test_from"]
    assert s["train"] + s["valid"] == 120
    assert ds.inputs["x"].structure == "signal" and ds.inputs["x"].shape == (1, 64)  # (n, L) is one channel
    assert ds.test.ids == [str(i) for i in range(40)]
    pre = _round_trip(ds.preprocessor)
    raw = pre.read(signal_npz)  # the file's test arrays are found under their own names
    X, ids, skipped = pre.transform(raw)
    assert torch.equal(X, ds.test.X) and not skipped
    assert torch.equal(pre.targets(raw), ds.test.y)
    # per-channel standardisation fitted on train: train has mean 0, std 1
    assert abs(float(ds.train.X.mean())) < 1e-5 and abs(float(ds.train.X.std()) - 1) < 1e-2


def test_given_test_arrays_of_another_length_are_refused(tmp_path: Path) -> None:
    np.savez(tmp_path / "a.npz", X=np.zeros((20, 30)), y=np.arange(20) % 2, Xt=np.zeros((5, 31)), yt=np.zeros(5))
    cfg = data_config(kind="signal", source=str(tmp_path / "a.npz"), test_x="Xt", test_target="yt")
    with pytest.raises(DataError, match=r"shape \(1, 30\)|\(30,\)"):
        build_dataset(cfg, seed=0)


def test_an_unknown_array_name_lists_the_arrays(signal_npz: Path) -> None:
    with pytest.raises(DataError, match="held_out"):
        build_dataset(data_config(kind="signal", source=str(signal_npz), x="X", target="train_labels"), seed=0)


def test_1_channel_signal_is_a_signal_never_an_image(tmp_path: Path) -> None:
    np.savez(tmp_path / "s.npz", X=np.random.default_rng(0).normal(size=(30, 1, 16)), y=np.arange(30) % 2)
    ds = build_dataset(data_config(kind="signal", source=str(tmp_path / "s.npz"), target="y"), seed=0)
    assert ds.inputs["x"].structure == "signal" and ds.train.X.shape[1:] == (1, 16)


def test_split_column_is_honoured_and_unhonourable_splits_raise(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40), "y": rng.normal(size=40),
                          "part": ["train"] * 30 + ["test"] * 6 + ["calib"] * 4})
    ds = build_dataset(data_config(source=_csv(tmp_path, frame), split_column="part", features=["a", "b"]), seed=0)
    s = ds.summary.split
    assert (s["method"], s["test"], s["calib"], s["train"] + s["valid"]) == ("column", 6, 4, 30)
    assert ds.test.ids == [str(i) for i in range(30, 36)] and ds.calib is not None
    no_test = frame.assign(part="train")
    with pytest.raises(DataError, match="no 'test' rows"):
        build_dataset(data_config(source=_csv(tmp_path, no_test), split_column="part"), seed=0)
    with pytest.raises(DataError, match="split_column"):
        build_dataset(data_config(source=_csv(tmp_path, frame.drop(columns="part")), split="column"), seed=0)
    test = frame.drop(columns="part").iloc[:5]
    with pytest.raises(DataError, match="would replace the given test rows"):
        build_dataset(data_config(source=_csv(tmp_path, frame.drop(columns="part")), split="random",
                                  test_source=_csv(tmp_path, test, "t.csv")), seed=0)


def test_stratified_split_with_a_one_row_class_raises(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": np.arange(21.0), "y": ["u"] * 10 + ["v"] * 10 + ["w"]})
    with pytest.raises(DataError, match="'w' \\(1\\)"):
        build_dataset(data_config(source=_csv(tmp_path, frame), split="stratified"), seed=0)


def test_calib_is_carved_from_train_disjoint_from_valid(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": np.arange(100.0), "y": np.arange(100.0) * 2})
    ds = build_dataset(data_config(source=_csv(tmp_path, frame), calib_fraction=0.25), seed=0)
    assert ds.calib is not None
    parts = [set(p.ids) for p in (ds.train, ds.valid, ds.test, ds.calib)]
    assert sum(map(len, parts)) == 100 and len(set().union(*parts)) == 100
    assert ds.summary.split["calib"] == len(ds.calib) > 0


def test_test_source_file_is_the_test_set(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    train = pd.DataFrame({"a": rng.normal(size=30), "y": rng.normal(size=30)})
    test = pd.DataFrame({"a": rng.normal(size=7), "y": rng.normal(size=7)})
    cfg = data_config(source=_csv(tmp_path, train, "tr.csv"), test_source=_csv(tmp_path, test, "te.csv"))
    ds = build_dataset(cfg, seed=0)
    assert ds.summary.split["method"] == "given" and len(ds.test) == 7
    pre = _round_trip(ds.preprocessor)
    X, _, _ = pre.transform(pre.read(test))
    assert torch.equal(X, ds.test.X)
    assert torch.allclose(pre.inverse_targets(ds.test.y), torch.tensor(test[["y"]].to_numpy(), dtype=torch.float32),
                          atol=1e-5)


def test_motif_sequences_from_fasta_build_and_round_trip(tmp_path: Path) -> None:
    frame = simulate_motifs(n=200, length=60, seed=3)
    path = write_fasta(tmp_path / "m.fa", frame["id"], frame["sequence"], frame["label"])
    ds = build_dataset(data_config(kind="sequence", source=str(path), alphabet="dna"), seed=0)
    schema = ds.inputs["x"]
    assert schema.structure == "sequence" and schema.shape == (60,) and schema.n_symbols == 6 and schema.masked
    assert ds.train.X["x"].dtype == torch.int64 and bool(ds.train.X["mask"].all())
    assert set(ds.train.X["x"].unique().tolist()) <= {1, 2, 3, 4}
    pre = _round_trip(ds.preprocessor)
    test_ids = set(ds.test.ids)
    sub = frame[frame["id"].isin(test_ids)]
    write_fasta(tmp_path / "t.fa", sub["id"], sub["sequence"], sub["label"])
    X, ids, _ = pre.transform(pre.read(tmp_path / "t.fa"))
    order = [ids.index(i) for i in ds.test.ids]
    assert _equal({k: v[order] for k, v in X.items()}, ds.test.X)  # type: ignore[union-attr]
    with pytest.raises(DataError, match="longer than the 60"):
        write_fasta(tmp_path / "long.fa", ["a"], ["ACGT" * 20])
        pre.transform(pre.read(tmp_path / "long.fa"))


def test_motif_catalog_sequence_column_and_unknown_symbols() -> None:
    ds = build_dataset(data_config(kind="sequence", source="motifs"), seed=0)
    assert len(ds.train) + len(ds.valid) + len(ds.test) == 2000 and ds.task == "binary"
    raw = ds.preprocessor.read(pd.DataFrame({"sequence": ["ACGTN" * 40], "label": [1]}))
    X, _, _ = ds.preprocessor.transform(raw)
    assert X["x"][0, 4] == 5  # type: ignore[index]  # N is not in the training alphabet: the unknown index


def test_point_sets_build_with_masks_and_round_trip() -> None:
    ds = build_dataset(data_config(kind="set", source="point-sets"), seed=0)
    schema = ds.inputs["x"]
    assert schema.structure == "set" and schema.masked and schema.shape == (60, 2)
    sizes = ds.train.X["x"].new_tensor(ds.train.X["mask"].sum(1).float())  # type: ignore[index]
    assert int(sizes.min()) >= 20 and int(sizes.max()) <= 60
    real = ds.train.X["x"][ds.train.X["mask"]]  # type: ignore[index]
    assert torch.allclose(real.mean(0), torch.zeros(2), atol=1e-4)  # standardised over real elements only
    assert float(ds.train.X["x"][~ds.train.X["mask"]].abs().max()) == 0.0  # type: ignore[index]
    long = simulate_point_sets(seed=0)
    test_long = long[long["set_id"].isin(set(ds.test.ids))]
    pre = _round_trip(ds.preprocessor)
    X, ids, _ = pre.transform(pre.read(test_long))
    order = [ids.index(i) for i in ds.test.ids]
    assert _equal({k: v[order][:, :ds.test.X["x"].shape[1]] for k, v in X.items()}, ds.test.X)  # type: ignore[union-attr,index]


def test_sets_from_npz_with_sizes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 9, 3))
    sizes = rng.integers(2, 10, 40)
    np.savez(tmp_path / "s.npz", X=x, n=sizes, y=np.arange(40) % 2)
    ds = build_dataset(data_config(kind="set", source=str(tmp_path / "s.npz"), sizes="n", target="y"), seed=0)
    total = sum(int(p.X["mask"].sum()) for p in (ds.train, ds.valid, ds.test))  # type: ignore[index]
    assert total == int(sizes.sum())


def test_images_from_digits_and_an_npz_regression(tmp_path: Path) -> None:
    ds = build_dataset(data_config(kind="image", source="digits"), seed=0)
    assert ds.inputs["x"].shape == (1, 8, 8) and float(ds.train.X.max()) == 1.0 and ds.n_outputs == 10
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "i.npz", X=rng.random((30, 2, 5, 5)), y=rng.normal(size=30))
    reg = build_dataset(data_config(kind="image", source=str(tmp_path / "i.npz"), target="y", scale="standard"),
                        seed=0)
    assert reg.task == "regression" and reg.train.y.shape[1] == 1 and reg.inputs["x"].shape == (2, 5, 5)
    assert torch.allclose(reg.train.y.mean(), torch.tensor(0.0), atol=1e-5)


def test_series_windows_round_trip_and_time_order(tmp_path: Path) -> None:
    t = np.arange(200)
    frame = pd.DataFrame({"step": t, "v": np.sin(t / 5.0) + t / 100.0})
    cfg = data_config(kind="series", source=_csv(tmp_path, frame), time_column="step", input_length=10, horizon=3,
                      test_size=40, valid_size=20)
    ds = build_dataset(cfg, seed=0)
    assert ds.inputs["x"].structure == "window" and ds.train.y.shape[1] == 3
    assert max(map(int, ds.train.ids)) < min(map(int, ds.test.ids))
    pre = _round_trip(ds.preprocessor)
    raw = pre.read(frame)
    X, ids, _ = pre.transform(raw)
    assert len(ids) == 200 - 10 + 1  # one forecast per window, the last one past the record's end
    pos = [ids.index(i) for i in ds.test.ids]
    assert torch.equal(X[pos], ds.test.X)  # type: ignore[index]
    assert torch.allclose(pre.inverse_targets(ds.test.y), pre.targets(raw, pos), atol=1e-4)


def test_text_windows(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("the quick brown fox jumps over the lazy dog. " * 40)
    ds = build_dataset(data_config(kind="text", source=str(path), seq_length=20), seed=0)
    assert ds.train.X.shape[1] == 20 and torch.equal(ds.train.X[0, 1:], ds.train.y[0, :-1])  # type: ignore[index]


def test_motif_generator_is_seeded_and_plants_the_motif() -> None:
    a, b = simulate_motifs(n=300, length=80, seed=5), simulate_motifs(n=300, length=80, seed=5)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(simulate_motifs(n=300, length=80, seed=6))
    assert consensus(GATA_PWM) == "AGATAA" and a["label"].sum() == 150
    pos = a[a["label"] == 1]
    sites = [s[m:m + 6] for s, m in zip(pos["sequence"], pos["motif_start"])]
    # every planted site scores far above background under the PWM log-odds
    def score(site: str) -> float:
        return float(sum(np.log(GATA_PWM["ACGT".index(c), j] / 0.25) for j, c in enumerate(site)))
    assert np.mean([score(s) for s in sites]) > 4.0
    assert np.mean([s == "AGATAA" for s in sites]) > 0.1
    gc = np.mean([c in "GC" for s in a["sequence"] for c in s])
    assert 0.35 < gc < 0.45


def test_point_set_generator_is_seeded_with_stated_shapes() -> None:
    a = simulate_point_sets(n=30, seed=1, noise=0.0)
    pd.testing.assert_frame_equal(a, simulate_point_sets(n=30, seed=1, noise=0.0))
    sizes = a.groupby("set_id").size()
    assert sizes.between(20, 60).all()
    circle = a[a["shape"] == "circle"]
    for _, g in circle.groupby("set_id"):  # noiseless circle: all points at one distance from their centre
        pts = g[["x", "y"]].to_numpy()
        # least-squares circle fit (Kasa): x^2 + y^2 = 2ax + 2by + c
        A = np.c_[2 * pts, np.ones(len(pts))]
        sol = np.linalg.lstsq(A, (pts ** 2).sum(1), rcond=None)[0]
        r = np.linalg.norm(pts - sol[:2], axis=1)
        assert r.std() < 1e-8 * r.mean() + 1e-9
    three = simulate_point_sets(n=6, dim=3, seed=0)
    assert set(three["shape"]) == {"sphere", "cube", "torus"} and "z" in three.columns


def _csv(tmp_path: Path, frame: pd.DataFrame, name: str = "d.csv") -> str:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return str(path)
