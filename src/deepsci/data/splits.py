"""Train/valid/test splits as index arrays: random, stratified, scaffold, or a column.

Conventions shared by every splitter:
    - ``test_fraction`` is a fraction of all rows; ``valid_fraction`` is a fraction of the rows
      left for training (validation is always carved from train, never from test).
    - Every split takes a seed; the same seed gives the same indices.
    - Indices within each part are sorted ascending, and the three parts are disjoint and
      cover all rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from deepsci.errors import ConfigError, DataError, unknown_name

SPLITS: tuple[str, ...] = ("random", "stratified", "scaffold", "column")


class SplitIndices(NamedTuple):
    """Row indices of the three parts, each a sorted int64 array."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray


def _check_fractions(test_fraction: float, valid_fraction: float, need_test: bool = True) -> None:
    if not (0.0 < test_fraction < 1.0) and need_test:
        raise ConfigError(f"test_fraction must be in (0, 1); received {test_fraction}. Typical: 0.2.")
    if not (0.0 <= valid_fraction < 1.0):
        raise ConfigError(f"valid_fraction must be in [0, 1); received {valid_fraction}. Typical: 0.1.")


def part_size(n: int, fraction: float, *, at_least_one: bool) -> int:
    """Rows in a part that is `fraction` of n rows: rounded, at least one when asked (and n >= 2), and never all n."""
    k = int(round(n * fraction))
    if at_least_one and fraction > 0 and n >= 2:
        k = max(k, 1)
    return min(k, n - 1) if n >= 2 else 0


def _finish(n: int, train: Any, valid: Any, test: Any) -> SplitIndices:
    parts = [np.sort(np.asarray(p, dtype=np.int64)) for p in (train, valid, test)]
    if len(parts[0]) == 0:
        raise DataError(f"the training split is empty ({n} rows in all). Use more data or lower "
                        "test_fraction/valid_fraction.")
    return SplitIndices(*parts)


def random_split(n: int, *, test_fraction: float = 0.2, valid_fraction: float = 0.1,
                 seed: int = 0) -> SplitIndices:
    """Uniformly random split of n rows."""
    _check_fractions(test_fraction, valid_fraction)
    perm = np.random.default_rng(seed).permutation(n)
    n_test = part_size(n, test_fraction, at_least_one=True)
    n_valid = part_size(n - n_test, valid_fraction, at_least_one=True)
    test, rest = perm[:n_test], perm[n_test:]
    return _finish(n, rest[n_valid:], rest[:n_valid], test)


def stratified_split(labels: Sequence[Any] | np.ndarray, *, test_fraction: float = 0.2,
                     valid_fraction: float = 0.1, seed: int = 0) -> SplitIndices:
    """Random split that keeps each class's share the same in train, valid and test.

    Uses scikit-learn's `train_test_split(stratify=...)` twice (test from all, then valid from
    the rest). Every class needs at least 2 rows per cut.
    """
    from sklearn.model_selection import train_test_split

    _check_fractions(test_fraction, valid_fraction)
    y = np.asarray(labels)
    idx = np.arange(len(y))
    _check_class_counts(y, "stratified split")
    try:
        rest, test = train_test_split(idx, test_size=test_fraction, stratify=y, random_state=seed)
        if valid_fraction > 0:
            train, valid = train_test_split(rest, test_size=valid_fraction, stratify=y[rest],
                                            random_state=seed + 1)
        else:
            train, valid = rest, np.array([], dtype=np.int64)
    except ValueError as exc:
        raise DataError(f"cannot stratify: {exc}. Use split='random', or more rows per class.") from exc
    return _finish(len(y), train, valid, test)


def _check_class_counts(y: np.ndarray, what: str) -> None:
    values, counts = np.unique(y.astype(str), return_counts=True)
    if (counts < 2).any():
        rare = ", ".join(f"'{v}' ({c})" for v, c in zip(values, counts) if c < 2)
        raise DataError(f"{what} needs at least 2 rows of every class; these have fewer: {rare}. "
                        "Remove those rows, merge rare classes, or use split='random'.")


def murcko_scaffold(smiles: str) -> str:
    """Bemis–Murcko scaffold of a molecule as canonical SMILES ("" for acyclic molecules).

    Bemis & Murcko, J. Med. Chem. 39, 2887 (1996). Unparsable SMILES return the input string
    itself, so each forms its own group.
    """
    from rdkit import Chem, rdBase
    from rdkit.Chem.Scaffolds import MurckoScaffold

    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles) if isinstance(smiles, str) else None
        if mol is None:
            return f"unparsable:{smiles}"
        return MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=False)


def scaffold_split(smiles: Sequence[str], *, test_fraction: float = 0.2, valid_fraction: float = 0.1,
                   seed: int = 0) -> SplitIndices:
    """Scaffold split: molecules sharing a Bemis–Murcko scaffold land in the same part.

    Scaffold groups are sorted largest first and assigned to train until it would exceed its
    share, then to valid, then to test (Wu et al., MoleculeNet, Chem. Sci. 9, 513 (2018); as in
    DeepChem and Chemprop). Test and valid therefore hold the rarer scaffolds, which makes this
    a harder, more honest estimate of performance on new chemistry than a random split. The seed
    only breaks ties between groups of equal size.
    """
    _check_fractions(test_fraction, valid_fraction)
    n = len(smiles)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(smiles):
        groups[murcko_scaffold(s)].append(i)
    rng = np.random.default_rng(seed)
    keys = list(groups)
    tiebreak = rng.permutation(len(keys))
    order = sorted(range(len(keys)), key=lambda k: (-len(groups[keys[k]]), tiebreak[k]))
    n_test = part_size(n, test_fraction, at_least_one=True)
    n_valid = part_size(n - n_test, valid_fraction, at_least_one=False)
    train_cut, valid_cut = n - n_test - n_valid, n - n_test
    train: list[int] = []
    valid: list[int] = []
    test: list[int] = []
    for k in order:
        members = groups[keys[k]]
        if len(train) + len(members) <= train_cut:
            train += members
        elif len(train) + len(valid) + len(members) <= valid_cut:
            valid += members
        else:
            test += members
    return _finish(n, train, valid, test)


