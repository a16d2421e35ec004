"""Molecules as graphs: atoms and bonds from RDKit, featurised once, cached, and batched as one disjoint graph.

A split's molecules are stored as flat tensors with per-molecule offsets (`MolecularGraphs`):

    atom_x      (N, A) float32   every atom of every molecule, molecule after molecule
    bond_x      (M, Bf) float32  every bond (undirected), molecule after molecule
    bond_atoms  (M, 2) int64     the bond's two atoms, numbered within their molecule
    pair_dist   (sum n_i^2,)     topological distances between the atoms of each molecule (row = root atom)
    n_atoms, n_bonds (n,)        per-molecule counts; offsets are their cumulative sums
    mol_x       (n, D) float32   an optional per-molecule vector (scaled RDKit descriptors), D may be 0

`take_rows(idx)` gathers the chosen molecules with index arithmetic alone (repeat_interleave and cumsum,
no Python loop over molecules) and returns the batch as ONE disjoint graph, the keyword arguments of
every graph network's forward (deepsci.models.graph):

    atom_x (Na, A), bond_x (E, Bf), edge_index (2, E), rev_index (E,), atom_batch (Na,), mol_x (B, D),
    pair_dist (sum n_i^2,), n_atoms (B,)

with E = 2 x bonds: each bond gives the directed edges u->v (even position 2j) and v->u (2j + 1), so the
reverse of edge e is e ^ 1. Scatter sums over atoms or molecules are `index_add_` on these indices.

Atom features (`atom_features = "chemprop"`, chemprop's v1 set, Yang et al. 2019): element, degree, formal
charge, chirality tag, attached hydrogens, hybridisation (one-hot, each with an "other" slot), aromaticity,
mass / 100. `"chemprop+contribs"` appends each atom's share of five additive RDKit descriptors: Crippen
logP and molar refractivity (Wildman & Crippen 1999; their sums are MolLogP and MolMR, logP being the
strongest single predictor of solubility, Delaney 2004), TPSA (Ertl 2000), Labute's approximate surface
area (Labute 2000; an atom's attached hydrogens included) and the Gasteiger partial charge. Bond features:
type (single, double, triple, aromatic), conjugation, ring membership, stereo (one-hot).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

from deepsci.data.batch import Inputs
from deepsci.data.molecules import _rdkit, default_cache_dir
from deepsci.data.featurisers import Bad, Featuriser, TableFeaturiser, register_input, smiles_cells
from deepsci.data.raw import Raw
from deepsci.data.schema import InputSchema
from deepsci.data.sources import READERS, read_table_source
from deepsci.errors import DataError

Tensor = torch.Tensor

# Bump when the features change, so old cache entries are not reused.
GRAPH_VERSION = 1
ATOM_FEATURES: tuple[str, ...] = ("chemprop", "chemprop+contribs")
# the additive contributions of "chemprop+contribs", each divided by its scale so that typical values are O(1)
CONTRIBS: tuple[tuple[str, float], ...] = (("crippen_logp", 1.0), ("crippen_mr/10", 10.0), ("tpsa/10", 10.0),
                                           ("labute_asa/10", 10.0), ("gasteiger_charge", 1.0))
ELEMENTS = ("H", "B", "C", "N", "O", "F", "Si", "P", "S", "Cl", "Br", "I", "Li", "Na", "K", "Mg", "Ca", "Al",
            "Fe", "Cu", "Zn", "Se", "As", "Sn", "Ge", "Hg", "Pb")
DEGREES = (0, 1, 2, 3, 4, 5)
CHARGES = (-2, -1, 0, 1, 2)
CHIRALITY = ("CHI_UNSPECIFIED", "CHI_TETRAHEDRAL_CW", "CHI_TETRAHEDRAL_CCW", "CHI_OTHER")
HYDROGENS = (0, 1, 2, 3, 4)
HYBRIDISATION = ("S", "SP", "SP2", "SP3", "SP3D", "SP3D2")
BOND_TYPES = ("SINGLE", "DOUBLE", "TRIPLE", "AROMATIC")
STEREO = ("STEREONONE", "STEREOANY", "STEREOZ", "STEREOE", "STEREOCIS", "STEREOTRANS")


def _one_hot_names(prefix: str, values: Iterable[Any]) -> list[str]:
    return [f"{prefix}={v}" for v in values] + [f"{prefix}=other"]


def _check_atom_features(kind: str) -> None:
    if kind not in ATOM_FEATURES:
        raise DataError(f"graph atom_features '{kind}' is not one of {', '.join(ATOM_FEATURES)}.")


def atom_feature_names(kind: str = "chemprop") -> list[str]:
    """Names of the atom feature columns of the set `kind` (ATOM_FEATURES), in order."""
    _check_atom_features(kind)
    names = (_one_hot_names("element", ELEMENTS) + _one_hot_names("degree", DEGREES)
             + _one_hot_names("charge", CHARGES) + _one_hot_names("chirality", CHIRALITY)
             + _one_hot_names("hydrogens", HYDROGENS) + _one_hot_names("hybridisation", HYBRIDISATION)
             + ["aromatic", "mass/100"])
    return names + [n for n, _ in CONTRIBS] if kind == "chemprop+contribs" else names


def bond_feature_names() -> list[str]:
    """Names of the bond feature columns, in order."""
    return _one_hot_names("bond", BOND_TYPES) + ["conjugated", "in_ring"] + _one_hot_names("stereo", STEREO)


def _one_hot(value: Any, choices: tuple[Any, ...]) -> list[float]:
    out = [0.0] * (len(choices) + 1)
    out[choices.index(value) if value in choices else len(choices)] = 1.0
    return out


def atom_features(atom: Any) -> list[float]:
    """The feature vector of one RDKit atom (len(atom_feature_names()) floats)."""
    return (_one_hot(atom.GetSymbol(), ELEMENTS) + _one_hot(atom.GetTotalDegree(), DEGREES)
            + _one_hot(atom.GetFormalCharge(), CHARGES) + _one_hot(str(atom.GetChiralTag()), CHIRALITY)
            + _one_hot(atom.GetTotalNumHs(), HYDROGENS) + _one_hot(str(atom.GetHybridization()), HYBRIDISATION)
            + [float(atom.GetIsAromatic()), 0.01 * atom.GetMass()])


def atom_contributions(mol: Any) -> np.ndarray:
    """(n_atoms, 5) float32: each heavy atom's share of Crippen logP, Crippen MR / 10, TPSA / 10, Labute
    ASA / 10 and its Gasteiger charge (CONTRIBS), hydrogens' shares folded into their heavy atom, so the
    columns sum over atoms to MolLogP, MolMR / 10, TPSA / 10, LabuteASA / 10 and the formal charge.
    """
    from rdkit import Chem  # optional heavy dependency: imported when used
    from rdkit.Chem import rdMolDescriptors, rdPartialCharges  # optional heavy dependency: imported when used

    n = mol.GetNumAtoms()
    with_h = Chem.AddHs(mol)  # heavy atoms keep their indices 0..n-1; hydrogens follow
    owner = np.arange(with_h.GetNumAtoms())
    for atom in with_h.GetAtoms():
        if atom.GetIdx() >= n and atom.GetDegree():
            owner[atom.GetIdx()] = atom.GetNeighbors()[0].GetIdx()
    crippen = np.array(rdMolDescriptors._CalcCrippenContribs(with_h), dtype=np.float64).reshape(-1, 2)
    rdPartialCharges.ComputeGasteigerCharges(with_h)
    charge = np.array([a.GetDoubleProp("_GasteigerCharge") for a in with_h.GetAtoms()], dtype=np.float64)
    charge = np.where(np.isfinite(charge), charge, 0.0)  # NaN for elements Gasteiger has no parameters for
    per_atom = np.zeros((n, 3))
    np.add.at(per_atom, owner[owner < n], np.stack([crippen[:, 0], crippen[:, 1], charge], axis=1)[owner < n])
    tpsa = np.array(rdMolDescriptors._CalcTPSAContribs(mol), dtype=np.float64)
    asa_atoms, asa_h = rdMolDescriptors._CalcLabuteASAContribs(mol)
    n_h = np.array([a.GetTotalNumHs() for a in mol.GetAtoms()], dtype=np.float64)
    asa = np.array(list(asa_atoms), dtype=np.float64) + float(asa_h) * n_h / max(float(n_h.sum()), 1.0)
    cols = np.stack([per_atom[:, 0], per_atom[:, 1], tpsa, asa, per_atom[:, 2]], axis=1)
    return (cols / np.array([scale for _, scale in CONTRIBS])).astype(np.float32)


def bond_features(bond: Any) -> list[float]:
    """The feature vector of one RDKit bond (len(bond_feature_names()) floats)."""
    return (_one_hot(str(bond.GetBondType()), BOND_TYPES)
            + [float(bond.GetIsConjugated()), float(bond.IsInRing())] + _one_hot(str(bond.GetStereo()), STEREO))


@dataclass
class MoleculeGraph:
    """One molecule's arrays: atom_x (n, A), bond_x (m, Bf), bond_atoms (m, 2), dist (n, n) int16."""

    atom_x: np.ndarray
    bond_x: np.ndarray
    bond_atoms: np.ndarray
    dist: np.ndarray


