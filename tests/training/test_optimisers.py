"""deepsci.training.optimisers: torch.optim's Adam, AdamW and SGD, bit for bit, without importing torch._dynamo."""

import subprocess
import sys

import pytest
import torch

from deepsci.training.optimisers import make_optimiser

TORCH_CLASSES = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
SETTINGS = [("adam", {}), ("adam", {"weight_decay": 0.01}), ("adamw", {"weight_decay": 0.01}),
            ("sgd", {"weight_decay": 0.01}), ("sgd", {"nesterov": True})]


def _train(model, optimiser, steps=5):
    x = torch.linspace(-1, 1, 24).reshape(8, 3)
    for _ in range(steps):
        optimiser.zero_grad()
        model(x).pow(2).mean().backward()
        optimiser.step()


@pytest.mark.parametrize("name,settings", SETTINGS)
def test_each_optimiser_updates_and_saves_as_torch_optim_does(name, settings):
    torch.manual_seed(0)
    ours, theirs = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    theirs.load_state_dict(ours.state_dict())
    mine = make_optimiser(ours.parameters(), name, lr=0.01, **settings)
    extra = {"momentum": 0.9, "foreach": True} if name == "sgd" else {"fused": True}
    reference = TORCH_CLASSES[name](theirs.parameters(), lr=0.01, **{"weight_decay": 0.0, **settings}, **extra)
    assert isinstance(mine, TORCH_CLASSES[name])
    _train(ours, mine)
    _train(theirs, reference)
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), theirs.parameters()))
    saved, expected = mine.state_dict(), reference.state_dict()
    assert saved["param_groups"] == expected["param_groups"]
    assert all(torch.equal(saved["state"][0][k], v) for k, v in expected["state"][0].items())
    reference.load_state_dict(saved)  # a checkpoint of either loads in the other and goes on the same
    mine.load_state_dict(expected)
    _train(ours, mine, steps=2)
    _train(theirs, reference, steps=2)
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), theirs.parameters()))


def test_a_fit_never_imports_torch_dynamo():
    """torch.optim's and FlopCounterMode's compile guards import torch._dynamo and SymPy (~2 s of CPU) on first
    use: a fit, its thread choice and its checkpoint must not."""
    code = """
import sys, torch
from deepsci.training import Trainer, get_loss
from deepsci.training.threads import step_mflop
from deepsci.models.mlp import MLP
x, y = torch.randn(64, 4), torch.randn(64, 1)
for name in ("adam", "adamw", "sgd"):
    model = MLP(4, 1, (8,))
    assert step_mflop(model, x, 16) > 0
    trainer = Trainer(model, loss=get_loss("mse", "regression"), optimizer=name, lr=1e-2, epochs=2, batch_size=16,
                      schedule="cosine", clip_grad_norm=1.0)
    trainer.fit(x[:48], y[:48], x[48:], y[48:])
    trainer.optimizer.load_state_dict(trainer.optimizer.state_dict())
print(sorted(m for m in sys.modules if m.startswith("torch._dynamo")))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
