"""Image stacks, 1-D signals and volumes as Datasets for convolutional models.

Sources:
- `.npz` with an array of images (key `X`, or `images_key`) and labels/targets (key `y`);
  `.npy` with the images and labels from a separate `.npy`/`.csv` or an in-memory array.
- a folder of PNG/TIFF files plus a CSV naming each file and its label/target (Pillow).
- arrays in memory (`images_dataset`), and the bundled `digits` as 8x8 images (`digits_images`).

Layouts (what the model sees, `Split.X`):
    images  (N, C, H, W)     from (N, H, W) (one channel added) or (N, C, H, W)
    signals (N, C, L)        1-D convolutions; a 3-D array is read as signals only with layout="signals"
    volumes (N, C, D, H, W)  3-D convolutions

Pixel scaling (`scale`), statistics from the training split only:
    "unit"      divide by the training split's maximum |x| (keeps 0 as background; default)
    "standard"  per-channel mean/std over the training images
    "none"
The scaling is recorded in `Dataset.featuriser` (JSON) so new images can be prepared the same way
(`apply_image_scaling`). `x_scaler` stays None: a column scaler does not fit image tensors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from deepsci.data.dataset import Dataset, Split
from deepsci.data.scalers import Scaler
from deepsci.data.splits import SplitIndices, random_split, stratified_split
from deepsci.errors import DataError, unknown_name

LAYOUTS = ("auto", "images", "signals", "volumes")
SCALINGS = ("unit", "standard", "none")
IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")


def to_layout(X: np.ndarray, layout: str = "auto") -> tuple[np.ndarray, str]:
    """Give an array the model's layout (channels second); returns (array, layout name).

    auto: 3-D -> images (N, H, W) + a channel axis; 4-D -> images (N, C, H, W); 5-D -> volumes.
    """
    if layout not in LAYOUTS:
        raise DataError(unknown_name("image layout", layout, LAYOUTS))
    nd = X.ndim
    if layout == "signals" or (layout == "auto" and nd == 2):
        if nd == 2:
            return X[:, None, :], "signals"
        if nd == 3:
            return X, "signals"
    elif layout == "images" or (layout == "auto" and nd in (3, 4)):
        if nd == 3:
            return X[:, None], "images"
        if nd == 4:
            return X, "images"
    elif layout == "volumes" or (layout == "auto" and nd == 5):
        if nd == 4:
            return X[:, None], "volumes"
        if nd == 5:
            return X, "volumes"
    raise DataError(f"an array of shape {X.shape} does not fit layout '{layout}'. Expected images (N,H,W) or "
                    "(N,C,H,W), signals (N,L) or (N,C,L) with layout='signals', volumes (N,D,H,W) with "
                    "layout='volumes' or (N,C,D,H,W).")


def _scaling_stats(X_train: torch.Tensor, scale: str) -> dict[str, Any]:
    if scale not in SCALINGS:
        raise DataError(unknown_name("image scaling", scale, SCALINGS))
    if scale == "unit":
        m = float(X_train.abs().max())
        return {"scale": "unit", "max": m if m > 0 else 1.0}
    if scale == "standard":
        per_c = X_train.transpose(0, 1).reshape(X_train.shape[1], -1).double()
        std = per_c.std(1, unbiased=False)
        return {"scale": "standard", "mean": per_c.mean(1).tolist(),
                "std": torch.where(std > 0, std, torch.ones_like(std)).tolist()}
    return {"scale": "none"}


def apply_image_scaling(X: torch.Tensor, stats: dict[str, Any]) -> torch.Tensor:
    """Scale images (N, C, ...) as recorded in `featuriser` (the training split's statistics)."""
    if stats["scale"] == "unit":
        return X / stats["max"]
    if stats["scale"] == "standard":
        shape = (1, -1) + (1,) * (X.dim() - 2)
        mean = torch.tensor(stats["mean"], dtype=X.dtype).view(shape)
        std = torch.tensor(stats["std"], dtype=X.dtype).view(shape)
        return (X - mean) / std
    return X


def _infer_task(y: np.ndarray, task: str) -> str:
    if task != "auto":
        if task not in ("regression", "binary", "multiclass"):
            raise DataError(unknown_name("task", task, ("auto", "regression", "binary", "multiclass")))
        return task
    if y.dtype.kind in "fc" and not np.all(np.mod(y, 1) == 0):
        return "regression"
    k = len(np.unique(y))
    if y.dtype.kind in "fc" and k > 50:
        return "regression"
    return "binary" if k == 2 else "multiclass"


def images_dataset(X: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor | list[Any], *,
                   ids: list[str] | None = None, task: str = "auto", layout: str = "auto",
                   split: Literal["auto", "random", "stratified"] = "auto", test_fraction: float = 0.2,
                   valid_fraction: float = 0.1, scale: str = "unit", scale_targets: bool = True,
                   seed: int = 0, source: str = "arrays") -> Dataset:
    """A Dataset from an image/signal/volume stack and its labels or targets.

    Args:
        X: (N, ...) array; see the module docstring for layouts.
        y: (N,) labels (int or str) or (N,) / (N, t) regression targets.
        ids: one name per sample (default "0".."N-1").
        task: "auto" (float non-integer -> regression; 2 classes -> binary; else multiclass).
        split: "auto" (stratified for classification, random for regression), "random", "stratified".
        scale: pixel scaling, "unit" | "standard" | "none" (training statistics only).
        scale_targets: standardise regression targets with the training split's Scaler.
    """
    Xa = X.numpy() if isinstance(X, torch.Tensor) else np.asarray(X)
    ya = y.numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if Xa.shape[0] != ya.shape[0]:
        raise DataError(f"{Xa.shape[0]} images but {ya.shape[0]} labels/targets; they must match one to one.")
    if not np.issubdtype(Xa.dtype, np.number):
        raise DataError(f"image array must be numeric; received dtype {Xa.dtype}.")
    if not np.isfinite(Xa).all():
        raise DataError(f"image array holds {int((~np.isfinite(Xa)).sum())} NaN/inf values; clean them first.")
    Xa, lay = to_layout(Xa, layout)
    kind = _infer_task(ya, task)
    n = Xa.shape[0]
    ids = ids if ids is not None else [str(i) for i in range(n)]
    class_names: list[str] = []
    if kind == "regression":
        yt = torch.as_tensor(ya, dtype=torch.float32)
        yt = yt[:, None] if yt.dim() == 1 else yt
        if not torch.isfinite(yt).all():
            raise DataError("regression targets hold NaN/inf; drop those samples first.")
    else:
        classes, codes = np.unique(ya, return_inverse=True)
        class_names = [str(c) for c in classes]
        yt = torch.as_tensor(codes.reshape(-1), dtype=torch.int64)
    how = split if split != "auto" else ("random" if kind == "regression" else "stratified")
    if how == "stratified":
        parts: SplitIndices = stratified_split(yt.numpy(), test_fraction=test_fraction,
                                               valid_fraction=valid_fraction, seed=seed)
    elif how == "random":
        parts = random_split(n, test_fraction=test_fraction, valid_fraction=valid_fraction, seed=seed)
    else:
        raise DataError(unknown_name("image split", how, ("auto", "random", "stratified")))
    Xt = torch.as_tensor(Xa, dtype=torch.float32)
    stats = _scaling_stats(Xt[torch.as_tensor(parts.train)], scale)
    Xt = apply_image_scaling(Xt, stats)
    y_scaler = None
    if kind == "regression" and scale_targets:
        y_scaler = Scaler().fit(yt[torch.as_tensor(parts.train)])  # train only: no test statistics leak
        yt = y_scaler.transform(yt)

    def part(idx: np.ndarray) -> Split:
        i = torch.as_tensor(idx, dtype=torch.int64)
        return Split(Xt[i].contiguous(), yt[i].contiguous(), [ids[j] for j in idx])

    t = yt.shape[1] if kind == "regression" else 1
    return Dataset(
        train=part(parts.train), valid=part(parts.valid), test=part(parts.test), task=kind,  # type: ignore[arg-type]
        feature_names=[], target_names=["y"] if t == 1 else [f"y{j}" for j in range(t)],
        class_names=class_names, x_scaler=None, y_scaler=y_scaler,
        featuriser={"kind": lay, "shape": list(Xa.shape[1:]), **stats},
        summary={"source": source, "rows_read": n, "rows_used": n, "layout": lay, "shape": list(Xa.shape[1:]),
                 "split": how, "seed": seed, "n_train": len(parts.train), "n_valid": len(parts.valid),
                 "n_test": len(parts.test), "scaling": stats["scale"]},
    )


def _read_labels(labels: str | Path | np.ndarray | list[Any] | None, n: int) -> np.ndarray:
    if labels is None:
        raise DataError("no labels/targets: give an .npz with a 'y' array, or labels=<.npy/.csv path or array>.")
    if isinstance(labels, (str, Path)):
        p = Path(labels)
        if not p.exists():
            raise DataError(f"labels file {p} does not exist; check the path.")
        if p.suffix == ".npy":
            return np.load(p, allow_pickle=False)
        frame = pd.read_csv(p)
        return frame.iloc[:, -1].to_numpy()
    return np.asarray(labels)


def load_image_array(path: str | Path, *, labels: str | Path | np.ndarray | None = None, images_key: str = "X",
                     labels_key: str = "y", **kwargs: Any) -> Dataset:
    """A Dataset from `.npz` (arrays `images_key`, `labels_key`) or `.npy` (+ `labels`).

    Extra keyword arguments go to `images_dataset` (task, layout, split, fractions, scale, seed).
    Arrays are read with allow_pickle=False (never unpickle data files).
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"image file {p} does not exist; check the path.")
    if p.suffix == ".npz":
        with np.load(p, allow_pickle=False) as z:
            if images_key not in z:
                raise DataError(f"{p.name} has no array '{images_key}'; arrays are: {', '.join(z.files)}. "
                                "Set images_key.")
            X = z[images_key]
            y = z[labels_key] if labels is None and labels_key in z else _read_labels(labels, len(X))
    elif p.suffix == ".npy":
        X = np.load(p, allow_pickle=False)
        y = _read_labels(labels, len(X))
    else:
        raise DataError(f"unsupported image-stack file '{p.suffix}'; use .npz or .npy (or a folder of images).")
    return images_dataset(X, y, source=str(p), **kwargs)


def load_image_folder(folder: str | Path, labels_csv: str | Path, *, file_column: str = "file",
                      label_column: str = "label", mode: Literal["L", "RGB", "auto"] = "auto",
                      **kwargs: Any) -> Dataset:
    """A Dataset from a folder of PNG/TIFF/JPEG files and a CSV with a file and a label column.

    All images must have one size. mode "L" reads grayscale (C=1), "RGB" three channels, "auto"
    keeps what the files hold (16-bit TIFFs stay 16-bit). Ids are the file names.
    """
    from PIL import Image

    folder, labels_csv = Path(folder), Path(labels_csv)
    if not folder.is_dir():
        raise DataError(f"image folder {folder} does not exist or is not a folder.")
    if not labels_csv.exists():
        raise DataError(f"labels CSV {labels_csv} does not exist; it needs columns '{file_column}' and "
                        f"'{label_column}'.")
    frame = pd.read_csv(labels_csv)
    missing = [c for c in (file_column, label_column) if c not in frame.columns]
    if missing:
        raise DataError(f"labels CSV lacks column(s) {missing}; its columns are {list(frame.columns)}. "
                        "Set file_column / label_column.")
    arrays, names = [], []
    for name in frame[file_column].astype(str):
        f = folder / name
        if not f.exists():
            raise DataError(f"image '{name}' listed in {labels_csv.name} is not in {folder}.")
        if f.suffix.lower() not in IMAGE_SUFFIXES:
            raise DataError(f"'{name}' is not a supported image ({', '.join(IMAGE_SUFFIXES)}).")
        with Image.open(f) as opened:
            a = np.asarray(opened.convert(mode) if mode != "auto" else opened, dtype=np.float32)
        arrays.append(a if a.ndim == 2 else np.moveaxis(a, -1, 0))  # (H, W) or (C, H, W)
        names.append(name)
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise DataError(f"images differ in size/channels: {sorted(shapes)[:5]}; resize them to one size.")
    X = np.stack(arrays)
    return images_dataset(X, frame[label_column].to_numpy(), ids=names, source=str(folder), **kwargs)


def digits_images(*, test_fraction: float = 0.2, valid_fraction: float = 0.1, seed: int = 0) -> Dataset:
    """scikit-learn's handwritten digits as (N, 1, 8, 8) images in [0, 1] (pixels / 16), 10 classes.

    1797 images; stratified split with the seed (the same indices as the tabular `digits`
    dataset with split="stratified" and the same fractions and seed). Alpaydin & Kaynak (1998),
    UCI optdigits test set.
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    ds = images_dataset(d.images.astype(np.float32) / 16.0, d.target, task="multiclass", split="stratified",
                        test_fraction=test_fraction, valid_fraction=valid_fraction, scale="none", seed=seed,
                        source="digits")
    ds.featuriser = {"kind": "images", "shape": [1, 8, 8], "scale": "unit", "max": 16.0}
    ds.summary["scaling"] = "pixels / 16"
    return ds
