"""Hopfield networks: Hebbian storage, energy descent, sync 2-cycles, capacity."""

import numpy as np
import pytest

from deepsci.errors import DataError
from deepsci.models.hopfield import (capacity_experiment, corrupt, energy, hebbian_weights, overlap,
                                     random_patterns, recall)


def test_hebbian_weights_against_the_sum_of_outer_products():
    p = random_patterns(3, 6, seed=1)
    w = hebbian_weights(p)
    hand = sum(np.outer(x, x) for x in p) / 6
    np.fill_diagonal(hand, 0)
    assert np.allclose(w, hand) and np.allclose(w, w.T)
    s = p[0]
    assert energy(w, s) == pytest.approx(-0.5 * s @ hand @ s)


def test_stored_patterns_are_recalled_from_noisy_cues_at_low_load():
    p = random_patterns(5, 200, seed=0)
    cues = corrupt(p, 0.1, seed=1)
    assert np.allclose(overlap(cues, p), 0.8)
    out = recall(hebbian_weights(p), cues, seed=2)
    assert out.converged.all()
    assert np.array_equal(out.states, p)


def test_async_energy_never_increases():
    p = random_patterns(30, 100, seed=3)  # overloaded: long, non-trivial descent into spurious minima
    out = recall(hebbian_weights(p), corrupt(p[:4], 0.3, seed=4), track_units=True, seed=5)
    steps = np.diff(out.unit_energies, axis=0)
    assert out.unit_energies.shape[0] == 1 + 100 * out.sweeps
    assert steps.max() <= 1e-12
    assert steps.min() < 0  # and it does descend


def test_sync_updates_can_oscillate_while_async_settles():
    w = np.array([[0.0, 1.0], [1.0, 0.0]])
    sync = recall(w, np.array([1.0, -1.0]), mode="sync", max_sweeps=6)
    assert not sync.converged.all()
    assert np.allclose(sync.energies[:, 0], 1.0)  # a 2-cycle between (1,-1) and (-1,1) at the same energy
    asyn = recall(w, np.array([1.0, -1.0]), mode="async")
    assert asyn.converged.all() and asyn.energies[-1, 0] == pytest.approx(-1.0)


def test_capacity_n200():
    cap = capacity_experiment(200, (0.05, 0.25), trials=2, seed=0)
    assert cap.n_patterns == [10, 50]
    assert cap.recall_fraction[0] >= 0.95
    assert cap.recall_fraction[1] < 0.5


def test_bad_inputs():
    with pytest.raises(DataError, match="-1/\\+1"):
        hebbian_weights(np.array([[0, 1, 1]]))
    with pytest.raises(DataError, match="'async' or 'sync'"):
        recall(np.zeros((2, 2)), np.ones(2), mode="parallel")
    with pytest.raises(DataError, match="do not match"):
        recall(np.zeros((3, 3)), np.ones(2))
