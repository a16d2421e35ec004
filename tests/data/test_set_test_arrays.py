"""Given test arrays of a set .npz (`test_x` beside `x`) are cut by their own `test_sizes` or `test_mask`."""

import numpy as np
import pytest

from deepsci.config import config_from_dict
from deepsci.errors import DataError
from deepsci.experiment import build_dataset


def _sets(rng: np.random.Generator, n: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    sizes = rng.integers(2, width + 1, n)
    x = rng.normal(size=(n, width, 3)).astype(np.float32)
    for i, s in enumerate(sizes):
        x[i, s:] = 0.0
    return x, sizes, np.array([x[i, :s].sum() for i, s in enumerate(sizes)], dtype=np.float32)


@pytest.fixture()
def npz(tmp_path):
    rng = np.random.default_rng(0)
    (x, sizes, y), (tx, tsizes, ty) = _sets(rng, 30, 6), _sets(rng, 9, 5)  # other counts, other padded width
    path = tmp_path / "sets.npz"
    np.savez(path, X=x, sizes=sizes, y=y, mask=np.arange(6) < sizes[:, None], test_X=tx, test_sizes=tsizes,
             test_y=ty, test_mask=np.arange(5) < tsizes[:, None])
    return path, tsizes


def _data(path, **keys):
    data = {"kind": "set", "source": str(path), "x": "X", "target": "y", "test_x": "test_X", "test_target": "test_y",
            **keys}
    return build_dataset(config_from_dict({"name": "s", "seed": 0, "data": data, "model": {"kind": "deepsets"}}))


@pytest.mark.parametrize("keys", [{"sizes": "sizes", "test_sizes": "test_sizes"},
                                  {"mask": "mask", "test_mask": "test_mask"}])
def test_test_sets_are_cut_by_their_own_sizes(npz, keys):
    path, tsizes = npz
    dataset = _data(path, **keys)
    assert len(dataset.test) == len(tsizes)
    assert dataset.test.X["mask"].sum(1).tolist() == tsizes.tolist()


def test_test_sets_without_their_sizes_are_refused_in_one_line(npz):
    with pytest.raises(DataError, match="set data.test_sizes"):
        _data(npz[0], sizes="sizes")


def test_a_mask_of_another_shape_names_the_arrays(npz):
    with pytest.raises(DataError, match=r"mask 'mask' has shape \(30, 6\) but input 'test_X' holds 9 samples"):
        _data(npz[0], mask="mask", test_mask="mask")
