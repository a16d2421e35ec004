"""Galaxy stellar masses from multi-band photometry: a simulated survey with the physics stated.

The population (all quantities per galaxy; log is log10):

1. Luminosity. log L_r [L_sun, SDSS r band] ~ Uniform(8.5, 11.5). Uniform in log L rather than a
   Schechter function (Blanton et al. 2003, ApJ 592, 819) so that every luminosity bin holds enough
   galaxies to test calibration; the bright end of a Schechter population would hold a few percent.
2. Mass-luminosity relation: a smoothly broken power law,
       <log M | L> = log M_b + alpha x + (beta - alpha) w log10(1 + 10^(x / w)),  x = log L_r - log L_b,
   slope alpha = 1.0 below the break L_b = 10^10.2 L_sun and beta = 1.25 above it (width w = 0.15 dex),
   log M_b = 10.5 [M_sun]. The stellar mass-to-light ratio M/L_r thus rises from about 2 for faint
   (bluer) galaxies to about 4 M_sun/L_sun for the brightest (redder) ones, the trend of Bell et al.
   (2003, ApJS 149, 289); the double power-law form is that of Vale & Ostriker (2004, MNRAS 353, 189).
   The parameters are ours, chosen to follow that trend, not a fit to a survey.
3. Intrinsic scatter: log M = <log M | L> + N(0, 0.15^2) dex (log-normal in M).
4. Colours. g - r follows the stellar mass-to-light ratio through the r-band relation of Bell et al.
   (2003, Table 7), log(M/L_r) = -0.306 + 1.097 (g - r), inverted, plus N(0, 0.04^2) mag of colour
   scatter: colours carry part of the intrinsic scatter, as in real galaxies, so several bands beat
   one. r - i = 0.40 (g - r) + 0.07 and i - z = 0.30 (g - r) + 0.02, each plus N(0, 0.03^2) mag
   (approximate linear colour-colour tracks of SDSS galaxies; ours, not fitted).
5. Magnitudes. M_r = 4.65 - 2.5 log L_r (the Sun's SDSS r absolute AB magnitude, Willmer 2018, ApJS
   236, 47); the other bands from the colours. Every galaxy lies at distance modulus mu = 38.0
   (D_L ~ 400 Mpc); no K-correction or extinction.
6. Photometric noise, magnitude dependent. Fluxes f = 10^(-0.4 m) (maggies) get Gaussian noise with
   sigma_f^2 = (10^(-0.4 m_lim) / 5)^2 + (0.02 f)^2: sky-limited noise from the SDSS 5-sigma depths
   m_lim = g 22.2, r 22.2, i 21.3, z 20.5 (York et al. 2000, AJ 120, 1579), plus a 2 % calibration floor.
   Observed magnitudes are asinh magnitudes (Lupton, Gunn & Szalay 1999, AJ 118, 1406) with the SDSS
   softening b = g 0.9e-10, r 1.2e-10, i 1.8e-10, z 7.4e-10, finite even for a negative noisy flux. A
   faint galaxy (log L_r = 8.5, r ~ 21.9) has r-band S/N ~ 7 and z-band S/N ~ 2; a bright one S/N > 50.

The task: regress log M from the observed g, r, i, z. The best possible error at fixed photometry is
the part of the intrinsic scatter the colours do not explain, plus the photometric noise: it is
heteroscedastic (larger for faint galaxies), which a calibrated interval must follow.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from deepsci.data.physics.cache import cached_arrays
from deepsci.errors import DataError

BANDS = ("g", "r", "i", "z")
LOG_L_RANGE = (8.5, 11.5)             # log10 L_r / L_sun
LOG_L_BREAK, LOG_M_BREAK = 10.2, 10.5  # break of the mass-luminosity relation (L_sun, M_sun)
SLOPE_FAINT, SLOPE_BRIGHT, BREAK_WIDTH = 1.0, 1.25, 0.15
INTRINSIC_SCATTER = 0.15              # dex in log M at fixed L
BELL_A, BELL_B = -0.306, 1.097        # log(M/L_r) = a + b (g - r), Bell et al. (2003) Table 7
COLOUR_SCATTER = 0.04                 # mag, g - r at fixed M/L
SUN_ABS_MAG_R = 4.65                  # AB, Willmer (2018)
DISTANCE_MODULUS = 38.0
DEPTH = {"g": 22.2, "r": 22.2, "i": 21.3, "z": 20.5}          # 5-sigma limiting magnitudes, York et al. (2000)
SOFTENING = {"g": 0.9e-10, "r": 1.2e-10, "i": 1.8e-10, "z": 7.4e-10}  # asinh magnitudes, SDSS
CALIBRATION_FLOOR = 0.02


def mass_luminosity(log_l: np.ndarray) -> np.ndarray:
    """<log10 M | L>: the smoothly broken power law of the module docstring (log L_r in L_sun -> M_sun)."""
    x = np.asarray(log_l, dtype=np.float64) - LOG_L_BREAK
    return LOG_M_BREAK + SLOPE_FAINT * x + (SLOPE_BRIGHT - SLOPE_FAINT) * BREAK_WIDTH * np.log10(1 + 10 ** (x / BREAK_WIDTH))


def asinh_magnitude(flux: np.ndarray, b: float) -> np.ndarray:
    """Lupton et al. (1999) asinh magnitude of a flux in maggies with softening b: -2.5/ln10 [asinh(f/2b) + ln b]."""
    return -2.5 / np.log(10) * (np.arcsinh(flux / (2 * b)) + np.log(b))


def flux_sigma(flux: np.ndarray, band: str) -> np.ndarray:
    """One-sigma flux noise (maggies): sky-limited from the band's 5-sigma depth, plus the 2 % floor."""
    sky = 10 ** (-0.4 * DEPTH[band]) / 5
    return np.sqrt(sky ** 2 + (CALIBRATION_FLOOR * flux) ** 2)


