"""What a physicist checks on each physics dataset (docs/physics.md), as values the report draws.

* galaxies: the recovered mass-luminosity relation over the simulator's truth, and the 90 % interval
  coverage in bins of true luminosity (a marginal coverage can hide bins that are badly off);
* lenses: the test ROC-AUC as a function of Einstein radius and of source SNR (which lenses are found);
* collider: the four-particle mass of the test events, as simulated and as the model selects them.

A run is recognised by its ``data.source`` (the catalog names, `PHYSICS_SUMMARIES`). The per-row truth the
model never saw (true luminosity, Einstein radius, SNR, the four-particle mass) is read back from the
simulators' cache by row id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
from sklearn.metrics import roc_auc_score

from deepsci.data import catalog
from deepsci.data.physics.collider import M_X, simulate_collider
from deepsci.data.physics.galaxies import INTRINSIC_SCATTER, mass_luminosity, simulate_galaxies
from deepsci.data.physics.lenses import lens_metadata

if TYPE_CHECKING:
    from deepsci.evaluation.results import SplitResult

LUMINOSITY_EDGES = np.arange(8.5, 11.51, 0.5)        # log10 L_r / L_sun
THETA_E_EDGES = np.array([0.3, 0.6, 0.9, 1.2, 1.6, 2.0, 2.5])  # arcsec
SNR_EDGES = np.array([5.0, 10.0, 20.0, 40.0, 60.0, 80.0])


@dataclass(frozen=True)
class CoverageBin:
    """Rows with x in (low, high] (the first bin closed): how many, and the share inside their interval."""

    low: float
    high: float
    n: int
    coverage: float  # NaN for an empty bin


@dataclass(frozen=True)
class AucBin:
    """ROC-AUC of the positives whose value lies in [low, high) (the last bin closed) against the negatives."""

    low: float
    high: float
    n_positive: int
    auc: float  # NaN when the bin has no positive or there is no negative


@dataclass(frozen=True)
class GalaxySummary:
    """Coverage per luminosity bin and the recovered relation (binned medians) against the truth.

    Attributes:
        coverage: per bin of true log L (empty without conformal intervals).
        median_log_l, median_pred: (bins,) median true log L and median prediction per bin (NaN if empty).
        offset: (bins,) median prediction minus the true relation at the bin's median luminosity, dex.
        max_abs_offset: the largest |offset|, dex.
        intrinsic_scatter: the simulator's scatter about the relation, dex.
        log_l, pred: (n,) each test galaxy's true log L and predicted log M.
        grid, relation: (200,) log L and the true relation's log M on it, for the figure.
    """

    coverage: tuple[CoverageBin, ...]
    median_log_l: np.ndarray
    median_pred: np.ndarray
    offset: np.ndarray
    max_abs_offset: float
    intrinsic_scatter: float
    log_l: np.ndarray
    pred: np.ndarray
    grid: np.ndarray
    relation: np.ndarray


@dataclass(frozen=True)
class LensSummary:
    """Test ROC-AUC by Einstein radius and by SNR, and on the lenses with theta_E >= theta_min, SNR >= snr_min."""

    by_theta_e: tuple[AucBin, ...]
    by_snr: tuple[AucBin, ...]
    auc_easy: float
    n_easy: int
    theta_min: float
    snr_min: float


@dataclass(frozen=True)
class ColliderSummary:
    """The test events' reconstructed four-particle mass (n,), true label (n,) and signal score (n,)."""

    m4: np.ndarray
    label: np.ndarray
    score: np.ndarray
    resonance_mass: float  # GeV, the simulated resonance


PhysicsSummary = GalaxySummary | LensSummary | ColliderSummary


# -- pure summaries ------------------------------------------------------------------------------------
def binned_coverage(x: np.ndarray, y: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                    edges: np.ndarray) -> tuple[CoverageBin, ...]:
    """Per bin of x (edges, left-open as np.digitize): n and the share of y inside [lower, upper]."""
    inside = (y >= lower) & (y <= upper)
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        rows = (x > lo) & (x <= hi) if lo > edges[0] else (x >= lo) & (x <= hi)
        out.append(CoverageBin(float(lo), float(hi), int(rows.sum()),
                               float(inside[rows].mean()) if rows.any() else float("nan")))
    return tuple(out)


