"""The time-series presets (Wang et al. 2017; InceptionTime, Ismail Fawaz et al. 2020) and the default [model] of
each data kind."""

from __future__ import annotations

import pytest
import torch

from deepsci.config import config_from_dict
from deepsci.data.schema import InputSchema
from deepsci.errors import ConfigError, ModelError
from deepsci.models import build_model
from deepsci.models.specs import DEFAULT_MODELS, model_config
from deepsci.training.ensemble_any import build_any_ensemble


def _fcn_parameters(c: int, k: int) -> int:
    """FCN's parameter count by hand: bias-free convolutions (batch norm follows), BN scale+shift, linear head."""
    convs = c * 128 * 8 + 128 * 256 * 5 + 256 * 128 * 3
    return convs + 2 * (128 + 256 + 128) + 128 * k + k


def _resnet_parameters(c: int, k: int) -> int:
    """The time-series ResNet's count by hand: per block three convolutions (8, 5, 3) + BN, and a 1x1 shortcut
    convolution + BN where the channels change (64 -> 128 only; 128 -> 128 is the identity)."""
    total, c_in = 0, c
    for c_out in (64, 128, 128):
        total += c_in * c_out * 8 + c_out * c_out * 5 + c_out * c_out * 3 + 3 * 2 * c_out
        if c_in != c_out:
            total += c_in * c_out + 2 * c_out
        c_in = c_out
    return total + 128 * k + k


def _inception_parameters(c: int, k: int) -> int:
    """InceptionTime's count by hand: per module a 1x1 bottleneck to 32 (none on a 1-channel input), convolutions of
    widths 40, 20, 10 to 32 channels each, a 1x1 convolution of 32 after the max pool, BN over the 128 concatenated
    channels; a 1x1 convolution + BN shortcut around every three modules; the linear head. All convolutions bias-free.
    """
    def module(c_in: int) -> int:
        width = 32 if c_in > 1 else c_in
        return (c_in * 32 if c_in > 1 else 0) + width * 32 * (40 + 20 + 10) + c_in * 32 + 2 * 128

    total, c_in = 0, c
    for _ in range(2):
        total += module(c_in) + 2 * module(128) + c_in * 128 + 2 * 128
        c_in = 128
    return total + 128 * k + k


@pytest.mark.parametrize(("preset", "count"), [("fcn", _fcn_parameters), ("resnet", _resnet_parameters),
                                               ("inception", _inception_parameters)])
def test_preset_is_the_papers_network(preset: str, count) -> None:
    schema = InputSchema("x", "signal", (2, 37))
    model = build_model(model_config(kind="cnn", preset=preset), {"x": schema}, 4, task="multiclass", seed=0)
    assert sum(p.numel() for p in model.parameters()) == count(2, 4)
    for length in (37, 90):  # the global pool makes the head independent of the length
        assert model(torch.randn(3, 2, length)).shape == (3, 4)


def test_resnet_blocks_keep_the_length() -> None:
    model = build_model(model_config(kind="cnn", preset="resnet"), {"x": InputSchema("x", "signal", (1, 50))}, 2,
                        task="binary", seed=0)
    assert model.features(torch.randn(2, 1, 50)).shape == (2, 128, 50)


@pytest.mark.parametrize("channels", [1, 3])
def test_inception_keeps_the_length_and_skips_the_bottleneck_of_one_channel(channels: int) -> None:
    model = build_model(model_config(kind="cnn", preset="inception"), {"x": InputSchema("x", "signal", (channels, 50))},
                        2, task="binary", seed=0)
    assert sum(p.numel() for p in model.parameters()) == _inception_parameters(channels, 2)
    assert model.features(torch.randn(2, channels, 50)).shape == (2, 128, 50)
    module = model.features[0].body[0]
    assert isinstance(module.bottleneck, torch.nn.Identity) == (channels == 1)


