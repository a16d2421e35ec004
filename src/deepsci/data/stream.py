"""Tables larger than memory, streamed from Parquet or .npy files in blocks.

With `[data] kind = "table"` and `stream = true` the rows stay on disk. A file is cut into blocks
(an .npy into runs of rows of about `BLOCK_BYTES`; a Parquet file into its row groups) and read one
block at a time, with `np.fromfile` or pyarrow, never memory-mapped (a memory map's touched pages count
toward the resident memory), so peak memory depends on the block size and not on the number of rows:

    scan    one pass: the targets (n values, held in memory), split marks and non-finite rows
    split   one uint8 part code per row (train / valid / test / calib / dropped), seeded
    fit     one pass over the training rows: column means and variances (Chan et al. 1979), the scaler
    train   `StreamedRows`: the Trainer's RowSource; an epoch visits windows of shuffled blocks, rows
            shuffled inside each window (`epoch_order`), and `take_rows` standardises a few blocks at once

An .npy source is one 2-D numeric array (n, k); its columns are named x0..x{k-1} as in an .npz's `X`
(so `target = "x49"` names the last one), or by field name for a structured array. The fitted
Preprocessor is the in-memory table's (a TableFeaturiser), so `deepsci predict` / `evaluate` and
`Run.load` read new files (Parquet, CSV, .npz with the same columns) exactly as for an in-memory run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import torch

from deepsci.data.dataset import Dataset, Split
from deepsci.data.featurisers import TableFeaturiser
from deepsci.data.preprocess import Preprocessor, encode_targets
from deepsci.data.scalers import Scaler
from deepsci.data.splits import make_split, part_size
from deepsci.errors import ConfigError, DataError

#: Bytes of one .npy block (the unit read from disk); a window of blocks is shuffled together.
BLOCK_BYTES = 8 * 2**20
WINDOW_BYTES = 32 * 2**20
#: A Parquet row group larger than this (decoded) is refused: it would be read whole.
MAX_BLOCK_BYTES = 512 * 2**20
PARTS = ("train", "valid", "test", "calib")
TRAIN, VALID, TEST, CALIB, DROPPED = 0, 1, 2, 3, 255
_MARKS = {"train": TRAIN, "training": TRAIN, "valid": VALID, "validation": VALID, "val": VALID, "dev": VALID,
          "test": TEST, "testing": TEST, "calib": CALIB, "calibration": CALIB}


# -- files read in blocks -----------------------------------------------------------------------------
class BlockTable:
    """A table on disk read one block at a time.

    Attributes:
        source: the file, for messages.
        columns: column names.
        block_rows: (blocks,) int64, rows of each block; `starts` (blocks,) their first row.
    """

    source: str
    columns: list[str]
    block_rows: np.ndarray

    @property
    def starts(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.block_rows)[:-1]]).astype(np.int64)

    def __len__(self) -> int:
        return int(self.block_rows.sum())

    def numeric(self, block: int, names: list[str]) -> np.ndarray:  # pragma: no cover - per format
        """Columns `names` of block `block` as (rows, len(names)) float32."""
        raise NotImplementedError

    def frame(self, block: int, names: list[str]) -> pd.DataFrame:  # pragma: no cover - per format
        """Columns `names` of block `block` as a DataFrame (targets and split marks keep their type)."""
        raise NotImplementedError


class NpyTable(BlockTable):
    """A 2-D C-order .npy array read with `np.fromfile` at byte offsets (no memory map)."""

    def __init__(self, path: Path) -> None:
        self.path, self.source = path, f"'{path}'"
        with path.open("rb") as f:
            try:
                major, _ = np.lib.format.read_magic(f)
                read_header = (np.lib.format.read_array_header_1_0 if major == 1
                               else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read_header(f)
            except ValueError as exc:
                raise DataError(f"cannot read {self.source} as .npy: {exc}.") from exc
            self.offset = f.tell()
        if len(shape) != 2 or fortran or dtype.hasobject:
            raise DataError(f"{self.source} holds a {'Fortran-order ' if fortran else ''}{dtype} array of shape "
                            f"{shape}; streaming needs a 2-D C-order numeric array (rows, columns): save it with "
                            "np.save(path, np.ascontiguousarray(table)).")
        self.dtype, self.n_cols = dtype, (shape[1] if dtype.names is None else len(dtype.names))
        self.columns = list(dtype.names) if dtype.names else [f"x{j}" for j in range(shape[1])]
        if dtype.names is None and not np.issubdtype(dtype, np.number):
            raise DataError(f"{self.source} holds {dtype} values; streaming needs numbers.")
        self.row_bytes = dtype.itemsize * (shape[1] if dtype.names is None else 1)
        rows = max(1, BLOCK_BYTES // self.row_bytes)
        n = int(shape[0])
        self.block_rows = np.array([min(rows, n - s) for s in range(0, n, rows)], dtype=np.int64)
        self._last: tuple[int, np.ndarray] | None = None

    def _block(self, block: int) -> np.ndarray:
        """Block `block` as read from disk: (rows, k) or (rows,) records; the last one read is kept."""
        if self._last is not None and self._last[0] == block:
            return self._last[1]
        rows = int(self.block_rows[block])
        start = int(self.starts[block])
        count = rows * (self.n_cols if self.dtype.names is None else 1)
        with self.path.open("rb") as f:
            f.seek(self.offset + start * self.row_bytes)
            values = np.fromfile(f, dtype=self.dtype, count=count)
        if len(values) != count:
            raise DataError(f"{self.source} ends early (block {block} has {len(values)} of {count} values); "
                            "the file is truncated.")
        values = values.reshape(rows, -1) if self.dtype.names is None else values
        self._last = (block, values)
        return values

    def numeric(self, block: int, names: list[str]) -> np.ndarray:
        values = self._block(block)
        if self.dtype.names is None:
            return np.ascontiguousarray(values[:, [self.columns.index(c) for c in names]], dtype=np.float32)
        return np.stack([values[c].astype(np.float32) for c in names], axis=1)

    def frame(self, block: int, names: list[str]) -> pd.DataFrame:
        values = self._block(block)
        if self.dtype.names is None:
            return pd.DataFrame({c: values[:, self.columns.index(c)] for c in names})
        return pd.DataFrame({c: values[c] for c in names})


class ParquetTable(BlockTable):
    """A Parquet file read one row group at a time with pyarrow."""

    def __init__(self, path: Path) -> None:
        import pyarrow.parquet as pq

        self.source = f"'{path}'"
        try:
            self.file = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
            raise DataError(f"cannot read {self.source} as Parquet: {str(exc).splitlines()[0]}.") from exc
        meta = self.file.metadata
        self.columns = [str(c) for c in self.file.schema_arrow.names]
        self.block_rows = np.array([meta.row_group(i).num_rows for i in range(meta.num_row_groups)], dtype=np.int64)
        widest = max((meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)), default=0)
        if widest > MAX_BLOCK_BYTES:
            raise DataError(f"{self.source} has a row group of {widest / 2**20:.0f} MB; streaming reads one row group "
                            f"at a time and needs them under {MAX_BLOCK_BYTES // 2**20} MB. Rewrite it with "
                            "pyarrow.parquet.write_table(table, path, row_group_size=100_000).")

    def numeric(self, block: int, names: list[str]) -> np.ndarray:
        table = self.file.read_row_group(block, columns=names)
        out = np.empty((table.num_rows, len(names)), dtype=np.float32)
        for j, name in enumerate(names):
            out[:, j] = table.column(name).to_numpy(zero_copy_only=False)
        return out

    def frame(self, block: int, names: list[str]) -> pd.DataFrame:
        return cast(pd.DataFrame, self.file.read_row_group(block, columns=names).to_pandas())


def open_table(source: Any) -> BlockTable:
    """The block reader of a .npy or Parquet file; DataError for anything else."""
    if not isinstance(source, (str, Path)):
        raise ConfigError("data.stream reads a file; give data.source as the path of a .parquet or .npy file.")
    path = Path(source).expanduser()
    if not path.is_file():
        raise DataError(f"file '{path}' not found (working directory {Path.cwd()}); check data.source.")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return NpyTable(path)
    if suffix in (".parquet", ".pq"):
        return ParquetTable(path)
    raise DataError(f"data.stream reads .parquet or .npy files; received '{path.name}'. Convert it (e.g. "
                    "pandas.read_csv(...).to_parquet(path, row_group_size=100_000)), or set stream = false.")


# -- rows of one part, streamed --------------------------------------------------------------------------
class StreamedRows:
    """The rows of one part (train, valid, ...) of a table on disk: the Trainer's RowSource.

    `take_rows(idx)` gives (len(idx), d) float32 standardised features. Blocks are read whole, reduced to
    this part's rows and standardised, then held as one tensor: the blocks of the latest batch and,
    up to `window` blocks in all, those used most recently. So the batches of one window of
    `epoch_order` read each block once, and the rows held stay within two windows whatever n is.

    Args:
        table: the file. codes: (n,) uint8 part code of each file row. part: the code of these rows.
        features: feature column names. scaler: the fitted column scaler, or None (no scaling).
        window: blocks shuffled together in an epoch.
    """

    def __init__(self, table: BlockTable, codes: np.ndarray, part: int, features: list[str],
                 scaler: Scaler | None, window: int) -> None:
        self.table, self.codes, self.part = table, codes, part
        self.features, self.scaler, self.window = features, scaler, window
        starts = table.starts
        self.counts = np.array([int(np.count_nonzero(codes[s:s + r] == part))
                                for s, r in zip(starts, table.block_rows)], dtype=np.int64)
        self.first = np.concatenate([[0], np.cumsum(self.counts)[:-1]]).astype(np.int64)  # local row of each block
        self._scale = None if scaler is None else (scaler.mean_.float(), scaler.scale_.float())  # type: ignore[union-attr]
        self._joined = torch.zeros((0, len(features)), dtype=torch.float32)
        self._offset = np.full(len(self.counts), -1, dtype=np.int64)  # row of each held block in _joined
        self._cache: dict[int, torch.Tensor] = {}
        self._tick, self._last_use = 0, np.zeros(len(self.counts), dtype=np.int64)  # batch that last used a block

    def __len__(self) -> int:
        return int(self.counts.sum())

    def file_rows(self, block: int) -> np.ndarray:
        """(count,) int64 file rows of block `block` that belong to this part."""
        start, rows = int(self.table.starts[block]), int(self.table.block_rows[block])
        return start + np.flatnonzero(self.codes[start:start + rows] == self.part)

    def _standardised(self, block: int) -> torch.Tensor:
        """This part's rows of `block`, (count, d) float32, scaled as the in-memory table is (to float32
        rounding)."""
        if block in self._cache:
            return self._cache[block]
        values, rows = self.table.numeric(block, self.features), self.file_rows(block)
        t = torch.from_numpy(values if len(rows) == len(values) else values[rows - int(self.table.starts[block])])
        if self._scale is not None:  # in place, in float32: a block in float64 would double its memory
            t.sub_(self._scale[0]).div_(self._scale[1])
        return t

    def _join(self, blocks: np.ndarray) -> None:
        """Hold `blocks` (standardised) as one tensor, so a batch is one `index_select` (an advanced-index
        gather costs ~4x more); blocks held before are reused, not read again."""
        parts = [self._standardised(int(b)) for b in blocks]
        self._joined = torch.cat(parts) if len(parts) > 1 else parts[0]
        self._offset[:] = -1
        self._offset[blocks] = np.concatenate([[0], np.cumsum([len(p) for p in parts])[:-1]])
        self._cache = {int(b): self._joined[o:o + len(p)] for b, o, p in zip(blocks, self._offset[blocks], parts)}

    def take_rows(self, idx: torch.Tensor | slice) -> torch.Tensor:
        """Standardised features of local rows `idx`: (len(idx), d) float32."""
        local = (np.arange(*idx.indices(len(self))) if isinstance(idx, slice)
                 else idx.detach().cpu().numpy().astype(np.int64, copy=False))
        if not len(local):
            return torch.zeros((0, len(self.features)), dtype=torch.float32)
        if local.min() < 0 or local.max() >= len(self):
            raise IndexError(f"rows {local.min()}..{local.max()} out of range for {len(self)} streamed rows")
        blocks = np.searchsorted(self.first, local, side="right") - 1
        self._tick += 1
        used = np.unique(blocks)
        self._last_use[used] = self._tick
        if (self._offset[used] < 0).any():  # a new window (or the next blocks of an evaluation pass)
            held = np.setdiff1d(np.flatnonzero(self._offset >= 0), used)
            recent = held[np.argsort(-self._last_use[held], kind="stable")][:max(0, self.window - len(used))]
            self._join(np.union1d(used, recent))
        return self._joined.index_select(0, torch.from_numpy(self._offset[blocks] + local - self.first[blocks]))

    def epoch_order(self, generator: torch.Generator) -> torch.Tensor:
        """The local rows of one epoch: blocks in random order, taken `window` at a time, rows shuffled
        within each window. (n,) int64."""
        used = torch.from_numpy(np.flatnonzero(self.counts))
        blocks = used[torch.randperm(len(used), generator=generator)].tolist()
        order = torch.empty(len(self), dtype=torch.int64)
        at = 0
        for w in range(0, len(blocks), self.window):
            local = torch.cat([torch.arange(int(self.first[b]), int(self.first[b] + self.counts[b]))
                               for b in blocks[w:w + self.window]])
            order[at:at + len(local)] = local[torch.randperm(len(local), generator=generator)]
            at += len(local)
        return order


class RowIds(Sequence[str]):
    """Row names of a streamed part, made on demand: the row number in its file, as in memory."""

    def __init__(self, rows: StreamedRows) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i) + (len(self) if int(i) < 0 else 0)
        if not 0 <= i < len(self):
            raise IndexError(i)
        b = int(np.searchsorted(self.rows.first, i, side="right") - 1)
        return str(self.rows.file_rows(b)[i - self.rows.first[b]])

    def __iter__(self) -> Iterator[str]:
        for b in np.flatnonzero(self.rows.counts):
            yield from map(str, self.rows.file_rows(int(b)).tolist())


# -- building the Dataset -----------------------------------------------------------------------------
def build_streamed(spec: dict[str, Any], seed: int = 0) -> Dataset:
    """The Dataset of a `[data]` table with `stream = true`, its rows left on disk.

    Splits follow the in-memory table's rules (a split column or a test file is honoured, else a seeded
    random or stratified draw of `test_fraction` / `valid_fraction` / `calib_fraction`); the scaler is
    fitted on the training rows in one pass. Every part's X is a `StreamedRows`.
    """
    _refuse_unstreamable(spec)
    table = open_table(spec["source"])
    test_table = open_table(spec["test_source"]) if spec.get("test_source") else None
    targets, features, split_column = _columns(spec, table)
    if test_table is not None:
        absent = [c for c in features + targets if c not in test_table.columns]
        if absent:
            raise DataError(f"the test source {test_table.source} lacks column(s) {', '.join(absent[:5])} that "
                            f"{table.source} has; give both the same columns.")
    scans = [_scan(t, features, targets, split_column if t is table else None, spec["missing"])
             for t in ([table] if test_table is None else [table, test_table])]
    task, y, class_names = _targets(scans, targets, spec.get("task", "auto"), table.source)
    n_main = len(table)
    codes, split_summary = _split_codes(spec, scans[0], y[:n_main], task, seed, has_test_file=test_table is not None)
    test_codes = None if test_table is None else np.where(scans[1]["bad"], DROPPED, TEST).astype(np.uint8)
    if test_codes is not None:
        split_summary["test"] = int(np.count_nonzero(test_codes == TEST))
    scaler = _fit_scaler(table, codes, features) if spec.get("scale_features", True) else None
    reader = {"kind": "table", "target": spec.get("target") or targets[0], "features": features}
    if split_column:
        reader["split_column"] = split_column
    featuriser = TableFeaturiser("x", features=features, smiles_column=None, featuriser="none", morgan_radius=2,
                                 morgan_bits=2048, scale=scaler is not None)
    featuriser.state = {"feature_names": features, "fill_values": []}
    if scaler is not None:
        featuriser.state["scaler"] = scaler.to_dict()
    y_scaler = (Scaler().fit(y[:n_main][codes == TRAIN]) if task == "regression" and spec.get("scale_targets", True)
                else None)
    pre = Preprocessor(reader, {"x": featuriser}, task, targets, class_names, y_scaler)
    block_bytes = max(1, int(np.median(table.block_rows)) * 4 * len(features))  # a block's rows as float32
    window = max(1, min(len(table.block_rows), WINDOW_BYTES // block_bytes))
    parts: dict[str, Split] = {}
    for name, code in zip(PARTS, (TRAIN, VALID, TEST, CALIB)):
        on_test_file = name == "test" and test_table is not None and test_codes is not None
        source, part_codes, y_part = ((test_table, test_codes, y[n_main:]) if on_test_file
                                      else (table, codes, y[:n_main]))
        rows = StreamedRows(cast(BlockTable, source), cast(np.ndarray, part_codes), code, features, scaler, window)
        yt = torch.from_numpy(y_part[part_codes == code].astype(np.float32 if task == "regression" else np.int64))
        if task == "regression":  # in slices: the scaler works in float64, 16 bytes a row at once for all rows
            for i in range(0, len(yt), 2**20):
                yt[i:i + 2**20] = pre.scale_targets(yt[i:i + 2**20])
        parts[name] = Split(X=rows, y=yt, ids=cast(list[str], RowIds(rows)))  # ids are made on demand: n may be 10^8
    summary = _summary(spec, table, features, targets, task, y, class_names, scans, split_summary, window)
    return Dataset(train=parts["train"], valid=parts["valid"], test=parts["test"], task=task,  # type: ignore[arg-type]
                   inputs=pre.inputs, preprocessor=pre, summary=summary,
                   calib=parts["calib"] if len(parts["calib"]) else None)


def _refuse_unstreamable(spec: dict[str, Any]) -> None:
    """Options of an in-memory table that a stream cannot serve, refused with the way out."""
    if spec.get("smiles_column"):
        raise ConfigError("data.stream does not featurise molecules; featurise them once (deepsci.data.molecules) "
                          "into numeric columns of a Parquet file, or set stream = false.")
    if spec.get("split") == "scaffold":
        raise ConfigError("split = 'scaffold' needs molecules, which data.stream does not read; use 'random' or a "
                          "split_column.")
    if spec.get("id_column"):
        raise ConfigError("data.stream names rows by their row number; remove data.id_column (or set stream = "
                          "false).")


def _columns(spec: dict[str, Any], table: BlockTable) -> tuple[list[str], list[str], str | None]:
    """(targets, features, split column) of the table, checked against its columns."""
    cols = table.columns
    target = spec.get("target")
    if target is None:
        guess = [c for c in cols if c.lower() in ("y", "target", "label")]
        if len(guess) != 1:
            raise DataError(f"no target given for {table.source}; its columns are: {_listing(cols)}. Set "
                            "data.target to one of them.")
        target = guess[0]
    targets = [target] if isinstance(target, str) else [str(t) for t in target]
    split_column = spec.get("split_column")
    features = ([str(f) for f in spec["features"]] if spec.get("features") is not None
                else [c for c in cols if c not in targets and c != split_column])
    for role, names in (("target", targets), ("features", features),
                        ("split_column", [split_column] if split_column else [])):
        absent = [c for c in names if c not in cols]
        if absent:
            raise DataError(f"{role} column(s) {', '.join(absent[:5])} not in {table.source}; its columns are: "
                            f"{_listing(cols)}. Set data.{role} to column(s) of the file.")
    clash = [f for f in features if f in targets]
    if clash:
        raise DataError(f"column(s) {', '.join(clash)} are both target and feature; remove them from features.")
    if not features:
        raise DataError(f"{table.source} has no feature columns besides the target; add feature columns.")
    return targets, features, split_column


def _listing(cols: list[str]) -> str:
    return ", ".join(cols) if len(cols) <= 12 else f"{', '.join(cols[:6])}, ..., {', '.join(cols[-3:])} ({len(cols)})"


def _targets(scans: list[dict[str, Any]], targets: list[str], task: str, source: str) -> tuple[str, np.ndarray,
                                                                                            list[str]]:
    """(task, y, class_names) of every row of the scanned files; dropped rows get 0, which no part uses.

    Float targets are regression (as `infer_task` decides) and are kept as one float64 array, with no
    table of n rows in between; other targets are encoded by `encode_targets`, as in memory.
    """
    bad = np.concatenate([s["bad"] for s in scans])
    parts = [p for s in scans for p in s.pop("targets")]
    if task in ("auto", "regression") and all(isinstance(p, np.ndarray) for p in parts):
        y = np.empty((len(bad), len(targets)), dtype=np.float64)
        at = 0
        while parts:  # each block's targets freed as soon as copied: n values in memory once, not twice
            part = parts.pop(0)
            y[at:at + len(part)] = part
            at += len(part)
        y[bad] = 0.0
        return "regression", y, []
    frame = pd.concat([p if isinstance(p, pd.DataFrame) else pd.DataFrame(p, columns=targets) for p in parts],
                      ignore_index=True)
    task, y_good, class_names = encode_targets(frame[~bad], targets, task, source)
    y = np.zeros((len(bad),) + y_good.shape[1:], dtype=y_good.dtype)
    y[~bad] = y_good
    return task, y, class_names


def _scan(table: BlockTable, features: list[str], targets: list[str], split_column: str | None,
          missing: str) -> dict[str, Any]:
    """One pass: the targets (a float64 array or a DataFrame per block), the split marks ((n,) uint8 codes or None) and the rows
    with a non-finite feature or target ((n,) bool). NaN/inf raise unless missing = "drop"."""
    target_parts: list[np.ndarray | pd.DataFrame] = []
    bad = np.zeros(len(table), dtype=bool)
    marks = np.zeros(len(table), dtype=np.uint8) if split_column else None
    for b, (start, rows) in enumerate(zip(table.starts, table.block_rows)):
        x = table.numeric(b, features)
        frame = table.frame(b, targets + ([split_column] if split_column else []))
        yv = frame[targets].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
        numeric_target = all(pd.api.types.is_numeric_dtype(frame[c]) for c in targets)
        bad[start:start + rows] = ~np.isfinite(x).all(1) | (~np.isfinite(yv).all(1) if numeric_target
                                                            else frame[targets].isna().any(axis=1).to_numpy())
        floats = all(pd.api.types.is_float_dtype(frame[c]) for c in targets)
        target_parts.append(frame[targets].to_numpy(np.float64) if floats else frame[targets])
        if marks is not None and split_column is not None:
            marks[start:start + rows] = _mark_codes(frame[split_column], split_column, table.source)
    if bad.any() and missing == "error":
        rows = np.flatnonzero(bad)
        raise DataError(f"{table.source}: {len(rows)} row(s) hold NaN or inf in a feature or target (rows "
                        f"{', '.join(map(str, rows[:8]))}{', ...' if len(rows) > 8 else ''}). Fix the file, or set "
                        "missing = 'drop' to drop those rows.")
    return {"targets": target_parts, "marks": marks, "bad": bad}


def _mark_codes(values: pd.Series, column: str, source: str) -> np.ndarray:
    """Split marks ("train", "valid", "test", "calib" and their synonyms) as uint8 part codes."""
    names = values.astype(str).str.strip().str.lower()
    unknown = sorted(set(names.unique()) - set(_MARKS))
    if unknown:
        raise DataError(f"split column '{column}' of {source} holds {', '.join(repr(u) for u in unknown[:5])}; "
                        "expected only 'train', 'valid', 'test' (and 'calib'). Fix those values or choose another split.")
    return names.map(_MARKS).to_numpy(np.uint8)


def _split_codes(spec: dict[str, Any], scan: dict[str, Any], y: np.ndarray, task: str, seed: int, *,
                 has_test_file: bool) -> tuple[np.ndarray, dict[str, Any]]:
    """(n,) uint8 part code of every row of the main file, and the split summary.

    The parts are those `deepsci.data.build.choose_split` gives the same rows in memory (the same
    splitters and seeds), so a streamed table and an in-memory one split alike.
    """
    method = spec.get("split", "auto")
    vf, tf, cf = (float(spec.get(k, d)) for k, d in (("valid_fraction", 0.1), ("test_fraction", 0.2),
                                                      ("calib_fraction", 0.0)))
    labels = y if task != "regression" else None
    given = scan["marks"] is not None and method in ("auto", "column", "given")
    if has_test_file and method not in ("auto", "given"):
        raise DataError(f"split = '{method}' would replace the given test rows (test_source); use split = 'auto' "
                        "or 'given' to keep them, or remove the test source.")
    if method == "column" and scan["marks"] is None:
        raise DataError("split = 'column' needs data.split_column: the column of train/valid/test marks. Set it, "
                        "or choose split = 'random' / 'stratified'.")
    if given or has_test_file:
        codes = scan["marks"].copy() if given else np.full(len(y), TRAIN, dtype=np.uint8)
        codes[scan["bad"]] = DROPPED
        if given and not (codes == TEST).any():
            raise DataError(f"split column '{spec.get('split_column')}' has no 'test' rows. Mark some rows 'test', or "
                            "use split = 'random' / 'stratified'.")
        if not (codes == VALID).any() and vf > 0:
            _carve_valid(codes, vf, seed, labels)
        used, test_from = ("column", f"column '{spec.get('split_column')}'") if given else \
            ("given", f"test source {spec.get('test_source')}")
    else:
        used = method if method != "auto" else ("random" if labels is None else "stratified")
        codes = np.full(len(y), DROPPED, dtype=np.uint8)
        if used == "random":
            codes[~scan["bad"]] = _random_codes(int((~scan["bad"]).sum()), tf, vf, seed)
        else:
            keep = np.flatnonzero(~scan["bad"])
            parts = make_split(used, n=len(keep), test_fraction=tf, valid_fraction=vf, seed=seed,
                               labels=None if labels is None else labels[keep])
            for code, rows in ((TRAIN, parts.train), (VALID, parts.valid), (TEST, parts.test)):
                codes[keep[rows]] = code
        test_from = "drawn"
    if cf > 0:  # as choose_split: a seeded share of the training rows, disjoint from valid
        train = np.flatnonzero(codes == TRAIN)
        k = max(1, int(round(len(train) * cf)))
        if k >= len(train):
            raise DataError(f"calib_fraction = {cf} leaves no training rows ({len(train)}); lower it.")
        codes[train[np.random.default_rng(seed + 2).permutation(len(train))[:k]]] = CALIB
    counts = {name: int(np.count_nonzero(codes == code)) for name, code in zip(PARTS, (TRAIN, VALID, TEST, CALIB))}
    if counts["train"] == 0:
        raise DataError(f"the training split is empty ({len(y)} rows in all). Use more data or lower "
                        "test_fraction / valid_fraction / calib_fraction.")
    return codes, {"method": used, "test_from": test_from, "seed": seed, **counts}


def _random_codes(n: int, test_fraction: float, valid_fraction: float, seed: int) -> np.ndarray:
    """(n,) uint8 codes of `deepsci.data.splits.random_split(n, ...)`'s parts (the same rows), made without its three index
    arrays: at 10^8 rows those cost 2.4 GB."""
    perm = np.random.default_rng(seed).permutation(n)
    n_test = part_size(n, test_fraction, at_least_one=True)
    n_valid = part_size(n - n_test, valid_fraction, at_least_one=True)
    codes = np.full(n, TRAIN, dtype=np.uint8)
    codes[perm[:n_test]], codes[perm[n_test:n_test + n_valid]] = TEST, VALID
    return codes


def _carve_valid(codes: np.ndarray, fraction: float, seed: int, labels: np.ndarray | None) -> None:
    """Mark `fraction` of the training rows valid (in place), as `column_split` carves them: seeded,
    stratified by class for classification."""
    train = np.flatnonzero(codes == TRAIN)
    if len(train) < 2:
        return
    if labels is not None:
        from sklearn.model_selection import train_test_split

        try:
            _, chosen = train_test_split(np.arange(len(train)), test_size=fraction, stratify=labels[train],
                                         random_state=seed)
        except ValueError as exc:
            raise DataError(f"cannot carve valid rows by class from the training rows: {exc}. Mark valid rows in "
                            "the split column, or use more rows per class.") from exc
    else:
        k = part_size(len(train), fraction, at_least_one=True)
        chosen = np.random.default_rng(seed).permutation(len(train))[:k]
    codes[train[np.asarray(chosen)]] = VALID


def _fit_scaler(table: BlockTable, codes: np.ndarray, features: list[str]) -> Scaler:
    """The column scaler of the training rows, fitted in one pass over the blocks.

    Block moments are merged with Chan, Golub & LeVeque's (1979) pairwise update in float64, so the mean
    and population standard deviation equal a scaler fitted on all training rows at once (to rounding).
    """
    count, mean, m2 = 0, np.zeros(len(features)), np.zeros(len(features))
    for b, (start, rows) in enumerate(zip(table.starts, table.block_rows)):
        keep = codes[start:start + rows] == TRAIN
        if not keep.any():
            continue
        x = table.numeric(b, features)[keep].astype(np.float64)
        k, mu = len(x), x.mean(0)
        delta = mu - mean
        total = count + k
        mean = mean + delta * (k / total)
        m2 = m2 + ((x - mu) ** 2).sum(0) + delta ** 2 * (count * k / total)
        count = total
    std = np.sqrt(m2 / count)
    # As Scaler.fit: a constant column keeps scale 1 (it maps to 0) instead of being divided by ~0.
    tiny = std <= 1e-12 * np.maximum(np.abs(mean), 1.0)
    return Scaler.from_dict({"mean": mean.tolist(), "scale": np.where(tiny, 1.0, std).tolist()})


def _summary(spec: dict[str, Any], table: BlockTable, features: list[str], targets: list[str], task: str,
             y: np.ndarray, class_names: list[str], scans: list[dict[str, Any]], split: dict[str, Any],
             window: int) -> dict[str, Any]:
    """The JSON-able facts of the build (as `deepsci.data.build.describe`, plus how the file is streamed)."""
    n_bad = int(sum(int(s["bad"].sum()) for s in scans))
    rows = sum(len(s["bad"]) for s in scans)
    summary: dict[str, Any] = {
        "source": table.source, "kind": "table", "task": task, "target": targets, "rows_read": rows,
        "rows_used": rows - n_bad, "n_dropped": n_bad,
        "dropped": [{"reason": "NaN or inf in a feature or target", "rows": n_bad}] if n_bad else [],
        "split": split, "inputs": {"x": {"structure": "table", "shape": [len(features)]}},
        "n_features": len(features), "featuriser": "none", "featurisation_seconds": 0.0, "cache_hit": None,
        "nonfinite_filled": 0, "ignored_columns": [],
        "stream": {"format": type(table).__name__.removesuffix("Table").lower(), "blocks": len(table.block_rows),
                   "block_rows": int(table.block_rows.max()) if len(table.block_rows) else 0,
                   "window_blocks": window},
    }
    if task != "regression":
        counts = np.bincount(y[~np.concatenate([s["bad"] for s in scans])].astype(np.int64),
                             minlength=len(class_names))
        summary["class_counts"] = {c: int(k) for c, k in zip(class_names, counts)}
    return summary
