"""Train/valid/test splits as index arrays: random, stratified, scaffold, ordered (in time), or a column.

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
import pandas as pd
from sklearn.model_selection import train_test_split

from deepsci.data.reactions import product_smiles
from deepsci.errors import ConfigError, DataError, unknown_name

SPLITS: tuple[str, ...] = ("random", "stratified", "scaffold", "ordered", "column")
#: split names that keep given marks (a split column, a test file, test arrays); any other refuses them
HONOURS_MARKS: tuple[str, ...] = ("auto", "column", "given")


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
    codes = _drawn_codes("random", n, test_fraction, valid_fraction, seed, None, None)
    return _finish(n, *(np.flatnonzero(codes == c) for c in (TRAIN, VALID, TEST)))


def ordered_split(n: int, *, test_fraction: float = 0.2, valid_fraction: float = 0.1) -> SplitIndices:
    """The rows in the order the source holds them (time order): test the last `test_fraction`, validation the
    block just before it, training the rest.

    For rows in time order (NetCDF/Zarr fields by their time coordinate, a table sorted by date) a random split
    would train on the days around each test day, and neighbouring days look alike; here nothing later than a
    validation or test row trains the model. No seed: the order decides.
    """
    _check_fractions(test_fraction, valid_fraction)
    n_test = part_size(n, test_fraction, at_least_one=True)
    n_valid = part_size(n - n_test, valid_fraction, at_least_one=True)
    cut = n - n_test - n_valid
    return _finish(n, np.arange(cut), np.arange(cut, n - n_test), np.arange(n - n_test, n))


def stratified_split(labels: Sequence[Any] | np.ndarray, *, test_fraction: float = 0.2,
                     valid_fraction: float = 0.1, seed: int = 0) -> SplitIndices:
    """Random split that keeps each class's share the same in train, valid and test.

    Uses scikit-learn's `train_test_split(stratify=...)` twice (test from all, then valid from
    the rest). Every class needs at least 2 rows per cut.
    """
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
    itself, so each forms its own group. A reaction ("reactants>>product") is grouped by its product's
    scaffold (atom map numbers removed; deepsci.data.reactions.product_smiles).
    """
    from rdkit import Chem, rdBase  # optional heavy dependency: imported when used
    from rdkit.Chem.Scaffolds import MurckoScaffold  # optional heavy dependency: imported when used

    smiles = product_smiles(smiles)
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


#: part codes of `split_codes`: one uint8 per row (a streamed table of 10^8 rows keeps 100 MB of them)
TRAIN, VALID, TEST, CALIB, DROPPED = 0, 1, 2, 3, 255
PART_CODES: dict[str, int] = {"train": TRAIN, "valid": VALID, "test": TEST, "calib": CALIB}
_MARKS = {"train": TRAIN, "training": TRAIN, "valid": VALID, "validation": VALID, "val": VALID, "dev": VALID,
          "test": TEST, "testing": TEST, "calib": CALIB, "calibration": CALIB}


def mark_codes(values: Sequence[Any] | np.ndarray, *, column: str = "split", calib: bool = True) -> np.ndarray:
    """Split marks ("train", "valid", "test", "calib", case-insensitive; "validation", "val" and "dev" mean
    valid) as (n,) uint8 part codes. Unknown marks raise DataError naming them."""
    names = pd.Series(np.asarray(values, dtype=object)).astype(str).str.strip().str.lower()
    known = {k: v for k, v in _MARKS.items() if calib or v != CALIB}
    unknown = sorted(set(names.unique()) - set(known))
    if unknown:
        raise DataError(f"split column '{column}' holds {', '.join(repr(u) for u in unknown[:5])}; expected only "
                        f"'train', 'valid' and 'test'{' (and calib)' if calib else ''}. Fix those values or choose "
                        "another split.")
    return names.map(known).to_numpy(np.uint8)


def carve_valid(codes: np.ndarray, fraction: float, seed: int, labels: np.ndarray | None) -> None:
    """Mark `fraction` of the training rows valid, in place: seeded, stratified by `labels` (classification)."""
    train = np.flatnonzero(codes == TRAIN)
    if len(train) < 2 or fraction <= 0:
        return
    if labels is not None:
        y = np.asarray(labels)[train]
        _check_class_counts(y, "carving valid from the train rows")
        try:
            _, chosen = train_test_split(np.arange(len(train)), test_size=fraction, stratify=y, random_state=seed)
        except ValueError as exc:
            raise DataError(f"cannot carve valid rows by class from the training rows: {exc}. Mark valid rows in "
                            "the split column, or use more rows per class.") from exc
    else:
        chosen = np.random.default_rng(seed).permutation(len(train))[:part_size(len(train), fraction,
                                                                                 at_least_one=True)]
    codes[train[np.asarray(chosen)]] = VALID


