"""Per-atom attributions of graph networks checked against known answers: a target that counts nitrogen
atoms puts its attribution on the nitrogens; integrated gradients are complete per molecule; occlusion
equals masking the atom by hand; the drawing colours the molecule's atoms."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from deepsci.data import load_frame
from deepsci.data.graphs import GraphFeaturiser, MolecularGraphs, atom_feature_names, bond_feature_names
from deepsci.data.raw import Raw
from deepsci.data.schema import InputSchema
from deepsci.errors import DataError
from deepsci.explain import attribute, explain_split
from deepsci.models.graph import GraphNet
from deepsci.training import Trainer, get_loss

GRADIENT_AND_OCCLUSION = ("integrated-gradients", "gradient-x-input", "saliency", "occlusion")
NITROGEN = atom_feature_names().index("element=N")


def _graphs(smiles: list[str], cache: Path) -> tuple[MolecularGraphs, InputSchema]:
    f = GraphFeaturiser("x", smiles_column="smiles", cache_dir=cache)
    raw = Raw(pd.DataFrame({"smiles": smiles}), {}, [str(i) for i in range(len(smiles))], "molecules")
    f.fit(raw, np.arange(len(smiles)))
    graphs, bad = f.transform(raw)
    assert not bad and isinstance(graphs, MolecularGraphs)
    return graphs, f.schema()


@pytest.fixture(scope="module")
def nitrogen_counter(tmp_path_factory: pytest.TempPathFactory) -> tuple[GraphNet, MolecularGraphs, InputSchema]:
    """A small GIN (sum readout) trained briefly on y = number of nitrogen atoms, on 240 solubility molecules
    that hold at least one nitrogen; the 40 molecules after the training ones are explained."""
    frame = load_frame("solubility")
    smiles = [s for s in frame["smiles"] if "N" in s.upper().replace("NA", "")][:240]
    graphs, schema = _graphs(smiles, tmp_path_factory.mktemp("graph-cache"))
    y = torch.bincount(torch.repeat_interleave(torch.arange(len(graphs)), graphs.n_atoms),
                       weights=graphs.atom_x[:, NITROGEN].double(), minlength=len(graphs)).float()[:, None]
    torch.manual_seed(0)
    model = GraphNet("gin", len(atom_feature_names()), len(bond_feature_names()), 0, 1, width=16, depth=2,
                     hidden=[16], readout="sum", seed=0)
    Trainer(model, loss=get_loss(None, "regression"), optimizer="adam", lr=1e-2, batch_size=25, epochs=12,
            seed=0).fit(graphs.subset(torch.arange(200)), y[:200])
    return model, graphs.subset(torch.arange(200, 240)), schema


@pytest.mark.parametrize("method", GRADIENT_AND_OCCLUSION)
def test_nitrogen_count_puts_attribution_on_nitrogens(nitrogen_counter, method: str) -> None:
    """In each molecule with k nitrogens, at least 70% of the k atoms of largest |attribution| are nitrogens."""
    model, graphs, schema = nitrogen_counter
    a = attribute(model, graphs, schema, method, task="regression")
    is_n = graphs.atom_x[:, NITROGEN] > 0
    hits = total = 0
    for values, nitrogen in zip(a.per_atom(), torch.split(is_n, graphs.n_atoms.tolist())):
        k = int(nitrogen.sum())
        top = torch.argsort(values.abs(), descending=True, stable=True)[:k]
        hits, total = hits + int(nitrogen[top].sum()), total + k
    assert total > 40 and hits / total >= 0.7, f"{method}: {hits} of {total} top atoms are nitrogens"


def test_integrated_gradients_complete_on_the_trained_relu_network(nitrogen_counter) -> None:
    """With ReLU kinks along the path (128 Gauss-Legendre steps, the graph default): the batch's attributions
    sum to its Σ f(x) - f(x') within 1%, and the median molecule within 1% of its own gap (measured: 0.08%
    and 0.14%)."""
    model, graphs, schema = nitrogen_counter
    a = attribute(model, graphs, schema, "integrated-gradients", task="regression")
    assert a.gap is not None and a.delta is not None and a.atom_values is not None
    assert abs(float(a.atom_values.sum() - a.gap.sum())) <= 0.01 * float(a.gap.abs().sum())
    assert float((a.delta.abs() / a.gap.abs()).median()) < 0.01


@pytest.mark.parametrize("kind", ["dmpnn", "ugrnn"])
def test_integrated_gradients_complete_per_molecule(nitrogen_counter, kind: str) -> None:
    """Σ over a molecule's atoms and features = f(x) - f(atoms zeroed) within 1% for every molecule, the
    oracle being the network run on each molecule alone (so molecules batched together do not leak into
    each other's attributions); a smooth (tanh) two-member ensemble, batches of 5 molecules."""
    _, graphs, schema = nitrogen_counter
    model = GraphNet(kind, len(atom_feature_names()), len(bond_feature_names()), 0, 1, width=16, depth=2,
                     hidden=[8], readout="attention", activation="tanh", members=2, seed=1).eval()
    a = attribute(model, graphs.subset(torch.arange(8)), schema, "integrated-gradients", task="regression",
                  batch_size=5)
    for r in range(8):
        one = graphs.take_rows(torch.tensor([r]))
        with torch.no_grad():
            gap = float((model(**one) - model(**{**one, "atom_x": torch.zeros_like(one["atom_x"])})).mean(0)[0, 0])
        assert abs(float(a.per_atom()[r].sum()) - gap) <= 0.01 * abs(gap), (r, float(a.per_atom()[r].sum()), gap)
        assert abs(float(a.values[r].sum()) - gap) <= 0.01 * abs(gap)


def test_occlusion_is_masking_one_atom(nitrogen_counter) -> None:
    model, graphs, schema = nitrogen_counter
    a = attribute(model, graphs.subset(torch.arange(3)), schema, "occlusion", task="regression")
    one = graphs.take_rows(torch.tensor([1]))
    with torch.no_grad():
        base = model(**one)[0, 0]
        for atom in range(int(graphs.n_atoms[1])):
            masked = one["atom_x"].clone()
            masked[atom] = 0
            expected = float(base - model(**{**one, "atom_x": masked})[0, 0])
            assert abs(float(a.per_atom()[1][atom]) - expected) < 1e-5


def test_explanation_draws_the_atoms_and_skips_permutation(nitrogen_counter) -> None:
    from deepsci.report.explain import explanation_sections

    model, graphs, schema = nitrogen_counter
    y = torch.zeros(len(graphs), 1)
    explanation = explain_split(model, graphs, y, schema, "regression", rows=6,
                                methods=("integrated-gradients", "occlusion", "permutation"))
    assert explanation.smiles == graphs.smiles[:6]
    assert "permutation" in explanation.skipped and set(explanation.attributions) == {"integrated-gradients",
                                                                                        "occlusion"}
    sections = {s.title: s for s in explanation_sections(explanation, "regression")}
    drawing = sections["Attributions per atom"].figures[0][1]
    assert drawing.startswith("data:image/svg+xml;base64,")
    svg = base64.b64decode(drawing.split(",", 1)[1]).decode()
    assert svg.count("<svg") == 1 and "#FF" in svg  # one image, atoms highlighted
    frame = explanation.atom_frame()
    assert frame is not None and len(frame) == int(graphs.n_atoms[:6].sum())
    assert (frame["element"] == "N").sum() == int(graphs.atom_x[:int(graphs.n_atoms[:6].sum()), NITROGEN].sum())
    with pytest.raises(DataError, match="permutation"):
        attribute(model, graphs, schema, "permutation", task="regression", y=y)


def test_drawing_colours_atoms_by_sign() -> None:
    from deepsci.report.explain import draw_atom_weights

    svg = draw_atom_weights([("CCO", [1.0, -1.0, 0.0], "ethanol")], per_row=1)
    assert "#FF3F3F" in svg and "#3F3FFF" in svg  # full red (raises f) and full blue (lowers f)
    assert draw_atom_weights([("CCO", [1.0, 0.5], "wrong atom count")]) == ""
