"""Cover's function counting measured by exact LP separability, and double descent of random features."""

import pytest

from deepsci.theory.capacity import capacity_experiment, capacity_figure, cover_fraction, separable
from deepsci.theory.double_descent import double_descent_experiment, double_descent_figure


def test_cover_formula_closed_forms():
    assert cover_fraction(7, 10) == 1.0  # P <= N: every dichotomy
    assert cover_fraction(100, 50) == pytest.approx(0.5, abs=1e-15)  # P = 2N: exactly half (binomial symmetry)
    assert all(cover_fraction(p, 1) == pytest.approx(2 / 2 ** p) for p in range(1, 12))  # N = 1: sign(w x), 2 of them
    assert all(cover_fraction(p, 2) == pytest.approx(2 * p / 2 ** p) for p in range(2, 12))  # N = 2: 2P (rays)


def test_separable_decides_known_cases():
    import numpy as np

    x = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]])
    assert separable(x, np.array([1.0, -1.0, 1.0]))
    assert not separable(x, np.array([1.0, 1.0, 1.0]))  # x and -x on one side: no plane through the origin


def test_measured_fraction_follows_cover_at_n_50():
    # P = 2N: 0.5 exactly in theory; 300 dichotomies give a standard error of 0.029.
    mid = capacity_experiment(50, (2.0,), trials=300, seed=0)
    assert mid.measured[0] == pytest.approx(0.5, abs=0.05)
    # Away from the transition the binomial spread is small: few trials suffice to hold 0.05. The points
    # at P/N = 1.75 and 2.25 are in docs/explain.md (400 trials each).
    curve = capacity_experiment(50, (0.5, 1.0, 1.5, 2.5, 3.0, 4.0), trials=30, seed=1)
    assert curve.max_deviation < 0.05, (curve.measured, curve.formula)
    assert capacity_figure(curve).axes


def test_double_descent_peaks_at_the_threshold_and_weight_decay_removes_it():
    n = 100
    res = double_descent_experiment(n, widths=(25, 50, 71, 100, 141, 200, 400), ridges=(0.0, 1e-3), seeds=3,
                                    n_test=500)
    plain, decayed = res.test_error["0"], res.test_error["0.001"]
    assert n / 2 <= res.peak_width["0"] <= 2 * n
    at = res.widths.index(n)
    assert plain[at] > 3 * max(plain[0], plain[-1])  # a peak, with descents on both sides
    assert decayed[at] < plain[at] / 10 and max(decayed) <= decayed[0] + 1e-9  # no peak with weight decay
    assert res.train_error["0"][-1] < 1e-12  # beyond the threshold the noisy labels are interpolated
    assert double_descent_figure(res).axes
