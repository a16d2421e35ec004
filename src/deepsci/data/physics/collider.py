"""Collider events: a stated toy of the Baldi, Sadowski & Whiteson (2014) benchmark.

Baldi et al. (Nat. Commun. 5, 4308, 2014) separate a heavy-Higgs signal from top-pair background with
networks on low-level features (the measured momenta) and on high-level ones (invariant masses that
physicists compute from them), and find that a deep network on the low-level features matches a
shallow one given the high-level features. This toy keeps that structure in a chain anyone can read:

    signal:      X -> Y1 Y2,  Y1 -> a1 a2,  Y2 -> b1 b2     (four massless visible particles)
    background:  the same topology with non-resonant masses (a continuum)

1. Masses. Signal: m_X ~ Breit-Wigner(500 GeV, width 25 GeV), m_Y1, m_Y2 ~ Breit-Wigner(80 GeV,
   width 5 GeV) (W-like), each truncated to +-5 widths. Background: m_X = 250 GeV + Exponential(mean
   250 GeV) and m_Y = 20 GeV + Exponential(mean 80 GeV), each redrawn until m_X > m_Y1 + m_Y2: falling
   spectra with no peak, as QCD continua are.
2. Matched kinematics. Signal and background systems get the same production kinematics: transverse
   momentum pT_X ~ Exponential(mean 60 GeV), rapidity y_X ~ N(0, 1), azimuth uniform. Every two-body
   decay is isotropic in its parent's rest frame (spin ignored), so the two classes differ only in
   their masses: the high-level features below are sufficient statistics by construction.
3. Detector. Each particle's energy (and momentum: they are massless) is smeared with a calorimeter-
   like resolution sigma_E / E = 100 % / sqrt(E / GeV) (+) 5 % in quadrature (the scale of hadronic
   calorimeters, e.g. the CMS HCAL, CMS Collaboration, CERN-LHCC-97-031), and eta and phi with a
   Gaussian of 0.02 (a calorimeter cell of ~0.087 divided by sqrt(12)-ish, rounded). There is no
   acceptance cut, no pile-up, no missing energy and no combinatorics: the pairing (a1 a2)(b1 b2) is
   known and the particles of a pair are ordered by pT.

Views of the same events:
    low-level   pT [GeV], eta, phi of a1, a2, b1, b2 (12 numbers); also as a set of four particles,
                each (pT, eta, phi, E) plus a one-hot pair tag, for the set networks
    high-level  m_a = m(a1 a2), m_b, m_4 = m(a1 a2 b1 b2) [GeV], Delta R_a, Delta R_b, pT ratios
                pT_a2 / pT_a1, pT_b2 / pT_b1 and pT(a1 a2 b1 b2) / m_4, computed from the smeared
                momenta by the formulas of special relativity.

Where the toy differs from Baldi et al.: their events are MadGraph + Pythia + Delphes with leptons,
jets, b-tags and missing energy, a combinatorial pairing and several background processes; here there
is one topology, known pairing, no neutrinos and an analytic detector, so invariant masses are exact
up to smearing. What it keeps is their point: the masses need products and square roots of many
low-level inputs (m^2 = 2 pT1 pT2 (cosh d_eta - cos d_phi) for a pair), which one hidden layer
approximates poorly and several layers learn.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from deepsci.data.physics.cache import cached_arrays
from deepsci.errors import DataError

M_X, GAMMA_X = 500.0, 25.0            # GeV, the heavy resonance
M_Y, GAMMA_Y = 80.0, 5.0              # GeV, the intermediate resonances
BG_MX_START, BG_MX_MEAN = 250.0, 250.0
BG_MY_START, BG_MY_MEAN = 20.0, 80.0
PT_MEAN, Y_SIGMA = 60.0, 1.0          # production: pT_X [GeV] exponential, rapidity Gaussian
STOCHASTIC, CONSTANT = 1.0, 0.05      # sigma_E / E = STOCHASTIC / sqrt(E) (+) CONSTANT
ANGLE_SIGMA = 0.02                    # eta and phi smearing
PARTICLES = ("a1", "a2", "b1", "b2")
LOW_LEVEL = [f"{p}_{v}" for p in PARTICLES for v in ("pt", "eta", "phi")]
HIGH_LEVEL = ["m_a", "m_b", "m_4", "dr_a", "dr_b", "pt_ratio_a", "pt_ratio_b", "pt4_over_m4"]


def breit_wigner(m: float, gamma: float, n: int, rng: np.random.Generator, cut: float = 5.0) -> np.ndarray:
    """n masses from a relativistic-width Cauchy (Breit-Wigner) of peak m and full width gamma, within +-cut widths."""
    out = np.empty(0)
    while len(out) < n:
        draw = m + 0.5 * gamma * rng.standard_cauchy(2 * n)
        out = np.concatenate([out, draw[np.abs(draw - m) < cut * gamma]])
    return out[:n]


def boost(p: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Four-momenta p (n, 4) = (E, px, py, pz) boosted by velocity beta (n, 3) (a rest frame -> the lab)."""
    b2 = np.sum(beta ** 2, axis=1)
    gamma = 1.0 / np.sqrt(1.0 - b2)
    bp = np.sum(beta * p[:, 1:], axis=1)
    g2 = np.where(b2 > 0, (gamma - 1.0) / np.where(b2 > 0, b2, 1.0), 0.0)
    energy = gamma * (p[:, 0] + bp)
    space = p[:, 1:] + (g2 * bp + gamma * p[:, 0])[:, None] * beta
    return np.column_stack([energy, space])


