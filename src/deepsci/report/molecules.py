"""Report section for molecules: the worst-predicted test molecules drawn with RDKit beside their errors.

The molecules are chosen at fit time (deepsci.evaluation.molecules.WorstMolecules); here they are drawn in a
grid, each labelled with its id, truth, prediction and error, and listed in a table with their SMILES.
"""

from __future__ import annotations

import base64
from typing import Any

from deepsci.evaluation.molecules import WorstMolecules
from deepsci.report.document import Section


def molecule_sections(worst: WorstMolecules | None, units: str = "") -> list[Section]:
    """The worst-predicted test molecules, drawn and tabled; [] for runs whose inputs are not molecules."""
    if worst is None:
        return []
    labels = [f"{i[:24]}\ntrue {t}, pred {p}" for i, t, p in zip(worst.ids, worst.truth, worst.pred)]
    rows = [[i, s, t, p, f"{e:.3g}"] for i, s, t, p, e in zip(worst.ids, worst.smiles, worst.truth, worst.pred,
                                                              worst.errors)]
    svg = draw_grid(list(worst.smiles), labels)
    shown_units = f" ({units})" if units else ""
    table = {"columns": ["id", "SMILES", "true", "predicted", worst.what], "rows": rows,
             "caption": f"The {len(rows)} test molecules with the largest {worst.what}{shown_units}."}
    figures = [(f"The {len(rows)} worst-predicted test molecules, largest {worst.what} first.",
                "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode())] if svg else []
    return [Section(title="Worst-predicted test molecules", figures=figures, table=table)]


def draw_grid(smiles: list[str], labels: list[str], per_row: int = 4) -> str:
    """An SVG grid of the molecules with a label under each ("" when RDKit cannot draw them)."""
    from rdkit import Chem, rdBase  # optional ([chem]): only runs on molecules draw them
    from rdkit.Chem import Draw

    with rdBase.BlockLogs():
        mols: list[Any] = [Chem.MolFromSmiles(s) for s in smiles]
    keep = [(m, lab) for m, lab in zip(mols, labels) if m is not None]
    if not keep:
        return ""
    svg = Draw.MolsToGridImage([m for m, _ in keep], molsPerRow=per_row, subImgSize=(220, 190),
                               legends=[lab.replace("\n", " | ") for _, lab in keep], useSVG=True)
    return str(svg)
