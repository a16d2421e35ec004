"""Graph networks (deepsci.models.graph): invariance to atom numbering, D-MPNN and UG-RNN against plain
per-edge / per-root loops, stacked members equal to separately seeded networks, spec round trip, MC dropout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from rdkit import Chem

from deepsci.data.graphs import GraphFeaturiser, MolecularGraphs
from deepsci.data.raw import Raw
from deepsci.models.graph import GraphNet

MOLECULES = ["CC(O)C1CC1", "c1ccc2ccccc2c1N", "OCC(=O)[O-].[Na+]", "C", "CC/C=C/C(=O)OC"]
KINDS = [("dmpnn", "mean"), ("dmpnn", "attention"), ("gin", "sum"), ("gin", "attention"), ("ugrnn", "mean"),
         ("ugrnn", "attention")]


def _graphs(smiles: list[str], cache: Path) -> MolecularGraphs:
    f = GraphFeaturiser("x", smiles_column="smiles", cache_dir=cache)
    raw = Raw(pd.DataFrame({"smiles": smiles}), {}, [str(i) for i in range(len(smiles))], "molecules")
    f.fit(raw, np.arange(len(smiles)))
    graphs, bad = f.transform(raw)
    assert not bad and isinstance(graphs, MolecularGraphs)
    return graphs


def _net(kind: str, readout: str = "mean", **kw: object) -> GraphNet:
    from deepsci.data.graphs import atom_feature_names, bond_feature_names

    args: dict = dict(width=16, depth=3 if kind != "ugrnn" else 2, hidden=[8], readout=readout, seed=3)
    args.update(kw)
    return GraphNet(kind, len(atom_feature_names()), len(bond_feature_names()), 0, 2, **args).double()


def _double(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.double() if v.is_floating_point() else v for k, v in batch.items()}


def _renumbered(smiles: str, seed: int) -> str:
    mol = Chem.MolFromSmiles(smiles)
    order = np.random.default_rng(seed).permutation(mol.GetNumAtoms()).tolist()
    return Chem.MolToSmiles(Chem.RenumberAtoms(mol, order), canonical=False)


@pytest.mark.parametrize(("kind", "readout"), KINDS)
def test_output_does_not_depend_on_atom_numbering(kind: str, readout: str, tmp_path: Path, one_thread: None) -> None:
    shuffled = [_renumbered(s, i) for i, s in enumerate(MOLECULES)]
    assert shuffled != MOLECULES  # really renumbered
    net = _net(kind, readout).float().eval()
    a = net(**_graphs(MOLECULES, tmp_path).take_rows(slice(None)))
    b = net(**_graphs(shuffled, tmp_path).take_rows(slice(None)))
    assert a.shape == (len(MOLECULES), 2)
    assert torch.allclose(a, b, atol=1e-5, rtol=0), (a - b).abs().max()


def test_dmpnn_matches_a_per_edge_loop(tmp_path: Path, one_thread: None) -> None:
    """Yang et al. (2019) written out with one Python loop per directed bond, in float64."""
    batch = _double(_graphs(MOLECULES[:2], tmp_path).take_rows(slice(None)))
    net = _net("dmpnn").eval()
    relu = torch.relu
    W_i, W_h, W_o = net.w_i.weight[0], net.w_h.weight[0], net.w_o.weight[0]
    x, e = batch["atom_x"], batch["bond_x"]
    src, dst = batch["edge_index"].tolist()
    h0 = [relu(torch.cat([x[src[k]], e[k]]) @ W_i) for k in range(len(src))]
    h = list(h0)
    for _ in range(net.depth - 1):  # message into v->w: every u->v except w->v
        h = [relu(h0[k] + sum((h[j] for j in range(len(src)) if dst[j] == src[k] and src[j] != dst[k]),
                             torch.zeros(16, dtype=torch.float64)) @ W_h) for k in range(len(src))]
    atoms = [relu(torch.cat([x[v], sum((h[j] for j in range(len(src)) if dst[j] == v),
                                       torch.zeros(16, dtype=torch.float64))]) @ W_o + net.w_o.bias[0, 0])
             for v in range(len(x))]
    mols = [torch.stack([a for a, m in zip(atoms, batch["atom_batch"].tolist()) if m == k]).mean(0) for k in range(2)]
    z = torch.stack(mols)
    expected = relu(z @ net.head[0].weight[0] + net.head[0].bias[0, 0]) @ net.out.weight[0] + net.out.bias[0, 0]
    assert torch.allclose(net(**batch), expected, atol=1e-10)


def _ugrnn_by_recursion(net: GraphNet, smiles: str, cache: Path) -> torch.Tensor:
    """Lusci et al. (2013) as written: for each root, recurse over the DAG of the molecule oriented towards it."""
    batch = _double(_graphs([smiles], cache).take_rows(slice(None)))
    n = int(batch["n_atoms"][0])
    dist = batch["pair_dist"].view(n, n)
    src, dst = batch["edge_index"].tolist()
    act = torch.tanh if net.hparams["activation"] == "tanh" else torch.relu
    x: torch.Tensor = batch["atom_x"]
    for i in range(net.depth):
        cx, ch, ce = net.cell_x[i], net.cell_h[i].weight[0], net.cell_e[i].weight[0]
        wx = x @ cx.weight[0] + cx.bias[0, 0]
        roots = []
        for r in range(n):
            def state(v: int) -> torch.Tensor:
                parents = [k for k in range(len(src)) if dst[k] == v and dist[r, src[k]] == dist[r, v] + 1]
                pre = wx[v]
                for k in parents:
                    pre = pre + state(src[k]) @ ch + batch["bond_x"][k] @ ce
                return act(pre)
            roots.append(state(r))
        x = torch.stack(roots)
    z = x.mean(0, keepdim=True)
    return torch.relu(z @ net.head[0].weight[0] + net.head[0].bias[0, 0]) @ net.out.weight[0] + net.out.bias[0, 0]


def test_ugrnn_matches_the_recursion_over_each_roots_dag(tmp_path: Path, one_thread: None) -> None:
    net = _net("ugrnn").eval()
    batch = _double(_graphs(MOLECULES[:2], tmp_path).take_rows(slice(None)))
    out = net(**batch)
    for k, smiles in enumerate(MOLECULES[:2]):
        assert torch.allclose(out[k:k + 1], _ugrnn_by_recursion(net, smiles, tmp_path), atol=1e-10)


@pytest.mark.parametrize("kind", ["dmpnn", "gin", "ugrnn"])
def test_stacked_members_are_the_separately_seeded_networks(kind: str, tmp_path: Path, one_thread: None) -> None:
    batch = _double(_graphs(MOLECULES, tmp_path).take_rows(slice(None)))
    ensemble = _net(kind, "attention", members=3)
    out = ensemble(**batch)
    assert out.shape == (3, len(MOLECULES), 2)
    for k in range(3):
        alone = _net(kind, "attention", seed=3 + k)
        assert torch.allclose(out[k], alone(**batch), atol=1e-10)
    rebuilt = GraphNet.from_spec(ensemble.spec()).double()
    rebuilt.load_state_dict(ensemble.state_dict())
    assert torch.equal(rebuilt(**batch), out)
    assert ensemble.spec() == _net(kind, "attention").as_ensemble(3).spec()


def test_mc_dropout_draws_masks_through_graph_batches(tmp_path: Path, one_thread: None) -> None:
    from deepsci.evaluation.uncertainty.mc_dropout import mc_dropout_samples

    graphs = _graphs(MOLECULES, tmp_path)
    net = _net("dmpnn", dropout=0.2).float().eval()
    samples = mc_dropout_samples(net, graphs, samples=4, seed=0, batch_size=2)
    assert samples.shape == (4, len(MOLECULES), 2)
    assert samples.std(0).min() > 0  # each pass draws its own dropout masks
    assert torch.equal(mc_dropout_samples(net, graphs, samples=4, seed=0, batch_size=2), samples)  # seeded
    assert not net.training


def test_trainer_predict_keeps_a_graph_ensembles_members_apart_across_batches(tmp_path: Path, one_thread: None) -> None:
    """A K-member graph network answers (K, n, out): its batches join on the row dimension (dim 1), as a
    StackedMLP's do, so predicting in batches of 2 equals one pass over all molecules."""
    from deepsci.training import Trainer

    graphs = _graphs(MOLECULES, tmp_path)
    ensemble = _net("dmpnn", members=3).float()
    trainer = Trainer(ensemble, loss="mse")
    whole = trainer.predict(graphs)
    assert whole.shape == (3, len(MOLECULES), 2)
    torch.testing.assert_close(trainer.predict(graphs, batch_size=2), whole)