def two_body(parent: np.ndarray, m1: np.ndarray, m2: np.ndarray,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic two-body decay of `parent` (n, 4) into masses m1, m2 (n,): the daughters' lab four-momenta."""
    mass = np.sqrt(np.maximum(parent[:, 0] ** 2 - np.sum(parent[:, 1:] ** 2, axis=1), 0.0))
    e1 = (mass ** 2 + m1 ** 2 - m2 ** 2) / (2 * mass)
    pstar = np.sqrt(np.maximum(e1 ** 2 - m1 ** 2, 0.0))
    cos_t, phi = rng.uniform(-1, 1, len(mass)), rng.uniform(0, 2 * np.pi, len(mass))
    sin_t = np.sqrt(1 - cos_t ** 2)
    direction = np.column_stack([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t])
    d1 = np.column_stack([e1, pstar[:, None] * direction])
    d2 = np.column_stack([mass - e1, -pstar[:, None] * direction])
    beta = parent[:, 1:] / parent[:, :1]
    return boost(d1, beta), boost(d2, beta)


def invariant_mass(*momenta: np.ndarray) -> np.ndarray:
    """Invariant mass [GeV] of the sum of four-momenta (n, 4) each: sqrt(E^2 - |p|^2)."""
    total = np.sum(momenta, axis=0)
    return np.sqrt(np.maximum(total[:, 0] ** 2 - np.sum(total[:, 1:] ** 2, axis=1), 0.0))


def to_pt_eta_phi(p: np.ndarray) -> np.ndarray:
    """(n, 4) four-momenta -> (n, 3) transverse momentum [GeV], pseudorapidity, azimuth."""
    pt = np.hypot(p[:, 1], p[:, 2])
    eta = np.arcsinh(p[:, 3] / np.maximum(pt, 1e-9))
    return np.column_stack([pt, eta, np.arctan2(p[:, 2], p[:, 1])])


def from_pt_eta_phi(kin: np.ndarray) -> np.ndarray:
    """(n, 3) massless (pT, eta, phi) -> (n, 4) four-momenta (E, px, py, pz)."""
    pt, eta, phi = kin[:, 0], kin[:, 1], kin[:, 2]
    return np.column_stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)])


