"""Read a table from disk: CSV/TSV, Parquet, NumPy .npz, or an SDF file of molecules.

Every reader returns a pandas DataFrame; everything downstream (target and feature choice,
validation, featurisation) works on that one type.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import re
import zipfile
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from deepsci.data.formats import SUFFIXES as CONTAINER_SUFFIXES
from deepsci.data.formats import TABLE_READERS, container_format
from deepsci.data.npz import check_arrays_file
from deepsci.errors import DataError, MissingDependencyError

SUFFIXES: dict[str, str] = {
    ".csv": "csv", ".csv.gz": "csv", ".txt": "csv", ".tsv": "tsv", ".tsv.gz": "tsv",
    ".parquet": "parquet", ".pq": "parquet", ".npz": "npz", ".sdf": "sdf",
}


def table_format(path: str | Path) -> str | None:
    """The reader name for a path ('csv', 'tsv', 'parquet', 'npz', 'sdf', or a container format of
    deepsci.data.formats: 'hdf5', 'fits', 'excel'), or None if unknown."""
    name = Path(path).name.lower()
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return SUFFIXES[suffix]
    return container_format(path)


def read_table(path: str | Path, member: str | int | None = None) -> pd.DataFrame:
    """Read a data file into a DataFrame (one row per sample, unique column names, a 0..n-1 index), choosing the
    reader from the file's extension.

    Formats:
        - CSV (.csv, .csv.gz, .txt) and TSV (.tsv): a header row, then one row per sample. Text is read
          as UTF-8; a file that starts with a byte-order mark is read in the encoding it announces
          (UTF-8, UTF-16 or UTF-32), so Excel's "Unicode text" export works as is. Any other
          encoding (Latin-1, Windows-1252, UTF-16 without a mark) is refused with the line where the
          first undecodable byte sits and how to re-save the file as UTF-8.
        - Parquet (.parquet, .pq).
        - NumPy .npz: either arrays ``X`` (n, d) and optionally ``y`` ((n,) or (n, t)) and
          ``feature_names`` (d,), giving columns ``feature_names`` (or ``x0..x{d-1}``) and ``y``
          (or ``y0..y{t-1}``); or any number of named 1-D arrays of equal length, one per column.
          Loaded with ``allow_pickle=False``: object arrays are refused.
        - SDF (.sdf), read with RDKit: one row per record, a ``smiles`` column (canonical
          SMILES, "" where RDKit cannot read the record), a ``name`` column (the record title)
          and one column per SDF property (numbers parsed where every value is numeric).
        - HDF5, FITS and Excel (deepsci.data.formats, the extra `deepsci[formats]`): `member` (data.x) names
          the table inside the file: an HDF5 path, a FITS HDU name or index, a sheet name or index.

    Raises:
        DataError (always a one-line message): the file does not exist, is a directory, is empty,
            has a header but no rows, is binary or not UTF-8 text, cannot be parsed, has duplicate
            column names, or has an unsupported extension; the message says how to fix it.
    """
    try:
        return _read_table(Path(path).expanduser(), member)
    except DataError as exc:
        message = str(exc)
        if "\n" in message or "\r" in message:  # a path or a cell quoted raw: keep the one-line promise
            raise DataError(" ".join(message.split())) from exc
        raise


def _read_table(p: Path, member: str | int | None = None) -> pd.DataFrame:
    try:
        exists, is_dir = p.exists(), p.is_dir()
    except (OSError, ValueError) as exc:  # a name too long for the file system, a NUL in the path
        raise DataError(f"cannot use '{p}' as a data file path: {exc}. Check the path.") from None
    if not exists:
        raise DataError(f"data file not found: '{p}' (working directory {Path.cwd()}). "
                        "Check the path, or give a catalog dataset name (see `deepsci datasets`).")
    if is_dir and container_format(p) is None:  # a Zarr store is a folder
        raise DataError(f"'{p}' is a directory, not a data file. Give the path of a "
                        f"{_supported()} file.")
    fmt = table_format(p)
    if fmt is None:
        raise DataError(f"unsupported file type '{''.join(p.suffixes) or p.name}' for '{p}'. "
                        f"Supported: {_supported()}. Convert the file, e.g. with pandas to CSV.")
    if p.stat().st_size == 0:
        raise DataError(f"data file '{p}' is empty (0 bytes). Point to a file with a header and rows.")
    try:
        frame = _READERS[fmt](p) if fmt in _READERS else TABLE_READERS[fmt](p, member)
    except PermissionError:
        raise _unreadable(p) from None
    _require_unique_columns(p, [str(c) for c in frame.columns])
    if len(frame) == 0:
        names = ", ".join(repr(str(c)) for c in frame.columns) or "none"
        raise DataError(f"data file '{p}' has no rows (columns: {names}). Add data rows below the header.")
    return frame


def _unreadable(p: Path) -> DataError:
    """The error for a data file the user may not read (it exists: the cause is the permission, not the content)."""
    return DataError(f"no permission to read '{p}'. Give yourself read access (chmod u+r '{p}') or copy the file "
                     "somewhere you can read it.")


def _supported() -> str:
    return ", ".join(sorted({**SUFFIXES, **CONTAINER_SUFFIXES}))


def _read_csv(p: Path, sep: str = ",") -> pd.DataFrame:
    kind = "CSV" if sep == "," else "TSV"
    encoding = _text_encoding(p, _head_bytes(p), kind)
    try:
        header = pd.read_csv(p, sep=sep, encoding=encoding, header=None, nrows=1, dtype=str, keep_default_na=False)
        frame = pd.read_csv(p, sep=sep, encoding=encoding)
    except pd.errors.EmptyDataError:
        raise DataError(f"data file '{p}' is empty (no header, no rows). "
                        "Point to a file with a header and rows.") from None
    except UnicodeError:
        raise DataError(_encoding_message(p, encoding, kind)) from None
    except (pd.errors.ParserError, ValueError, OverflowError, csv.Error, EOFError, OSError) as exc:
        raise DataError(f"cannot parse '{p}' as {kind}: {_one_line(str(exc))}. "
                        "Check the delimiter and quoting, or convert the file to Parquet.") from None
    if len(header):
        _require_unique_columns(p, [str(v) for v in header.iloc[0].tolist()])
    if not frame.index.equals(pd.RangeIndex(len(frame))):  # pandas moved surplus leading fields to the index
        raise DataError(f"the data rows of '{p}' have more fields than its header ({frame.shape[1]} names): "
                        f"check the delimiter ({'comma' if sep == ',' else 'tab'}), or name every column in "
                        "the header.")
    return frame


_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),  # before UTF-16: FF FE 00 00 starts FF FE
    (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PAR1", "a Parquet file: name it .parquet"),
    (b"PK\x03\x04", "a zip archive (an Excel .xlsx or a NumPy .npz?): name a workbook .xlsx, or "
                     "name a NumPy archive .npz"),
    (b"\x1f\x8b", "gzip-compressed: name it .csv.gz (or .tsv.gz)"),
    (b"\x93NUMPY", "a NumPy .npy array: save it with np.savez as .npz"),
    (b"\x89HDF", "an HDF5 file: name it .h5"),
    (b"SQLite format 3\x00", "an SQLite database: export the table as CSV"),
    (b"\xd0\xcf\x11\xe0", "an old Excel .xls workbook: export the sheet as 'CSV UTF-8'"),
)


def _head_bytes(p: Path, n: int = 65536) -> bytes:
    """The first `n` bytes of the text (decompressed for .gz)."""
    try:
        if p.name.lower().endswith(".gz"):
            with gzip.open(p, "rb") as f:
                return f.read(n)
        with open(p, "rb") as f:
            return f.read(n)
    except PermissionError:
        raise _unreadable(p) from None
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read '{p}': {_one_line(str(exc))}. Check that the file is complete "
                        "(a .gz name needs gzip-compressed content).") from None


def _text_encoding(p: Path, head: bytes, kind: str) -> str:
    """The encoding to read `p` with: the one a byte-order mark announces, else UTF-8; binary files refused."""
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    for magic, what in _MAGIC:
        if head.startswith(magic) and not (magic == b"\x1f\x8b" and p.name.lower().endswith(".gz")):
            raise DataError(f"'{p}' is not {kind} text but {what}.")
    if b"\x00" in head:
        zeros = head.count(b"\x00") / max(len(head), 1)
        if 0.3 < zeros <= 0.5 and (head[1::2].count(0) > 0.9 * len(head[1::2]) or head[0::2].count(0) >
                                   0.9 * len(head[0::2])):
            raise DataError(f"'{p}' looks like UTF-16 text without a byte-order mark, which cannot be read "
                            "reliably. Re-save it as UTF-8 (Excel: 'CSV UTF-8'; or `iconv -f UTF-16LE -t UTF-8 "
                            f"{p.name} > fixed.csv`).")
        raise DataError(f"'{p}' is a binary file (it holds NUL bytes), not {kind} text. Give a {kind} file, or "
                        f"another supported format ({_supported()}).")
    return "utf-8"


def _encoding_message(p: Path, encoding: str, kind: str) -> str:
    """Where the first byte that does not decode sits, and how to re-save the file as UTF-8."""
    offset, line, byte = _first_bad_byte(p, encoding)
    where = f"byte 0x{byte:02x} at line {line} (offset {offset})" if byte >= 0 else "its text"
    if encoding == "utf-8":
        return (f"'{p}' is not UTF-8 text: {where} cannot be decoded (Latin-1 or Windows-1252, perhaps). "
                f"deepsci reads {kind} as UTF-8, or UTF-16/32 with a byte-order mark. Re-save it as UTF-8: Excel "
                f"'CSV UTF-8', or `iconv -f WINDOWS-1252 -t UTF-8 {p.name} > fixed.csv`.")
    return (f"'{p}' starts with a {encoding.upper()} byte-order mark but {where} is not valid "
            f"{encoding.upper()}. Re-save it as UTF-8 (Excel: 'CSV UTF-8').")


def _first_bad_byte(p: Path, encoding: str) -> tuple[int, int, int]:
    """(offset, line, byte value) of the first byte `encoding` cannot decode; (-1, -1, -1) if none is found."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset, line = 0, 1
    opener = gzip.open if p.name.lower().endswith(".gz") else open
    try:
        with opener(p, "rb") as f:
            while chunk := f.read(1 << 20):
                try:
                    text = decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    good = chunk[:max(exc.start, 0)]
                    line += good.count(b"\n")
                    return offset + exc.start, line, chunk[exc.start] if exc.start < len(chunk) else -1
                line += text.count("\n")
                offset += len(chunk)
            decoder.decode(b"", final=True)
    except (UnicodeDecodeError, OSError, EOFError):
        return offset, line, -1
    return -1, -1, -1


