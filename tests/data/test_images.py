"""Image stacks: layouts, npz/npy/folder readers, train-only scaling, digits images, bad input."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_digits

from deepsci.data.images import digits_images, images_dataset, load_image_array, load_image_folder, to_layout
from deepsci.data.splits import stratified_split
from deepsci.errors import DataError


def test_layouts():
    assert to_layout(np.zeros((5, 8, 8)))[0].shape == (5, 1, 8, 8)
    assert to_layout(np.zeros((5, 3, 8, 8)))[1] == "images"
    assert to_layout(np.zeros((5, 2, 30)), "signals")[0].shape == (5, 2, 30)
    assert to_layout(np.zeros((5, 4, 6, 6)), "volumes")[0].shape == (5, 1, 4, 6, 6)
    assert to_layout(np.zeros((5, 2, 4, 6, 6)))[1] == "volumes"
    with pytest.raises(DataError, match="does not fit"):
        to_layout(np.zeros((5, 8)), "images")


def test_digits_images_match_sklearn_and_stratified_split():
    d = digits_images(seed=0)
    raw = load_digits()
    parts = stratified_split(raw.target, test_fraction=0.2, valid_fraction=0.1, seed=0)
    assert (len(d.train), len(d.valid), len(d.test)) == (1293, 144, 360)
    assert d.test.X.shape[1:] == (1, 8, 8) and d.task == "multiclass" and len(d.class_names) == 10
    assert torch.allclose(d.test.X[:, 0], torch.tensor(raw.images[parts.test] / 16.0, dtype=torch.float32))
    assert torch.equal(d.test.y, torch.tensor(raw.target[parts.test]))


def test_npz_regression_scaled_on_train_only(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(3.0, 2.0, (60, 2, 5, 5)).astype(np.float32)
    y = rng.normal(size=60)
    np.savez(tmp_path / "stack.npz", X=X, y=y)
    d = load_image_array(tmp_path / "stack.npz", scale="standard", seed=1)
    assert d.task == "regression" and d.train.y.shape[1] == 1
    tr = torch.cat([d.train.X]).transpose(0, 1).reshape(2, -1)
    assert torch.allclose(tr.mean(1), torch.zeros(2), atol=1e-5)  # train standardised ...
    assert torch.allclose(tr.std(1, unbiased=False), torch.ones(2), atol=1e-4)
    assert torch.allclose(d.train.y.mean(), torch.tensor(0.0), atol=1e-5)  # ... targets too, train stats
    assert not torch.allclose(d.test.y.mean(), torch.tensor(0.0), atol=1e-3)


def test_npy_with_labels_csv_and_errors(tmp_path):
    X = np.random.default_rng(0).random((20, 6, 6))
    np.save(tmp_path / "x.npy", X)
    pd.DataFrame({"label": ["a", "b"] * 10}).to_csv(tmp_path / "y.csv", index=False)
    d = load_image_array(tmp_path / "x.npy", labels=tmp_path / "y.csv", test_fraction=0.25, valid_fraction=0.0)
    assert d.task == "binary" and d.class_names == ["a", "b"] and d.train.X.shape[1:] == (1, 6, 6)
    assert float(d.train.X.max()) == pytest.approx(1.0)  # "unit" scaling by the train max
    with pytest.raises(DataError, match="labels"):
        load_image_array(tmp_path / "x.npy")
    with pytest.raises(DataError, match="does not exist"):
        load_image_array(tmp_path / "nope.npz")
    with pytest.raises(DataError, match="unsupported"):
        load_image_array(tmp_path / "y.csv")
    with pytest.raises(DataError, match="must match"):
        images_dataset(X, [0, 1])
    bad = X.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        images_dataset(bad, [0, 1] * 10)


def test_png_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    rows = []
    for i in range(12):
        a = (rng.random((7, 9)) * 255).astype(np.uint8)
        Image.fromarray(a).save(tmp_path / f"im{i}.png")
        rows.append({"file": f"im{i}.png", "label": i % 3})
    pd.DataFrame(rows).to_csv(tmp_path / "labels.csv", index=False)
    d = load_image_folder(tmp_path, tmp_path / "labels.csv", mode="L", scale="none", test_fraction=0.25,
                          valid_fraction=0.0)
    assert d.train.X.shape[1:] == (1, 7, 9) and len(d.class_names) == 3
    i = d.test.ids[0]
    assert torch.equal(d.test.X[0, 0], torch.tensor(np.asarray(Image.open(tmp_path / i), dtype=np.float32)))
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / "im0.png")
    with pytest.raises(DataError, match="differ in size"):
        load_image_folder(tmp_path, tmp_path / "labels.csv")
    with pytest.raises(DataError, match="lacks column"):
        load_image_folder(tmp_path, tmp_path / "labels.csv", label_column="class")


def test_digits_images_use_the_tabular_digits_split():
    from deepsci.data.build import load_dataset

    tab = load_dataset(source="digits")
    img = digits_images()
    assert tab.test.ids == img.test.ids and tab.train.ids == img.train.ids
