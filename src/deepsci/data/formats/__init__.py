"""Readers for the container formats scientists hold their data in, each through the library that owns the
format (the optional extra `pip install 'deepsci[formats]'`):

    HDF5 (.h5, .hdf5)            h5py             tables (compound dataset, group of 1-D datasets); arrays by path
    FITS (.fits, .fit, .fts)     astropy.io.fits  table HDUs; image HDUs / cubes as images; HDU by name or index
    Excel (.xlsx, .xlsm)         pandas+openpyxl  a sheet by name or index
    NetCDF (.nc), Zarr (.zarr)   xarray           variables on (time, lat, lon) as images per step; points as rows
    AnnData (.h5ad)              h5py             cells x genes (dense or CSR/CSC) and obs columns as a table

`TABLE_READERS[fmt](path, member)` returns a DataFrame (`member`: data.x, the part of the file to read);
`ARRAY_READERS[fmt](path)` returns named arrays (data.x / data.target name them). `SUFFIXES` maps file
endings to the format names.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from deepsci.data.formats import excel, fits, h5ad, hdf5, netcdf

SUFFIXES: dict[str, str] = {
    ".h5": "hdf5", ".hdf5": "hdf5", ".he5": "hdf5",
    ".fits": "fits", ".fit": "fits", ".fts": "fits", ".fits.gz": "fits",
    ".xlsx": "excel", ".xlsm": "excel",
    ".nc": "netcdf", ".nc4": "netcdf", ".cdf": "netcdf", ".zarr": "netcdf", ".h5ad": "h5ad",
}
TABLE_READERS: dict[str, Callable[[Path, str | int | None], pd.DataFrame]] = {
    "hdf5": hdf5.read_table, "fits": fits.read_table, "excel": excel.read_table, "netcdf": netcdf.read_table,
    "h5ad": h5ad.read_table,
}
ARRAY_READERS: dict[str, Callable[[Path], dict[str, np.ndarray]]] = {
    "hdf5": hdf5.read_arrays, "fits": fits.read_arrays, "netcdf": netcdf.read_arrays,
}
#: formats whose files a signal, sequence or set reads as arrays; a FITS file is read as its table there (a long
#: table of light curves, one row per observation, is a `set` with set_column = the object id), and as arrays
#: by the image kind
ARRAY_FIRST: tuple[str, ...] = ("hdf5", "netcdf")


def container_format(path: str | Path) -> str | None:
    """The format name of a path by its ending ('hdf5', 'fits', 'excel', 'netcdf', 'h5ad'), or None."""
    name = Path(path).name.lower().rstrip("/")
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return SUFFIXES[suffix]
    return None


__all__ = ["ARRAY_FIRST", "ARRAY_READERS", "SUFFIXES", "TABLE_READERS", "container_format"]
