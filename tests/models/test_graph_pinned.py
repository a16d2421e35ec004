"""Graph networks pinned to the numbers of the implementation before the one-member fast path.

The one-member networks (K = 1) carry 2-D states (atoms, width) and use `index_select`/`addmm`, where the
K-member networks carry (K, atoms, width) and use `baddbmm`; the faster path must not change what a network
computes beyond float rounding. The numbers below are the outputs and the per-parameter gradient L1 norms of
three small float32 networks, printed by the previous implementation (advanced indexing and a member
dimension of size 1) on the same molecules and seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from deepsci.data.graphs import GraphFeaturiser, MolecularGraphs, atom_feature_names, bond_feature_names
from deepsci.data.raw import Raw
from deepsci.models.graph import GraphNet

MOLECULES = ["CC(O)C1CC1", "c1ccc2ccccc2c1N", "OCC(=O)[O-].[Na+]", "C", "CC/C=C/C(=O)OC"]
OUTPUTS = {
    ("dmpnn", "mean"): [-0.115535, -0.111627, -0.113628, -0.116491, -0.126235],
    ("gin", "sum"): [-0.363817, -0.782665, -0.394389, -0.090169, -0.27626],
    ("ugrnn", "attention"): [0.207471, 0.236875, 0.219736, 0.3715, 0.368805],
}
GRADIENT_L1 = {
    ("dmpnn", "mean"): [0.420402, 0.12017, 1.707774, 0.195896, 1.277869, 0.538758, 0.77857, 1.167032],
    ("gin", "sum"): [0.304736, 136.709122, 20.091137, 20.853388, 5.650067, 7.712897, 1.994563, 16.126253,
                     4.857264, 46.161736, 7.773653, 24.928776, 1.709271, 63.548103, 4.570581, 45.218658,
                     14.520781, 46.016182, 8.530169, 35.929276, 8.455293, 91.415115, 2.16659, 9.06127, 3.8146],
    ("ugrnn", "attention"): [3.594698, 0.522465, 5.685203, 1.511409, 1.418709, 6.956106, 1.811879, 6.362746,
                             0.197792, 0.00273, 0.065778, 10.61424, 2.59754, 3.002553, 2.808772],
}


def _batch(cache: Path) -> dict[str, torch.Tensor]:
    f = GraphFeaturiser("x", smiles_column="smiles", cache_dir=cache)
    raw = Raw(pd.DataFrame({"smiles": MOLECULES}), {}, [str(i) for i in range(len(MOLECULES))], "molecules")
    f.fit(raw, np.arange(len(MOLECULES)))
    graphs, _ = f.transform(raw)
    assert isinstance(graphs, MolecularGraphs)
    batch = graphs.take_rows(slice(None))
    batch["mol_x"] = torch.linspace(-1, 1, 15).reshape(5, 3)  # a 3-wide molecule vector joined at the readout
    return batch


@pytest.mark.parametrize(("kind", "readout"), list(OUTPUTS))
def test_one_member_network_keeps_the_previous_outputs_and_gradients(kind: str, readout: str, tmp_path: Path,
                                                                     one_thread: None) -> None:
    net = GraphNet(kind, len(atom_feature_names()), len(bond_feature_names()), 3, 1, width=16,
                   depth=3 if kind != "ugrnn" else 2, hidden=[8], readout=readout, seed=11)
    out = net(**_batch(tmp_path))
    assert out.shape == (len(MOLECULES), 1)
    assert torch.allclose(out.detach().reshape(-1), torch.tensor(OUTPUTS[kind, readout]), atol=1e-5, rtol=0)
    (out ** 2).sum().backward()
    grads = torch.tensor([float(p.grad.abs().sum()) for p in net.parameters() if p.grad is not None])
    assert torch.allclose(grads, torch.tensor(GRADIENT_L1[kind, readout]), rtol=1e-5, atol=1e-5)
