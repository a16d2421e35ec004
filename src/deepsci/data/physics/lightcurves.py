"""Stellar light curves from a time-domain survey: periodic variables, eclipsing binaries, transients and flat stars.

A simulated season of nightly photometry, the data a variability classifier of a survey like ZTF or the
Rubin Observatory's LSST sorts (the PLAsTiCC challenge, Kessler et al. 2019, PASP 131, 094501, did it at scale).
Each sample is one star's season on a grid of `length` nights (1 step = 1 day); all magnitudes are AB mag.

1. The star. Mean magnitude m0 ~ Uniform(16, 21) (bright to near the survey depth).
2. Its class and variability, as a magnitude offset dm(t) added to m0 (positive = fainter):
   - flat: dm = 0, a non-variable star: everything seen is noise.
   - pulsator (RR Lyrae / Cepheid-like): a sawtooth of peak-to-peak amplitude A, brightening linearly over the
     first r = 0.15 of each cycle and fading linearly over the rest (the fast-rise, slow-decline shape of
     fundamental-mode RR Lyrae, Smith 1995, "RR Lyrae Stars", ch. 2). Period P ~ log-Uniform(2, 40) days (RR Lyrae proper have P < 1 d and alias on a
     nightly grid; the longer periods are the Cepheids' range), amplitude A ~ Uniform(0.1, 0.8) mag,
     random phase.
   - eclipsing binary (Algol-like): flat with a primary eclipse of depth D ~ Uniform(0.15, 0.8) mag and a
     secondary of depth D * Uniform(0, 0.5) half a period later, each a Gaussian dip of width w = P * Uniform
     (0.03, 0.08) (detached binaries, eclipse duration a few percent of P; Prsa et al. 2011, AJ 141, 83).
     P ~ log-Uniform(2, 40) days.
   - transient (supernova-like): the flux rise-and-fall of Bazin et al. (2009, A&A 499, 653),
     f(t) / f_peak = exp(-(t - t0) / t_fall) / (1 + exp(-(t - t0) / t_rise)), t_rise ~ U(2, 8) d,
     t_fall ~ U(15, 50) d, t0 uniform in the season; its peak is dm_peak ~ Uniform(0.5, 2.5) mag above a faint
     host of magnitude m0: dm = -2.5 log10(1 + (10^(0.4 dm_peak) - 1) f/f_peak) (fluxes add).
3. Cadence (realistic gaps): a night is observed with probability p ~ Uniform(0.4, 0.9) per star (weather, the
   scheduler's other fields), and one gap of G ~ Uniform(10, 40) consecutive nights falls at a random place in
   the season (bright time / a telescope shutdown). Nights without an observation hold 0 in both channels.
4. Noise, magnitude dependent: a point at magnitude m has Gaussian error sigma(m) = sqrt(0.01^2 +
   (0.2 * 10^(0.4 (m - m5)))^2) mag with the 5-sigma depth m5 = 22.5: a 1% calibration floor plus sky noise,
   which is 0.2 mag at the depth (S/N 5) and ~0.02 mag at m = 20 (ZTF-like single-visit depth: Bellm et al.
   2019, PASP 131, 018002). A faint, low-amplitude variable is thus hard to tell from a flat star.

Each sample is a 2-channel signal (n, 2, length): channel 0 the observed dm (magnitude minus the season's
median of observed points; 0 where not observed), channel 1 the observation flag (1 observed, 0 not). The
flag channel is how a convolutional network is told a 0 is a gap, not a measurement. Labels are the class
names in CLASSES, balanced (n // 4 each, the remainder to the first classes). With `min_length` the seasons differ
in length (NaN after each star's last night): `simulate_light_curves`.
"""

from __future__ import annotations

import numpy as np

from deepsci.errors import DataError

CLASSES = ("flat", "pulsator", "eclipsing", "transient")
DEPTH_5SIGMA = 22.5  # m5: the single-visit 5-sigma depth, AB mag
FLOOR = 0.01  # calibration floor, mag
SAWTOOTH_RISE = 0.15  # fraction of a pulsator's cycle spent brightening


def photometric_sigma(m: np.ndarray) -> np.ndarray:
    """Per-point magnitude error sigma(m) = sqrt(FLOOR^2 + (0.2 * 10^(0.4 (m - m5)))^2), mag (docstring, item 4)."""
    return np.sqrt(FLOOR ** 2 + (0.2 * 10.0 ** (0.4 * (m - DEPTH_5SIGMA))) ** 2)


def _log_uniform(rng: np.random.Generator, low: float, high: float, n: int) -> np.ndarray:
    return np.exp(rng.uniform(np.log(low), np.log(high), n))


def _pulsator(rng: np.random.Generator, t: np.ndarray, n: int) -> np.ndarray:
    """(n, L) magnitude offsets of fast-rise, slow-decline sawtooth pulsators (mean ~0)."""
    period, amp = _log_uniform(rng, 2.0, 40.0, n)[:, None], rng.uniform(0.1, 0.8, (n, 1))
    phase = (t[None] / period + rng.uniform(0, 1, (n, 1))) % 1.0
    rising = phase < SAWTOOTH_RISE  # brightening: dm falls from +A/2 to -A/2
    shape = np.where(rising, 0.5 - phase / SAWTOOTH_RISE, -0.5 + (phase - SAWTOOTH_RISE) / (1 - SAWTOOTH_RISE))
    return amp * shape


