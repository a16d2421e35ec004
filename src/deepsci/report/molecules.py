"""Report sections for molecules: the worst-predicted test molecules drawn with RDKit beside their errors.

For any run whose inputs are molecules (a graph run, or a table run featurising a SMILES column), the
test molecules with the largest errors (regression: |prediction - truth| of the first target;
classification: the lowest probability given to the true class) are drawn in a grid, each labelled
with its id, truth, prediction and error, and listed in a table with their SMILES. Chemists read
failures as structures: a family of mispredicted scaffolds or functional groups shows at a glance.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
from torch import nn

from deepsci.report.document import Section

if TYPE_CHECKING:
    from deepsci.config import Config
    from deepsci.data.dataset import Dataset
    from deepsci.evaluation.results import Evaluation, SplitResult

WORST = 12


def molecule_sections(config: "Config", dataset: "Dataset", evaluation: "Evaluation", model: nn.Module) -> list[Section]:
    """The worst-predicted test molecules, drawn (graph runs and SMILES table runs); [] for other data."""
    del model
    test = evaluation.splits.get("test")
    if test is None or not len(test.ids) or test.frame is not None:
        return []
    smiles = test_smiles(config, dataset, test.ids)
    if smiles is None:
        return []
    errors, what = row_errors(dataset.task, test)
    order = np.argsort(-errors, kind="stable")[:WORST]
    labels, rows = [], []
    for i in order:
        truth, pred = _shown(dataset, test, int(i))
        labels.append(f"{test.ids[i][:24]}\ntrue {truth}, pred {pred}")
        rows.append([test.ids[i], smiles[i], truth, pred, f"{errors[i]:.3g}"])
    svg = draw_grid([smiles[i] for i in order], labels)
    units = f" ({config.report.units})" if getattr(config.report, "units", None) else ""
    table = {"columns": ["id", "SMILES", "true", "predicted", what], "rows": rows,
             "caption": f"The {len(rows)} test molecules with the largest {what}{units}."}
    figures = [(f"The {len(rows)} worst-predicted test molecules, largest {what} first.",
                "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode())] if svg else []
    return [Section(title="Worst-predicted test molecules", figures=figures, table=table)]


def test_smiles(config: "Config", dataset: "Dataset", ids: Sequence[str]) -> list[str] | None:
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
    """(error per test row, its name): |pred - true| of the first target, or 1 - P(true class)."""
    if task == "regression":
        return np.abs(np.asarray(test.pred)[:, 0] - np.asarray(test.y_true)[:, 0]), "absolute error"
    proba = np.asarray(test.pred)
    truth = np.asarray(test.y_true).astype(np.int64)
    return 1.0 - proba[np.arange(len(truth)), truth], "1 - P(true class)"


def _shown(dataset: "Dataset", test: "SplitResult", i: int) -> tuple[str, str]:
    if dataset.task == "regression":
        return f"{test.y_true[i, 0]:.2f}", f"{test.pred[i, 0]:.2f}"
    names = dataset.class_names
    return str(names[int(test.y_true[i])]), str(names[int(np.argmax(test.pred[i]))])


def draw_grid(smiles: list[str], labels: list[str], per_row: int = 4) -> str:
    """An SVG grid of the molecules with a label under each ("" when RDKit cannot draw them)."""
    from rdkit import Chem, rdBase
    from rdkit.Chem import Draw

    with rdBase.BlockLogs():
        mols: list[Any] = [Chem.MolFromSmiles(s) for s in smiles]
    keep = [(m, lab) for m, lab in zip(mols, labels) if m is not None]
    if not keep:
        return ""
    svg = Draw.MolsToGridImage([m for m, _ in keep], molsPerRow=per_row, subImgSize=(220, 190),
                               legends=[lab.replace("\n", " | ") for _, lab in keep], useSVG=True)
    return str(svg)