def binned_median(x: np.ndarray, y: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(median x, median y) per bin of x; NaN for empty bins."""
    bins = np.clip(np.digitize(x, edges[1:-1]), 0, len(edges) - 2)
    mx = np.array([np.median(x[bins == b]) if np.any(bins == b) else np.nan for b in range(len(edges) - 1)])
    my = np.array([np.median(y[bins == b]) if np.any(bins == b) else np.nan for b in range(len(edges) - 1)])
    return mx, my


def binned_auc(values: np.ndarray, label: np.ndarray, score: np.ndarray, edges: np.ndarray,
               negatives: np.ndarray | None = None) -> tuple[AucBin, ...]:
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
        out.append(AucBin(float(lo), float(hi), int(pos.sum()), auc))
    return tuple(out)


# -- galaxies --------------------------------------------------------------------------------------
def galaxy_truth(ids: Sequence[str]) -> np.ndarray:
    """(n,) true log L_r of the catalog galaxies with these ids (from the simulation cache)."""
    sim = simulate_galaxies(catalog.GALAXIES_N, seed=0).set_index("id")
    return np.asarray(sim.loc[list(ids), "log_lum"].to_numpy())


def galaxy_summary(test: "SplitResult") -> GalaxySummary:
    """The recovered relation and the coverage by true luminosity of the test galaxies (first target)."""
    log_l = galaxy_truth(test.ids)
    y, pred = test.y_true[:, 0], test.pred[:, 0]
    bins: tuple[CoverageBin, ...] = ()
    if "lower" in test.bands:
        bins = binned_coverage(log_l, y, test.bands["lower"][:, 0], test.bands["upper"][:, 0], LUMINOSITY_EDGES)
    ml, mp = binned_median(log_l, pred, LUMINOSITY_EDGES)
    offset = mp - mass_luminosity(ml)
    grid = np.linspace(LUMINOSITY_EDGES[0], LUMINOSITY_EDGES[-1], 200)
    return GalaxySummary(coverage=bins, median_log_l=ml, median_pred=mp, offset=offset,
                         max_abs_offset=float(np.nanmax(np.abs(offset))), intrinsic_scatter=INTRINSIC_SCATTER,
                         log_l=log_l, pred=pred, grid=grid, relation=mass_luminosity(grid))


# -- lenses ----------------------------------------------------------------------------------------
def lens_truth(ids: Sequence[str]) -> dict[str, np.ndarray]:
    """Einstein radius [arcsec] and source SNR, (n,) each, of the catalog's lens images with these row ids."""
    meta = lens_metadata(catalog.LENSES_N, seed=0)
    return {"theta_e": meta.loc[ids, "theta_e"].to_numpy(), "snr": meta.loc[ids, "snr"].to_numpy()}


def lens_summary(test: "SplitResult", theta_min: float = 1.0, snr_min: float = 20.0,
                 truth: dict[str, np.ndarray] | None = None) -> LensSummary:
    """AUC by Einstein radius and by SNR, and the AUC of lenses with theta_E >= theta_min, SNR >= snr_min.

    `truth` ({"theta_e", "snr"} per test row) defaults to the catalog's (`lens_truth`).
    """
    truth = lens_truth(test.ids) if truth is None else truth
    label, score = np.asarray(test.y_true).astype(int), np.asarray(test.pred)[:, -1]
    bright = truth["snr"] >= snr_min
    easy = (label == 0) & bright | (label == 1) & bright & (truth["theta_e"] >= theta_min)
    return LensSummary(by_theta_e=binned_auc(truth["theta_e"], label, score, THETA_E_EDGES),
                       by_snr=binned_auc(truth["snr"], label, score, SNR_EDGES),
                       auc_easy=float(roc_auc_score(label[easy], score[easy])), n_easy=int(easy.sum()),
                       theta_min=theta_min, snr_min=snr_min)


# -- collider --------------------------------------------------------------------------------------
def collider_summary(test: "SplitResult") -> ColliderSummary:
    """The simulated four-particle mass of the test events beside their label and the model's signal score."""
    events = simulate_collider(catalog.COLLIDER_N, seed=0).set_index("id")
    return ColliderSummary(m4=events.loc[list(test.ids), "m_4"].to_numpy(),
                           label=np.asarray(test.y_true).astype(int), score=np.asarray(test.pred)[:, -1],
                           resonance_mass=float(M_X))


#: data.source (a catalog name) -> the summary of its test split
PHYSICS_SUMMARIES: dict[str, Callable[["SplitResult"], PhysicsSummary]] = {
    "galaxies": galaxy_summary, "lenses": lens_summary,
    "collider": collider_summary, "collider-particles": collider_summary}


def physics_summary(source: object, test: "SplitResult | None") -> PhysicsSummary | None:
    """The summary of a run on a physics dataset (`source` its data.source), None for other runs."""
    summarise = PHYSICS_SUMMARIES.get(str(source))
    return None if summarise is None or test is None else summarise(test)