def _eclipsing(rng: np.random.Generator, t: np.ndarray, n: int) -> np.ndarray:
    """(n, L) magnitude offsets of detached eclipsing binaries: Gaussian primary and secondary dips."""
    period = _log_uniform(rng, 2.0, 40.0, n)[:, None]
    depth = rng.uniform(0.15, 0.8, (n, 1))
    width = period * rng.uniform(0.03, 0.08, (n, 1))
    phase = (t[None] / period + rng.uniform(0, 1, (n, 1))) % 1.0
    d1 = np.minimum(phase, 1 - phase) * period  # days from the primary eclipse
    d2 = np.abs(phase - 0.5) * period  # days from the secondary
    return depth * (np.exp(-0.5 * (d1 / width) ** 2) + rng.uniform(0, 0.5, (n, 1)) * np.exp(-0.5 * (d2 / width) ** 2))


def _transient(rng: np.random.Generator, t: np.ndarray, n: int) -> np.ndarray:
    """(n, L) magnitude offsets of Bazin-profile transients over a host of the star's magnitude."""
    t0 = rng.uniform(0, t[-1], (n, 1))
    t_rise, t_fall = rng.uniform(2, 8, (n, 1)), rng.uniform(15, 50, (n, 1))
    x = t[None] - t0
    flux = np.exp(-np.clip(x / t_fall, -50, 50)) / (1 + np.exp(-np.clip(x / t_rise, -50, 50)))
    flux /= flux.max(1, keepdims=True)
    peak = 10.0 ** (0.4 * rng.uniform(0.5, 2.5, (n, 1))) - 1.0  # the transient's peak flux over the host's
    return -2.5 * np.log10(1 + peak * flux)


_VARIABILITY = {"pulsator": _pulsator, "eclipsing": _eclipsing, "transient": _transient}


def _cadence(rng: np.random.Generator, n: int, length: int) -> np.ndarray:
    """(n, L) bool: the nights observed (weather and scheduling, plus one long gap per star)."""
    seen = rng.uniform(0, 1, (n, length)) < rng.uniform(0.4, 0.9, (n, 1))
    gap = rng.integers(10, 41, n)
    start = rng.integers(0, np.maximum(length - gap, 1))
    nights = np.arange(length)[None]
    seen &= ~((nights >= start[:, None]) & (nights < (start + gap)[:, None]))
    outside = np.where(start > 0, start - 1, start + gap)  # a night just outside the gap
    seen[np.arange(n), np.minimum(outside, length - 1)] = True  # at least one point per star
    return seen


def simulate_light_curves(n: int = 400, *, length: int = 128, seed: int = 0,
                          min_length: int | None = None) -> dict[str, np.ndarray]:
    """A season of `length` nights for `n` stars (module docstring), drawn from `seed`.

    With `min_length`, each star's season ends on its own night: it lasts S ~ Uniform{min_length, ..., length}
    nights (a field sets earlier or later in the year, or joined the survey late), and both channels are NaN
    after it (variable-length signals, NaN padding; the median and the observed points are the season's own).
    The draws of S come after all others, so the first `length` nights of every star are those drawn without it.

    Returns:
        {"X": (n, 2, length) float32 (observed dm, observation flag), "label": (n,) class names of CLASSES,
         "m0": (n,) mean magnitudes (the truth, for tests)} (and "season": (n,) nights, with min_length): train
        on X alone.
    """
    if n < len(CLASSES) or length < 16 or not 16 <= (min_length or length) <= length:
        raise DataError(f"a light-curve set needs n >= {len(CLASSES)} stars and 16 <= min_length <= length nights; "
                        f"received n = {n}, length = {length}, min_length = {min_length}.")
    rng = np.random.default_rng(seed)
    t = np.arange(length, dtype=np.float64)
    labels = np.array([CLASSES[i % len(CLASSES)] for i in range(n)])
    rng.shuffle(labels)
    m0 = rng.uniform(16.0, 21.0, n)
    dm = np.zeros((n, length))
    for name, draw in _VARIABILITY.items():
        rows = np.flatnonzero(labels == name)
        dm[rows] = draw(rng, t, len(rows))
    m = m0[:, None] + dm
    observed = m + rng.normal(0.0, 1.0, m.shape) * photometric_sigma(m)
    seen = _cadence(rng, n, length)
    season = rng.integers(min_length, length + 1, n) if min_length else np.full(n, length)
    inside = t[None] < season[:, None]  # (n, L): the nights of each star's season
    seen &= inside
    seen[np.arange(n), season - 1] |= ~seen.any(1)  # at least one point per star, on its season's last night
    median = np.array([np.median(row[s]) for row, s in zip(observed, seen)])
    X = np.stack([np.where(seen, observed - median[:, None], 0.0), seen.astype(np.float64)], axis=1)
    X = np.where(inside[:, None], X, np.nan)
    out = {"X": X.astype(np.float32), "label": labels, "m0": m0}
    return {**out, "season": season} if min_length else out