def _require_unique_columns(p: Path, names: list[str]) -> None:
    """Refuse repeated column names (pandas would silently rename the second 'a' to 'a.1')."""
    seen: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        if name != "":  # an unnamed column (e.g. a saved index) gets its own 'Unnamed: i' name
            seen.setdefault(name, []).append(i + 1)
    repeated = {n: cols for n, cols in seen.items() if len(cols) > 1}
    if repeated:
        listed = ", ".join(f"{n!r} (columns {', '.join(map(str, cols[:8]))}{', ...' if len(cols) > 8 else ''})"
                           for n, cols in list(repeated.items())[:5])
        headerless = all(is_number(n) for n in names if n != "")
        fix = ("Its first line holds only numbers: the file seems to lack a header row; add one line of unique "
               "column names." if headerless else "Rename them so that each column name is unique.")
        raise DataError(f"'{p}' has duplicate column names: {listed}. {fix}")


def is_number(text: str) -> bool:
    """True when `text` parses as a float."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def _one_line(text: str) -> str:
    """`text` on one line (runs of whitespace, newlines included, become one space), at most 300 characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= 300 else flat[:297] + "..."


def _read_parquet(p: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(p)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise DataError(f"cannot read '{p}' as Parquet: {_one_line(str(exc))}. Check that the file is "
                        "complete.") from exc


def _read_npz(p: Path) -> pd.DataFrame:
    check_arrays_file(p)
    try:
        loaded = np.load(p, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise DataError(f"'{p}' holds a single .npy array, not an .npz archive. Save named arrays with "
                            "np.savez(path, X=X, y=y).")
        with loaded as archive:
            arrays = {k: archive[k] for k in archive.files}
    except ValueError as exc:
        raise DataError(f"cannot read '{p}' as .npz without unpickling ({_one_line(str(exc))}). "
                        "Save numeric or string arrays only (np.savez(path, X=X, y=y)).") from exc
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot read '{p}' as .npz: {_one_line(str(exc))}. Check that the file is "
                        "complete.") from exc
    if not arrays:
        raise DataError(f"'{p}' holds no arrays. Save arrays X (n, d) and y (n,) with np.savez.")
    if "X" in arrays:
        return _npz_xy(p, arrays)
    n_rows = {k: a.shape[0] if a.ndim == 1 else None for k, a in arrays.items()}
    if any(v is None for v in n_rows.values()) or len(set(n_rows.values())) != 1:
        shapes = ", ".join(f"{k}{tuple(a.shape)}" for k, a in arrays.items())
        raise DataError(f"'{p}' holds arrays {shapes}. Expected X (n, d) with optional y, or "
                        "named 1-D arrays of one common length (one per column).")
    return pd.DataFrame(arrays)


def _npz_xy(p: Path, arrays: dict[str, np.ndarray]) -> pd.DataFrame:
    X = arrays["X"]
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise DataError(f"array X in '{p}' has shape {X.shape}; expected (n, d). "
                        "Flatten images first, or use the image datasets.")
    n, d = X.shape
    if "feature_names" in arrays:
        names = [str(s) for s in arrays["feature_names"].tolist()]
        if len(names) != d:
            raise DataError(f"'{p}': feature_names has {len(names)} entries but X has {d} columns.")
    else:
        names = [f"x{i}" for i in range(d)]
    frame = pd.DataFrame(X, columns=names)
    if "y" in arrays:
        y = arrays["y"]
        if y.shape[0] != n:
            raise DataError(f"'{p}': y has {y.shape[0]} rows but X has {n}. They must match.")
        if y.ndim == 1:
            frame["y"] = y
        else:
            for j in range(y.reshape(n, -1).shape[1]):
                frame[f"y{j}"] = y.reshape(n, -1)[:, j]
    extra = sorted(set(arrays) - {"X", "y", "feature_names"})
    for k in extra:  # other per-row 1-D arrays (ids, groups, split) become columns too
        if arrays[k].ndim == 1 and arrays[k].shape[0] == n:
            frame[k] = arrays[k]
    return frame


def _read_sdf(p: Path) -> pd.DataFrame:
    try:
        from rdkit import Chem, rdBase  # optional heavy dependency: imported when used
    except ImportError as exc:  # pragma: no cover - rdkit is installed with [chem]
        raise MissingDependencyError("reading SDF needs RDKit: pip install 'deepsci[chem]'") from exc
    rows: list[dict[str, object]] = []
    with rdBase.BlockLogs():
        supplier = Chem.SDMolSupplier(str(p), sanitize=True, removeHs=True)
        for i in range(len(supplier)):
            mol = supplier[i]
            if mol is None:
                rows.append({"smiles": "", "name": f"record {i}"})
                continue
            row: dict[str, object] = {"smiles": Chem.MolToSmiles(mol),
                                      "name": mol.GetProp("_Name") if mol.HasProp("_Name") else ""}
            row.update({k: v for k, v in mol.GetPropsAsDict(includePrivate=False).items()})
            rows.append(row)
    if not rows:
        raise DataError(f"'{p}' holds no SDF records. Check that it is an SDF file ($$$$-separated).")
    if all(r["smiles"] == "" for r in rows):
        raise DataError(f"none of the {len(rows)} records of '{p}' is a molecule RDKit can read. Check that it "
                        "is an SDF (MDL molfile) file, not another format renamed .sdf.")
    frame = pd.DataFrame(rows)
    for col in frame.columns:
        if col in ("smiles", "name"):
            continue
        converted = pd.to_numeric(frame[col], errors="coerce")
        if converted.notna().sum() == frame[col].notna().sum():
            frame[col] = converted
    return frame


# -- values that do not fit a float32 tensor -------------------------------------------------------------------
FLOAT32_MAX = float(np.finfo(np.float32).max)  # 3.4028235e38


def numeric_problems(frame: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """For each of `columns` that should be numeric but holds text, where the first text cell sits.

    A column is fine if its dtype is numeric or boolean, or if every non-missing cell parses as a number
    (pandas.to_numeric). Rows are counted from 0, as in skipped.csv; a CSV file with one header line
    has row r on line r + 2.

    Returns:
        One line per bad column, in the order given, e.g.
        "column 'logS': row 3 (line 5 of a CSV file) holds 'n/a', not a number; 2 more rows hold text".
        Empty when every column is numeric.
    """
    problems = []
    for column in columns:
        series = frame[column]
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            continue
        bad = (series.notna() & pd.to_numeric(series, errors="coerce").isna()).to_numpy()
        if not bad.any():
            continue
        rows = np.flatnonzero(bad)
        value = str(series.iloc[rows[0]])
        hint = " (a decimal comma? write 1.5, not 1,5)" if re.fullmatch(r"\s*[-+]?\d+,\d+\s*", value) else ""
        more = f"; {len(rows) - 1} more row{'s' if len(rows) > 2 else ''} hold text" if len(rows) > 1 else ""
        problems.append(f"column {str(column)!r}: row {rows[0]} (line {rows[0] + 2} of a CSV file) holds "
                        f"{value[:60]!r}, not a number{hint}{more}")
    return problems


def float32_overflow(array: np.ndarray | pd.Series | pd.DataFrame) -> np.ndarray:
    """Boolean mask (the shape of `array`) of the values that are finite in float64 but become ±inf as float32
    (|x| >~ 3.4e38, e.g. 1e39, 1e300; integers and booleans never overflow). Models compute in float32, so
    such a value would silently become inf and its prediction NaN."""
    values = np.asarray(array)
    if values.dtype.kind == "O":  # numbers held as Python objects or strings: parse them, text becomes NaN
        values = pd.to_numeric(pd.Series(values.ravel()), errors="coerce").to_numpy(np.float64).reshape(values.shape)
    elif values.dtype.kind != "f":
        return np.zeros(values.shape, dtype=bool)
    values = values.astype(np.float64, copy=False)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(np.isfinite(values) & ~np.isfinite(values.astype(np.float32)))


def float32_problems(frame: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """For each of `columns` holding values beyond float32's range, the column, its first rows and a value.

    Returns:
        One line per such column, e.g. "column 'x': rows 2, 7 hold values beyond float32's ±3.4e+38
        (e.g. 1e+300)". Rows counted from 0, as in skipped.csv.
    """
    problems = []
    for column in columns:
        mask = float32_overflow(frame[column].to_numpy())
        if mask.any():
            rows = np.flatnonzero(mask)
            shown = ", ".join(map(str, rows[:5])) + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")
            value = frame[column].iloc[rows[0]]
            problems.append(f"column {str(column)!r}: row{'s' if len(rows) > 1 else ''} {shown} hold values beyond "
                            f"float32's ±{FLOAT32_MAX:.1e} (e.g. {float(value):g})")
    return problems


_READERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    "csv": _read_csv, "tsv": partial(_read_csv, sep="\t"), "parquet": _read_parquet, "npz": _read_npz, "sdf": _read_sdf,
}
