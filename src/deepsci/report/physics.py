"""Report sections for the physics datasets (docs/physics.md): what a physicist checks on each, drawn.

* galaxies: the recovered mass-luminosity relation over the simulator's truth, and the 90 % interval
  coverage in bins of true luminosity;
* lenses: the test ROC-AUC as a function of Einstein radius and of source SNR;
* collider: the four-particle mass of the test events, as simulated and as the model selects them.

The summaries are computed at fit time (deepsci.evaluation.physics); these sections only draw them.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from markupsafe import escape
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from deepsci.evaluation.figures import figure_to_data_uri
from deepsci.evaluation.physics import AucBin, ColliderSummary, GalaxySummary, LensSummary, PhysicsSummary
from deepsci.report.document import Section

MIN_BIN = 200  # test galaxies a coverage bin needs to be judged (the binomial sd of 0.9 is then 0.02)


def physics_sections(summary: PhysicsSummary | None) -> list[Section]:
    """The section of a run on a physics dataset (none for other runs)."""
    return [] if summary is None else [SECTIONS[type(summary)](summary)]


# -- galaxies --------------------------------------------------------------------------------------
def galaxy_section(s: GalaxySummary) -> Section:
    fig = Figure(figsize=(6.4, 4.4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    scatter = s.intrinsic_scatter
    ax.scatter(s.log_l, s.pred, s=3, alpha=0.25, color="tab:blue", label="predicted, test galaxies")
    ax.plot(s.grid, s.relation, color="black", label="true relation")
    ax.fill_between(s.grid, s.relation - scatter, s.relation + scatter,
                    color="gray", alpha=0.25, label=f"intrinsic scatter ±{scatter} dex")
    ax.plot(s.median_log_l, s.median_pred, "o", color="tab:red", label="binned median of predictions")
    ax.set_xlabel("true log10 L_r / L_sun")
    ax.set_ylabel("log10 M / M_sun")
    ax.legend(fontsize=8)
    rows = [[f"{b.low:.1f}–{b.high:.1f}", b.n, f"{b.coverage:.3f}",
             "yes" if b.n >= MIN_BIN else "too few to judge"] for b in s.coverage]
    html = (f"<p>The recovered relation (median prediction per luminosity bin) lies within "
            f"{s.max_abs_offset:.3f} dex of the simulator's truth (intrinsic scatter {scatter} dex). "
            "Interval coverage per bin of true luminosity: a calibrated interval holds its level in every bin "
            f"with at least {MIN_BIN} test galaxies, not only on average.</p>")
    table = {"columns": ["log L_r bin", "test galaxies", "coverage", "judged"], "rows": rows,
             "caption": "Share of test galaxies inside their prediction interval, by true luminosity."}
    return Section(title="Galaxies: mass-luminosity relation and coverage by luminosity", html=html, table=table,
                   figures=[("Predicted log mass against true luminosity, over the simulator's relation.",
                             figure_to_data_uri(fig))])


# -- lenses ----------------------------------------------------------------------------------------
def _auc_curve(ax: Any, bins: tuple[AucBin, ...], xlabel: str) -> None:
    centres = [(b.low + b.high) / 2 for b in bins]
    ax.plot(centres, [b.auc for b in bins], "o-")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test ROC-AUC (lenses in bin vs all non-lenses)")
    ax.set_ylim(0.45, 1.01)
    ax.grid(alpha=0.3)


def lens_section(s: LensSummary) -> Section:
    figures = []
    for bins, label in ((s.by_theta_e, "Einstein radius θ_E [arcsec]"), (s.by_snr, "source SNR")):
        fig = Figure(figsize=(5.2, 3.6))
        FigureCanvasAgg(fig)
        _auc_curve(fig.add_subplot(), bins, label)
        figures.append((f"Test ROC-AUC against {label}.", figure_to_data_uri(fig)))
    rows = [[f"θ_E {b.low:.1f}–{b.high:.1f}\"", b.n_positive, f"{b.auc:.3f}"] for b in s.by_theta_e]
    rows += [[f"SNR {b.low:.0f}–{b.high:.0f}", b.n_positive, f"{b.auc:.3f}"] for b in s.by_snr]
    html = (f"<p>Test ROC-AUC on images with θ_E ≥ {s.theta_min}\" and SNR ≥ {s.snr_min:.0f} (and non-lenses "
            f"with SNR ≥ {s.snr_min:.0f}; {s.n_easy} images): <b>{s.auc_easy:.3f}</b>. Lenses with an "
            "Einstein radius below the seeing (0.9\") or a faint source are hard to tell from a galaxy pair; "
            f"{escape('the curves show where the classifier stops finding them.')}</p>")
    return Section(title="Lenses: AUC against Einstein radius and SNR", html=html, figures=figures,
                   table={"columns": ["bin", "lenses in bin", "ROC-AUC"], "rows": rows})


# -- collider --------------------------------------------------------------------------------------
def collider_section(s: ColliderSummary) -> Section:
    fig = Figure(figsize=(6.0, 4.0))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    bins = np.linspace(0, 1500, 61).tolist()
    ax.hist(s.m4[s.label == 1], bins, histtype="step", label="signal (truth)")
    ax.hist(s.m4[s.label == 0], bins, histtype="step", label="background (truth)")
    ax.hist(s.m4[s.score > 0.5], bins, alpha=0.3, label="selected by the model (p > 0.5)")
    ax.axvline(s.resonance_mass, color="gray", ls=":")
    ax.set_xlabel("reconstructed m(a1 a2 b1 b2) [GeV]")
    ax.set_ylabel("test events")
    ax.legend(fontsize=8)
    html = ("<p>The four-particle mass of the test events. The model never saw it as such unless given the "
            "high-level view; a model that learned the physics selects the resonance peak at "
            f"{s.resonance_mass:.0f} GeV. benchmarks/collider.py compares shallow, deep and set networks on each "
            "view.</p>")
    return Section(title="Collider: what the classifier selects", html=html,
                   figures=[("Reconstructed four-particle mass of test events.", figure_to_data_uri(fig))])


#: the section drawing each kind of physics summary
SECTIONS: dict[type, Callable[[Any], Section]] = {
    GalaxySummary: galaxy_section, LensSummary: lens_section, ColliderSummary: collider_section}