def carve_calib(codes: np.ndarray, fraction: float, seed: int) -> None:
    """Mark `fraction` of the training rows calib (disjoint from valid), in place, seeded by `seed + 2`."""
    train = np.flatnonzero(codes == TRAIN)
    k = max(1, int(round(len(train) * fraction)))
    if k >= len(train):
        raise DataError(f"calib_fraction = {fraction} leaves no training rows ({len(train)}); lower it.")
    codes[train[np.random.default_rng(seed + 2).permutation(len(train))[:k]]] = CALIB


def column_split(values: Sequence[Any] | np.ndarray, *, valid_fraction: float = 0.1, seed: int = 0,
                 labels: Sequence[Any] | np.ndarray | None = None, column: str = "split") -> SplitIndices:
    """Split given by a column of "train"/"valid"/"test" (case-insensitive; "validation", "val"
    and "dev" mean valid).

    If the column has no valid rows, valid_fraction of the train rows are carved out at random
    (stratified by `labels` when given, for classification).
    """
    _check_fractions(0.5, valid_fraction, need_test=False)
    codes = mark_codes(values, column=column, calib=False)
    _honour_marks(codes, valid_fraction, seed, None if labels is None else np.asarray(labels), column)
    return _finish(len(codes), *(np.flatnonzero(codes == c) for c in (TRAIN, VALID, TEST)))


def _honour_marks(codes: np.ndarray, valid_fraction: float, seed: int, labels: np.ndarray | None,
                  column: str, where: str = "", need_test: bool = True) -> None:
    """Given marks as they are, valid carved from train when none is marked valid; no test rows raise
    (unless `need_test` is False: training rows only, as the estimators hand them in)."""
    if need_test and not (codes == TEST).any():
        raise DataError(f"split column '{column}' has no 'test' rows. Mark some rows 'test', or use "
                        "split='random' / 'stratified' / 'scaffold'." + (f" (test rows from {where})" if where else ""))
    if not (codes == VALID).any():
        carve_valid(codes, valid_fraction, seed, labels)


def split_codes(n: int, *, method: str = "auto", test_fraction: float = 0.2, valid_fraction: float = 0.1,
                calib_fraction: float = 0.0, seed: int = 0, labels: np.ndarray | None = None,
                smiles: Sequence[str] | None = None, marks: np.ndarray | None = None, given: str = "",
                column: str | None = None, train_fraction: float = 1.0) -> tuple[np.ndarray, dict[str, Any]]:
    """The one split of the house: (n,) uint8 part code of every usable row, and what was done.

    Both the in-memory builder and the streamed one call this on the same rows (dropped rows removed),
    so a file splits identically either way. A split the data cannot honour raises, never is replaced.

    Args:
        n: usable rows. method: "auto", "random", "stratified", "scaffold", "ordered", "column" or "given".
        labels: (n,) class labels for stratification (classification), else None.
        smiles: (n,) molecules for a scaffold split. column: the split column's name, if one is set.
        marks: (n,) uint8 codes given by a split column, a test file or test arrays (`mark_codes`), or None;
            `given` says where they came from ("column 'part'", "test source 'x.csv'"). With marks,
            test_fraction = 0 means no test rows are wanted (deepsci.data.arrays: an estimator's training rows).
        train_fraction: share of the training rows kept for training, in (0, 1], after valid and calib are carved
            (`keep_training_share`); the rest are marked DROPPED. Valid, calib and test rows stay as they are.

    Returns:
        codes (TRAIN, VALID, TEST, CALIB per row; DROPPED for training rows left out by train_fraction) and the
        summary {"method", "test_from", "seed", "train", "valid", "test", "calib"} (row counts), with
        "train_fraction" and "train_unused" (rows left out) when train_fraction < 1.
    """
    if method == "column" and column is None:
        raise DataError("split = 'column' needs data.split_column: the column of train/valid/test marks. Set it, "
                        "or choose split = 'random' / 'stratified'.")
    if method == "given" and marks is None:
        raise DataError("split = 'given' but no test rows are given: set data.test_source (a test file), "
                        "data.test_x (test arrays) or data.split_column.")
    if marks is not None and method not in HONOURS_MARKS:
        raise DataError(f"split = '{method}' would replace the given test rows ({given}); use split = 'auto' "
                        "or 'given' to keep them, or remove the test source.")
    if marks is not None:
        codes = marks.copy()
        _honour_marks(codes, valid_fraction, seed, labels, column or "split", given, need_test=test_fraction > 0)
        used, test_from = ("column" if given.startswith("column") else "given"), given
    else:
        used = method if method != "auto" else ("stratified" if labels is not None else "random")
        codes, test_from = _drawn_codes(used, n, test_fraction, valid_fraction, seed, labels, smiles), "drawn"
    if calib_fraction > 0 and not (codes == CALIB).any():
        carve_calib(codes, calib_fraction, seed)
    unused = keep_training_share(codes, train_fraction, seed, labels)
    counts = {name: int(np.count_nonzero(codes == code)) for name, code in PART_CODES.items()}
    if counts["train"] == 0:
        raise DataError(f"the training split is empty ({n} rows in all). Use more data or lower "
                        "test_fraction / valid_fraction / calib_fraction.")
    shared = {"train_fraction": train_fraction, "train_unused": unused} if train_fraction < 1 else {}
    return codes, {"method": used, "test_from": test_from, "seed": seed, **counts, **shared}