def smear(kin: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The detector of the module docstring applied to (n, 3) (pT, eta, phi) of massless particles."""
    energy = kin[:, 0] * np.cosh(kin[:, 1])
    rel = np.sqrt(STOCHASTIC ** 2 / energy + CONSTANT ** 2)
    pt = kin[:, 0] * np.maximum(1 + rel * rng.normal(size=len(kin)), 0.05)
    eta = kin[:, 1] + ANGLE_SIGMA * rng.normal(size=len(kin))
    phi = np.angle(np.exp(1j * (kin[:, 2] + ANGLE_SIGMA * rng.normal(size=len(kin)))))
    return np.column_stack([pt, eta, phi])


def _masses(signal: bool, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if signal:
        return breit_wigner(M_X, GAMMA_X, n, rng), breit_wigner(M_Y, GAMMA_Y, n, rng), breit_wigner(M_Y, GAMMA_Y, n, rng)
    mx, ma, mb = (np.empty(0),) * 3
    while len(mx) < n:
        x = BG_MX_START + rng.exponential(BG_MX_MEAN, n)
        a, b = BG_MY_START + rng.exponential(BG_MY_MEAN, n), BG_MY_START + rng.exponential(BG_MY_MEAN, n)
        ok = x > a + b
        mx, ma, mb = np.concatenate([mx, x[ok]]), np.concatenate([ma, a[ok]]), np.concatenate([mb, b[ok]])
    return mx[:n], ma[:n], mb[:n]


def _events(labels: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Smeared four particles per event and the true masses, for labels (n,) 1 = signal."""
    n = len(labels)
    mx, ma, mb = np.empty(n), np.empty(n), np.empty(n)
    for value in (0, 1):
        rows = labels == value
        mx[rows], ma[rows], mb[rows] = _masses(bool(value), int(rows.sum()), rng)
    pt, y, phi = rng.exponential(PT_MEAN, n), Y_SIGMA * rng.normal(size=n), rng.uniform(-np.pi, np.pi, n)
    mt = np.sqrt(mx ** 2 + pt ** 2)
    parent = np.column_stack([mt * np.cosh(y), pt * np.cos(phi), pt * np.sin(phi), mt * np.sinh(y)])
    ya, yb = two_body(parent, ma, mb, rng)
    a1, a2 = two_body(ya, np.zeros(n), np.zeros(n), rng)
    b1, b2 = two_body(yb, np.zeros(n), np.zeros(n), rng)
    kin = [smear(to_pt_eta_phi(p), rng) for p in (a1, a2, b1, b2)]
    for i in (0, 2):  # order each pair by measured pT
        swap = kin[i + 1][:, 0] > kin[i][:, 0]
        kin[i][swap], kin[i + 1][swap] = kin[i + 1][swap].copy(), kin[i][swap].copy()
    return {"kin": np.stack(kin, axis=1), "m_x_true": mx, "m_a_true": ma, "m_b_true": mb}


def delta_r(k1: np.ndarray, k2: np.ndarray) -> np.ndarray:
    """Delta R = sqrt(d_eta^2 + d_phi^2) between (n, 3) (pT, eta, phi) arrays, d_phi wrapped to [-pi, pi]."""
    dphi = np.angle(np.exp(1j * (k1[:, 2] - k2[:, 2])))
    return np.hypot(k1[:, 1] - k2[:, 1], dphi)


def high_level(kin: np.ndarray) -> dict[str, np.ndarray]:
    """The high-level features of the module docstring from measured (n, 4, 3) (pT, eta, phi)."""
    p = [from_pt_eta_phi(kin[:, i]) for i in range(4)]
    total = np.sum(p, axis=0)
    m4 = invariant_mass(*p)
    return {"m_a": invariant_mass(p[0], p[1]), "m_b": invariant_mass(p[2], p[3]), "m_4": m4,
            "dr_a": delta_r(kin[:, 0], kin[:, 1]), "dr_b": delta_r(kin[:, 2], kin[:, 3]),
            "pt_ratio_a": kin[:, 1, 0] / kin[:, 0, 0], "pt_ratio_b": kin[:, 3, 0] / kin[:, 2, 0],
            "pt4_over_m4": np.hypot(total[:, 1], total[:, 2]) / m4}


def _simulate(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.zeros(n, dtype=np.int64)
    labels[rng.permutation(n)[: n // 2]] = 1
    return {"label": labels, **_events(labels, rng)}


def simulate_collider(n: int = 20000, *, seed: int = 0, cache: bool = True) -> pd.DataFrame:
    """Balanced signal and background events (module docstring), one row per event.

    Returns:
        DataFrame with columns id; the low-level view a1_pt, a1_eta, a1_phi, ..., b2_phi; the
        high-level view m_a, m_b, m_4, dr_a, dr_b, pt_ratio_a, pt_ratio_b, pt4_over_m4; label
        ("signal" / "background"); and the true masses m_x_true, m_a_true, m_b_true (tests only).
    """
    if n < 2:
        raise DataError(f"a collider sample needs n >= 2 events; received n = {n}.")
    arrays = cached_arrays("collider", {"n": n, "seed": seed}, lambda: _simulate(n, seed), cache=cache)
    kin = arrays["kin"]
    frame = pd.DataFrame({"id": [f"event{i}" for i in range(n)]})
    for i, name in enumerate(PARTICLES):
        for j, var in enumerate(("pt", "eta", "phi")):
            frame[f"{name}_{var}"] = kin[:, i, j]
    for key, value in high_level(kin).items():
        frame[key] = value
    frame["label"] = np.where(arrays["label"] == 1, "signal", "background")
    for key in ("m_x_true", "m_a_true", "m_b_true"):
        frame[key] = arrays[key]
    return frame


def particle_table(events: pd.DataFrame) -> pd.DataFrame:
    """The events as a long table for set networks: one row per particle (4 per event).

    Columns: event (the set), pt [GeV], eta, phi, energy [GeV], pair_a (1 for a1/a2, 0 for b1/b2), label.
    """
    rows = []
    for name in PARTICLES:
        pt, eta = events[f"{name}_pt"].to_numpy(), events[f"{name}_eta"].to_numpy()
        rows.append(pd.DataFrame({"event": events["id"].to_numpy(), "order": PARTICLES.index(name), "pt": pt,
                                  "eta": eta, "phi": events[f"{name}_phi"].to_numpy(), "energy": pt * np.cosh(eta),
                                  "pair_a": float(name.startswith("a")), "label": events["label"].to_numpy()}))
    long = pd.concat(rows, ignore_index=True)
    position = {e: i for i, e in enumerate(events["id"])}
    long["_event_index"] = long["event"].map(position)
    long = long.sort_values(["_event_index", "order"], kind="stable").reset_index(drop=True)
    return long.drop(columns=["_event_index", "order"])