def molecule_graph(mol: Any, atom_kind: str = "chemprop") -> MoleculeGraph:
    """The graph of one RDKit molecule (heavy atoms; hydrogens enter as each atom's H count), with the
    atom feature set `atom_kind` (ATOM_FEATURES)."""
    from rdkit import Chem  # optional heavy dependency: imported when used

    atoms = np.array([atom_features(a) for a in mol.GetAtoms()], dtype=np.float32)
    if atom_kind == "chemprop+contribs":
        atoms = np.concatenate([atoms, atom_contributions(mol)], axis=1)
    bonds = list(mol.GetBonds())
    bond_x = np.array([bond_features(b) for b in bonds], dtype=np.float32).reshape(len(bonds),
                                                                                 len(bond_feature_names()))
    pairs = np.array([[b.GetBeginAtomIdx(), b.GetEndAtomIdx()] for b in bonds], dtype=np.int64).reshape(-1, 2)
    dist = Chem.GetDistanceMatrix(mol)
    # RDKit gives 1e8 between atoms of different fragments (a salt's ions): -1, no path
    dist = np.where(dist < mol.GetNumAtoms(), dist, -1).astype(np.int16)
    return MoleculeGraph(atoms, bond_x, pairs, dist)


# -- many molecules, cached ----------------------------------------------------------------------------
def graphs_of_smiles(smiles: list[str], cache_dir: str | Path | None = None, *, cache: bool = True,
                     atom_kind: str = "chemprop") -> tuple[list[MoleculeGraph | None], float, bool]:
    """(graph or None per SMILES, seconds, cache hit). None marks an unparsable or atom-less SMILES.

    Cached on disk like the descriptors (deepsci.data.molecules): ``<cache>/graphs-<key>.npz`` holding
    the flat arrays and counts (no pickle), key = SHA-256 of the SMILES list, RDKit's version,
    GRAPH_VERSION and the atom feature set `atom_kind` (ATOM_FEATURES).
    """
    _check_atom_features(atom_kind)
    Chem = _rdkit()
    from rdkit import rdBase  # optional heavy dependency: imported when used

    start = time.perf_counter()
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    key = _cache_key(smiles, atom_kind)
    if cache:
        hit = _cache_read(folder / f"graphs-{key}.npz", len(smiles), len(atom_feature_names(atom_kind)))
        if hit is not None:
            return hit, time.perf_counter() - start, True
    graphs: list[MoleculeGraph | None] = []
    with rdBase.BlockLogs():  # parse failures are counted and reported by the caller
        for s in smiles:
            mol = Chem.MolFromSmiles(s) if s.strip() else None
            graphs.append(molecule_graph(mol, atom_kind) if mol is not None and mol.GetNumAtoms() > 0 else None)
    if cache:
        _cache_write(folder / f"graphs-{key}.npz", graphs, len(atom_feature_names(atom_kind)))
    return graphs, time.perf_counter() - start, False


