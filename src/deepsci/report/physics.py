"""Report sections for the physics datasets (docs/physics.md): what a physicist checks on each.

* galaxies: the recovered mass-luminosity relation over the simulator's truth, and the 90 % interval
  coverage in bins of true luminosity (a marginal coverage can hide bins that are badly off);
* lenses: the test ROC-AUC as a function of Einstein radius and of source SNR (which lenses are found);
* collider: the four-particle mass of the test events, as simulated and as the model selects them.

A run is recognised by its ``data.source`` (the catalog names). The per-row truth the model never saw
(true luminosity, Einstein radius, SNR) is read back from the simulators' cache by row id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
from markupsafe import escape
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score
from torch import nn

from deepsci.evaluation.figures import figure_to_data_uri
from deepsci.report.document import Section

if TYPE_CHECKING:
    from deepsci.config import Config
    from deepsci.data.dataset import Dataset
    from deepsci.evaluation.results import Evaluation, SplitResult

LUMINOSITY_EDGES = np.arange(8.5, 11.51, 0.5)        # log10 L_r / L_sun
THETA_E_EDGES = np.array([0.3, 0.6, 0.9, 1.2, 1.6, 2.0, 2.5])  # arcsec
SNR_EDGES = np.array([5.0, 10.0, 20.0, 40.0, 60.0, 80.0])
MIN_BIN = 200  # test galaxies a coverage bin needs to be judged (the binomial sd of 0.9 is then 0.02)


def physics_sections(config: "Config", dataset: "Dataset", evaluation: "Evaluation", model: nn.Module) -> list[Section]:
    """The sections of a run on a physics dataset (none for other runs)."""
    del dataset, model
    source = str(getattr(config.data, "source", ""))
    test = evaluation.splits.get("test")
    if test is None:
        return []
    if source == "galaxies":
        return [galaxy_section(test)]
    if source == "lenses":
        return [lens_section(test)]
    if source in ("collider", "collider-particles"):
        return [collider_section(test)]
    return []


# -- pure summaries (tested on their own) -----------------------------------------------------------
def binned_coverage(x: np.ndarray, y: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                    edges: np.ndarray) -> list[dict[str, float]]:
    """Per bin of x (edges, left-open as np.digitize): n and the share of y inside [lower, upper]."""
    inside = (y >= lower) & (y <= upper)
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        rows = (x > lo) & (x <= hi) if lo > edges[0] else (x >= lo) & (x <= hi)
        out.append({"low": float(lo), "high": float(hi), "n": int(rows.sum()),
                    "coverage": float(inside[rows].mean()) if rows.any() else float("nan")})
    return out


def binned_median(x: np.ndarray, y: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(median x, median y) per bin of x; NaN for empty bins."""
    bins = np.clip(np.digitize(x, edges[1:-1]), 0, len(edges) - 2)
    mx = np.array([np.median(x[bins == b]) if np.any(bins == b) else np.nan for b in range(len(edges) - 1)])
    my = np.array([np.median(y[bins == b]) if np.any(bins == b) else np.nan for b in range(len(edges) - 1)])
    return mx, my


def binned_auc(values: np.ndarray, label: np.ndarray, score: np.ndarray, edges: np.ndarray,
               negatives: np.ndarray | None = None) -> list[dict[str, float]]:
    """ROC-AUC of the positives (label 1) whose `values` fall in each bin against the negatives.

    `negatives` selects the negatives used (default: all of them), so each bin asks "how well are
    lenses with this Einstein radius told from non-lenses", the completeness view of lens searches.
    """
    neg = (label == 0) if negatives is None else (label == 0) & negatives
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        pos = (label == 1) & (values >= lo) & (values < hi if hi < edges[-1] else values <= hi)
        auc = float(roc_auc_score(np.r_[np.ones(pos.sum()), np.zeros(neg.sum())], np.r_[score[pos], score[neg]])) \
            if pos.any() and neg.any() else float("nan")
        out.append({"low": float(lo), "high": float(hi), "n_positive": int(pos.sum()), "auc": auc})
    return out


# -- galaxies --------------------------------------------------------------------------------------
def galaxy_truth(ids: Sequence[str]) -> dict[str, np.ndarray]:
    """True log L_r of the catalog galaxies with these ids (from the simulation cache)."""
    from deepsci.data.catalog import GALAXIES_N
    from deepsci.data.physics.galaxies import simulate_galaxies

    sim = simulate_galaxies(GALAXIES_N, seed=0).set_index("id")
    return {"log_lum": sim.loc[ids, "log_lum"].to_numpy()}


