"""Reactions from templates (deepsci.data.reactions), their centres, the difference fingerprint, the graph-pair
featuriser (deepsci.data.reaction_graphs) and the split by product scaffold, on hand-worked reactions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import rdFingerprintGenerator

from deepsci.data import build_dataset
from deepsci.data.reaction_graphs import mapped_pairs, product_atom_values
from deepsci.data.reactions import (apply_template, build_reactions, centre_atoms, difference_fingerprint,
                                    nearest_neighbour, reaction_templates, split_reaction, tanimoto, unmapped)
from deepsci.data.splits import murcko_scaffold
from deepsci.errors import DataError

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "data" / "reactions_sample.csv"
SULFONYL_CHLORIDE, ETHYLAMINE = "O=S(=O)(Cl)c1ccccc1", "CCN"


@pytest.fixture(scope="module")
def sulfonamide() -> tuple[str, list[int]]:
    made = apply_template(reaction_templates()["sulfonamide-1"]["smarts"], [SULFONYL_CHLORIDE, ETHYLAMINE])
    assert made is not None
    return made


def test_boc_centre_holds_both_ends_of_the_new_bond():
    """By hand: Boc protection of aniline adds the Boc group, which the reactants do not list (it comes from Boc2O):
    the new N-C bond's two ends, the aniline N (gains C, loses an H) and the Boc carbonyl C, are the centre; the
    rest of the added group (the tert-butyl, the ester O, the carbonyl O) and the ring are not."""
    made = apply_template(reaction_templates()["BOC-protection"]["smarts"], ["Nc1ccccc1"])
    assert made is not None
    reaction, centre = made
    product = Chem.MolFromSmiles(split_reaction(reaction)[1])
    assert unmapped(split_reaction(reaction)[1]) == Chem.CanonSmiles("CC(C)(C)OC(=O)Nc1ccccc1")
    atoms = {product.GetAtomWithIdx(i).GetSymbol(): product.GetAtomWithIdx(i) for i in centre}
    assert sorted(atoms) == ["C", "N"]
    assert atoms["C"].GetAtomMapNum() == 0 and atoms["N"].GetAtomMapNum() != 0  # added carbonyl C, carried N
    assert product.GetBondBetweenAtoms(atoms["C"].GetIdx(), atoms["N"].GetIdx()) is not None
    assert sorted(n.GetSymbol() for n in atoms["C"].GetNeighbors()) == ["N", "O", "O"]


def test_sulfonamide_centre_is_the_new_s_n_bond(sulfonamide):
    """By hand: ArSO2Cl + EtNH2 -> ArSO2NHEt changes the bonds of S (loses Cl, gains N) and N (gains S, loses an
    H) and of nothing else; the leaving Cl is unmapped, every other atom keeps its map number."""
    reaction, centre = sulfonamide
    left, right = split_reaction(reaction)
    product = Chem.MolFromSmiles(right)
    assert unmapped(right) == Chem.CanonSmiles("O=S(=O)(NCC)c1ccccc1")
    assert sorted(product.GetAtomWithIdx(i).GetSymbol() for i in centre) == ["N", "S"]
    reactants = Chem.MolFromSmiles(left)
    chlorine = [a for a in reactants.GetAtoms() if a.GetSymbol() == "Cl"]
    assert chlorine[0].GetAtomMapNum() == 0
    # carried: the ring, S, the amine's C, C, N, and the two O's the template deletes and re-creates (paired)
    assert len(mapped_pairs(reaction)) == 6 + 1 + 3 + 2


def test_difference_fingerprint_is_product_minus_each_reactant(sulfonamide):
    reaction, _ = sulfonamide
    counts = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)

    def fp(smiles: str) -> np.ndarray:
        return counts.GetCountFingerprintAsNumPy(Chem.MolFromSmiles(smiles)).astype(float)

    expected = fp("O=S(=O)(NCC)c1ccccc1") - fp(SULFONYL_CHLORIDE) - fp(ETHYLAMINE)
    np.testing.assert_array_equal(difference_fingerprint(reaction), expected)
    assert not difference_fingerprint("CCO.c1ccccc1>>c1ccccc1.OCC").any()  # nothing changes: all cancels
    assert difference_fingerprint("CCO") is None and difference_fingerprint("C1CC>>CC") is None


def test_tanimoto_and_nearest_neighbour_by_hand():
    a = np.array([[1.0, -1.0, 0.0], [0.0, 0.0, 0.0]])
    b = np.array([[1.0, -1.0, 0.0], [2.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    # a0.b1 = 2; |a0|^2 + |b1|^2 - 2 = 2 + 5 - 2
    np.testing.assert_allclose(tanimoto(a, b), [[1.0, 2 / 5, 0.0], [0.0, 0.0, 1.0]])
    assert nearest_neighbour(b, a).tolist() == [0, 2]


def test_product_atom_values_add_the_mapped_reactant_atom(sulfonamide):
    reaction, _ = sulfonamide
    left, right = split_reaction(reaction)
    n_left, n_right = Chem.MolFromSmiles(left).GetNumAtoms(), Chem.MolFromSmiles(right).GetNumAtoms()
    values = np.zeros(n_left + n_right)
    pairs = mapped_pairs(reaction)
    for r, p in pairs:  # an untouched atom's two appearances with opposite signs cancel
        values[r], values[n_left + p] = -1.0, 1.0
    assert not product_atom_values(reaction, values).any()
    values[:] = 0
    values[pairs[0][0]] = 2.0
    assert product_atom_values(reaction, values)[pairs[0][1]] == 2.0


def test_build_reactions_small_pool_is_deterministic_and_unique():
    pool = ["CC(=O)O", "OC(=O)c1ccccc1", "OC(=O)CCc1ccccc1", "NCc1ccccc1", "CCN", "NC1CCCCC1", "Nc1ccccc1",
            "CC(C)N", "OC(=O)C1CC1", "NCCO"]
    a = build_reactions(seed=3, pool=pool, templates=["amide_coupling-1"], per_class=6, min_class=2, cache=False)
    b = build_reactions(seed=3, pool=pool, templates=["amide_coupling-1"], per_class=6, min_class=2, cache=False)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 6 and set(a["reaction_class"]) == {"amide_coupling-1"}
    keys = {(unmapped(split_reaction(r)[0]), unmapped(split_reaction(r)[1])) for r in a["reaction"]}
    assert len(keys) == len(a)  # unique reactions
    for reaction, centre in zip(a["reaction"], a["centre"]):
        product = Chem.MolFromSmiles(split_reaction(reaction)[1])
        atoms = sorted(product.GetAtomWithIdx(i).GetSymbol() for i in centre_atoms(centre))
        assert atoms == ["C", "N"]  # the new amide bond's carbonyl C and amine N
    with pytest.raises(DataError, match="unknown reaction template"):
        build_reactions(pool=pool, templates=["amide-coupling"], cache=False)


def test_scaffold_of_a_reaction_is_its_products(sulfonamide):
    reaction, _ = sulfonamide
    assert murcko_scaffold(reaction) == murcko_scaffold("O=S(=O)(NCC)c1ccccc1") == "c1ccccc1"


def test_reaction_dataset_keeps_sides_and_scaffold_groups(tmp_path):
    """kind = "reaction" on the sample: each atom's side follows the reactant SMILES' atom count, and no product
    scaffold is in two parts of the split."""
    data = build_dataset({"kind": "reaction", "source": str(SAMPLE), "target": "reaction_class", "id_column": "id",
                          "smiles_column": "reaction", "split": "scaffold", "task": "multiclass"}, seed=0,
                         cache_dir=tmp_path)
    assert data.inputs["x"].structure == "reaction"
    frame = pd.read_csv(SAMPLE).set_index("id")
    batch = data.test.X.take_rows(torch.arange(3))
    start = 0
    for r, n in enumerate(batch["n_atoms"].tolist()):
        left = split_reaction(frame.loc[data.test.ids[r], "reaction"])[0]
        n_left = Chem.MolFromSmiles(left).GetNumAtoms()
        side = batch["atom_side"][start:start + n]
        assert side[:n_left].eq(-1).all() and side[n_left:].eq(1).all()
        start += n
    scaffolds = {part: {murcko_scaffold(frame.loc[i, "reaction"]) for i in getattr(data, part).ids}
                 for part in ("train", "valid", "test")}
    assert not scaffolds["train"] & scaffolds["test"] and not scaffolds["valid"] & scaffolds["test"]