_SPLIT_NAMES = {"train": "train", "training": "train", "valid": "valid", "validation": "valid",
                "val": "valid", "dev": "valid", "test": "test", "testing": "test"}


def column_split(values: Sequence[Any] | np.ndarray, *, valid_fraction: float = 0.1, seed: int = 0,
                 labels: Sequence[Any] | np.ndarray | None = None, column: str = "split") -> SplitIndices:
    """Split given by a column of "train"/"valid"/"test" (case-insensitive; "validation", "val"
    and "dev" mean valid).

    If the column has no valid rows, valid_fraction of the train rows are carved out at random
    (stratified by `labels` when given, for classification).
    """
    _check_fractions(0.5, valid_fraction, need_test=False)
    raw = np.asarray(values, dtype=object)
    norm = np.array([_SPLIT_NAMES.get(str(v).strip().lower(), "?") for v in raw])
    unknown = sorted({str(v) for v, m in zip(raw, norm) if m == "?"})
    if unknown:
        raise DataError(f"split column '{column}' holds {', '.join(repr(u) for u in unknown[:5])}; "
                        "expected only 'train', 'valid' and 'test'. Fix those values or choose another split.")
    train, valid, test = (np.flatnonzero(norm == s) for s in ("train", "valid", "test"))
    if len(test) == 0:
        raise DataError(f"split column '{column}' has no 'test' rows. Mark some rows 'test', or use "
                        "split='random' / 'stratified' / 'scaffold'.")
    if len(valid) == 0 and valid_fraction > 0 and len(train) >= 2:
        if labels is not None:
            y = np.asarray(labels)[train]
            from sklearn.model_selection import train_test_split

            _check_class_counts(y, "carving valid from the train rows")
            tr, va = train_test_split(np.arange(len(train)), test_size=valid_fraction, stratify=y,
                                      random_state=seed)
        else:
            perm = np.random.default_rng(seed).permutation(len(train))
            k = part_size(len(train), valid_fraction, at_least_one=True)
            va, tr = perm[:k], perm[k:]
        train, valid = train[np.asarray(tr)], train[np.asarray(va)]
    return _finish(len(raw), train, valid, test)


def parts_from_marks(values: Sequence[Any] | np.ndarray, *, valid_fraction: float = 0.1, seed: int = 0,
                     labels: Sequence[Any] | np.ndarray | None = None, column: str = "split",
                     where: str = "") -> dict[str, np.ndarray]:
    """Parts given by marks "train"/"valid"/"test" and optionally "calib" (a split column, a test file).

    Rows marked "calib" form the calibration part; the rest follow `column_split` (valid carved from
    train when no row is marked valid). Raises DataError when no row is marked test.
    """
    raw = np.asarray(values, dtype=object)
    is_calib = np.array([str(v).strip().lower() in ("calib", "calibration") for v in raw])
    rest = np.flatnonzero(~is_calib)
    sub_labels = None if labels is None else np.asarray(labels)[rest]
    try:
        parts = column_split(raw[rest], valid_fraction=valid_fraction, seed=seed, labels=sub_labels, column=column)
    except DataError as exc:
        raise DataError(f"{exc} (test rows from {where or column})") from None
    out = {"train": rest[parts.train], "valid": rest[parts.valid], "test": rest[parts.test]}
    if is_calib.any():
        out["calib"] = np.flatnonzero(is_calib)
    return out


def make_split(method: str, *, n: int, test_fraction: float = 0.2, valid_fraction: float = 0.1,
               seed: int = 0, labels: Sequence[Any] | np.ndarray | None = None,
               smiles: Sequence[str] | None = None, column_values: Sequence[Any] | np.ndarray | None = None,
               column: str = "split") -> SplitIndices:
    """Dispatch on a split name in `SPLITS` (what the config's `data.split` holds)."""
    if method == "random":
        return random_split(n, test_fraction=test_fraction, valid_fraction=valid_fraction, seed=seed)
    if method == "stratified":
        if labels is None:
            raise ConfigError("split='stratified' needs class labels; it applies to classification only. "
                              "Use split='random' for regression.")
        return stratified_split(labels, test_fraction=test_fraction, valid_fraction=valid_fraction, seed=seed)
    if method == "scaffold":
        if smiles is None:
            raise ConfigError("split='scaffold' needs molecules: set smiles_column to the SMILES column.")
        return scaffold_split(smiles, test_fraction=test_fraction, valid_fraction=valid_fraction, seed=seed)
    if method == "column":
        if column_values is None:
            raise ConfigError("split='column' needs split_column: the column that holds train/valid/test.")
        return column_split(column_values, valid_fraction=valid_fraction, seed=seed, labels=labels, column=column)
    raise ConfigError(unknown_name("split", method, SPLITS + ("auto",)))