def _cache_key(smiles: list[str], atom_kind: str) -> str:
    import rdkit  # optional heavy dependency: imported when used

    meta: dict[str, Any] = {"rdkit": rdkit.__version__, "version": GRAPH_VERSION}
    if atom_kind != "chemprop":  # the default set keeps the keys written before the option existed
        meta["atoms"] = atom_kind
    h = hashlib.sha256(json.dumps(meta).encode())
    h.update("\n".join(smiles).encode("utf-8"))
    return h.hexdigest()[:32]


def _cache_write(path: Path, graphs: list[MoleculeGraph | None], a: int) -> None:
    """Write the graphs (atom feature width `a`) as one .npz entry, atomically."""
    ok = [g for g in graphs if g is not None]
    b = len(bond_feature_names())
    arrays = {
        "valid": np.array([g is not None for g in graphs], dtype=bool),
        "n_atoms": np.array([len(g.atom_x) for g in ok], dtype=np.int64),
        "n_bonds": np.array([len(g.bond_x) for g in ok], dtype=np.int64),
        "atom_x": np.concatenate([g.atom_x for g in ok]) if ok else np.zeros((0, a), np.float32),
        "bond_x": np.concatenate([g.bond_x for g in ok]) if ok else np.zeros((0, b), np.float32),
        "bond_atoms": np.concatenate([g.bond_atoms for g in ok]) if ok else np.zeros((0, 2), np.int64),
        "dist": np.concatenate([g.dist.ravel() for g in ok]) if ok else np.zeros(0, np.int16),
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz", delete=False) as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]
        os.replace(f.name, path)  # a reader never sees half an entry
    except OSError:
        pass  # a read-only or full disk only costs recomputation next time


def _cache_read(path: Path, n: int, a: int) -> list[MoleculeGraph | None] | None:
    """The n graphs of an entry with atom feature width `a`, or None when absent, damaged or mismatched."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        valid, na, nb = arrays["valid"], arrays["n_atoms"], arrays["n_bonds"]
        if valid.shape != (n,) or int(valid.sum()) != len(na) or arrays["atom_x"].shape[1] != a:
            return None
    except (OSError, ValueError, KeyError):
        return None  # a damaged entry is recomputed and overwritten
    ao, bo, do = (np.concatenate([[0], np.cumsum(c)]) for c in (na, nb, na * na))
    graphs: list[MoleculeGraph | None] = []
    j = 0
    for ok in valid:
        if not ok:
            graphs.append(None)
            continue
        k = int(na[j])
        graphs.append(MoleculeGraph(arrays["atom_x"][ao[j]:ao[j + 1]], arrays["bond_x"][bo[j]:bo[j + 1]],
                                    arrays["bond_atoms"][bo[j]:bo[j + 1]],
                                    arrays["dist"][do[j]:do[j + 1]].reshape(k, k)))
        j += 1
    return graphs


# -- a split's molecules as flat tensors --------------------------------------------------------------
def _ranges(starts: Tensor, counts: Tensor) -> Tensor:
    """The concatenation of arange(s, s + c) over (start, count) pairs, without a Python loop."""
    total = int(counts.sum())
    if total == 0:
        return torch.zeros(0, dtype=torch.int64)
    ends = counts.cumsum(0)
    return torch.repeat_interleave(starts - (ends - counts), counts, output_size=total) + torch.arange(total)


class MolecularGraphs:
    """A split's molecules as flat tensors with per-molecule offsets; a `RowSource` (deepsci.data.batch).

    `take_rows(idx)` returns one batch as a disjoint graph (see the module docstring); `subset(idx)`
    returns the molecules `idx` as a new MolecularGraphs (rows kept, e.g. after skipping bad ones).
    """

    def __init__(self, atom_x: Tensor, bond_x: Tensor, bond_atoms: Tensor, pair_dist: Tensor, n_atoms: Tensor,
                 n_bonds: Tensor, mol_x: Tensor, smiles: list[str] | None = None) -> None:
        self.atom_x, self.bond_x, self.bond_atoms, self.pair_dist = atom_x, bond_x, bond_atoms, pair_dist
        self.n_atoms, self.n_bonds, self.mol_x = n_atoms, n_bonds, mol_x
        self.smiles = smiles  # each molecule's SMILES, for reports (not a model input)
        self.atom_start = n_atoms.cumsum(0) - n_atoms
        self.bond_start = n_bonds.cumsum(0) - n_bonds
        self.pair_start = (n_atoms * n_atoms).cumsum(0) - n_atoms * n_atoms

    @classmethod
    def from_graphs(cls, graphs: list[MoleculeGraph], mol_x: Tensor,
                    smiles: list[str] | None = None, atom_kind: str = "chemprop") -> "MolecularGraphs":
        """Flat tensors of per-molecule graphs (in order, atom feature set `atom_kind`), with their (n, D)
        molecule vectors."""
        a, b = len(atom_feature_names(atom_kind)), len(bond_feature_names())
        cat = (lambda xs, shape, dt: torch.from_numpy(np.concatenate(xs)) if xs  # noqa: E731
               else torch.zeros(shape, dtype=dt))
        return cls(cat([g.atom_x for g in graphs], (0, a), torch.float32),
                   cat([g.bond_x for g in graphs], (0, b), torch.float32),
                   cat([g.bond_atoms for g in graphs], (0, 2), torch.int64),
                   cat([g.dist.ravel().astype(np.int64) for g in graphs], (0,), torch.int64),
                   torch.tensor([len(g.atom_x) for g in graphs], dtype=torch.int64),
                   torch.tensor([len(g.bond_x) for g in graphs], dtype=torch.int64), mol_x, smiles)

    def __len__(self) -> int:
        return int(self.n_atoms.shape[0])

    def _index(self, idx: Tensor | slice) -> Tensor:
        if isinstance(idx, slice):
            return torch.arange(len(self))[idx]
        return torch.as_tensor(idx, dtype=torch.int64).reshape(-1)

    def subset(self, idx: Tensor | slice) -> "MolecularGraphs":
        """The molecules `idx` as their own MolecularGraphs (flat tensors copied)."""
        sel = self._index(idx)
        na, nb = self.n_atoms[sel], self.n_bonds[sel]
        return MolecularGraphs(self.atom_x[_ranges(self.atom_start[sel], na)],
                               self.bond_x[_ranges(self.bond_start[sel], nb)],
                               self.bond_atoms[_ranges(self.bond_start[sel], nb)],
                               self.pair_dist[_ranges(self.pair_start[sel], na * na)], na, nb, self.mol_x[sel],
                               None if self.smiles is None else [self.smiles[i] for i in sel.tolist()])

    def take_rows(self, idx: Tensor | slice) -> dict[str, Tensor]:
        """Molecules `idx` as one disjoint graph: the keyword arguments of a graph network's forward."""
        sel = self._index(idx)
        na, nb = self.n_atoms[sel], self.n_bonds[sel]
        atoms = _ranges(self.atom_start[sel], na)
        bonds = _ranges(self.bond_start[sel], nb)
        offset = torch.repeat_interleave(na.cumsum(0) - na, nb, output_size=int(bonds.shape[0]))
        ends = self.bond_atoms[bonds] + offset[:, None]  # (m, 2), numbered within the batch
        # bond j -> directed edges 2j (u -> v) and 2j + 1 (v -> u): the reverse of edge e is e ^ 1
        edge_index = torch.stack([ends.reshape(-1), ends.flip(1).reshape(-1)])  # (2, 2m): source, target
        n_edges = int(edge_index.shape[1])
        return {"atom_x": self.atom_x[atoms], "bond_x": self.bond_x[bonds].repeat_interleave(2, dim=0),
                "edge_index": edge_index, "rev_index": torch.arange(n_edges) ^ 1,
                "atom_batch": torch.repeat_interleave(torch.arange(len(sel)), na, output_size=int(atoms.shape[0])),
                "mol_x": self.mol_x[sel], "pair_dist": self.pair_dist[_ranges(self.pair_start[sel], na * na)],
                "n_atoms": na}

    def to_arrays(self) -> dict[str, Tensor]:
        """The flat tensors by name (tests and debugging)."""
        return {"atom_x": self.atom_x, "bond_x": self.bond_x, "bond_atoms": self.bond_atoms,
                "pair_dist": self.pair_dist, "n_atoms": self.n_atoms, "n_bonds": self.n_bonds, "mol_x": self.mol_x}


# -- the descriptors' rank-Gauss transform ------------------------------------------------------------
DESCRIPTOR_SCALES: tuple[str, ...] = ("standard", "rank-gauss")
N_QUANTILES = 201


def fit_rank_gauss(x: Tensor, n_quantiles: int = N_QUANTILES) -> list[list[float]]:
    """Per-column quantiles (D lists of n_quantiles floats, ascending) of training rows x (n, D)."""
    levels = torch.linspace(0, 1, n_quantiles, dtype=torch.float64)
    if x.shape[0] == 0:
        return [[0.0] * n_quantiles for _ in range(x.shape[1])]
    return torch.quantile(x.double(), levels, dim=0).T.tolist()


def rank_gauss(x: Tensor, quantiles: list[list[float]]) -> Tensor:
    """x (n, D) -> (n, D) float32: each column through its training CDF (piecewise linear between the
    quantiles of `fit_rank_gauss`), then the standard normal's inverse CDF, clipped to +-3.3 (beyond the
    training range). As chemprop's rdkit_2d_normalized features: heavy-tailed descriptors (counts,
    areas, Ipc) become bounded and Gaussian-shaped. Tied quantiles (a count column) map to the middle of
    their CDF step, as scikit-learn's QuantileTransformer does (the mean of the upward and downward
    interpolations).
    """
    x64 = x.double().numpy()
    out = np.empty_like(x64)
    p = np.linspace(0, 1, len(quantiles[0])) if quantiles else np.zeros(0)
    for j, q in enumerate(quantiles):
        qa = np.asarray(q)
        up = np.interp(x64[:, j], qa, p)
        down = 1 - np.interp(-x64[:, j], -qa[::-1], p)
        out[:, j] = 0.5 * (up + down)
    eps = 5e-4  # ndtri(5e-4) = -3.29
    return torch.special.ndtri(torch.from_numpy(out).clamp(eps, 1 - eps)).float()


# -- the featuriser ------------------------------------------------------------------------------------
@register_input("graph")
class GraphFeaturiser(Featuriser):
    """A SMILES column -> `MolecularGraphs` (atoms, bonds and an optional descriptor vector per molecule).

    Settings: smiles_column; atom_features (ATOM_FEATURES, default "chemprop"); descriptors ("none",
    "descriptors", "morgan", "descriptors+morgan": RDKit features joined at the readout, standardised on
    the training rows with non-finite values filled from training medians, as the table featuriser does);
    descriptor_scale ("standard", or "rank-gauss": then through each column's training CDF to a standard
    normal, `rank_gauss`); morgan_radius, morgan_bits; cache_dir (not saved).
    State: the descriptor featuriser's state (fill values, scaler) when descriptors are joined, and with
    rank-gauss each descriptor's training quantiles.
    """

    def __init__(self, name: str = "x", **settings: Any) -> None:
        self.cache_dir = settings.pop("cache_dir", None)
        settings.setdefault("descriptors", "none")
        settings.setdefault("atom_features", "chemprop")
        _check_atom_features(settings["atom_features"])
        if settings.setdefault("descriptor_scale", "standard") not in DESCRIPTOR_SCALES:
            raise DataError(f"graph descriptor_scale '{settings['descriptor_scale']}' is not one of "
                            f"{', '.join(DESCRIPTOR_SCALES)}.")
        super().__init__(name, **settings)
        self._memo: dict[str, MoleculeGraph | None] = {}
        self.last_featurisation: dict[str, Any] = {"seconds": 0.0, "cache_hit": None}
        self._table: TableFeaturiser | None = None
        if settings["descriptors"] != "none":
            self._table = TableFeaturiser(name, features=[], smiles_column=settings["smiles_column"],
                                          featuriser=settings["descriptors"],
                                          morgan_radius=int(settings.get("morgan_radius", 2)),
                                          morgan_bits=int(settings.get("morgan_bits", 2048)), scale=True,
                                          cache_dir=self.cache_dir)

    def _smiles(self, raw: Raw) -> list[str]:
        return [s if isinstance(s, str) else "" for s in smiles_cells(raw, self.settings["smiles_column"])]

    def graphs(self, raw: Raw) -> list[MoleculeGraph | None]:
        """Each row's graph (None where the SMILES cannot be used), memoised per SMILES."""
        smiles = self._smiles(raw)
        new = list(dict.fromkeys(s for s in smiles if s not in self._memo))
        if new:
            found, seconds, hit = graphs_of_smiles(new, self.cache_dir, atom_kind=self.atom_kind)
            self._memo.update(zip(new, found))
            self.last_featurisation = {"seconds": seconds, "cache_hit": hit}
        return [self._memo[s] for s in smiles]

    def check(self, raw: Raw) -> Bad:
        smiles = self._smiles(raw)
        bad: Bad = {r: f"unparsable SMILES '{smiles[r]}'" for r, g in enumerate(self.graphs(raw)) if g is None}
        if self._table is not None:
            for r, why in self._table.check(raw).items():
                bad.setdefault(r, why)
        return bad

    def fit(self, raw: Raw, rows: np.ndarray) -> None:
        self.state = {"feature_names": atom_feature_names(self.atom_kind),
                      "bond_feature_names": bond_feature_names()}
        if self._table is not None:
            self._table.fit(raw, rows)
            self.state["descriptors"] = self._table.state
            if self.settings.get("descriptor_scale") == "rank-gauss":
                mol_x, _ = self._table.transform(raw)
                assert isinstance(mol_x, Tensor)
                self.state["rank_gauss"] = fit_rank_gauss(mol_x[torch.as_tensor(rows, dtype=torch.int64)])

    def transform(self, raw: Raw) -> tuple[Inputs, Bad]:
        graphs = self.graphs(raw)
        bad = self.check(raw)
        empty = MoleculeGraph(np.zeros((1, len(atom_feature_names(self.atom_kind))), np.float32),
                              np.zeros((0, len(bond_feature_names())), np.float32),
                              np.zeros((0, 2), np.int64), np.zeros((1, 1), np.int16))
        # A bad row keeps its place as a one-atom blank graph, so row r is still molecule r; the
        # preprocessor drops it (listed in skipped) before the model sees it.
        kept = [g if (g is not None and r not in bad) else empty for r, g in enumerate(graphs)]
        if self._table is not None:
            self._table.state = dict(self.state["descriptors"])
            mol_x, _ = self._table.transform(raw)
            assert isinstance(mol_x, Tensor)
            if "rank_gauss" in self.state:
                mol_x = rank_gauss(mol_x, self.state["rank_gauss"])
        else:
            mol_x = torch.zeros(len(kept), 0)
        return MolecularGraphs.from_graphs(kept, mol_x, self._smiles(raw), self.atom_kind), bad

    def schema(self) -> InputSchema:
        d = len(self.state.get("descriptors", {}).get("feature_names", []))
        names = atom_feature_names(self.atom_kind)
        return InputSchema(self.name, "graph", (len(names), len(bond_feature_names()), d), feature_names=names)

    @property
    def atom_kind(self) -> str:
        """The atom feature set (ATOM_FEATURES)."""
        return str(self.settings.get("atom_features", "chemprop"))

    @property
    def descriptor_names(self) -> list[str]:
        """Names of the molecule vector's columns ([] when no descriptors are joined)."""
        return list(self.state.get("descriptors", {}).get("feature_names", []))


# A graph source is read as a table (its SMILES column is the input).
READERS.setdefault("graph", read_table_source)
