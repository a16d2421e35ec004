"""The pair network states its memory and refuses, in one line, a batch that will not fit."""

import pytest
import torch

from deepsci.errors import ModelError
from deepsci.models.sets import DeepSets, PAIR_CHECK_BYTES, check_pair_memory, pair_bytes


def test_pair_memory_counts_every_pair_row():
    # 2 sets of 3 elements: 18 pair rows of [x_i, x_j] (2 x 4 values) and two widths kept twice with gradients
    assert pair_bytes(2, 3, 4, [5, 7], grad=True) == 4 * 18 * (8 + 2 * 12)
    assert pair_bytes(2, 3, 4, [5, 7], grad=False) == 4 * 18 * (8 + 2 * 7)
    assert pair_bytes(32, 60, 4, [128] * 3, grad=True) / 2 ** 30 == pytest.approx(0.333, abs=1e-3)  # the docstring


def test_a_batch_that_cannot_fit_is_refused_in_one_line():
    # 10^5 sets of 1000 elements: about 600 TiB of pair activations, more than any machine running this has
    with pytest.raises(ModelError, match=r"lower train.batch_size to \d+ or fewer") as refused:
        check_pair_memory(100_000, 1000, 4, [128, 128, 128], grad=True)
    assert "\n" not in str(refused.value) and "GiB" in str(refused.value)
    check_pair_memory(32, 10, 4, [8], grad=True)  # small: passes without reading the free memory
    assert pair_bytes(32, 10, 4, [8], grad=True) < PAIR_CHECK_BYTES


def test_a_batch_that_fits_passes_through_the_network():
    model = DeepSets(4, 1, hidden=[4], rho=[], pairwise=[4])
    assert model(torch.zeros(2, 3, 4), torch.ones(2, 3, dtype=torch.bool)).shape == (2, 1)
