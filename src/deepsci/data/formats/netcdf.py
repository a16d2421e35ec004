"""NetCDF (.nc, .nc4, .cdf) files and Zarr stores (.zarr folders) through xarray: the gridded fields of climate
and ocean science.

As arrays, each variable is read under its name with its time dimension first and the steps sorted by time, so
a variable on (time, lat, lon) is one image per time step in time order (data.kind = "image", x = the variable,
target = a variable on (time,)), and the "auto" split of such a file is "ordered": the last steps are the test
part (deepsci.data.splits.ordered_split), never days drawn from among the training days. As a
table, the variables (all, or the one named by data.x) become columns of one row per grid point and time step,
with the coordinates as columns too: a file of one point's time series is a table a `series` reads with
time_column = "time".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deepsci.data.formats.library import require, unreadable
from deepsci.errors import DataError

FORMAT = "NetCDF or Zarr"


def _open(path: Path) -> Any:
    xr = require("xarray", "NetCDF and Zarr files")
    try:
        if path.name.lower().rstrip("/").endswith(".zarr"):
            return xr.open_zarr(path)
        return xr.open_dataset(path)
    except Exception as exc:  # the backends raise OSError, ValueError, KeyError ... for damaged files
        raise unreadable(path, FORMAT, exc) from None


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every numeric variable and coordinate by name, its "time" dimension (if any) first."""
    with _open(path) as ds:
        try:
            if "time" in ds.dims:
                ds = ds.sortby("time")
            arrays = {}
            for name, variable in {**ds.coords, **ds.data_vars}.items():
                if "time" in variable.dims:
                    variable = variable.transpose("time", ...)
                values = np.asarray(variable.values)
                if values.dtype.kind in "biuf":
                    arrays[str(name)] = values
        except Exception as exc:  # a truncated file opens lazily, then fails when the values are read
            raise unreadable(path, FORMAT, exc) from None
    if not arrays:
        raise DataError(f"'{path}' holds no numeric variable. Write the fields as numeric variables.")
    return arrays


def read_table(path: Path, member: str | int | None = None) -> pd.DataFrame:
    """The variables (all, or `member`) as one row per point of their grid, the coordinates as columns."""
    with _open(path) as ds:
        try:
            if member is not None and str(member) not in ds.data_vars:
                raise DataError(f"'{path}' has no variable {member!r}; its variables are: "
                                f"{', '.join(map(str, ds.data_vars)) or 'none'}. Set data.x to one of them.")
            chosen = ds[[str(member)]] if member is not None else ds
            return chosen.to_dataframe().reset_index()
        except DataError:
            raise
        except Exception as exc:
            raise unreadable(path, FORMAT, exc) from None
