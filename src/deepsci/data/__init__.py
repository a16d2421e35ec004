"""Data layer: read, validate, featurise, split and scale; the catalog of bundled datasets."""

from deepsci.data.build import FEATURISERS, MISSING_POLICIES, TASKS, load_dataset, prepare_inputs, prepare_targets
from deepsci.data.catalog import DatasetInfo, get_dataset_info, list_datasets, load_frame, register_dataset
from deepsci.data.dataset import Dataset, Split, Task
from deepsci.data.molecules import (
    FEATURE_KINDS,
    MolecularFeatures,
    default_cache_dir,
    esol_log_solubility,
    featurise_smiles,
)
from deepsci.data.readers import read_table
from deepsci.data.scalers import Scaler
from deepsci.data.splits import (
    SPLITS,
    SplitIndices,
    column_split,
    make_split,
    murcko_scaffold,
    random_split,
    scaffold_split,
    stratified_split,
)

__all__ = [
    "FEATURE_KINDS",
    "FEATURISERS",
    "MISSING_POLICIES",
    "SPLITS",
    "TASKS",
    "Dataset",
    "DatasetInfo",
    "MolecularFeatures",
    "Scaler",
    "Split",
    "SplitIndices",
    "Task",
    "column_split",
    "default_cache_dir",
    "esol_log_solubility",
    "featurise_smiles",
    "get_dataset_info",
    "list_datasets",
    "load_dataset",
    "load_frame",
    "make_split",
    "murcko_scaffold",
    "prepare_inputs",
    "prepare_targets",
    "random_split",
    "read_table",
    "register_dataset",
    "scaffold_split",
    "stratified_split",
]
