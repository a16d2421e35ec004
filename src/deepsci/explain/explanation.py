"""A split explained: every attribution method on its rows, and a classifier's accuracy under attack.

`explain_split` is what `deepsci explain` calls, and `explain_dataset` (the test split of a dataset) what
`[report] explain = true` calls at fit time; the report and attributions.csv are written from the
`Explanation` they return.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from deepsci.data.batch import Inputs, n_rows, take
from deepsci.data.schema import InputSchema
from deepsci.errors import DataError
from deepsci.explain.adversarial import RobustnessCurve, robustness_curve
from deepsci.explain.attributions import GRAPH_STRUCTURES, METHODS, Attributions, attribute
from deepsci.tasks import task_of

if TYPE_CHECKING:
    from deepsci.data.dataset import Dataset


@dataclass(frozen=True)
class Explanation:
    """Attributions of several methods on the same rows, and optionally a robustness curve.

    Attributes:
        schema: the explained input.
        rows: number of rows explained.
        attributions: method -> Attributions.
        robustness: accuracy against ε (classifiers on float inputs), or None.
        skipped: method -> why it was not run (e.g. permutation without labels).
        smiles: molecular graphs: the SMILES of the explained rows, whose atoms the per-atom values follow.
    """

    schema: InputSchema
    rows: int
    attributions: dict[str, Attributions]
    robustness: RobustnessCurve | None = None
    skipped: dict[str, str] = field(default_factory=dict)
    smiles: list[str] | None = None

    @property
    def units(self) -> list[str]:
        return next(iter(self.attributions.values())).units if self.attributions else []

    def frame(self) -> pd.DataFrame:
        """attributions.csv: one row per unit; per method its importance and rank (1 = most important)."""
        out = pd.DataFrame({"unit": self.units})
        for method, a in self.attributions.items():
            imp = a.importance().numpy()
            out[method] = imp
            out[f"{method}_rank"] = pd.Series(imp).rank(ascending=False, method="first").astype(int).to_numpy()
        return out

    def completeness_error(self) -> float | None:
        """Median over rows of |Σ IG - (f(x) - f(x'))| / |f(x) - f(x')| (None without integrated gradients)."""
        ig = self.attributions.get("integrated-gradients")
        if ig is None or ig.delta is None or ig.gap is None:
            return None
        rel = (ig.delta.abs() / ig.gap.abs().clamp_min(1e-12)).numpy()
        return float(np.median(rel))

    def atom_frame(self) -> pd.DataFrame | None:
        """atom_attributions.csv for molecular graphs: one row per atom of each explained molecule (row,
        SMILES, RDKit atom index, element), per method its attribution; None for other inputs."""
        per_atom = {m: a for m, a in self.attributions.items() if a.atom_values is not None}
        if not per_atom:
            return None
        first = next(iter(per_atom.values()))
        assert first.atom_counts is not None
        counts = first.atom_counts.numpy()
        row = np.repeat(np.arange(len(counts)), counts)
        out = pd.DataFrame({"row": row, "atom": np.arange(len(row)) - np.repeat(np.cumsum(counts) - counts, counts)})
        if self.smiles is not None:
            out.insert(1, "smiles", np.asarray(self.smiles, dtype=object)[row])
            out.insert(3, "element", _elements(self.smiles, counts))
        for method, a in per_atom.items():
            assert a.atom_values is not None
            out[method] = a.atom_values.numpy()
        return out


def explain_split(model: nn.Module, X: Inputs, y: Tensor | None, schema: InputSchema, task: str, *,
                  methods: Sequence[str] = METHODS, rows: int = 200, epsilons: Sequence[float] = (),
                  seed: int = 0) -> Explanation:
    """Every method in `methods` on the first `rows` rows of X (labels y, if known), and for a classifier
    on float inputs with `epsilons` given, FGSM and PGD accuracy at each ε on all rows of X."""
    n = min(rows, n_rows(X))
    if n < 2:
        raise DataError(f"explaining needs at least 2 rows; the data has {n_rows(X)}. Give more rows.")
    idx = torch.arange(n)
    Xs, ys = take(X, idx), (None if y is None else y[idx])
    result: dict[str, Attributions] = {}
    skipped: dict[str, str] = {}
    graph = schema.structure in GRAPH_STRUCTURES
    for method in methods:
        if method == "permutation" and (ys is None or graph):
            skipped[method] = "not defined per atom (molecules differ in their atoms)" if graph else \
                "needs labelled rows"
            continue
        result[method] = attribute(model, Xs, schema, method, task=task, y=ys, seed=seed)
    curve = None
    numeric = isinstance(X, Tensor) and torch.is_floating_point(X)
    if epsilons and not task_of(task).continuous and y is not None and numeric:
        curve = robustness_curve(model, X, y, task, epsilons=epsilons, seed=seed)
    smiles = getattr(X, "smiles", None) if graph else None
    return Explanation(schema, n, result, curve, skipped, None if smiles is None else list(smiles[:n]))


def explain_dataset(model: nn.Module, dataset: "Dataset", *, methods: Sequence[str] = METHODS, rows: int = 200,
                    epsilons: Sequence[float] = (), seed: int = 0) -> Explanation:
    """`explain_split` on the dataset's test split (valid without one), or DataError saying why it cannot be
    explained (a language model, a model of several inputs, an input kind without attributions)."""
    if dataset.summary.kind == "text":
        raise DataError("a language model predicts every next symbol; attributions are for one prediction per row.")
    if len(dataset.inputs) != 1:
        raise DataError("the model takes several inputs; attributions are available for one input.")
    part = dataset.test if len(dataset.test) else dataset.valid
    schema = next(iter(dataset.inputs.values()))
    return explain_split(model, part.X, part.y, schema, dataset.task, methods=methods, rows=rows, epsilons=epsilons,
                         seed=seed)


def _elements(smiles: list[str], counts: np.ndarray) -> list[str]:
    """Each atom's element symbol, molecule after molecule ("?" where a SMILES does not give `counts` atoms)."""
    from rdkit import Chem, rdBase  # optional ([chem]): only molecular graphs have elements

    out: list[str] = []
    with rdBase.BlockLogs():
        for s, n in zip(smiles, counts):
            mol = Chem.MolFromSmiles(s)
            ok = mol is not None and mol.GetNumAtoms() == n
            out += [a.GetSymbol() for a in mol.GetAtoms()] if ok else ["?"] * int(n)
    return out
