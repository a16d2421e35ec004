"""The physics simulators (deepsci.data.physics): each checked against the physics it states."""

from __future__ import annotations

import numpy as np
import pytest

from deepsci.data import list_datasets, load_frame
from deepsci.data.physics import cache as sim_cache
from deepsci.data.physics import collider, galaxies


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """Simulations go to a fresh cache, never the user's ~/.cache."""
    monkeypatch.setenv("DEEPSCI_CACHE", str(tmp_path / "cache"))


# -- galaxies --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def survey():
    return galaxies.simulate_galaxies(6000, seed=1, cache=False)


def test_mass_luminosity_slopes_and_scatter_are_the_stated_ones(survey):
    faint, bright = survey.log_lum < 9.6, survey.log_lum > 10.9
    slope_faint = np.polyfit(survey.log_lum[faint], survey.log_mass[faint], 1)[0]
    slope_bright = np.polyfit(survey.log_lum[bright], survey.log_mass[bright], 1)[0]
    assert slope_faint == pytest.approx(galaxies.SLOPE_FAINT, abs=0.05)
    assert slope_bright == pytest.approx(galaxies.SLOPE_BRIGHT, abs=0.05)
    residual = survey.log_mass - galaxies.mass_luminosity(survey.log_lum)
    assert residual.mean() == pytest.approx(0.0, abs=0.01)
    assert residual.std() == pytest.approx(galaxies.INTRINSIC_SCATTER, rel=0.05)


def test_colour_follows_the_bell_mass_to_light_relation(survey):
    log_ml = survey.log_mass - survey.log_lum
    slope, intercept = np.polyfit(log_ml, survey.g_r, 1)  # g - r = (log M/L - a) / b + noise
    assert slope == pytest.approx(1 / galaxies.BELL_B, rel=0.03)
    assert intercept == pytest.approx(-galaxies.BELL_A / galaxies.BELL_B, abs=0.02)


def test_photometric_noise_grows_with_magnitude(survey):
    true_r = galaxies.SUN_ABS_MAG_R - 2.5 * survey.log_lum + galaxies.DISTANCE_MODULUS
    error = survey.r - true_r
    faint, bright = survey.log_lum < 9.0, survey.log_lum > 11.0
    assert error[faint].std() > 2.5 * error[bright].std()
    # the sky-limited part: sigma_m ~ 1.0857 / SNR for the faint ones
    assert error[faint].std() == pytest.approx(np.median(1.0857 / survey.snr_r[faint]), rel=0.25)


def test_asinh_magnitudes_are_pogson_magnitudes_for_bright_sources_and_finite_for_negative_flux():
    flux = np.array([1e-6, 1e-7])
    assert galaxies.asinh_magnitude(flux, 1e-10) == pytest.approx(-2.5 * np.log10(flux), abs=1e-5)
    assert np.isfinite(galaxies.asinh_magnitude(np.array([-1e-10]), 1e-10)).all()


def test_the_catalog_table_hides_the_truth():
    frame = load_frame("galaxies")
    assert list(frame.columns) == ["id", "g", "r", "i", "z", "log_mass"]
    assert {"galaxies", "lenses", "collider", "collider-particles"} <= {d.name for d in list_datasets()}


# -- collider --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def events():
    return collider.simulate_collider(6000, seed=1, cache=False)


def test_a_two_body_decay_conserves_the_parent_mass_and_a_boost_keeps_invariant_masses():
    rng = np.random.default_rng(0)
    mass, p = 500.0, rng.normal(0, 200, size=(100, 3))
    parent = np.column_stack([np.sqrt(mass ** 2 + (p ** 2).sum(1)), p])
    d1, d2 = collider.two_body(parent, np.full(100, 80.0), np.full(100, 90.0), rng)
    assert collider.invariant_mass(d1, d2) == pytest.approx(np.full(100, mass), rel=1e-9)
    assert collider.invariant_mass(d1) == pytest.approx(np.full(100, 80.0), rel=1e-6)


def test_signal_pairs_peak_at_the_resonance_masses_within_the_resolution(events):
    signal = events[events.label == "signal"]
    # smeared: sigma_E/E ~ 100%/sqrt(E) (+) 5% gives ~10 % on a pair mass near 80 GeV
    for column in ("m_a", "m_b"):
        assert np.median(signal[column]) == pytest.approx(collider.M_Y, rel=0.03)
        width = np.subtract(*np.percentile(signal[column], [75, 25])) / 1.349
        assert 0.03 * collider.M_Y < width < 0.2 * collider.M_Y
    assert np.median(signal.m_4) == pytest.approx(collider.M_X, rel=0.03)
    # the truth before smearing is the Breit-Wigner itself
    assert np.median(signal.m_a_true) == pytest.approx(collider.M_Y, abs=0.5)


def test_background_is_a_continuum_with_the_same_production_kinematics(events):
    signal, background = events[events.label == "signal"], events[events.label == "background"]
    window = lambda f: ((f.m_a > 70) & (f.m_a < 90)).mean()  # noqa: E731
    assert window(signal) > 0.6 and window(background) < 0.25
    # matched production: the four-particle system's pT over m_4 differs, its pT alone does not
    pt4 = lambda f: f.pt4_over_m4 * f.m_4  # noqa: E731
    assert np.median(pt4(signal)) == pytest.approx(np.median(pt4(background)), rel=0.1)