def galaxy_summary(test: "SplitResult") -> dict[str, Any]:
    """Coverage per luminosity bin and the recovered relation (binned medians) against the truth.

    Returns: "coverage" (binned_coverage rows), "offset" (median prediction minus the true relation at
    the bin's median luminosity, dex), "max_abs_offset", "intrinsic_scatter" and the rows' "log_l".
    """
    from deepsci.data.physics.galaxies import INTRINSIC_SCATTER, mass_luminosity

    log_l = galaxy_truth(test.ids)["log_lum"]
    y, pred = test.y_true[:, 0], test.pred[:, 0]
    bins = []
    if "lower" in test.bands:
        bins = binned_coverage(log_l, y, test.bands["lower"][:, 0], test.bands["upper"][:, 0], LUMINOSITY_EDGES)
    ml, mp = binned_median(log_l, pred, LUMINOSITY_EDGES)
    offset = mp - mass_luminosity(ml)
    return {"coverage": bins, "median_log_l": ml, "median_pred": mp, "offset": offset,
            "max_abs_offset": float(np.nanmax(np.abs(offset))), "intrinsic_scatter": INTRINSIC_SCATTER,
            "log_l": log_l}


def galaxy_section(test: "SplitResult") -> Section:
    from deepsci.data.physics.galaxies import INTRINSIC_SCATTER, mass_luminosity

    s = galaxy_summary(test)
    fig = Figure(figsize=(6.4, 4.4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    grid = np.linspace(LUMINOSITY_EDGES[0], LUMINOSITY_EDGES[-1], 200)
    ax.scatter(s["log_l"], test.pred[:, 0], s=3, alpha=0.25, color="tab:blue", label="predicted, test galaxies")
    ax.plot(grid, mass_luminosity(grid), color="black", label="true relation")
    ax.fill_between(grid, mass_luminosity(grid) - INTRINSIC_SCATTER, mass_luminosity(grid) + INTRINSIC_SCATTER,
                    color="gray", alpha=0.25, label=f"intrinsic scatter ±{INTRINSIC_SCATTER} dex")
    ax.plot(s["median_log_l"], s["median_pred"], "o", color="tab:red", label="binned median of predictions")
    ax.set_xlabel("true log10 L_r / L_sun")
    ax.set_ylabel("log10 M / M_sun")
    ax.legend(fontsize=8)
    rows = [[f"{b['low']:.1f}–{b['high']:.1f}", b["n"], f"{b['coverage']:.3f}",
             "yes" if b["n"] >= MIN_BIN else "too few to judge"] for b in s["coverage"]]
    html = (f"<p>The recovered relation (median prediction per luminosity bin) lies within "
            f"{s['max_abs_offset']:.3f} dex of the simulator's truth (intrinsic scatter {INTRINSIC_SCATTER} dex). "
            "Interval coverage per bin of true luminosity: a calibrated interval holds its level in every bin "
            f"with at least {MIN_BIN} test galaxies, not only on average.</p>")
    table = {"columns": ["log L_r bin", "test galaxies", "coverage", "judged"], "rows": rows,
             "caption": "Share of test galaxies inside their prediction interval, by true luminosity."}
    return Section(title="Galaxies: mass-luminosity relation and coverage by luminosity", html=html, table=table,
                   figures=[("Predicted log mass against true luminosity, over the simulator's relation.",
                             figure_to_data_uri(fig))])


# -- lenses ----------------------------------------------------------------------------------------
def lens_truth(ids: Sequence[str]) -> dict[str, np.ndarray]:
    """Einstein radius [arcsec] and source SNR of the catalog's lens images with these row ids."""
    from deepsci.data.catalog import LENSES_N
    from deepsci.data.physics.lenses import lens_metadata

    meta = lens_metadata(LENSES_N, seed=0)
    return {"theta_e": meta.loc[ids, "theta_e"].to_numpy(), "snr": meta.loc[ids, "snr"].to_numpy()}


def lens_summary(test: "SplitResult", theta_min: float = 1.0, snr_min: float = 20.0,
                 truth: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """AUC by Einstein radius and by SNR, and the AUC of lenses with theta_E >= theta_min, SNR >= snr_min.

    `truth` ({"theta_e", "snr"} per test row) defaults to the catalog's (`lens_truth`).
    """
    truth = lens_truth(test.ids) if truth is None else truth
    label, score = np.asarray(test.y_true).astype(int), np.asarray(test.pred)[:, -1]
    bright = truth["snr"] >= snr_min
    easy = (label == 0) & bright | (label == 1) & bright & (truth["theta_e"] >= theta_min)
    return {"by_theta_e": binned_auc(truth["theta_e"], label, score, THETA_E_EDGES),
            "by_snr": binned_auc(truth["snr"], label, score, SNR_EDGES),
            "auc_easy": float(roc_auc_score(label[easy], score[easy])), "n_easy": int(easy.sum()),
            "theta_min": theta_min, "snr_min": snr_min}


def _auc_curve(ax: Any, bins: list[dict[str, float]], xlabel: str) -> None:
    centres = [(b["low"] + b["high"]) / 2 for b in bins]
    ax.plot(centres, [b["auc"] for b in bins], "o-")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test ROC-AUC (lenses in bin vs all non-lenses)")
    ax.set_ylim(0.45, 1.01)
    ax.grid(alpha=0.3)


def lens_section(test: "SplitResult") -> Section:
    s = lens_summary(test)
    figures = []
    for key, label in (("by_theta_e", "Einstein radius θ_E [arcsec]"), ("by_snr", "source SNR")):
        fig = Figure(figsize=(5.2, 3.6))
        FigureCanvasAgg(fig)
        _auc_curve(fig.add_subplot(), s[key], label)
        figures.append((f"Test ROC-AUC against {label}.", figure_to_data_uri(fig)))
    rows = [[f"θ_E {b['low']:.1f}–{b['high']:.1f}\"", b["n_positive"], f"{b['auc']:.3f}"] for b in s["by_theta_e"]]
    rows += [[f"SNR {b['low']:.0f}–{b['high']:.0f}", b["n_positive"], f"{b['auc']:.3f}"] for b in s["by_snr"]]
    html = (f"<p>Test ROC-AUC on images with θ_E ≥ {s['theta_min']}\" and SNR ≥ {s['snr_min']:.0f} (and non-lenses "
            f"with SNR ≥ {s['snr_min']:.0f}; {s['n_easy']} images): <b>{s['auc_easy']:.3f}</b>. Lenses with an "
            "Einstein radius below the seeing (0.9\") or a faint source are hard to tell from a galaxy pair; "
            f"{escape('the curves show where the classifier stops finding them.')}</p>")
    return Section(title="Lenses: AUC against Einstein radius and SNR", html=html, figures=figures,
                   table={"columns": ["bin", "lenses in bin", "ROC-AUC"], "rows": rows})


# -- collider --------------------------------------------------------------------------------------
def collider_section(test: "SplitResult") -> Section:
    from deepsci.data.catalog import COLLIDER_N
    from deepsci.data.physics.collider import M_X, simulate_collider

    events = simulate_collider(COLLIDER_N, seed=0).set_index("id")
    m4 = events.loc[test.ids, "m_4"].to_numpy()
    label, score = np.asarray(test.y_true).astype(int), np.asarray(test.pred)[:, -1]
    fig = Figure(figsize=(6.0, 4.0))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    bins = np.linspace(0, 1500, 61).tolist()
    ax.hist(m4[label == 1], bins, histtype="step", label="signal (truth)")
    ax.hist(m4[label == 0], bins, histtype="step", label="background (truth)")
    ax.hist(m4[score > 0.5], bins, alpha=0.3, label="selected by the model (p > 0.5)")
    ax.axvline(M_X, color="gray", ls=":")
    ax.set_xlabel("reconstructed m(a1 a2 b1 b2) [GeV]")
    ax.set_ylabel("test events")
    ax.legend(fontsize=8)
    html = ("<p>The four-particle mass of the test events. The model never saw it as such unless given the "
            "high-level view; a model that learned the physics selects the resonance peak at "
            f"{M_X:.0f} GeV. benchmarks/collider.py compares shallow, deep and set networks on each view.</p>")
    return Section(title="Collider: what the classifier selects", html=html,
                   figures=[("Reconstructed four-particle mass of test events.", figure_to_data_uri(fig))])
