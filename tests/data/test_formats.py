"""The container formats of deepsci.data.formats (HDF5, FITS, Excel, image class folders), end to end.

Each format: a config pointing at a small file the test writes builds a dataset, and the run's saved reader
reads the same file for `deepsci predict` into the same inputs; one format per reader trains and predicts
through the CLI; a truncated file gives one line and exit 2 with no run folder left behind. Files are written with the library that owns the format (h5py, astropy, openpyxl
through pandas, Pillow).
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from deepsci.cli import main
from deepsci.data import stream
from deepsci.data.build import build_dataset
from deepsci.data.readers import read_table
from deepsci.data.sources import read_arrays
from deepsci.errors import DataError, MissingDependencyError
from deepsci.run import Run

h5py = pytest.importorskip("h5py")
fits = pytest.importorskip("astropy.io.fits")
pytest.importorskip("openpyxl")
Image = pytest.importorskip("PIL.Image")
xr = pytest.importorskip("xarray")
pytest.importorskip("h5netcdf")
pytest.importorskip("zarr")

N = 48


def _rows(seed: int = 0) -> pd.DataFrame:
    """N rows of three features and y = a - 2b + c/2 + noise, with a text id."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=N)
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": y, "name": [f"s{i}" for i in range(N)]})


def _images(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """N 8x8 images: class 1 has a bright left half, class 0 a bright right half (float32, [0, 1])."""
    rng = np.random.default_rng(seed)
    labels = np.arange(N) % 2
    images = 0.2 * rng.random((N, 8, 8)).astype(np.float32)
    for i, label in enumerate(labels):
        images[i, :, :4] += 0.7 * label
        images[i, :, 4:] += 0.7 * (1 - label)
    return images, labels


def write_hdf5_table(folder: Path) -> Path:
    rows = _rows()
    records = np.zeros(N, dtype=[("a", "f8"), ("b", "f8"), ("c", "f8"), ("y", "f8"), ("name", "S8")])
    for column in "abcy":
        records[column] = rows[column]
    records["name"] = rows["name"].str.encode("utf-8")
    with h5py.File(folder / "catalog.h5", "w") as f:
        f.create_dataset("survey/catalog", data=records)
        f.create_dataset("survey/raw_counts", data=np.arange(10))  # not a table: must not confuse the choice
    return folder / "catalog.h5"


def write_hdf5_images(folder: Path) -> Path:
    images, labels = _images()
    with h5py.File(folder / "events.h5", "w") as f:
        f.create_dataset("events/images", data=images[:, None])
        f.create_dataset("events/label", data=labels)
    return folder / "events.h5"


def write_fits_table(folder: Path) -> Path:
    rows = _rows()
    columns = [fits.Column(name=c, format="D", array=rows[c].to_numpy()) for c in "abcy"]
    columns.append(fits.Column(name="name", format="8A", array=rows["name"].to_numpy().astype("S8")))
    hdus = fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(columns, name="CATALOG")])
    hdus.writeto(folder / "catalog.fits")
    return folder / "catalog.fits"


def write_fits_images(folder: Path) -> Path:
    images, labels = _images()
    label_table = fits.BinTableHDU.from_columns([fits.Column(name="label", format="K", array=labels)], name="LABELS")
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(images, name="CUTOUTS"), label_table]).writeto(folder / "cutouts.fits")
    return folder / "cutouts.fits"


def write_excel(folder: Path) -> Path:
    with pd.ExcelWriter(folder / "lab.xlsx", engine="openpyxl") as book:
        pd.DataFrame({"note": ["read me first"]}).to_excel(book, sheet_name="README", index=False)
        _rows().to_excel(book, sheet_name="assays", index=False)
    return folder / "lab.xlsx"


def _field() -> Any:
    """An xarray Dataset: images on (time, lat, lon) monthly, and their class (left/right bright) on (time,)."""
    images, labels = _images()
    return xr.Dataset({"field": (("time", "lat", "lon"), images), "label": (("time",), labels)},
                      coords={"time": pd.date_range("2000-01-01", periods=N, freq="MS"),
                              "lat": np.linspace(-35.0, 35.0, 8), "lon": np.linspace(0.0, 315.0, 8)})


def write_netcdf(folder: Path) -> Path:
    _field().to_netcdf(folder / "field.nc", engine="h5netcdf")
    return folder / "field.nc"


def write_zarr(folder: Path) -> Path:
    _field().to_zarr(folder / "field.zarr", mode="w", consolidated=False)
    return folder / "field.zarr"