def test_inception_time_is_an_ensemble_of_five_networks() -> None:
    """The paper's classifier: five networks from different initial weights, their class probabilities averaged
    ([uncertainty] method = "ensemble", members = 5 builds them as one module)."""
    spec, schema = model_config(kind="cnn", preset="inception"), {"x": InputSchema("x", "signal", (1, 40))}
    ensemble = build_any_ensemble(lambda s: build_model(spec, schema, 3, task="multiclass", seed=s), 5, seed=0)
    ensemble.eval()
    out = ensemble(torch.randn(4, 1, 40))
    assert out.shape == (5, 4, 3)
    assert all(not torch.allclose(out[0], out[k]) for k in range(1, 5))  # five different initialisations


def test_inception_block_is_refused_on_images() -> None:
    with pytest.raises(ModelError, match="'inception' block is InceptionTime's, for 1-D signals"):
        build_model(model_config(kind="cnn", blocks=[{"type": "inception"}]),
                    {"x": InputSchema("x", "image", (1, 8, 8))}, 2, task="binary", seed=0)


def test_preset_and_blocks_are_exclusive() -> None:
    with pytest.raises(ConfigError, match="preset and model.blocks"):
        config_from_dict({"name": "x", "data": {"kind": "signal", "source": "a.npz"},
                          "model": {"kind": "cnn", "preset": "fcn", "blocks": [{"type": "conv", "channels": 4}]}})


@pytest.mark.parametrize(("kind", "source"), [("signal", "a.npz"), ("image", "a.npz"), ("sequence", "a.npz"),
                                              ("set", "a.csv"), ("table", "a.csv")])
def test_default_model_follows_the_data_kind(kind: str, source: str) -> None:
    config = config_from_dict({"name": "x", "data": {"kind": kind, "source": source}})
    assert config.model.kind == DEFAULT_MODELS[kind]["kind"]
    explicit = config_from_dict({"name": "x", "data": {"kind": kind, "source": source}, "model": {"kind": "mlp"}})
    assert explicit.model.kind == "mlp"  # a [model] section the user wrote is kept as written


def test_default_schedule_follows_the_data_kind() -> None:
    """Signals anneal the learning rate by a cosine unless [train] names a schedule (docs/signals.md: at a constant
    lr the default ResNet ended at chance on GunPoint at seed 0); other kinds keep a constant rate."""
    signal = {"name": "x", "data": {"kind": "signal", "source": "a.npz"}}
    assert config_from_dict(signal).train.schedule == "cosine"
    assert config_from_dict({**signal, "train": {"epochs": 5}}).train.schedule == "cosine"
    assert config_from_dict({**signal, "train": {"schedule": "constant"}}).train.schedule == "constant"
    assert config_from_dict({"name": "x", "data": {"kind": "table", "source": "a.csv"}}).train.schedule == "constant"


def test_config_toml_keeps_only_keys_that_apply() -> None:
    raw = {"name": "x", "data": {"kind": "signal", "source": "a.npz"}}
    text = config_from_dict(raw).toml()
    for key in ("channels", "kernel", "pool", "momentum", "nesterov", "rotate", "erase"):
        assert f"\n{key} =" not in text, key
    assert 'preset = "resnet"' in text and "hidden = []" in text
    sgd = config_from_dict({**raw, "model": {"kind": "cnn"}, "train": {"optimizer": "sgd"}}).toml()
    assert "\nmomentum =" in sgd and "\nchannels =" in sgd  # SGD reads momentum; LeNet stages read channels
    import tomllib
    assert config_from_dict(tomllib.loads(text)) == config_from_dict(raw)  # the file rebuilds the same config


@pytest.mark.parametrize("key", ["rotate", "crop_scale", "erase"])
def test_image_augmentations_are_refused_without_images(key: str) -> None:
    with pytest.raises(ConfigError, match=f"augment.{key} needs images; data.kind = 'signal'"):
        config_from_dict({"name": "x", "data": {"kind": "signal", "source": "a.npz"}, "augment": {key: 0.5}})
    image = config_from_dict({"name": "x", "data": {"kind": "image", "source": "a.npz"}, "augment": {key: 0.5}})
    assert f"\n{key} = 0.5" in image.toml()
