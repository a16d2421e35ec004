"""The worst-predicted test molecules: which structures a model of molecules gets most wrong.

For any run whose inputs are molecules (a graph run, or a table run featurising a SMILES column), the
test molecules with the largest errors (regression: |prediction - truth| of the first target;
classification: the lowest probability given to the true class), worst first. Chemists read failures as
structures: a family of mispredicted scaffolds or functional groups shows at a glance (the report draws them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from deepsci.tasks import task_of

if TYPE_CHECKING:
    from deepsci.config import Config
    from deepsci.data.dataset import Dataset
    from deepsci.evaluation.results import SplitResult

WORST = 12


@dataclass(frozen=True)
class WorstMolecules:
    """The worst-predicted test molecules, worst first; each tuple holds one entry per molecule.

    Attributes:
        ids, smiles: the rows' ids and SMILES.
        truth, pred: the true and predicted value (2 decimals) or class name, as shown.
        errors: the error the rows are ranked by.
        what: the error's name ("absolute error" or "1 - P(true class)").
    """

    ids: tuple[str, ...]
    smiles: tuple[str, ...]
    truth: tuple[str, ...]
    pred: tuple[str, ...]
    errors: tuple[float, ...]
    what: str


def worst_molecules(config: "Config", dataset: "Dataset", test: "SplitResult | None",
                    count: int = WORST) -> WorstMolecules | None:
    """The `count` worst-predicted test molecules; None without a test split or when the inputs are not molecules."""
    if test is None or not len(test.ids) or test.frame is not None:
        return None
    smiles = split_smiles(config, dataset, test.ids)
    if smiles is None:
        return None
    errors, what = row_errors(dataset.task, test)
    order = [int(i) for i in np.argsort(-errors, kind="stable")[:count]]
    shown = [_shown(dataset, test, i) for i in order]
    return WorstMolecules(ids=tuple(str(test.ids[i]) for i in order), smiles=tuple(smiles[i] for i in order),
                          truth=tuple(t for t, _ in shown), pred=tuple(p for _, p in shown),
                          errors=tuple(float(errors[i]) for i in order), what=what)


def split_smiles(config: "Config", dataset: "Dataset", ids: Sequence[str]) -> list[str] | None:
    """The SMILES of the test rows (in order), or None when the inputs are not molecules.

    A graph split carries its SMILES; a table run's are read back from its source by row id.
    """
    carried = getattr(dataset.test.X, "smiles", None)
    if carried is not None and len(carried) == len(ids):
        return list(carried)
    column = dataset.preprocessor.reader.get("smiles_column")
    if not column:
        return None
    by_id: dict[str, str] = {}
    for source in (getattr(config.data, "source", None), getattr(config.data, "test_source", None)):
        if source is None:
            continue
        raw = dataset.preprocessor.read(source)
        if column not in raw.frame.columns:
            return None
        by_id.update(zip(raw.ids, raw.frame[column].astype(str)))
    found = [by_id.get(i) for i in ids]
    return None if any(s is None for s in found) else [str(s) for s in found]


def row_errors(task: str, test: "SplitResult") -> tuple[np.ndarray, str]:
    """(error per test row (n,), its name): |pred - true| of the first target, or 1 - P(true class)."""
    if task_of(task).continuous:
        return np.abs(np.asarray(test.pred)[:, 0] - np.asarray(test.y_true)[:, 0]), "absolute error"
    proba = np.asarray(test.pred)
    truth = np.asarray(test.y_true).astype(np.int64)
    return 1.0 - proba[np.arange(len(truth)), truth], "1 - P(true class)"


def _shown(dataset: "Dataset", test: "SplitResult", i: int) -> tuple[str, str]:
    """Row i's truth and prediction as the report shows them."""
    if task_of(dataset.task).continuous:
        return f"{test.y_true[i, 0]:.2f}", f"{test.pred[i, 0]:.2f}"
    names = dataset.class_names
    return str(names[int(test.y_true[i])]), str(names[int(np.argmax(test.pred[i]))])
