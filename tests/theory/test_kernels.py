"""NNGP/NTK: closed forms vs quadrature, kernel regression vs scikit-learn, empirical NTK via torch.func."""

import pytest
import torch
from torch import nn

from deepsci.errors import ConfigError, DataError
from deepsci.theory.activation import Activation
from deepsci.theory.kernels import empirical_ntk, kernel_regression, nngp_ntk, ntk_scales


@pytest.mark.parametrize("name,fn", [("relu", torch.relu), ("erf", torch.erf)])
def test_closed_forms_match_quadrature(name, fn):
    X = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))
    k, t = nngp_ntk(X, depth=3, activation=name, cb=0.1, cw=1.5)
    kq, tq = nngp_ntk(X, depth=3, activation=Activation("q", fn, (0.0,)), cb=0.1, cw=1.5, order=48)
    assert torch.allclose(k, kq, atol=1e-10) and torch.allclose(t, tq, atol=1e-10)


def test_depth_zero_is_linear_kernel():
    X = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    k, t = nngp_ntk(X, depth=0, cb=0.5, cw=2.0)
    assert torch.allclose(k, 0.5 + 2.0 * X.double() @ X.double().T / 3)
    assert torch.allclose(t, k)


def test_kernel_regression_matches_sklearn():
    from sklearn.datasets import load_diabetes
    from sklearn.kernel_ridge import KernelRidge

    X, y = load_diabetes(return_X_y=True)
    X = torch.tensor(X / X.std(0)); y = torch.tensor((y - y.mean()) / y.std())
    Xtr, ytr, Xte = X[:300], y[:300], X[300:]
    pred = kernel_regression(Xtr, ytr, Xte, kernel="nngp", depth=2, activation="relu", cb=0.1, cw=2.0, ridge=0.1)
    ktr, _ = nngp_ntk(Xtr, depth=2, cb=0.1, cw=2.0)
    kte, _ = nngp_ntk(Xte, Xtr, depth=2, cb=0.1, cw=2.0)
    lam = 0.1 * float(ktr.diagonal().mean())
    ref = KernelRidge(alpha=lam, kernel="precomputed").fit(ktr.numpy(), ytr.numpy()).predict(kte.numpy())
    assert torch.allclose(pred, torch.tensor(ref), atol=1e-6)
    r2 = 1 - float(((pred - y[300:]) ** 2).mean() / y[300:].var())
    assert r2 > 0.3
    with pytest.raises(ConfigError):
        kernel_regression(Xtr, ytr, Xte, kernel="rbf")  # type: ignore[arg-type]
    with pytest.raises(DataError):
        kernel_regression(Xtr, ytr[:10], Xte)


def _relu_net(width, seed, n0=8):
    g = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Linear(n0, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 1))
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Linear):
                m.weight.normal_(0, (2 / m.in_features) ** 0.5, generator=g)
                m.bias.zero_()
    return net


def test_empirical_ntk_against_hand_jacobian_and_limit():
    X = torch.randn(6, 8, generator=torch.Generator().manual_seed(3))
    net = _relu_net(16, 0)
    emp = empirical_ntk(net, X)
    # Oracle: explicit per-sample gradients with autograd.
    rows = []
    for x in X:
        net.zero_grad()
        net(x[None]).sum().backward()
        rows.append(torch.cat([p.grad.flatten() for p in net.parameters()]))
    J = torch.stack(rows)
    assert torch.allclose(emp, J @ J.T, rtol=1e-4, atol=1e-4)
    _, theta = nngp_ntk(X, depth=2, activation="relu", cb=0.0, cw=2.0)
    dist = []
    for w in (32, 1024):
        d = [float((empirical_ntk(n, X, scales=ntk_scales(n, 0.0, 2.0)).double() - theta).norm() / theta.norm())
             for n in (_relu_net(w, s) for s in range(3))]
        dist.append(sum(d) / 3)
    assert dist[1] < dist[0] / 2, dist
