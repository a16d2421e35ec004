"""Time-series augmentations (deepsci.training.series_augment): what each does, and where each is refused."""

from __future__ import annotations

import pytest
import torch

from deepsci.config import config_from_dict
from deepsci.errors import ConfigError
from deepsci.training.augment import Augment
from deepsci.training.series_augment import magnitude_scale, time_shift, window_slice


def test_magnitude_scale_multiplies_each_series_by_one_factor() -> None:
    x = torch.rand(6, 2, 30) + 0.5
    out = magnitude_scale(x, 0.2, torch.Generator().manual_seed(0))
    ratio = out / x
    assert torch.allclose(ratio, ratio[:, :1, :1].expand_as(ratio), atol=1e-6)
    assert ratio[:, 0, 0].std() > 0  # one factor per series, not one per batch


def test_time_shift_moves_each_series_and_fills_with_zeros() -> None:
    x = torch.arange(1, 21, dtype=torch.float32).repeat(8, 1, 1)  # (8, 1, 20): steps 1..20
    out = time_shift(x, 0.25, torch.Generator().manual_seed(1))
    for row in out[:, 0]:
        kept = row[row > 0]
        assert torch.all(kept[1:] - kept[:-1] == 1)  # the series in order, moved
        shift = int(kept[0]) - 1 if row[0] > 0 else -int((row == 0).sum())
        assert abs(shift) <= 5 and len(kept) == 20 - abs(shift)


def test_window_slice_stretches_a_window_back_to_the_length() -> None:
    ramp = torch.linspace(0, 1, 50).repeat(4, 3, 1)  # a straight line stays straight, with a 0.8 times slope
    out = window_slice(ramp, 0.8, torch.Generator().manual_seed(2))
    assert out.shape == ramp.shape
    slopes = out[..., -1] - out[..., 0]
    assert torch.allclose(slopes, torch.full_like(slopes, (40 - 1) / 49), atol=1e-5)
    assert torch.equal(window_slice(ramp, 1.0), ramp)


@pytest.mark.parametrize("key", ["window_slice", "time_shift", "magnitude_scale"])
def test_series_augmentations_need_steps(key: str) -> None:
    with pytest.raises(ConfigError, match=f"augment.{key} needs signals; data.kind = 'table'"):
        config_from_dict({"name": "x", "data": {"source": "a.csv"}, "augment": {key: 0.5}})
    config = config_from_dict({"name": "x", "data": {"kind": "signal", "source": "a.npz"}, "augment": {key: 0.5}})
    augment = Augment(**config.augment.model_dump())
    assert augment.active and augment.inputs(torch.randn(3, 2, 16)).shape == (3, 2, 16)
    with pytest.raises(ConfigError, match="needs signal batches"):
        augment.inputs(torch.randn(3, 16))