def _population(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    log_l = rng.uniform(*LOG_L_RANGE, size=n)
    log_m = mass_luminosity(log_l) + INTRINSIC_SCATTER * rng.normal(size=n)
    g_r = (log_m - log_l - BELL_A) / BELL_B + COLOUR_SCATTER * rng.normal(size=n)
    r_i = 0.40 * g_r + 0.07 + 0.03 * rng.normal(size=n)
    i_z = 0.30 * g_r + 0.02 + 0.03 * rng.normal(size=n)
    abs_r = SUN_ABS_MAG_R - 2.5 * log_l
    true_mag = {"r": abs_r, "g": abs_r + g_r, "i": abs_r - r_i, "z": abs_r - r_i - i_z}
    out = {"log_l": log_l, "log_m": log_m, "g_r": g_r}
    for band in BANDS:
        flux = 10 ** (-0.4 * (true_mag[band] + DISTANCE_MODULUS))
        observed = flux + flux_sigma(flux, band) * rng.normal(size=n)
        out[band] = asinh_magnitude(observed, SOFTENING[band])
        out[f"snr_{band}"] = flux / flux_sigma(flux, band)
    return out


def simulate_galaxies(n: int = 8000, *, seed: int = 0, cache: bool = True) -> pd.DataFrame:
    """A simulated galaxy survey (module docstring) of n galaxies from `seed`, one row per galaxy; `cache`:
    read/write the simulation cache (`deepsci.data.physics.cache`).

    Returns:
        DataFrame with columns id, g, r, i, z (observed asinh magnitudes, AB), log_mass (log10 M/M_sun,
        the target) and the truth the photometry hides, for tests and the report only: log_lum (log10
        L_r/L_sun), g_r (true colour), snr_g .. snr_z (true flux / noise). Train on the magnitudes alone.
    """
    if n < 1:
        raise DataError(f"a galaxy survey needs n >= 1 galaxies; received n = {n}.")
    arrays = cached_arrays("galaxies", {"n": n, "seed": seed}, lambda: _population(n, seed), cache=cache)
    return pd.DataFrame({"id": [f"gal{i}" for i in range(n)],
                         **{b: arrays[b] for b in BANDS},
                         "log_mass": arrays["log_m"], "log_lum": arrays["log_l"], "g_r": arrays["g_r"],
                         **{f"snr_{b}": arrays[f"snr_{b}"] for b in BANDS}})
