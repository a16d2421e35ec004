"""The bundled digits as images (kept for benchmarks); image stacks are built by `build_dataset`
with `kind = "image"` (see `deepsci.data.featurisers.ImageFeaturiser`)."""

from __future__ import annotations

from deepsci.data.build import build_rows
from deepsci.data.dataset import Dataset
from deepsci.data.spec import ImageData


def digits_images(*, test_fraction: float = 0.2, valid_fraction: float = 0.1, seed: int = 0) -> Dataset:
    """scikit-learn's handwritten digits as (N, 1, 8, 8) images in [0, 1] (pixels / 16), 10 classes.

    1797 images; stratified split with the seed (the same indices as the tabular `digits` dataset
    with the same fractions and seed). Alpaydin & Kaynak (1998), UCI optdigits.
    """
    spec = ImageData(source="digits", scale="unit", task="multiclass", test_fraction=test_fraction,
                     valid_fraction=valid_fraction)
    return build_rows(spec, seed=seed, cache_dir=None)
