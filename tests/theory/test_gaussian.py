"""Quadrature against closed forms (oracles: Gaussian moments, arc-cosine and erf kernels)."""

import math

import pytest
import torch

from deepsci.theory.gaussian import gaussian_expectation, gaussian_expectation_2d, hermite_rule


@pytest.mark.parametrize("k", [0.01, 0.7, 3.0, 50.0])
def test_1d_moments_and_relu(k):
    assert float(gaussian_expectation(lambda z: z**4, k)) == pytest.approx(3 * k * k, rel=1e-12)
    assert float(gaussian_expectation(torch.relu, k)) == pytest.approx(math.sqrt(k / (2 * math.pi)), rel=1e-12)
    e = float(gaussian_expectation(lambda z: torch.erf(z) ** 2, k))
    # erf saturates on a scale 1/√K in u, so the rule is a little less exact at large K.
    assert e == pytest.approx((2 / math.pi) * math.asin(2 * k / (1 + 2 * k)), abs=1e-9)


def test_hermite_rule_is_exact_for_polynomials():
    u, w = hermite_rule(10)
    assert float((w * u**6).sum()) == pytest.approx(15.0, rel=1e-12)


@pytest.mark.parametrize("k11,k12,k22", [(1.3, 0.5, 0.7), (2.0, -1.1, 1.0), (0.5, 0.495, 0.5), (1.0, 0.0, 3.0)])
def test_2d_matches_arccos_and_erf(k11, k12, k22):
    theta = math.acos(k12 / math.sqrt(k11 * k22))
    relu = math.sqrt(k11 * k22) / (2 * math.pi) * (math.sin(theta) + (math.pi - theta) * math.cos(theta))
    step = (math.pi - theta) / (2 * math.pi)
    erf = (2 / math.pi) * math.asin(2 * k12 / math.sqrt((1 + 2 * k11) * (1 + 2 * k22)))
    assert float(gaussian_expectation_2d(torch.relu, None, k11, k12, k22, order=64)) == pytest.approx(relu, abs=1e-10)
    heav = lambda z: (z > 0).double()  # noqa: E731
    assert float(gaussian_expectation_2d(heav, None, k11, k12, k22, order=64)) == pytest.approx(step, abs=1e-10)
    assert float(gaussian_expectation_2d(torch.erf, None, k11, k12, k22, order=64)) == pytest.approx(erf, abs=1e-10)


def test_2d_batched_shapes():
    k = torch.tensor([[1.0, 2.0], [0.5, 1.5]])
    out = gaussian_expectation_2d(torch.tanh, None, k, 0.3 * k, k, order=16)
    assert out.shape == (2, 2)


def test_near_degenerate_pair_is_still_close():
    # ρ = 0.9998 with a discontinuous f: the outer integrand is a steep Φ; accuracy drops to ~1e-6.
    k12 = 0.4999
    step = (math.pi - math.acos(k12 / 0.5)) / (2 * math.pi)
    heav = lambda z: (z > 0).double()  # noqa: E731
    assert float(gaussian_expectation_2d(heav, None, 0.5, k12, 0.5, order=64)) == pytest.approx(step, abs=1e-6)
