"""Monotone outputs as a model option (issue 25): [model] monotone = { name = "increasing" | "decreasing" }."""

import pytest
import torch
from pydantic import ValidationError

from deepsci.data.schema import InputSchema
from deepsci.errors import ConfigError, ModelError
from deepsci.models.build import build_model, model_from_spec
from deepsci.models.mlp import MLP
from deepsci.models.specs import model_config


def _fitted(model, x, y):
    """Twenty sign-gradient steps towards targets that fall with column 0: against the constraint."""
    for _ in range(20):
        model.zero_grad()
        (model(x) - y).pow(2).mean().backward()
        with torch.no_grad():
            for weight in model.parameters():
                weight -= 1e-2 * weight.grad.sign()
    return model.eval()


def _steps(model, x, column, delta=0.5):
    """f(x + delta e_column) - f(x) for every row and output."""
    moved = x.clone()
    moved[:, column] += delta
    with torch.no_grad():
        return model(moved) - model(x)


def test_outputs_rise_and_fall_with_their_columns_whatever_the_training_and_a_plain_mlp_does_not():
    torch.manual_seed(0)
    x = torch.randn(256, 3)
    y = torch.stack([-x[:, 0] + x[:, 1] + x[:, 2] ** 2, torch.sin(3 * x[:, 0])], 1)
    monotone = _fitted(MLP(3, 2, (16, 16), "tanh", increasing=[0], decreasing=[1], seed=0), x, y)
    plain = _fitted(MLP(3, 2, (16, 16), "tanh", seed=0), x, y)
    assert float(_steps(monotone, x, 0).min()) >= 0.0 and float(_steps(monotone, x, 1).max()) <= 0.0
    assert float(_steps(plain, x, 0).min()) < -1e-2  # it learnt the falling target: not monotone
    assert float(_steps(monotone, x, 2).min()) < 0.0 < float(_steps(monotone, x, 2).max())  # column 2 is free


def test_the_option_names_columns_and_the_model_reloads_with_its_constrained_weights():
    schema = InputSchema("x", "table", (4,), feature_names=["g", "r", "i", "z"])
    model = build_model(model_config(hidden=[8], monotone={"r": "decreasing", "z": "increasing"}), {"x": schema}, 1,
                        task="regression", seed=0)
    assert model.hparams["decreasing"] == [1] and model.hparams["increasing"] == [3]
    again = model_from_spec(model.spec())
    again.load_state_dict(model.state_dict())
    x = torch.randn(5, 4)
    with torch.no_grad():
        assert torch.equal(again(x), model(x))
    with pytest.raises(ConfigError, match=r"model.monotone names \['luminosity'\]"):
        build_model(model_config(monotone={"luminosity": "increasing"}), {"x": schema}, 1, task="regression", seed=0)
    with pytest.raises(ValidationError, match="non-decreasing activation"):
        model_config(activation="gelu", monotone={"r": "decreasing"})
    with pytest.raises(ModelError, match="distinct inputs"):
        MLP(2, 1, increasing=[0], decreasing=[0])
    assert "monotone" not in model_config().applicable()  # config.toml of an unconstrained MLP is as before