def test_high_level_masses_follow_the_massless_pair_formula(events):
    row = events.iloc[:50]
    m2 = 2 * row.a1_pt * row.a2_pt * (np.cosh(row.a1_eta - row.a2_eta) - np.cos(row.a1_phi - row.a2_phi))
    assert row.m_a.to_numpy() == pytest.approx(np.sqrt(m2.to_numpy()), rel=1e-6)


def test_the_particle_table_holds_four_particles_per_event_in_event_order(events):
    long = collider.particle_table(events.iloc[:30])
    assert len(long) == 120 and list(long.event.unique()) == list(events.id.iloc[:30])
    assert long.pt.iloc[:4].tolist() == pytest.approx(events.iloc[0][["a1_pt", "a2_pt", "b1_pt", "b2_pt"]].tolist())


# -- lenses ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lens_model():
    pytest.importorskip("lenstronomy")
    from deepsci.data.physics import lenses

    return lenses._image_model()


def _params(**over):
    base = {"theta_e": 1.5, "q": 1.0, "angle": 0.0, "shear": 0.0, "shear_angle": 0.0, "lens_r": 1.0,
            "source_r": 0.15, "source_n": 1.0, "source_q": 1.0, "source_angle": 0.0, "source_x": 0.0,
            "source_y": 0.0}
    base.update(over)
    return base


def _radius_grid():
    from deepsci.data.physics import lenses

    c = (np.arange(lenses.PIXELS) - (lenses.PIXELS - 1) / 2) * lenses.PIXEL_SCALE
    return np.hypot(*np.meshgrid(c, c))


def test_a_source_behind_a_singular_isothermal_sphere_becomes_an_einstein_ring(lens_model):
    from deepsci.data.physics.lenses import PIXEL_SCALE, render

    ring, _ = render(lens_model, _params(), lensed=True)
    r = _radius_grid()
    radial = [ring[(r >= a) & (r < a + PIXEL_SCALE)].mean() for a in np.arange(0, 3.5, PIXEL_SCALE)]
    peak = (np.argmax(radial) + 0.5) * PIXEL_SCALE
    assert peak == pytest.approx(1.5, abs=PIXEL_SCALE)


def test_zero_einstein_radius_leaves_the_source_unlensed(lens_model):
    from deepsci.data.physics.lenses import render

    offset = _params(source_x=0.8, source_y=-0.5, theta_e=1.2, shear=0.05)
    unlensed, _ = render(lens_model, offset, lensed=False)
    same, _ = render(lens_model, {**offset, "theta_e": 0.0, "shear": 0.0}, lensed=True)
    assert unlensed == pytest.approx(same, abs=1e-12)
    lensed, _ = render(lens_model, offset, lensed=True)
    assert lensed.sum() > 1.5 * unlensed.sum()  # lensing magnifies: surface brightness kept, area grows
    c = (np.arange(unlensed.shape[0]) - (unlensed.shape[0] - 1) / 2) * 0.263
    x, y = np.meshgrid(c, c)
    assert (unlensed * x).sum() / unlensed.sum() == pytest.approx(0.8, abs=0.05)  # seen where it is
    assert (unlensed * y).sum() / unlensed.sum() == pytest.approx(-0.5, abs=0.05)


def test_simulated_lenses_store_their_einstein_radius_and_reach_their_snr():
    pytest.importorskip("lenstronomy")
    from deepsci.data.physics import lenses

    sim = lenses.simulate_lenses(8, seed=3, cache=False)
    assert sim["images"].shape == (8, 1, 32, 32) and sim["label"].sum() == 4
    assert (sim["theta_e"][sim["label"] == 0] == 0).all()
    assert ((sim["theta_e"][sim["label"] == 1] >= 0.3) & (sim["theta_e"][sim["label"] == 1] <= 2.5)).all()
    # the noiseless source, scaled as observe() scales it, has the drawn SNR against the sky
    src = np.random.default_rng(0).random((32, 32))
    assert lenses.matched_snr(src * 30.0 / lenses.matched_snr(src)) == pytest.approx(30.0)
    noisy = lenses.observe(src, src, 30.0, 30.0, np.random.default_rng(1))
    assert (noisy - src * 60.0 / lenses.matched_snr(src)).std() == pytest.approx(lenses.SKY_RMS, rel=0.2)


# -- cache -----------------------------------------------------------------------------------------
def test_a_simulation_is_cached_once_and_read_back_identically():
    calls = []

    def simulate():
        calls.append(1)
        return {"a": np.arange(5.0)}

    first = sim_cache.cached_arrays("probe", {"n": 5, "seed": 0}, simulate)
    second = sim_cache.cached_arrays("probe", {"n": 5, "seed": 0}, simulate)
    assert len(calls) == 1 and np.array_equal(first["a"], second["a"])
    assert sim_cache.cache_path("probe", {"n": 5, "seed": 0}) != sim_cache.cache_path("probe", {"n": 5, "seed": 1})
    assert collider.simulate_collider(50, seed=2).equals(collider.simulate_collider(50, seed=2))
