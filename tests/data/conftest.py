"""Shared fixtures for the data-layer tests: one feature cache and one solubility Dataset per session."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from deepsci.data import Dataset, load_dataset, load_frame


@pytest.fixture(scope="session")
def feature_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh molecular feature cache (never the user's ~/.cache)."""
    return tmp_path_factory.mktemp("features")


@pytest.fixture(scope="session")
def solubility_frame() -> pd.DataFrame:
    return load_frame("solubility")


@pytest.fixture(scope="session")
def solubility(feature_cache: Path) -> Dataset:
    return load_dataset(source="solubility", cache_dir=feature_cache, seed=0)


@pytest.fixture()
def small_molecules(solubility_frame: pd.DataFrame) -> pd.DataFrame:
    """40 real molecules with their measured log solubility (first rows of the Huuskonen set)."""
    return solubility_frame[["NAME", "smiles", "SOL"]].iloc[::32].head(40).reset_index(drop=True)
