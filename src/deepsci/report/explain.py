"""Report sections of attributions (which inputs drove the predictions) and of adversarial robustness.

At fit time `[report] explain = true` adds the attribution section and `[report] robustness = [ε, ...]`
the accuracy-against-ε section, both on the test split; `deepsci explain RUN` writes the same sections
into explain.html beside the run's report.html.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
from markupsafe import escape

from deepsci.evaluation.figures import figure_to_data_uri
from deepsci.explain.attributions import explained_output
from deepsci.explain.explanation import Explanation
from deepsci.explain.figures import importance_figure, robustness_figure
from deepsci.report.document import Section

if TYPE_CHECKING:
    from deepsci.analyses import Analyses  # the type only: experiment computes it, the report draws it

DESCRIPTIONS = {
    "integrated-gradients": "(x − x′)·∫∂f/∂x along the straight path from the baseline x′ = 0; sums to f(x) − f(x′)",
    "gradient-x-input": "x·∂f/∂x",
    "saliency": "|∂f/∂x|",
    "occlusion": "f(x) − f(x with the unit set to the baseline 0)",
    "permutation": "increase of the loss when the unit is shuffled across rows",
}

GRAPH_BASELINE = ("Baseline: the same molecule with every atom's features set to 0 (bonds, connectivity and any "
                  "descriptors kept).")
GRAPH_OCCLUSION = "f(x) − f(x with that atom's features, or that atom-feature column, set to 0)"


def explain_sections(analyses: "Analyses", task: str) -> list[Section]:
    """The attribution and robustness sections asked for in [report], or one line saying why they are missing."""
    if analyses.not_explained:
        return [Section(title="Attributions", html=f"<p>Not computed: {escape(analyses.not_explained)}</p>")]
    return [] if analyses.explanation is None else explanation_sections(analyses.explanation, task)


def explanation_sections(explanation: "Explanation", task: str, *, top: int = 15) -> list[Section]:
    """Sections of an Explanation: the importance figure and top-unit table, then the robustness curve."""
    sections = []
    if explanation.attributions:
        sections.append(Section(title="Attributions: which inputs drove the predictions",
                                html=_attribution_text(explanation, task),
                                figures=[("Importance per unit (mean |attribution| over rows; permutation: mean "
                                          "loss increase), each method scaled by its largest value.",
                                          figure_to_data_uri(importance_figure(explanation, top=top)))],
                                table=_top_table(explanation, top)))
    curve = explanation.robustness
    if curve is not None:
        html = (f"<p>Accuracy on {curve.rows} rows (all of the split) under L∞ attacks of size ε in the model's input units "
                f"(standardised features; for images scaled to [0, 1], the pixel scale): FGSM (one signed-gradient "
                f"step) and PGD ({curve.steps} projected steps from a random start). Inputs are not clipped.</p>")
        sections.append(Section(title="Adversarial robustness", html=html, table=curve.table(),
                                figures=[("Accuracy against ε.", figure_to_data_uri(robustness_figure(curve)))]))
    atoms = _atom_section(explanation)
    if atoms is not None:
        sections.append(atoms)
    return sections


ATOMS_DRAWN = 4


def _atom_section(explanation: "Explanation") -> Section | None:
    """Molecular graphs: the first ATOMS_DRAWN molecules drawn once per method, atoms coloured by attribution."""
    methods = [m for m, a in explanation.attributions.items() if a.atom_values is not None]
    if not methods or not explanation.smiles:
        return None
    count = min(ATOMS_DRAWN, len(explanation.smiles))
    panels = [(explanation.smiles[r], explanation.attributions[m].per_atom()[r].numpy(), f"{m} | row {r}")
              for m in methods for r in range(count)]
    svg = draw_atom_weights(panels, per_row=count)
    if not svg:
        return None
    caption = (f"The first {count} explained molecules, one row per method. Each atom is coloured by its "
               "attribution (its features summed): red raises the explained output, blue lowers it, the intensity "
               "scaled to the molecule's largest |attribution| for that method. Every atom's value is in "
               "atom_attributions.csv (deepsci explain).")
    return Section(title="Attributions per atom",
                   html="<p>Per-atom attributions drawn on the molecules (RDKit atom order of each SMILES).</p>",
                   figures=[(caption, "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode())])


def atom_colour(weight: float) -> tuple[float, float, float]:
    """RGB of a weight in [-1, 1]: white at 0, red towards +1, blue towards -1."""
    a = 0.75 * min(abs(weight), 1.0)
    return (1.0, 1.0 - a, 1.0 - a) if weight >= 0 else (1.0 - a, 1.0 - a, 1.0)


def draw_atom_weights(panels: Sequence[tuple[str, Any, str]], *, per_row: int = 4,
                      size: tuple[int, int] = (240, 200)) -> str:
    """An SVG grid of molecules (SMILES, per-atom weights (atoms,), legend), each atom highlighted in
    `atom_colour` of its weight divided by the molecule's largest |weight|; "" if none can be drawn.

    A molecule whose SMILES does not parse to as many atoms as it has weights is left out.
    """
    from rdkit import Chem, rdBase  # optional ([chem]): only molecular graphs are drawn
    from rdkit.Chem.Draw import rdMolDraw2D

    mols, atoms, colours, legends = [], [], [], []
    with rdBase.BlockLogs():
        for smiles, weights, legend in panels:
            mol = Chem.MolFromSmiles(smiles)
            w = np.asarray(weights, dtype=float)
            if mol is None or mol.GetNumAtoms() != len(w):
                continue
            scale = float(np.abs(w).max()) or 1.0
            rdMolDraw2D.PrepareMolForDrawing(mol)
            mols.append(mol)
            atoms.append(list(range(len(w))))
            colours.append({i: atom_colour(float(v) / scale) for i, v in enumerate(w)})
            legends.append(legend)
    if not mols:
        return ""
    rows = -(-len(mols) // per_row)
    drawer = rdMolDraw2D.MolDraw2DSVG(size[0] * min(per_row, len(mols)), size[1] * rows, size[0], size[1])
    drawer.DrawMolecules(mols, highlightAtoms=atoms, highlightAtomColors=colours, highlightBonds=[[] for _ in mols],
                         legends=legends)
    drawer.FinishDrawing()
    return str(drawer.GetDrawingText())


def _attribution_text(explanation: "Explanation", task: str) -> str:
    output = explained_output(task)
    graph = explanation.schema.structure in ("graph", "reaction")
    unit = {"table": "feature", "image": "pixel (channels summed)", "set": "element",
            "graph": "atom (its features summed; the table and bars sum each atom-feature column over the "
                     "molecule's atoms)",
            "reaction": "atom of the reactants, then of the product (its features summed; the table and bars sum "
                        "each atom-feature column over the reaction's atoms)"}.get(explanation.schema.structure,
                                              "position (channels, one-hot or embedding summed)")
    described = {**DESCRIPTIONS, "occlusion": GRAPH_OCCLUSION} if graph else DESCRIPTIONS
    items = "".join(f"<li><b>{escape(m)}</b>: {escape(described[m])}</li>" for m in explanation.attributions)
    baseline = GRAPH_BASELINE if graph else \
        "Baseline 0: the training mean of standardised features, a black image, padding."
    text = (f"<p>Attributions of {output} on the first {explanation.rows} test rows, one value per {unit}. "
            f"{baseline}</p><ul>{items}</ul>")
    error = explanation.completeness_error()
    if error is not None:
        text += (f"<p>Completeness of integrated gradients: the attributions of a row sum to f(x) − f(x′) within "
                 f"{100 * error:.2g}% (median over rows).</p>")
    for method, why in explanation.skipped.items():
        text += f"<p>{escape(method)} not computed: {escape(why)}.</p>"
    return text


def _top_table(explanation: "Explanation", top: int) -> dict[str, Sequence[object]]:
    """The `top` units of each method, side by side (rank 1 first)."""
    methods = list(explanation.attributions)
    ranked = {m: explanation.attributions[m].top(top) for m in methods}
    depth = min(top, len(explanation.units))
    return {"columns": ["rank", *methods],
            "rows": [[i + 1, *[ranked[m][i] for m in methods]] for i in range(depth)],
            "caption": f"Top {depth} units per method."}
