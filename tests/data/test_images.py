"""Image stacks: the digits, an image folder with a labels CSV, an .npy stack with a labels file."""

import numpy as np
import pandas as pd
import pytest
import torch

from deepsci.data.spec import data_config
from deepsci.data import build_dataset
from deepsci.data.images import digits_images
from deepsci.errors import DataError


def test_digits_images_match_sklearn_pixels_over_16():
    from sklearn.datasets import load_digits

    d = digits_images(seed=0)
    images = load_digits().images / 16.0
    i = int(d.test.ids[0])
    assert torch.allclose(d.test.X[0, 0], torch.tensor(images[i], dtype=torch.float32))
    assert d.n_outputs == 10 and len(d.test) == 360


def test_digits_images_use_the_tabular_digits_split():
    from deepsci.data.build import load_dataset

    tab = load_dataset(source="digits")
    img = digits_images()
    assert tab.test.ids == img.test.ids and tab.train.ids == img.train.ids


def test_png_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    rows = []
    for i in range(12):
        a = (rng.random((7, 9)) * 255).astype(np.uint8)
        Image.fromarray(a).save(tmp_path / f"im{i}.png")
        rows.append({"file": f"im{i}.png", "label": i % 3})
    pd.DataFrame(rows).to_csv(tmp_path / "labels.csv", index=False)
    cfg = data_config(kind="image", source=str(tmp_path), labels=str(tmp_path / "labels.csv"), target="label",
                      scale="none", test_fraction=0.25, valid_fraction=0.0)
    d = build_dataset(cfg, seed=0)
    assert d.train.X.shape[1:] == (1, 7, 9) and len(d.class_names) == 3
    i = d.test.ids[0]
    assert torch.equal(d.test.X[0, 0], torch.tensor(np.asarray(Image.open(tmp_path / i), dtype=np.float32)))
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / "im0.png")
    with pytest.raises(DataError, match="differ in size"):
        build_dataset(cfg, seed=0)


def test_npy_stack_with_a_labels_file(tmp_path):
    X = np.random.default_rng(0).random((20, 6, 6))
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", np.arange(20) % 2)
    d = build_dataset(data_config(kind="image", source=str(tmp_path / "x.npy"), labels=str(tmp_path / "y.npy"),
                                  target="y"), seed=0)
    assert d.task == "binary" and d.inputs["x"].shape == (1, 6, 6)
    np.save(tmp_path / "y.npy", np.arange(19) % 2)
    with pytest.raises(DataError, match="19 labels for 20 images"):
        build_dataset(data_config(kind="image", source=str(tmp_path / "x.npy"), labels=str(tmp_path / "y.npy"),
                                  target="y"), seed=0)
