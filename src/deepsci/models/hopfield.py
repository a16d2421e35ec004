"""Hopfield networks: Hebbian storage of ±1 patterns, recall by asynchronous or synchronous updates.

With weights W = (1/N) sum_mu xi^mu xi^mu^T (zero diagonal) and states s in {-1, +1}^N, the energy

    E(s) = -1/2 s^T W s

never increases when one unit at a time is set to sign(W s)_i (asynchronous dynamics), so recall
ends in a fixed point. Synchronous updates (all units at once) may instead end in a 2-cycle.
Random patterns are recalled reliably while P/N stays below about 0.138 (Amit, Gutfreund &
Sompolinsky 1985); beyond that retrieval collapses.

References:
    Hopfield (1982), PNAS 79, 2554.  Amit, Gutfreund & Sompolinsky (1985), PRL 55, 1530.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepsci.errors import DataError


def _check_patterns(patterns: np.ndarray) -> np.ndarray:
    p = np.asarray(patterns, dtype=float)
    if p.ndim == 1:
        p = p[None, :]
    if p.ndim != 2 or not np.isin(p, (-1.0, 1.0)).all():
        raise DataError(f"Hopfield patterns must be a (P, N) array of -1/+1; received shape {p.shape} "
                        "with other values. Map binary 0/1 data with 2*x - 1.")
    return p


def hebbian_weights(patterns: np.ndarray) -> np.ndarray:
    """Hebbian storage: W = (1/N) sum_mu xi^mu (xi^mu)^T with zero diagonal.

    Args:
        patterns: (P, N) array of -1/+1.

    Returns:
        (N, N) symmetric weights.
    """
    p = _check_patterns(patterns)
    n = p.shape[1]
    w = p.T @ p / n
    np.fill_diagonal(w, 0.0)
    return w


def energy(weights: np.ndarray, states: np.ndarray) -> np.ndarray:
    """E(s) = -1/2 s^T W s for each row of ``states`` (B, N) -> (B,), or a scalar array for (N,)."""
    s = np.asarray(states, dtype=float)
    return -0.5 * np.einsum("...i,ij,...j->...", s, weights, s)


def _sign(h: np.ndarray, previous: np.ndarray) -> np.ndarray:
    # a unit with zero field keeps its state: that keeps the energy from rising at ties
    return np.where(h > 0, 1.0, np.where(h < 0, -1.0, previous))


@dataclass
class Recall:
    """Outcome of :func:`recall`.

    Attributes:
        states: (B, N) final states.
        energies: (sweeps + 1, B) energy at the start and after each sweep; with asynchronous
            updates, also ``unit_energies`` (steps + 1, B) after every single-unit update.
        converged: (B,) whether the state stopped changing (a fixed point).
        sweeps: sweeps run.
    """

    states: np.ndarray
    energies: np.ndarray
    converged: np.ndarray
    sweeps: int
    unit_energies: np.ndarray | None = None


def recall(weights: np.ndarray, cues: np.ndarray, *, mode: str = "async", max_sweeps: int = 50,
           seed: int = 0, track_units: bool = False) -> Recall:
    """Run Hopfield dynamics from ``cues`` until a fixed point or ``max_sweeps``.

    Args:
        weights: (N, N) symmetric, zero diagonal.
        cues: (B, N) or (N,) starting states of -1/+1; B recalls run in parallel.
        mode: "async" (one unit at a time, in a fresh random order each sweep) or "sync" (all at once).
        max_sweeps: a sweep updates every unit once.
        seed: seeds the update order.
        track_units: record the energy after every single-unit update (async only; costly for large N).
    """
    if mode not in ("async", "sync"):
        raise DataError(f"Hopfield recall mode must be 'async' or 'sync'; received '{mode}'.")
    s = _check_patterns(cues).copy()
    w = np.asarray(weights, dtype=float)
    if w.shape != (s.shape[1], s.shape[1]):
        raise DataError(f"weights of shape {w.shape} do not match states of {s.shape[1]} units.")
    rng = np.random.default_rng(seed)
    energies = [energy(w, s)]
    unit_e = [energy(w, s)] if track_units else []
    converged = np.zeros(len(s), dtype=bool)
    sweeps = 0
    for sweeps in range(1, max_sweeps + 1):
        before = s.copy()
        if mode == "sync":
            s = _sign(s @ w, s)
        else:
            for i in rng.permutation(s.shape[1]):
                s[:, i] = _sign(s @ w[:, i], s[:, i])
                if track_units:
                    unit_e.append(energy(w, s))
        energies.append(energy(w, s))
        converged = (s == before).all(1)
        if converged.all():
            break
    return Recall(s, np.array(energies), converged, sweeps, np.array(unit_e) if track_units else None)


def overlap(states: np.ndarray, patterns: np.ndarray) -> np.ndarray:
    """m = (1/N) s · xi for matching rows: 1 is perfect recall, 0 unrelated. (B, N), (B, N) -> (B,)."""
    return np.mean(np.asarray(states) * np.asarray(patterns), axis=-1)


def random_patterns(n_patterns: int, n_units: int, seed: int = 0) -> np.ndarray:
    """(P, N) independent random ±1 patterns."""
    rng = np.random.default_rng(seed)
    return rng.choice(np.array([-1.0, 1.0]), size=(n_patterns, n_units))


def corrupt(patterns: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """Flip exactly round(fraction * N) randomly chosen units of every pattern."""
    p = _check_patterns(patterns).copy()
    rng = np.random.default_rng(seed)
    k = int(round(fraction * p.shape[1]))
    for row in p:
        row[rng.choice(p.shape[1], size=k, replace=False)] *= -1
    return p


@dataclass
class Capacity:
    """Outcome of :func:`capacity_experiment`.

    Attributes:
        n: units. loads: P/N values. n_patterns: P for each load.
        recall_fraction: fraction of stored patterns recalled (final overlap >= threshold) per load.
        mean_overlap: mean final overlap per load.
        noise: fraction of units flipped in each cue. threshold: overlap that counts as recalled.
    """

    n: int
    loads: list[float]
    n_patterns: list[int]
    recall_fraction: list[float]
    mean_overlap: list[float]
    noise: float
    threshold: float


def capacity_experiment(n: int = 200, loads: tuple[float, ...] = (0.025, 0.05, 0.075, 0.1, 0.125, 0.15, 0.175, 0.2, 0.25, 0.3),
                        *, noise: float = 0.05, threshold: float = 0.95, trials: int = 3, seed: int = 0) -> Capacity:
    """Recall fraction against load P/N for a Hopfield network of ``n`` units.

    For each load, ``trials`` networks each store P = round(load * n) random patterns; every
    pattern is cued with ``noise`` of its units flipped and recalled asynchronously; it counts as
    recalled if the final overlap with the stored pattern is at least ``threshold``.
    """
    rng = np.random.default_rng(seed)
    fractions, means, ps = [], [], []
    for load in loads:
        p = max(1, int(round(load * n)))
        ok, ov = [], []
        for _ in range(trials):
            s = int(rng.integers(2**31))
            pats = random_patterns(p, n, seed=s)
            out = recall(hebbian_weights(pats), corrupt(pats, noise, seed=s + 1), seed=s + 2)
            m = overlap(out.states, pats)
            ok.append(m >= threshold)
            ov.append(m)
        fractions.append(float(np.concatenate(ok).mean()))
        means.append(float(np.concatenate(ov).mean()))
        ps.append(p)
    return Capacity(n, [float(x) for x in loads], ps, fractions, means, noise, threshold)
