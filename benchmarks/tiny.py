"""Tiny data for the benchmarks' `--smoke` runs (tests/test_benchmarks.py runs every benchmark that way).

A smoke run checks that a benchmark script still runs against today's deepsci, in seconds: the same code
path on a few dozen rows and one epoch. Its numbers mean nothing, and it writes no results file.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from deepsci.data import load_frame

#: `key=value` overrides that point a solubility example at `solubility_sample`'s file
SOLUBILITY_KEYS = ["data.target=SOL", "data.smiles_column=smiles", "data.split_column=split", "data.id_column=NAME"]


def solubility_sample(folder: Path, train: int = 40, test: int = 20) -> Path:
    """The first `train` training and `test` test molecules of the solubility set, with its split column, as
    folder/solubility_sample.csv."""
    frame = load_frame("solubility")
    sample = pd.concat([frame[frame["split"] == "train"].head(train), frame[frame["split"] == "test"].head(test)])
    path = Path(folder) / "solubility_sample.csv"
    sample.to_csv(path, index=False)
    return path


def solubility_overrides(folder: Path, train: int = 40, test: int = 20) -> list[str]:
    """Overrides of a solubility example for a smoke run: the sample's file, 1 epoch, no report."""
    return [f"data.source={solubility_sample(folder, train, test)}", *SOLUBILITY_KEYS, "train.epochs=1",
            "report.html=false"]
