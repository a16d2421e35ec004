from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits

from deepsci.data import column_split, make_split, murcko_scaffold, random_split, scaffold_split, stratified_split
from deepsci.data.splits import ordered_split
from deepsci.errors import ConfigError, DataError


def _check_partition(parts, n: int) -> None:
    allidx = np.concatenate(parts)
    assert len(allidx) == n and len(np.unique(allidx)) == n  # disjoint and covering
    for p in parts:
        assert p.dtype == np.int64 and np.all(np.diff(p) > 0)


def test_random_split_sizes_and_seed() -> None:
    parts = random_split(100, test_fraction=0.2, valid_fraction=0.1, seed=0)
    _check_partition(parts, 100)
    assert (len(parts.train), len(parts.valid), len(parts.test)) == (72, 8, 20)  # valid = 10% of train
    again = random_split(100, test_fraction=0.2, valid_fraction=0.1, seed=0)
    other = random_split(100, test_fraction=0.2, valid_fraction=0.1, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))
    assert not np.array_equal(parts.test, other.test)


def test_ordered_split_tests_on_the_last_rows_and_validates_just_before() -> None:
    parts = ordered_split(50, test_fraction=0.2, valid_fraction=0.1)
    assert list(parts.test) == list(range(40, 50)) and list(parts.valid) == list(range(36, 40))
    assert list(parts.train) == list(range(36))
    for a, b in zip(make_split("ordered", n=50, seed=7), make_split("ordered", n=50, seed=0)):  # the order decides
        np.testing.assert_array_equal(a, b)


def test_stratified_split_keeps_class_shares() -> None:
    y = load_digits().target
    parts = stratified_split(y, test_fraction=0.2, valid_fraction=0.1, seed=0)
    _check_partition(parts, len(y))
    overall = np.bincount(y) / len(y)
    for p in parts:
        share = np.bincount(y[p], minlength=10) / len(p)
        assert np.abs(share - overall).max() < 0.03


def test_stratified_split_with_a_singleton_class_says_how_to_fix() -> None:
    with pytest.raises(DataError, match="'c' \\(1\\).*split='random'"):
        stratified_split(np.array(["a"] * 10 + ["b"] * 10 + ["c"]), seed=0)


def test_murcko_scaffold_examples() -> None:
    assert murcko_scaffold("CCc1ccccc1") == "c1ccccc1"           # side chain removed
    assert murcko_scaffold("CCCC") == ""                           # acyclic
    assert murcko_scaffold("Cc1ccc(CC2CCNCC2)cc1") == "c1ccc(CC2CCNCC2)cc1"  # linker kept


def test_scaffold_split_keeps_scaffolds_disjoint(solubility_frame: pd.DataFrame) -> None:
    smiles = solubility_frame["smiles"].tolist()
    parts = scaffold_split(smiles, test_fraction=0.2, valid_fraction=0.1, seed=0)
    _check_partition(parts, len(smiles))
    scaf = [{murcko_scaffold(smiles[i]) for i in p} for p in parts]
    assert not (scaf[0] & scaf[1]) and not (scaf[0] & scaf[2]) and not (scaf[1] & scaf[2])
    # largest-first: the most common scaffold (acyclic, "") lands in train
    counts = pd.Series([murcko_scaffold(s) for s in smiles]).value_counts()
    assert counts.index[0] in scaf[0]
    assert abs(len(parts.test) - 0.2 * len(smiles)) < 0.05 * len(smiles)


def test_column_split_carves_valid_from_train() -> None:
    values = ["train"] * 80 + ["test"] * 20
    parts = column_split(values, valid_fraction=0.1, seed=0)
    _check_partition(parts, 100)
    assert len(parts.valid) == 8 and len(parts.test) == 20
    assert set(parts.test) == set(range(80, 100))
    assert set(parts.valid) < set(range(80))
    other = column_split(values, valid_fraction=0.1, seed=1)
    assert not np.array_equal(parts.valid, other.valid)


def test_column_split_uses_given_valid_rows_and_aliases() -> None:
    parts = column_split(["Train", "validation", "TEST", "train", "val"], valid_fraction=0.5)
    assert parts.train.tolist() == [0, 3] and parts.valid.tolist() == [1, 4] and parts.test.tolist() == [2]


def test_column_split_errors() -> None:
    with pytest.raises(DataError, match="'holdout'"):
        column_split(["train", "holdout", "test"])
    with pytest.raises(DataError, match="no 'test' rows"):
        column_split(["train", "train", "valid"])


def test_make_split_dispatch_and_unknown_name() -> None:
    assert len(make_split("random", n=10, seed=0).test) == 2
    with pytest.raises(ConfigError, match="unknown split 'kfold'.*Known splits"):
        make_split("kfold", n=10)
    with pytest.raises(ConfigError, match="classification"):
        make_split("stratified", n=10)
    with pytest.raises(ConfigError, match="test_fraction"):
        random_split(10, test_fraction=1.5)


# -- one split for the in-memory and the streamed builders -------------------------------------------------
@pytest.mark.parametrize("split, seed", [("random", 0), ("random", 7), ("stratified", 0), ("stratified", 5)])
def test_in_memory_and_streamed_builders_split_a_parquet_file_alike(tmp_path, split: str, seed: int) -> None:
    """The acceptance check of issue 22: `kind = "table"` in memory and `stream = true` give the same rows
    to train, valid, test and calib for the same Parquet file and seed (a dropped NaN row included)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from deepsci.data import build_dataset

    rng = np.random.default_rng(seed)
    n = 600
    frame = pd.DataFrame({f"x{j}": rng.normal(size=n) for j in range(3)})
    frame["y"] = rng.integers(0, 3, size=n) if split == "stratified" else rng.normal(size=n)
    frame.loc[[11, 400], "x1"] = np.nan  # dropped by both, before the split
    path = tmp_path / "t.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=128)
    spec = {"kind": "table", "source": str(path), "target": "y", "featuriser": "none", "split": split,
            "test_fraction": 0.2, "valid_fraction": 0.15, "calib_fraction": 0.1, "missing": "drop"}
    memory = build_dataset(spec, seed=seed)
    streamed = build_dataset({**spec, "stream": True}, seed=seed)
    for part in ("train", "valid", "test", "calib"):
        rows_memory, rows_streamed = list(getattr(memory, part).ids), list(getattr(streamed, part).ids)
        assert rows_streamed == rows_memory, part
        assert "11" not in rows_memory and "400" not in rows_memory
    assert memory.summary.split == streamed.summary.split
    assert memory.summary.split["method"] == split and memory.summary.split["calib"] > 0
    other = build_dataset({**spec, "stream": True}, seed=seed + 1)
    assert list(other.test.ids) != list(streamed.test.ids)  # the seed matters: the check can fail
