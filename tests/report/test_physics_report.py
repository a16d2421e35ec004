"""Report sections of the physics datasets: drawn from a summary given by hand, and on small real runs."""

from __future__ import annotations

import pytest

from deepsci.data import catalog
from deepsci.evaluation import physics
from deepsci.report.physics import physics_sections


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSCI_CACHE", str(tmp_path / "cache"))


def test_the_lens_section_draws_a_summary_given_by_hand():
    bins = (physics.AucBin(0.3, 1.0, 4, 0.5), physics.AucBin(1.0, 2.5, 6, 1.0))
    summary = physics.LensSummary(by_theta_e=bins, by_snr=bins, auc_easy=0.875, n_easy=10, theta_min=1.0,
                                  snr_min=20.0)
    (section,) = physics_sections(summary)
    assert section.title == "Lenses: AUC against Einstein radius and SNR"
    assert "<b>0.875</b>" in section.html and len(section.figures) == 2
    assert section.table is not None and section.table["rows"][1] == ['θ_E 1.0–2.5"', 6, "1.000"]
    assert physics_sections(None) == []


@pytest.mark.slow
def test_galaxy_and_collider_runs_get_their_physics_sections(tmp_path, monkeypatch, fit_example):
    monkeypatch.setattr(catalog, "COLLIDER_N", 2000)
    fit_example("galaxies", tmp_path, "train.epochs=3", "uncertainty.members=2", "model.hidden=[16]")
    html = (tmp_path / "galaxies" / "report.html").read_text()
    assert "Galaxies: mass-luminosity relation and coverage by luminosity" in html
    fit_example("collider_shallow_high", tmp_path, "train.epochs=2")
    assert "Collider: what the classifier selects" in (tmp_path / "collider_shallow_high" / "report.html").read_text()


def _catalog_arrays_are_read() -> bool:
    """Image datasets from the catalog need deepsci.data.sources to read catalog arrays (issue 14)."""
    from deepsci.data import sources

    return hasattr(sources, "load_arrays")


@pytest.mark.slow
@pytest.mark.skipif(not _catalog_arrays_are_read(), reason="deepsci.data.sources does not read catalog arrays yet")
def test_a_lens_run_gets_auc_against_einstein_radius(tmp_path, monkeypatch, fit_example):
    pytest.importorskip("lenstronomy")
    monkeypatch.setattr(catalog, "LENSES_N", 160)
    metrics = fit_example("lenses", tmp_path, "train.epochs=2")
    assert metrics["data"]["split"]["test"] == 48
    html = (tmp_path / "lenses" / "report.html").read_text()
    assert "Lenses: AUC against Einstein radius and SNR" in html and "Einstein radius" in html
