"""Images in one folder per class, the layout torchvision's ImageFolder made the convention:

    root/<class>/<file>.png      (any of .png .tif .tiff .jpg .jpeg .bmp)

The class is the subfolder's name. A folder of images without subfolders (new data to predict) reads
as images without a target. Pixels are read with Pillow; colour images become (channels, h, w).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from deepsci.data.formats.library import one_line, require
from deepsci.data.raw import Raw
from deepsci.errors import DataError

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")


def read_image_tree(folder: Path, target: str) -> Raw:
    """The images of `folder`: with class subfolders, the class (the subfolder's name) in column `target`;
    without, the images alone (new data to predict). Ids are the paths relative to `folder`.

    Raises DataError (one line): no images, an image Pillow cannot read, or images of different sizes.
    """
    classes = sorted(sub for sub in folder.iterdir() if sub.is_dir() and _images(sub))
    files = [f for sub in classes for f in _images(sub)] if classes else _images(folder)
    if not files:
        raise DataError(f"'{folder}' holds no images ({', '.join(IMAGE_SUFFIXES)}): put them in one subfolder per "
                        "class (root/<class>/<file>.png), or give a labels CSV as data.labels.")
    images = [_pixels(f) for f in files]
    shapes = sorted({a.shape for a in images})
    if len(shapes) != 1:
        first = {a.shape: f for a, f in zip(images, files)}
        listed = ", ".join(f"{s} ({first[s].relative_to(folder)})" for s in shapes[:4])
        raise DataError(f"images in '{folder}' differ in size: {listed}; resize them to one size.")
    ids = [str(f.relative_to(folder)) for f in files]
    frame = pd.DataFrame({"file": ids})
    if classes:
        frame[target] = [f.parent.name for f in files]
    return Raw(frame, {"x": np.stack(images)}, ids, f"'{folder}'")


def _images(folder: Path) -> list[Path]:
    return sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)


def _pixels(path: Path) -> np.ndarray:
    """One image as float32: (h, w) for grey, (channels, h, w) for colour."""
    image = require("PIL.Image", "image files")
    try:
        with image.open(path) as opened:
            a = np.asarray(opened, dtype=np.float32)
    except Exception as exc:  # PIL.UnidentifiedImageError, OSError for a truncated file
        raise DataError(f"cannot read image '{path}': {one_line(str(exc))}. Check that the file is a complete "
                        "image, or remove it.") from None
    return a if a.ndim == 2 else np.moveaxis(a, -1, 0)
