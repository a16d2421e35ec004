"""FITS files (.fits, .fit, .fts, and gzipped) through astropy.io.fits: the astronomers' container.

A binary (or ASCII) table HDU reads as a table; an image HDU holding a cube (n, h, w) reads as n images.
An HDU is chosen by its EXTNAME (case-insensitive) or its index (0 is the primary HDU).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deepsci.data.formats.library import member_index, require, unreadable
from deepsci.errors import DataError

FORMAT = "FITS"


@contextlib.contextmanager
def _open(path: Path) -> Iterator[Any]:
    """The file's HDUs, astropy's warnings of a damaged file (truncated data, a cut header) raised as errors: astropy
    would otherwise drop the HDUs it cannot read and carry on with fewer."""
    fits = require("astropy.io.fits", "FITS files")
    user_warning = require("astropy.utils.exceptions", "FITS files").AstropyUserWarning
    with warnings.catch_warnings():
        warnings.simplefilter("error", user_warning)
        try:
            hdus = fits.open(path, memmap=False, lazy_load_hdus=False)
            hdus.verify("exception")
        except Exception as exc:  # astropy raises OSError, VerifyError, TypeError, ... for damaged files
            raise unreadable(path, FORMAT, exc) from None
        with hdus:
            yield hdus


def _is_table(hdu: Any) -> bool:
    fits = require("astropy.io.fits", "FITS files")
    return isinstance(hdu, (fits.BinTableHDU, fits.TableHDU))


def _label(i: int, hdu: Any) -> str:
    kind = "table" if _is_table(hdu) else f"image {tuple(hdu.data.shape) if hdu.data is not None else '(empty)'}"
    return f"{i} '{hdu.name}' ({kind})"


def _choose(path: Path, hdus: Any, member: str | int | None) -> Any:
    """The HDU named or numbered by `member`; DataError listing the HDUs if there is none."""
    index = member_index(member)
    listed = ", ".join(_label(i, h) for i, h in enumerate(hdus))
    if index is not None and 0 <= index < len(hdus):
        return hdus[index]
    if index is None and member is not None:
        for hdu in hdus:
            if hdu.name.upper() == str(member).strip().upper():
                return hdu
    raise DataError(f"'{path}' has no HDU {member!r}; its HDUs are: {listed}. Set data.x to an HDU name or index.")


def read_table(path: Path, member: str | int | None = None) -> pd.DataFrame:
    """The table HDU `member` (name or index), or the file's first table HDU, as a DataFrame.

    Vector columns (k values per row) give columns name[0] .. name[k-1]; big-endian FITS numbers become native.
    """
    with _open(path) as hdus:
        try:
            if member is None:
                tables = [h for h in hdus if _is_table(h)]
                if not tables:
                    listed = ", ".join(_label(i, h) for i, h in enumerate(hdus))
                    raise DataError(f"'{path}' holds no table HDU (its HDUs: {listed}). Read its images with "
                                    "data.kind = 'image' and data.x = the HDU.")
                hdu = tables[0]
            else:
                hdu = _choose(path, hdus, member)
            if not _is_table(hdu):
                raise DataError(f"HDU {hdu.name!r} of '{path}' is an image, not a table. Read it with data.kind = "
                                "'image', or set data.x to a table HDU.")
            return _frame(hdu.data)
        except DataError:
            raise
        except Exception as exc:  # a truncated file opens, then fails when the data is read
            raise unreadable(path, FORMAT, exc) from None


def _frame(data: Any) -> pd.DataFrame:
    columns: dict[str, np.ndarray] = {}
    for name in data.columns.names:
        values = _native(np.asarray(data[name]))
        if values.ndim == 1:
            columns[name] = values
        else:
            flat = values.reshape(len(values), -1)
            columns.update({f"{name}[{j}]": flat[:, j] for j in range(flat.shape[1])})
    return pd.DataFrame(columns)


def _native(values: np.ndarray) -> np.ndarray:
    """FITS stores big-endian numbers and fixed-width bytes: native byte order, text as str."""
    if values.dtype.kind in "SU":
        return np.array([v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values.ravel()],
                        dtype=object).reshape(values.shape)
    if values.dtype.kind == "O":
        return values
    return values.astype(values.dtype.newbyteorder("="), copy=False)


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """The file's arrays by name: each image HDU with data under its EXTNAME and its index ("1"), and each table
    column under "<EXTNAME>/<column>" (and its bare name, when no other table has it)."""
    arrays: dict[str, np.ndarray] = {}
    with _open(path) as hdus:
        try:
            for i, hdu in enumerate(hdus):
                if _is_table(hdu):
                    for name in hdu.data.columns.names:
                        values = _native(np.asarray(hdu.data[name]))
                        arrays[f"{hdu.name}/{name}"] = values
                        arrays.setdefault(name, values)
                elif hdu.data is not None:
                    image = _native(np.asarray(hdu.data))
                    arrays[str(i)] = image
                    arrays.setdefault(hdu.name, image)
        except Exception as exc:
            raise unreadable(path, FORMAT, exc) from None
    if not arrays:
        raise DataError(f"'{path}' holds no data (every HDU is empty). Write the images as an image HDU (n, h, w).")
    return arrays
