"""Write small example files of the container formats deepsci reads (docs/data.md), into a folder (default
formats/ in the working directory): each is one of the bundled tables or image sets, saved in that format.

    python examples/formats/make_files.py [FOLDER]

Writes breast_cancer.h5 (an HDF5 compound dataset /cells), breast_cancer.fits (a binary table HDU CELLS),
breast_cancer.xlsx (sheet "cells"), digits.h5 (datasets /digits/images (n, 1, 8, 8) and /digits/label),
digits.fits (an image HDU DIGITS (n, 8, 8) and a table HDU LABELS), digits.nc (a NetCDF variable field on
(time, lat, lon), one digit per month, and label on (time,)) and digits/ (one folder per class of PNG images). Needs `pip install 'deepsci[formats]'`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import xarray as xr
from astropy.io import fits
from PIL import Image
from sklearn.datasets import load_breast_cancer, load_digits


def write_tables(folder: Path) -> None:
    """The breast-cancer table (569 rows, 30 features, diagnosis 0/1) as HDF5, FITS and Excel."""
    frame = load_breast_cancer(as_frame=True).frame.rename(columns={"target": "diagnosis"})
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    records = frame.to_records(index=False)
    with h5py.File(folder / "breast_cancer.h5", "w") as f:
        f.create_dataset("cells", data=np.asarray(records))
    columns = [fits.Column(name=c, format="D" if frame[c].dtype.kind == "f" else "K", array=frame[c].to_numpy())
               for c in frame.columns]
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(columns, name="CELLS")]).writeto(
        folder / "breast_cancer.fits", overwrite=True)
    frame.to_excel(folder / "breast_cancer.xlsx", sheet_name="cells", index=False)


def write_images(folder: Path, per_class: int = 40) -> None:
    """The first `per_class` 8x8 digits of each class as HDF5 datasets, a FITS cube and a folder per class."""
    digits = load_digits()
    keep = np.concatenate([np.flatnonzero(digits.target == k)[:per_class] for k in range(10)])
    images, labels = digits.images[keep].astype(np.float32), digits.target[keep]
    with h5py.File(folder / "digits.h5", "w") as f:
        f.create_dataset("digits/images", data=images[:, None])
        f.create_dataset("digits/label", data=labels)
    label_table = fits.BinTableHDU.from_columns([fits.Column(name="label", format="K", array=labels)], name="LABELS")
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(images, name="DIGITS"), label_table]).writeto(
        folder / "digits.fits", overwrite=True)
    field = xr.Dataset({"field": (("time", "lat", "lon"), images), "label": (("time",), labels)},
                       coords={"time": pd.date_range("2000-01-01", periods=len(labels), freq="MS"),
                               "lat": np.linspace(-35.0, 35.0, 8), "lon": np.linspace(0.0, 315.0, 8)})
    field.to_netcdf(folder / "digits.nc", engine="h5netcdf")
    for i, (image, label) in enumerate(zip(images, labels)):
        (folder / "digits" / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray((image * 255 / 16).astype(np.uint8)).save(folder / "digits" / str(label) / f"{i}.png")


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "formats")
    out.mkdir(parents=True, exist_ok=True)
    write_tables(out)
    write_images(out)
    print(f"wrote the example files in {out}")
