"""FGSM and PGD against closed forms and each other; adversarial training raises accuracy under attack."""

import pytest
import torch
from torch import nn

from deepsci.errors import ConfigError, DataError
from deepsci.explain import adversarial_augment, attack, fgsm, pgd, robustness_curve
from deepsci.models.mlp import MLP
from deepsci.training import Trainer, get_loss


def test_fgsm_on_logistic_regression_is_the_closed_form():
    # f = w·x + b with binary cross-entropy: ∇ₓ loss = (σ(f) - y) w, so x' = x + ε sign(σ(f) - y) sign(w).
    torch.manual_seed(0)
    model = nn.Linear(5, 1)
    x, y = torch.randn(20, 5), torch.randint(0, 2, (20,))
    loss = get_loss(None, "binary")
    x_adv = fgsm(model, loss, x, y, 0.3)
    with torch.no_grad():
        expected = x + 0.3 * torch.sign(torch.sigmoid(model(x)) - y[:, None].float()) * torch.sign(model.weight)
    assert torch.allclose(x_adv, expected)
    assert model.weight.grad is None  # the attack never touches the parameters' gradients


def _digits_table():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = torch.tensor(X, dtype=torch.float32)
    mu, sd = X[:1200].mean(0), X[:1200].std(0).clamp_min(1e-3)
    return (X - mu) / sd, torch.tensor(y)


def _fit(X, y):
    model = MLP(64, 10, hidden=(64,), seed=0)
    Trainer(model, loss=get_loss(None, "multiclass"), optimizer="adam", lr=3e-3, batch_size=64, epochs=15, seed=0,
            ).fit(X[:1200], y[:1200])
    return model.eval()


@pytest.fixture(scope="module")
def digits():
    X, y = _digits_table()
    return X, y, _fit(X, y)


def test_pgd_stays_in_the_ball_and_beats_fgsm(digits):
    X, y, model = digits
    x, t = X[1200:1400], y[1200:1400]
    loss = get_loss(None, "multiclass")
    eps = 0.25
    x_pgd = pgd(model, loss, x, t, eps, steps=10, generator=torch.Generator().manual_seed(0))
    assert float((x_pgd - x).abs().max()) <= eps + 1e-6
    with torch.no_grad():
        clean, l_fgsm, l_pgd = (float(loss(model(v), t)) for v in (x, fgsm(model, loss, x, t, eps), x_pgd))
    assert clean < l_fgsm < l_pgd


def test_robustness_curve_falls_with_epsilon_and_adversarial_training_lifts_it(digits):
    X, y, model = digits
    eps = (0.0, 0.1, 0.3)
    plain = robustness_curve(model, X[1200:], y[1200:], "multiclass", epsilons=eps, steps=5)
    with torch.no_grad():
        clean = float((model(X[1200:]).argmax(1) == y[1200:]).float().mean())
    assert plain.accuracy["fgsm"][0] == pytest.approx(clean) == plain.accuracy["pgd"][0]
    assert plain.accuracy["pgd"][2] < plain.accuracy["pgd"][1] < clean
    assert all(p <= f + 1e-9 for p, f in zip(plain.accuracy["pgd"], plain.accuracy["fgsm"]))
    robust_model = MLP(64, 10, hidden=(64,), seed=0)
    Trainer(robust_model, loss=get_loss(None, "multiclass"), optimizer="adam", lr=3e-3, batch_size=64, epochs=15,
            seed=0, augment=adversarial_augment(robust_model, get_loss(None, "multiclass"), epsilon=0.3,
                                                method="fgsm", steps=1)).fit(X[:1200], y[:1200])
    robust = robustness_curve(robust_model, X[1200:], y[1200:], "multiclass", epsilons=eps, steps=5)
    assert robust.accuracy["pgd"][2] > plain.accuracy["pgd"][2] + 0.1, (robust.accuracy, plain.accuracy)


def test_augment_doubles_the_batch_and_restores_the_mode():
    model = MLP(4, 3, hidden=(8,), dropout=0.5, seed=0).train()
    augment = adversarial_augment(model, get_loss(None, "multiclass"), epsilon=0.1, method="pgd", steps=3)
    x, y = torch.randn(6, 4), torch.randint(0, 3, (6,))
    xb, yb = augment(x, y, torch.Generator().manual_seed(0))
    assert xb.shape == (12, 4) and torch.equal(xb[:6], x) and torch.equal(yb, torch.cat([y, y]))
    assert float((xb[6:] - x).abs().max()) <= 0.1 + 1e-6 and model.training
    with pytest.raises(ConfigError, match="fgsm, pgd"):
        adversarial_augment(model, get_loss(None, "multiclass"), epsilon=0.1, method="cw", steps=1)
    with pytest.raises(ConfigError, match="float input"):
        augment(torch.randint(0, 3, (6, 4)), y, torch.Generator())
    with pytest.raises(DataError, match="classifiers"):
        robustness_curve(model, x, y, "regression")
    assert attack(model, get_loss(None, "multiclass"), x, y, 0.0).equal(x)
