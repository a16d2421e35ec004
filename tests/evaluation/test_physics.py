"""The physics datasets' summaries (deepsci.evaluation.physics): the binned statistics by hand, the galaxy
summary against the simulator's own relation, the lens summary on a hand-made classifier."""

from __future__ import annotations

import numpy as np
import pytest

from deepsci.data import catalog
from deepsci.evaluation import physics
from deepsci.evaluation.results import SplitResult


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSCI_CACHE", str(tmp_path / "cache"))


def test_binned_coverage_counts_by_hand():
    x = np.array([0.5, 1.5, 1.6, 2.5])
    y = np.array([1.0, 1.0, 5.0, 1.0])
    rows = physics.binned_coverage(x, y, np.zeros(4), np.full(4, 2.0), np.array([0.0, 1.0, 2.0, 3.0]))
    assert [(r.n, r.coverage) for r in rows] == [(1, 1.0), (2, 0.5), (1, 1.0)]


def test_binned_auc_compares_each_bins_positives_with_all_negatives():
    values = np.array([0.5, 0.5, 1.5, 1.5, 0.0, 0.0])
    label = np.array([1, 1, 1, 1, 0, 0])
    score = np.array([0.9, 0.8, 0.1, 0.2, 0.5, 0.4])  # bin 1 found, bin 2 ranked below every negative
    rows = physics.binned_auc(values, label, score, np.array([0.0, 1.0, 2.0]))
    assert [r.auc for r in rows] == [1.0, 0.0] and [r.n_positive for r in rows] == [2, 2]


def test_the_galaxy_summary_finds_a_calibrated_oracle_calibrated_and_on_the_relation():
    from deepsci.data.physics.galaxies import INTRINSIC_SCATTER, mass_luminosity, simulate_galaxies

    sim = simulate_galaxies(catalog.GALAXIES_N, seed=0)
    ids = sim.id.tolist()[::4]
    truth = sim.set_index("id").loc[ids]
    pred = mass_luminosity(truth.log_lum.to_numpy())  # the true relation: error = the intrinsic scatter
    half = 1.6449 * INTRINSIC_SCATTER
    test = SplitResult("test", ids, truth[["log_mass"]].to_numpy(), pred[:, None], {},
                       bands={"lower": (pred - half)[:, None], "upper": (pred + half)[:, None]})
    s = physics.galaxy_summary(test)
    assert s.max_abs_offset < 0.02
    assert all(0.85 < b.coverage < 0.95 for b in s.coverage if b.n >= 200)
    biased = SplitResult("test", ids, test.y_true, test.pred + 0.3, {}, bands=test.bands)
    assert physics.galaxy_summary(biased).max_abs_offset == pytest.approx(0.3, abs=0.02)


def test_the_lens_summary_reports_auc_by_einstein_radius():
    rng = np.random.default_rng(0)
    n = 400
    label = np.arange(n) % 2
    theta = np.where(label == 1, rng.uniform(0.3, 2.5, n), 0.0)
    snr = rng.uniform(5, 80, n)
    score = np.where(label == 1, (theta > 1.0) * 0.9 + 0.05, 0.5)  # finds only the large rings
    test = SplitResult("test", [str(i) for i in range(n)], label, np.column_stack([1 - score, score]), {})
    s = physics.lens_summary(test, truth={"theta_e": theta, "snr": snr})
    assert s.auc_easy == 1.0
    assert s.by_theta_e[0].auc == 0.0 and s.by_theta_e[-1].auc == 1.0


def test_only_the_physics_catalog_sources_get_a_summary():
    test = SplitResult("test", ["a", "b"], np.zeros((2, 1)), np.zeros((2, 1)), {})
    assert physics.physics_summary("solubility", test) is None
    assert physics.physics_summary("galaxies", None) is None
    assert set(physics.PHYSICS_SUMMARIES) == {"galaxies", "lenses", "collider", "collider-particles"}
