"""The one inference path: batches, the row dimension of ensembles, modes, and every caller on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from deepsci.data.graphs import MolecularGraphs, atom_feature_names, bond_feature_names, graphs_of_smiles
from deepsci.evaluation.uncertainty import UncertaintySpec, predictive
from deepsci.models import MLP
from deepsci.models.graph import GraphNet
from deepsci.training import Trainer, losses
from deepsci.training.ensemble import build_ensemble
from deepsci.training.inference import predict_batches, row_dim

pytestmark = pytest.mark.usefixtures("one_thread")

MOLECULES = ["CC(O)C1CC1", "c1ccc2ccccc2c1N", "OCC(=O)[O-].[Na+]", "C", "CC/C=C/C(=O)OC"]


def _graphs(cache: Path) -> MolecularGraphs:
    """The molecules as one set of graphs, with no molecule-level features."""
    graphs, _, _ = graphs_of_smiles(MOLECULES, cache)
    assert all(g is not None for g in graphs)
    return MolecularGraphs.from_graphs(graphs, torch.zeros(len(MOLECULES), 0))  # type: ignore[arg-type]


def _graph_net(members: int) -> GraphNet:
    return GraphNet("dmpnn", len(atom_feature_names()), len(bond_feature_names()), 0, 2, width=16, depth=2,
                    hidden=[8], members=members, seed=3)


def test_a_table_ensembles_batches_join_on_the_row_dimension():
    """A StackedMLP answers (K, n, out): predicting 7 rows in batches of 3 equals one pass over all of them,
    member by member (concatenating on dim 0 would stack members instead: shape (3K, ...))."""
    ensemble = build_ensemble(lambda s: MLP(4, 2, (8,), seed=s), members=3)
    X = torch.randn(7, 4, generator=torch.Generator().manual_seed(0))
    whole = predict_batches(ensemble, X, batch_size=100)
    assert whole.shape == (3, 7, 2) and row_dim(ensemble) == 1
    torch.testing.assert_close(predict_batches(ensemble, X, batch_size=3), whole, rtol=0, atol=1e-6)
    for k, member in enumerate(ensemble.unstack()):  # each member's rows are that member's own network's outputs
        torch.testing.assert_close(whole[k], member.eval()(X).detach(), rtol=0, atol=1e-6)


def test_a_graph_ensembles_batches_join_on_the_row_dimension(tmp_path: Path):
    graphs = _graphs(tmp_path)
    ensemble = _graph_net(members=3)
    whole = predict_batches(ensemble, graphs, batch_size=100)
    assert whole.shape == (3, len(MOLECULES), 2)
    torch.testing.assert_close(predict_batches(ensemble, graphs, batch_size=2), whole)
    torch.testing.assert_close(Trainer(ensemble, loss=losses.mse).predict(graphs, batch_size=2), whole)


def test_one_member_is_not_a_stack(tmp_path: Path):
    """A graph network holding one member answers (n, out): its rows are dim 0 even when an ensemble was
    asked for (the rule reads the model, not the option), and `predictive` sees one sample."""
    graphs = _graphs(tmp_path)
    single = _graph_net(members=1)
    assert row_dim(single) == 0
    whole = predict_batches(single, graphs)
    assert whole.shape == (len(MOLECULES), 2)
    torch.testing.assert_close(predict_batches(single, graphs, batch_size=2), whole)
    dist = predictive(single, graphs, "regression", UncertaintySpec(method="ensemble"), batch_size=2)
    np.testing.assert_allclose(dist.mean, whole.double().numpy(), rtol=1e-6)


def test_modes_and_empty_inputs():
    net = nn.Sequential(nn.Linear(3, 5), nn.Dropout(0.5), nn.Linear(5, 1))
    X = torch.ones(6, 3)
    net.train()
    first = predict_batches(net, X, batch_size=4)
    assert not net.training  # eval mode (dropout off), left so
    torch.testing.assert_close(predict_batches(net, X, batch_size=2), first)
    net.train()
    torch.manual_seed(0)
    noisy = predict_batches(net, X, stochastic=True)  # the model's own modes: dropout draws masks
    assert net.training and not torch.equal(noisy, first)
    assert predict_batches(net, torch.ones(0, 3)).shape == (0, 1)
    assert not predict_batches(net, X).requires_grad  # no graph is recorded
