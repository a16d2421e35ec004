from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from deepsci.data import read_table
from deepsci.errors import DataError


@pytest.fixture()
def cancer() -> pd.DataFrame:
    return load_breast_cancer(as_frame=True).frame.iloc[:50]


def test_csv_roundtrip(tmp_path: Path, cancer: pd.DataFrame) -> None:
    path = tmp_path / "cancer.csv"
    cancer.to_csv(path, index=False)
    got = read_table(path)
    pd.testing.assert_frame_equal(got, cancer.reset_index(drop=True), check_dtype=False)


def test_tsv_and_parquet_roundtrip(tmp_path: Path, cancer: pd.DataFrame) -> None:
    cancer.to_csv(tmp_path / "c.tsv", sep="\t", index=False)
    cancer.to_parquet(tmp_path / "c.parquet", index=False)
    for name in ("c.tsv", "c.parquet"):
        got = read_table(tmp_path / name)
        np.testing.assert_allclose(got.to_numpy(float), cancer.to_numpy(float), rtol=1e-12)
        assert list(got.columns) == list(cancer.columns)


def test_npz_with_X_y_and_feature_names(tmp_path: Path, cancer: pd.DataFrame) -> None:
    X = cancer.drop(columns="target").to_numpy()
    names = np.array([str(c) for c in cancer.columns[:-1]])  # a unicode array, not object
    np.savez(tmp_path / "d.npz", X=X, y=cancer["target"].to_numpy(), feature_names=names)
    got = read_table(tmp_path / "d.npz")
    assert list(got.columns) == list(names) + ["y"]
    np.testing.assert_array_equal(got[list(names)].to_numpy(), X)
    np.testing.assert_array_equal(got["y"].to_numpy(), cancer["target"].to_numpy())


def test_npz_without_names_and_with_2d_targets(tmp_path: Path) -> None:
    X = np.arange(12.0).reshape(4, 3)
    np.savez(tmp_path / "d.npz", X=X, y=np.ones((4, 2)))
    got = read_table(tmp_path / "d.npz")
    assert list(got.columns) == ["x0", "x1", "x2", "y0", "y1"]


def test_npz_named_columns(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", a=np.arange(5), b=np.linspace(0, 1, 5))
    got = read_table(tmp_path / "d.npz")
    assert list(got.columns) == ["a", "b"] and len(got) == 5


def test_npz_with_mismatched_lengths_is_a_data_error(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", a=np.arange(5), b=np.arange(4))
    with pytest.raises(DataError, match="one common length"):
        read_table(tmp_path / "d.npz")


def test_npz_object_array_is_refused_not_unpickled(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", X=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(DataError, match="unpickling"):
        read_table(tmp_path / "d.npz")


def test_sdf_adds_smiles_and_properties(tmp_path: Path) -> None:
    from rdkit import Chem

    path = tmp_path / "mols.sdf"
    writer = Chem.SDWriter(str(path))
    for smi, name, logs in [("CCO", "ethanol", 1.1), ("c1ccccc1", "benzene", -1.64), ("CC(=O)O", "acetic", 1.2)]:
        mol = Chem.MolFromSmiles(smi)
        mol.SetProp("_Name", name)
        mol.SetProp("logS", str(logs))
        mol.SetProp("source", "test")
        writer.write(mol)
    writer.close()
    got = read_table(path)
    assert got["name"].tolist() == ["ethanol", "benzene", "acetic"]
    # The smiles column is canonical RDKit SMILES, so it matches RDKit's own canonicalisation.
    assert got["smiles"].tolist() == [Chem.CanonSmiles(s) for s in ("CCO", "c1ccccc1", "CC(=O)O")]
    assert got["logS"].tolist() == [1.1, -1.64, 1.2]  # numeric property parsed as numbers
    assert got["source"].tolist() == ["test"] * 3


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found") as err:
        read_table(tmp_path / "nope.csv")
    assert "nope.csv" in str(err.value)


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty"):
        read_table(tmp_path / "empty.csv")


def test_header_only_file_has_no_rows(tmp_path: Path) -> None:
    (tmp_path / "header.csv").write_text("a,b,c\n")
    with pytest.raises(DataError, match="no rows"):
        read_table(tmp_path / "header.csv")


def test_unsupported_extension(tmp_path: Path) -> None:
    (tmp_path / "data.xls").write_bytes(b"\xd0\xcf\x11\xe0 an old Excel workbook")  # .xlsx is read (formats)
    with pytest.raises(DataError, match="unsupported file type '.xls'.*Supported: .*csv"):
        read_table(tmp_path / "data.xls")


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="directory"):
        read_table(tmp_path)
