"""Data layer: read, validate, featurise, split and scale; the catalog of bundled datasets."""

from deepsci.data.build import FEATURISERS, MISSING_POLICIES, TASKS, build_dataset, load_dataset
from deepsci.data.catalog import DatasetInfo, get_dataset_info, list_datasets, load_frame, register_dataset
from deepsci.data.dataset import Dataset, Split, Task
from deepsci.data.fasta import read_fasta, write_fasta
from deepsci.data.featurisers import Featuriser, register_input
from deepsci.data.preprocess import Preprocessor
from deepsci.data.raw import Raw
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
    "Featuriser",
    "Preprocessor",
    "Raw",
    "DatasetInfo",
    "MolecularFeatures",
    "Scaler",
    "Split",
    "SplitIndices",
    "Task",
    "build_dataset",
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
    "random_split",
    "read_fasta",
    "read_table",
    "register_dataset",
    "register_input",
    "scaffold_split",
    "stratified_split",
    "write_fasta",
]
