"""Molecular graphs (deepsci.data.graphs): RDKit features, the disk cache, vectorised batching against a
per-molecule loop, bad SMILES counted, the graph data kind, scaffold split, and the JSON round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from rdkit import Chem

from deepsci.data.spec import data_config
from deepsci.data import build_dataset
from deepsci.data.graphs import (
    GraphFeaturiser,
    MolecularGraphs,
    atom_feature_names,
    bond_feature_names,
    graphs_of_smiles,
)
from deepsci.data.preprocess import Preprocessor
from deepsci.data.raw import Raw

SMILES = ["CCO", "c1ccccc1O", "C[C@H](N)C(=O)O", "[Na+].[Cl-]", "C", "C/C=C/C", "OC1CC1"]


def _raw(smiles: list[str]) -> Raw:
    frame = pd.DataFrame({"smiles": smiles})
    return Raw(frame, {}, [str(i) for i in range(len(smiles))], "test molecules")


def test_features_follow_rdkit(tmp_path: Path) -> None:
    graphs, _, hit = graphs_of_smiles(SMILES, tmp_path)
    assert not hit
    names = atom_feature_names()
    for s, g in zip(SMILES, graphs):
        assert g is not None
        mol = Chem.MolFromSmiles(s)
        assert g.atom_x.shape == (mol.GetNumAtoms(), len(names))
        assert g.bond_x.shape == (mol.GetNumBonds(), len(bond_feature_names()))
        for j, atom in enumerate(mol.GetAtoms()):  # each one-hot group has exactly one 1
            row = dict(zip(names, g.atom_x[j]))
            assert row[f"element={atom.GetSymbol()}"] == 1.0
            assert row[f"hydrogens={atom.GetTotalNumHs()}"] == 1.0
            assert row["aromatic"] == float(atom.GetIsAromatic())
            assert row["mass/100"] == pytest.approx(atom.GetMass() / 100, rel=1e-6)
            assert sum(v for k, v in row.items() if k.startswith("charge=")) == 1.0
        if len(Chem.GetMolFrags(mol)) == 1:
            assert np.array_equal(g.dist, Chem.GetDistanceMatrix(mol))
    salt = graphs[3]
    assert salt is not None and (salt.dist == -1).sum() == 2  # two fragments: no path between them
    chiral = dict(zip(names, graphs[2].atom_x[1]))  # type: ignore[union-attr]
    assert chiral["chirality=CHI_TETRAHEDRAL_CCW"] + chiral["chirality=CHI_TETRAHEDRAL_CW"] == 1.0
    trans = dict(zip(bond_feature_names(), graphs[5].bond_x[1]))  # type: ignore[union-attr]
    assert trans["bond=DOUBLE"] == 1.0 and trans["stereo=STEREOE"] == 1.0


def test_cache_hit_gives_the_same_graphs(tmp_path: Path) -> None:
    first, _, hit1 = graphs_of_smiles(SMILES + ["not a smiles"], tmp_path)
    second, _, hit2 = graphs_of_smiles(SMILES + ["not a smiles"], tmp_path)
    assert (hit1, hit2) == (False, True)
    assert first[-1] is None and second[-1] is None
    for a, b in zip(first[:-1], second[:-1]):
        assert a is not None and b is not None
        for name in ("atom_x", "bond_x", "bond_atoms", "dist"):
            assert np.array_equal(getattr(a, name), getattr(b, name))


def _loop_batch(graphs: MolecularGraphs, rows: list[int]) -> dict[str, torch.Tensor]:
    """The batch of `rows` assembled one molecule at a time: the oracle for take_rows."""
    arrays = graphs.to_arrays()
    na, nb = arrays["n_atoms"].tolist(), arrays["n_bonds"].tolist()
    a0, b0 = np.cumsum([0] + na), np.cumsum([0] + nb)
    p0 = np.cumsum([0] + [n * n for n in na])
    atoms, bonds, edges, batch, dist, offset = [], [], [], [], [], 0
    for k, r in enumerate(rows):
        atoms.append(arrays["atom_x"][a0[r]:a0[r + 1]])
        for j in range(b0[r], b0[r + 1]):
            u, v = arrays["bond_atoms"][j].tolist()
            edges += [(u + offset, v + offset), (v + offset, u + offset)]
            bonds += [arrays["bond_x"][j], arrays["bond_x"][j]]
        batch += [k] * na[r]
        dist.append(arrays["pair_dist"][p0[r]:p0[r + 1]])
        offset += na[r]
    return {"atom_x": torch.cat(atoms), "bond_x": torch.stack(bonds), "edge_index": torch.tensor(edges).T,
            "atom_batch": torch.tensor(batch), "pair_dist": torch.cat(dist)}


def test_take_rows_matches_a_per_molecule_loop(tmp_path: Path) -> None:
    f = GraphFeaturiser("x", smiles_column="smiles", cache_dir=tmp_path)
    raw = _raw(SMILES)
    f.fit(raw, np.arange(len(SMILES)))
    graphs, bad = f.transform(raw)
    assert isinstance(graphs, MolecularGraphs) and bad == {} and len(graphs) == len(SMILES)
    rows = [5, 0, 3, 4, 2]
    batch = graphs.take_rows(torch.tensor(rows))
    expected = _loop_batch(graphs, rows)
    for name, value in expected.items():
        assert torch.equal(batch[name], value), name
    e = batch["edge_index"]
    assert torch.equal(e[:, batch["rev_index"]], e.flip(0))  # rev_index is each edge's reverse
    assert batch["mol_x"].shape == (5, 0) and batch["n_atoms"].tolist() == [4, 3, 2, 1, 6]
    assert torch.equal(graphs.subset(torch.tensor(rows)).take_rows(slice(None))["atom_x"], batch["atom_x"])


def test_bad_smiles_are_reported_not_dropped(tmp_path: Path) -> None:
    f = GraphFeaturiser("x", smiles_column="smiles", cache_dir=tmp_path)
    raw = _raw(["CCO", "C1CC", "", "c1ccccc1"])
    assert f.check(raw) == {1: "unparsable SMILES 'C1CC'", 2: "unparsable SMILES ''"}


def test_graph_kind_with_descriptors_round_trips_through_json(tmp_path: Path, small_molecules: pd.DataFrame,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPSCI_CACHE", str(tmp_path))  # the reloaded featuriser reads this cache
    frame = small_molecules.copy()
    frame.loc[3, "smiles"] = "xyz"  # an unparsable molecule: skipped and listed, never silently dropped
    cfg = data_config(kind="graph", source="x", target="SOL", id_column="NAME", descriptors="descriptors",
                      split="scaffold")
    ds = build_dataset(cfg.model_copy(update={"source": frame}), seed=0, cache_dir=tmp_path / "features")
    assert ds.summary.split["method"] == "scaffold"
    assert [s["reason"] for s in ds.skipped] == ["unparsable SMILES 'xyz'"]
    schema = ds.inputs["x"]
    assert schema.structure == "graph" and schema.shape[2] == len(ds.preprocessor.featurisers["x"].descriptor_names)
    again = Preprocessor.from_dict(ds.preprocessor.to_dict())
    X, ids, skipped = again.transform(again.read(frame))
    assert len(skipped) == 1 and "xyz" in skipped[0]["reason"] and len(ids) == len(frame) - 1
    test_rows = [ids.index(i) for i in ds.test.ids]
    a = ds.test.X.take_rows(slice(None))  # type: ignore[union-attr]
    b = X.take_rows(torch.tensor(test_rows))  # type: ignore[union-attr]
    for name in a:
        assert torch.allclose(a[name].double(), b[name].double(), atol=1e-6), name


def test_scaffold_split_keeps_scaffolds_together(tmp_path: Path, small_molecules: pd.DataFrame) -> None:
    from deepsci.data.splits import murcko_scaffold

    ds = build_dataset(data_config(kind="graph", source=str(_csv(tmp_path, small_molecules)), target="SOL",
                                   split="scaffold"),
                       seed=0, cache_dir=tmp_path)
    # rows are named by their number (the CSV has no id column)
    scaffold = {str(i): murcko_scaffold(s) for i, s in enumerate(small_molecules["smiles"])}
    parts = [{scaffold[i] for i in part.ids} for part in (ds.train, ds.valid, ds.test)]
    assert not (parts[0] & parts[2]) and not (parts[0] & parts[1])


def _csv(tmp_path: Path, frame: pd.DataFrame) -> Path:
    path = tmp_path / "molecules.csv"
    frame[["smiles", "SOL"]].to_csv(path, index=False)
    return path


def test_atom_contributions_sum_to_rdkit_descriptors(tmp_path: Path) -> None:
    from rdkit.Chem import rdMolDescriptors

    graphs, _, _ = graphs_of_smiles(SMILES, tmp_path, atom_kind="chemprop+contribs")
    plain, _, _ = graphs_of_smiles(SMILES, tmp_path)  # a separate cache entry: the default set is unchanged
    names = atom_feature_names("chemprop+contribs")
    assert names[:len(atom_feature_names())] == atom_feature_names() and len(names) == len(atom_feature_names()) + 5
    for s, g, p in zip(SMILES, graphs, plain):
        assert g is not None and p is not None
        mol = Chem.MolFromSmiles(s)
        assert np.array_equal(g.atom_x[:, :-5], p.atom_x)
        logp, mr, tpsa, asa, charge = g.atom_x[:, -5:].astype(np.float64).sum(0)
        crippen_logp, crippen_mr = rdMolDescriptors.CalcCrippenDescriptors(mol)  # MolLogP, MolMR
        assert logp == pytest.approx(crippen_logp, abs=1e-4)
        assert mr == pytest.approx(crippen_mr / 10, abs=1e-4)
        assert tpsa == pytest.approx(rdMolDescriptors.CalcTPSA(mol) / 10, abs=1e-4)
        assert asa == pytest.approx(rdMolDescriptors.CalcLabuteASA(mol) / 10, rel=2e-3)
        assert charge == pytest.approx(Chem.GetFormalCharge(mol), abs=1e-4)  # Gasteiger conserves charge


def test_rank_gauss_maps_training_columns_to_standard_normals() -> None:
    from deepsci.data.graphs import fit_rank_gauss, rank_gauss

    g = torch.Generator().manual_seed(0)
    x = torch.stack([torch.randn(2000, generator=g).exp() ** 3,  # heavy-tailed
                     torch.randint(0, 3, (2000,), generator=g).float()], dim=1)  # a count with ties
    q = fit_rank_gauss(x)
    z = rank_gauss(x, q)
    assert abs(float(z[:, 0].mean())) < 0.02 and abs(float(z[:, 0].std()) - 1) < 0.03
    order = torch.argsort(x[:, 0])
    assert bool((z[order, 0].diff() >= 0).all())  # monotone
    # ties go to the middle of their CDF step: value 0 holds about a third of the rows -> Phi^-1(1/6)
    assert float(z[x[:, 1] == 0, 1].mean()) == pytest.approx(-0.967, abs=0.05)
    beyond = rank_gauss(torch.tensor([[1e9, -5.0]]), q)  # outside the training range: clipped
    assert beyond[0, 0] == pytest.approx(3.29, abs=0.01) and beyond[0, 1] == pytest.approx(-3.29, abs=0.01)


def test_contribs_and_rank_gauss_round_trip_through_json(tmp_path: Path, small_molecules: pd.DataFrame,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPSCI_CACHE", str(tmp_path))
    cfg = data_config(kind="graph", source="x", target="SOL", id_column="NAME", descriptors="descriptors",
                      atom_features="chemprop+contribs", descriptor_scale="rank-gauss")
    ds = build_dataset(cfg.model_copy(update={"source": small_molecules}), seed=0, cache_dir=tmp_path / "features")
    assert ds.summary.atom_features == "chemprop+contribs"
    assert ds.inputs["x"].shape[0] == len(atom_feature_names("chemprop+contribs"))
    assert isinstance(ds.train.X, MolecularGraphs)
    assert float(ds.train.X.mol_x.abs().max()) <= 3.3  # rank-Gauss bounded, unlike standardised descriptors
    again = Preprocessor.from_dict(ds.preprocessor.to_dict())
    X, ids, _ = again.transform(again.read(small_molecules))
    assert isinstance(X, MolecularGraphs) and isinstance(ds.test.X, MolecularGraphs)
    a, b = ds.test.X.take_rows(slice(None)), X.take_rows(torch.tensor([ids.index(i) for i in ds.test.ids]))
    for name in a:
        assert torch.allclose(a[name].double(), b[name].double(), atol=1e-6), name


def test_unknown_atom_features_or_descriptor_scale_is_refused() -> None:
    from deepsci.errors import DataError

    with pytest.raises(DataError, match="atom_features 'mmff' is not one of chemprop"):
        GraphFeaturiser("x", smiles_column="smiles", atom_features="mmff")
    with pytest.raises(DataError, match="descriptor_scale 'minmax' is not one of standard, rank-gauss"):
        GraphFeaturiser("x", smiles_column="smiles", descriptor_scale="minmax")