def write_class_folders(folder: Path) -> Path:
    images, labels = _images()
    root = folder / "shapes"
    for i, (image, label) in enumerate(zip(images, labels)):
        (root / ["right", "left"][label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray((255 * np.clip(image, 0, 1)).astype(np.uint8)).save(root / ["right", "left"][label] / f"{i}.png")
    return root


TABLE = '[model]\nhidden = [8]\n[train]\nepochs = 2\n'
IMAGE = '[model]\nkind = "cnn"\nchannels = [4]\nhidden = [8]\n[train]\nepochs = 1\n'
FORMATS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "hdf5-table": (write_hdf5_table, '[data]\nsource = "{src}"\nx = "/survey/catalog"\ntarget = "y"\n'
                                     'id_column = "name"\n' + TABLE),
    "hdf5-images": (write_hdf5_images, '[data]\nkind = "image"\nsource = "{src}"\nx = "/events/images"\n'
                                       'target = "/events/label"\n' + IMAGE),
    "fits-table": (write_fits_table, '[data]\nsource = "{src}"\nx = "CATALOG"\ntarget = "y"\nid_column = "name"\n'
                                     + TABLE),
    "fits-images": (write_fits_images, '[data]\nkind = "image"\nsource = "{src}"\nx = "CUTOUTS"\ntarget = "label"\n'
                                       + IMAGE),
    "excel": (write_excel, '[data]\nsource = "{src}"\nx = "assays"\ntarget = "y"\nid_column = "name"\n' + TABLE),
    "netcdf-images": (write_netcdf, '[data]\nkind = "image"\nsource = "{src}"\nx = "field"\ntarget = "label"\n'
                                    + IMAGE),
    "zarr-images": (write_zarr, '[data]\nkind = "image"\nsource = "{src}"\nx = "field"\ntarget = "label"\n' + IMAGE),
    "class-folders": (write_class_folders, '[data]\nkind = "image"\nsource = "{src}"\n' + IMAGE),
}


def _exit(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """(exit status, stderr) of `deepsci ARGS` run in this process."""
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    code = exit_info.value.code
    return (code if isinstance(code, int) else 0), capsys.readouterr().err


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_the_runs_reader_reads_new_data_of_the_format_as_training_did(fmt: str, tmp_path: Path) -> None:
    """What `deepsci predict` does with a file before the model sees it: the saved reader spec reads the same
    file into the very inputs and ids the training's test rows had."""
    write, toml = FORMATS[fmt]
    source = write(tmp_path)
    dataset = build_dataset(tomllib.loads(toml.format(src=source))["data"], seed=0)
    X, ids, skipped = dataset.preprocessor.transform(dataset.preprocessor.read(str(source)))
    assert not skipped and len(ids) == N
    rows = torch.as_tensor([ids.index(i) for i in dataset.test.ids])
    torch.testing.assert_close(X[rows], dataset.test.X)


# A fit costs seconds: the image readers here; an HDF5 table trains and predicts in tests/test_notebook.py.
@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["fits-images", "class-folders"])
def test_a_config_on_the_format_trains_and_predict_reads_it(fmt: str, tmp_path: Path, cli, fit_config,
                                                            one_thread) -> None:
    write, toml = FORMATS[fmt]
    source = write(tmp_path)
    run = fit_config(f"run_{fmt.replace('-', '_')}", toml.format(src=source))
    saved = pd.read_csv(run / "predictions.csv", dtype={"id": str})
    out = tmp_path / "predicted.csv"
    cli("predict", str(run), str(source), "-o", str(out))
    predicted = pd.read_csv(out, dtype={"id": str}).set_index("id")
    assert len(predicted) == N
    column = next(c for c in saved.columns if c.endswith("_pred") or c.startswith("p_"))
    ours, theirs = predicted.loc[saved["id"], column].to_numpy(), saved[column].to_numpy()
    if ours.dtype.kind == "f":  # the same rows through the same preprocessor and model: the run's own predictions
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    else:
        assert list(ours) == list(theirs)
    loaded = Run.load(run)  # and in a notebook: one line of text, a card with the confusion matrix, the figures
    assert repr(loaded).startswith(f"Run('{run.name}', binary, test accuracy=") and "\n" not in repr(loaded)
    assert '<img src="data:image/png;base64,' in loaded._repr_html_()
    assert sorted(loaded.figures) == ["confusion", "learning_curves", "pr", "roc"]


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f not in ("class-folders", "zarr-images")])  # files, not folders
def test_a_truncated_file_is_one_line_exit_2_and_no_run_folder(fmt: str, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    write, toml = FORMATS[fmt]
    source = write(tmp_path)
    source.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    config = tmp_path / "cut.toml"
    config.write_text('name = "cut"\n' + toml.format(src=source))
    code, err = _exit(["fit", str(config), "--out", str(tmp_path / "runs")], capsys)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "cannot read" in err and source.name in err, err
    assert not (tmp_path / "runs" / "cut").exists()


def test_a_damaged_image_in_a_class_folder_is_one_line_exit_2(tmp_path: Path, capsys) -> None:
    root = write_class_folders(tmp_path)
    (root / "left" / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n cut short")
    config = tmp_path / "bad.toml"
    config.write_text('name = "bad"\n' + FORMATS["class-folders"][1].format(src=root))
    code, err = _exit(["fit", str(config), "--out", str(tmp_path / "runs")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "1.png" in err, err
    assert not (tmp_path / "runs" / "bad").exists()


def test_hdf5_tables_are_found_or_listed(tmp_path: Path) -> None:
    path = write_hdf5_table(tmp_path)
    frame = read_table(path)  # the file's only table, found without data.x
    assert list(frame.columns) == ["a", "b", "c", "y", "name"] and frame["name"][3] == "s3"
    with h5py.File(path, "a") as f:  # a group of 1-D datasets of one length is a table too
        f.create_dataset("other/u", data=np.arange(5.0))
        f.create_dataset("other/v", data=np.ones((5, 2)))
    assert list(read_table(path, "other").columns) == ["u", "v[0]", "v[1]"]
    with pytest.raises(DataError, match=r"2 HDF5 tables \(/other, /survey/catalog\); set data.x"):
        read_table(path)
    with pytest.raises(DataError, match="no HDF5 object '/nope'"):
        read_table(path, "/nope")
    arrays, _ = read_arrays(path)
    assert arrays["survey/raw_counts"].tolist() == list(range(10))  # with or without the leading slash


def test_fits_hdus_by_name_or_index_and_sheets_by_name_or_index(tmp_path: Path) -> None:
    table = write_fits_table(tmp_path)
    np.testing.assert_array_equal(read_table(table, "catalog")["a"], _rows()["a"])  # EXTNAME, any case
    assert read_table(table, 1).equals(read_table(table))
    with pytest.raises(DataError, match=r"no HDU 'SPECTRA'; its HDUs are: 0 'PRIMARY'.*1 'CATALOG' \(table\)"):
        read_table(table, "SPECTRA")
    cube = write_fits_images(tmp_path)
    arrays, _ = read_arrays(cube)
    assert arrays["CUTOUTS"].shape == (N, 8, 8) and arrays["CUTOUTS"].dtype.isnative
    assert arrays["1"] is arrays["CUTOUTS"] and arrays["LABELS/label"].tolist() == (np.arange(N) % 2).tolist()
    book = write_excel(tmp_path)
    assert read_table(book).columns.tolist() == ["note"]
    assert read_table(book, 1).equals(read_table(book, "assays"))
    with pytest.raises(DataError, match=r"no sheet 'Sheet1'; its sheets are: 'README', 'assays'"):
        read_table(book, "Sheet1")


def test_netcdf_images_are_in_time_order_and_tested_on_the_last_steps(tmp_path: Path) -> None:
    """A field stored with its months out of order is read in time order, and "auto" splits it in time: the test
    images are the last months, validation the months just before (not months drawn from among the training ones)."""
    field = _field()
    field.isel(time=np.random.default_rng(0).permutation(N)).to_netcdf(tmp_path / "shuffled.nc", engine="h5netcdf")
    spec = tomllib.loads(FORMATS["netcdf-images"][1].format(src=tmp_path / "shuffled.nc"))["data"]
    dataset = build_dataset(spec, seed=0)
    assert dataset.summary.split["method"] == "ordered"
    rows = {part: sorted(int(i) for i in getattr(dataset, part).ids) for part in ("train", "valid", "test")}
    assert rows["test"] == list(range(N - 10, N)) and max(rows["train"]) < min(rows["valid"]) < min(rows["test"])
    arrays, _ = read_arrays(tmp_path / "shuffled.nc")  # read in time order, whatever the order on disk
    np.testing.assert_array_equal(arrays["field"], _images()[0])
    np.testing.assert_array_equal(arrays["label"], _images()[1])


def test_a_points_time_series_in_netcdf_is_a_series(tmp_path: Path) -> None:
    """A NetCDF file of one point's record (a variable on time) is a table with a time column: a `series`, the
    same windows as the record written as CSV."""
    record = xr.Dataset({"t2m": (("time",), np.sin(np.arange(120) / 6.0))},
                        coords={"time": pd.date_range("2000-01-01", periods=120, freq="MS")})
    record.to_netcdf(tmp_path / "point.nc", engine="h5netcdf")
    record.to_dataframe().reset_index().to_csv(tmp_path / "point.csv", index=False)
    made = [build_dataset({"kind": "series", "source": str(tmp_path / f"point.{suffix}"), "time_column": "time",
                           "value_columns": ["t2m"], "input_length": 12}, seed=0) for suffix in ("nc", "csv")]
    assert tuple(made[0].train.X.shape[1:]) == (12, 1)
    torch.testing.assert_close(made[0].train.X, made[1].train.X)
    torch.testing.assert_close(made[0].test.y, made[1].test.y)


def test_fits_light_curves_are_variable_length_sets_of_observations(tmp_path: Path) -> None:
    """A FITS table of light curves, one row per observation (object id, time, flux, error), read as a `set`:
    each object's observations are one variable-size set, in the file's order."""
    rng = np.random.default_rng(0)
    sizes = rng.integers(3, 9, size=20)
    ids = np.repeat([f"star{k}" for k in range(20)], sizes)
    time = rng.random(len(ids))
    flux = np.sin(7.0 * time) + np.repeat(np.arange(20) % 2, sizes)
    columns = [fits.Column(name="object_id", format="8A", array=ids.astype("S8")),
               fits.Column(name="time", format="D", array=time), fits.Column(name="flux", format="D", array=flux),
               fits.Column(name="flux_err", format="D", array=np.full(len(ids), 0.1)),
               fits.Column(name="variable", format="K", array=np.repeat(np.arange(20) % 2, sizes))]
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(columns, name="LIGHTCURVES")]).writeto(
        tmp_path / "lc.fits")
    dataset = build_dataset({"kind": "set", "source": str(tmp_path / "lc.fits"), "set_column": "object_id",
                             "features": ["time", "flux", "flux_err"], "target": "variable", "scale": "none"}, seed=0)
    assert dataset.summary.rows_used == 20 and dataset.task == "binary"
    first = dataset.train.ids[0]
    k = int(first.removeprefix("star"))
    mask = dataset.train.X["mask"][0]
    assert int(mask.sum()) == sizes[k]  # the object's observations, no more, no fewer
    np.testing.assert_allclose(dataset.train.X["x"][0][mask][:, 0].numpy(), time[ids == first], rtol=1e-6)


def test_a_missing_format_library_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_hdf5_table(tmp_path)
    monkeypatch.setitem(sys.modules, "h5py", None)  # what `import h5py` meets where the package is not installed
    with pytest.raises(MissingDependencyError, match=r"needs the Python package 'h5py'.*pip install 'deepsci\[formats\]'"):
        read_table(path)


@pytest.mark.parametrize("layout", ["compound", "group"])
def test_a_streamed_hdf5_table_in_many_blocks_matches_the_in_memory_table(layout: str, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """stream = true on an HDF5 table: the same parts, rows and scaling as the in-memory read of the same file
    (the oracle), read in blocks of 4 KB (a compound dataset or a group of 1-D datasets)."""
    monkeypatch.setattr(stream, "BLOCK_BYTES", 4096)
    rng = np.random.default_rng(0)
    n = 1500
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x @ np.array([1.0, -1.0, 0.5, 2.0], dtype=np.float32)).astype(np.float32)
    with h5py.File(tmp_path / "big.h5", "w") as f:
        if layout == "compound":
            records = np.zeros(n, dtype=[(f"x{j}", "f4") for j in range(4)] + [("y", "f4")])
            for j in range(4):
                records[f"x{j}"] = x[:, j]
            records["y"] = y
            f.create_dataset("rows", data=records, chunks=(100,))
        else:
            for j in range(4):
                f.create_dataset(f"rows/x{j}", data=x[:, j], chunks=(100,))
            f.create_dataset("rows/y", data=y, chunks=(100,))
    spec = {"source": str(tmp_path / "big.h5"), "x": "/rows", "target": "y", "featuriser": "none"}
    streamed, memory = (build_dataset({**spec, "stream": s}, seed=3) for s in (True, False))
    assert streamed.summary.stream["format"] == "hdf5" and streamed.summary.stream["blocks"] == -(-n // (4096 // 20))
    assert all(streamed.summary.split[k] == memory.summary.split[k] for k in ("method", "train", "valid", "test"))
    for part in ("train", "valid", "test"):
        s, m = getattr(streamed, part), getattr(memory, part)
        assert list(s.ids) == list(m.ids), part
        torch.testing.assert_close(s.X.take_rows(slice(0, None)), m.X, atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(s.y, m.y, atol=1e-6, rtol=1e-6)
    assert streamed.preprocessor.reader["x"] == "/rows"  # `deepsci predict` reads the same table of a new file