def keep_training_share(codes: np.ndarray, fraction: float, seed: int, labels: np.ndarray | None) -> int:
    """Keep `fraction` of the training rows for training and mark the others DROPPED, in place; the rows left out.

    For learning curves and data-efficiency studies (a network trained on a quarter of the training rows, judged
    on the same test rows): seeded by `seed + 3`, stratified by `labels` (classification) so every class keeps
    its share, at least one row kept. Valid, calib and test rows are not touched, so runs with different
    fractions are judged on the same rows.
    """
    if not 0.0 < fraction <= 1.0:
        raise ConfigError(f"train_fraction must be in (0, 1]; received {fraction}. Use 1 for all training rows, "
                          "0.25 for a quarter of them.")
    train = np.flatnonzero(codes == TRAIN)
    k = max(1, int(round(len(train) * fraction)))
    if fraction == 1.0 or k >= len(train):
        return 0
    if labels is not None:
        try:
            kept, _ = train_test_split(np.arange(len(train)), train_size=k, stratify=np.asarray(labels)[train],
                                       random_state=seed + 3)
        except ValueError as exc:
            raise DataError(f"cannot keep train_fraction = {fraction} of the training rows by class: {exc}. "
                            "Raise train_fraction, or use more rows per class.") from exc
    else:
        kept = np.random.default_rng(seed + 3).permutation(len(train))[:k]
    left_out = np.ones(len(train), dtype=bool)
    left_out[np.asarray(kept)] = False
    codes[train[left_out]] = DROPPED
    return int(left_out.sum())


def _drawn_codes(method: str, n: int, test_fraction: float, valid_fraction: float, seed: int,
                 labels: np.ndarray | None, smiles: Sequence[str] | None) -> np.ndarray:
    """(n,) codes of a drawn split. A random one is made without three index arrays (at 10^8 rows they
    cost 2.4 GB); the rows are those of `random_split`."""
    if method != "random":
        parts = make_split(method, n=n, test_fraction=test_fraction, valid_fraction=valid_fraction, seed=seed,
                           labels=labels, smiles=smiles)
        codes = np.full(n, TRAIN, dtype=np.uint8)
        codes[parts.valid], codes[parts.test] = VALID, TEST
        return codes
    _check_fractions(test_fraction, valid_fraction)
    perm = np.random.default_rng(seed).permutation(n)
    n_test = part_size(n, test_fraction, at_least_one=True)
    n_valid = part_size(n - n_test, valid_fraction, at_least_one=True)
    codes = np.full(n, TRAIN, dtype=np.uint8)
    codes[perm[:n_test]], codes[perm[n_test:n_test + n_valid]] = TEST, VALID
    return codes


def code_rows(codes: np.ndarray) -> dict[str, np.ndarray]:
    """{part: sorted row indices} of the parts that have rows (calib only when some row is calib)."""
    rows = {name: np.flatnonzero(codes == code) for name, code in PART_CODES.items()}
    return {name: idx for name, idx in rows.items() if name != "calib" or len(idx)}


def make_split(method: str, *, n: int, test_fraction: float = 0.2, valid_fraction: float = 0.1,
               seed: int = 0, labels: Sequence[Any] | np.ndarray | None = None,
               smiles: Sequence[str] | None = None, column_values: Sequence[Any] | np.ndarray | None = None,
               column: str = "split") -> SplitIndices:
    """Dispatch on a split name in `SPLITS` (what the config's `data.split` holds)."""
    if method == "random":
        return random_split(n, test_fraction=test_fraction, valid_fraction=valid_fraction, seed=seed)
    if method == "ordered":
        return ordered_split(n, test_fraction=test_fraction, valid_fraction=valid_fraction)
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
