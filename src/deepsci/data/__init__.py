"""Data layer: read, validate, featurise, split and scale; the catalog of bundled datasets.

Names are imported on first use (PEP 562), so `deepsci.config` can read the data layer's spec types
(`deepsci.data.spec`) without importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "build_dataset": "build", "load_dataset": "build",
    "get_dataset_info": "catalog", "list_datasets": "catalog", "load_frame": "catalog", "register_dataset": "catalog",
    "Dataset": "dataset", "write_fasta": "fasta", "Preprocessor": "preprocess", "read_table": "readers",
    "default_cache_dir": "molecules", "esol_log_solubility": "molecules", "featurise_smiles": "molecules",
    "Scaler": "scalers", "column_split": "splits", "make_split": "splits", "murcko_scaffold": "splits",
    "random_split": "splits", "scaffold_split": "splits", "stratified_split": "splits",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from deepsci.data.build import build_dataset, load_dataset
    from deepsci.data.catalog import get_dataset_info, list_datasets, load_frame, register_dataset
    from deepsci.data.dataset import Dataset
    from deepsci.data.fasta import write_fasta
    from deepsci.data.molecules import default_cache_dir, esol_log_solubility, featurise_smiles
    from deepsci.data.preprocess import Preprocessor
    from deepsci.data.readers import read_table
    from deepsci.data.scalers import Scaler
    from deepsci.data.splits import (column_split, make_split, murcko_scaffold, random_split, scaffold_split,
                                     stratified_split)

def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"deepsci.data.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'deepsci.data' has no attribute '{name}'")
