"""Strong gravitational lenses: survey-like images of lensed and unlensed galaxies, made with lenstronomy.

Every image is a 32 x 32 cutout at 0.263 arcsec per pixel (the DECam pixel of the Dark Energy Survey;
8.4 arcsec on a side) of a deflector galaxy with a background galaxy near its line of sight:

* Deflector mass: a singular isothermal ellipsoid (SIE; Kormann, Schneider & Bartelmann 1994, A&A 284,
  285) with Einstein radius theta_E ~ Uniform(0.3, 2.5) arcsec and axis ratio q ~ Uniform(0.6, 1.0) at a
  random position angle, plus an external shear of strength gamma ~ Uniform(0, 0.05) at a random angle.
  For unlensed images (label "non-lens") theta_E = 0 and the shear is 0: the deflection vanishes and
  the source is seen as it is.
* Deflector light: an elliptical Sersic profile (Sersic 1963), n = 4 (de Vaucouleurs), effective
  radius Uniform(0.5, 1.5) arcsec, with the mass's ellipticity and position angle (light traces mass).
* Source light: an elliptical Sersic profile, n ~ Uniform(0.5, 2), effective radius Uniform(0.1, 0.4)
  arcsec, axis ratio Uniform(0.5, 1), centred at a random angle and a radius Uniform(0, 0.4) theta_E from
  the deflector (unlensed: the same offsets with the theta_E of a lens, so positions match in law).
* Telescope and sky: a Gaussian PSF of FWHM 0.9 arcsec (median DES seeing; Abbott et al. 2018, ApJS
  239, 18), a sky background of 0.33 counts/s/pixel rms and 90 s exposures (a DES single epoch), Poisson
  noise on the object counts. The images are rendered by lenstronomy (Birrer & Amara 2018, Phys. Dark
  Univ. 22, 189; Birrer et al. 2021, JOSS 6, 3283) with 2x supersampling.
* Brightness. The source's signal-to-noise SNR = sqrt(sum_pixels S^2) / sigma_sky (its matched-filter
  SNR against the sky, S the PSF-convolved lensed or unlensed source) is drawn ~ Uniform(5, 80) and the
  source scaled to it; the deflector's own SNR ~ Uniform(40, 200). Lensing magnification therefore
  gives no free flux cue: at equal SNR a lens differs from a non-lens only in shape (arcs, rings,
  multiple images against one blob).

theta_E, SNR and the rest are stored per image (`lens_metadata`) and read back by row id.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from deepsci.data.physics.cache import cached_arrays
from deepsci.errors import DataError, MissingDependencyError

PIXELS, PIXEL_SCALE = 32, 0.263            # pixels per side, arcsec per pixel
PSF_FWHM, SKY_RMS, EXPOSURE = 0.9, 0.33, 90.0  # arcsec, counts/s/pixel, s
THETA_E_RANGE, SNR_RANGE, LENS_SNR_RANGE = (0.3, 2.5), (5.0, 80.0), (40.0, 200.0)
Q_RANGE, SHEAR_MAX = (0.6, 1.0), 0.05
CLASSES = ("non-lens", "strong-lens")  # sorted, so the positive class (last) is "strong-lens"
META_COLUMNS = ("label", "theta_e", "snr", "lens_snr", "q", "shear", "source_x", "source_y")


def _image_model() -> Any:
    """One lenstronomy ImageModel (SIE + SHEAR, Sersic source and lens light, PSF), reused for every image."""
    try:
        from lenstronomy.Data.imaging_data import ImageData
        from lenstronomy.Data.psf import PSF
        from lenstronomy.ImSim.image_model import ImageModel
        from lenstronomy.LensModel.lens_model import LensModel
        from lenstronomy.LightModel.light_model import LightModel
        from lenstronomy.Util.simulation_util import data_configure_simple
    except ImportError as exc:
        raise MissingDependencyError("the lens images are made with lenstronomy: pip install 'deepsci[astro]'") from exc
    data = ImageData(**data_configure_simple(PIXELS, PIXEL_SCALE, EXPOSURE, SKY_RMS))
    psf = PSF(psf_type="GAUSSIAN", fwhm=PSF_FWHM, pixel_size=PIXEL_SCALE, truncation=3)
    return ImageModel(data, psf, LensModel(["SIE", "SHEAR"]), LightModel(["SERSIC_ELLIPSE"]),
                      LightModel(["SERSIC_ELLIPSE"]), kwargs_numerics={"supersampling_factor": 2})


def ellipticity(q: float, angle: float) -> tuple[float, float]:
    """lenstronomy's (e1, e2) of axis ratio q at position angle `angle` (radians)."""
    e = (1 - q) / (1 + q)
    return e * float(np.cos(2 * angle)), e * float(np.sin(2 * angle))


def matched_snr(image: np.ndarray, sky_rms: float = SKY_RMS) -> float:
    """sqrt(sum image^2) / sky_rms: the SNR of a noiseless component against the sky (module docstring)."""
    return float(np.sqrt(np.sum(image ** 2)) / sky_rms)


def render(model: Any, params: dict[str, float], lensed: bool) -> tuple[np.ndarray, np.ndarray]:
    """(source image, deflector image), noiseless, PSF-convolved, in counts/s, each at unit amplitude.

    theta_E and the shear are set to 0 when `lensed` is False (the source seen unlensed).
    """
    e1, e2 = ellipticity(params["q"], params["angle"])
    g1, g2 = params["shear"] * np.cos(2 * params["shear_angle"]), params["shear"] * np.sin(2 * params["shear_angle"])
    kwargs_lens = [{"theta_E": params["theta_e"] if lensed else 0.0, "e1": e1, "e2": e2, "center_x": 0.0,
                    "center_y": 0.0},
                   {"gamma1": float(g1) if lensed else 0.0, "gamma2": float(g2) if lensed else 0.0,
                    "ra_0": 0.0, "dec_0": 0.0}]
    se1, se2 = ellipticity(params["source_q"], params["source_angle"])
    kwargs_source = [{"amp": 1.0, "R_sersic": params["source_r"], "n_sersic": params["source_n"], "e1": se1,
                      "e2": se2, "center_x": params["source_x"], "center_y": params["source_y"]}]
    kwargs_light = [{"amp": 1.0, "R_sersic": params["lens_r"], "n_sersic": 4.0, "e1": e1, "e2": e2,
                     "center_x": 0.0, "center_y": 0.0}]
    source = model.image(kwargs_lens, kwargs_source, kwargs_light, lens_light_add=False)
    light = model.image(kwargs_lens, kwargs_source, kwargs_light, source_add=False)
    return np.asarray(source), np.asarray(light)


def draw_parameters(rng: np.random.Generator) -> dict[str, float]:
    """One system's parameters from the ranges of the module docstring."""
    theta_e = rng.uniform(*THETA_E_RANGE)
    radius, phi = rng.uniform(0, 0.4) * theta_e, rng.uniform(0, 2 * np.pi)
    return {"theta_e": theta_e, "q": rng.uniform(*Q_RANGE), "angle": rng.uniform(0, np.pi),
            "shear": rng.uniform(0, SHEAR_MAX), "shear_angle": rng.uniform(0, np.pi),
            "lens_r": rng.uniform(0.5, 1.5), "source_r": rng.uniform(0.1, 0.4), "source_n": rng.uniform(0.5, 2.0),
            "source_q": rng.uniform(0.5, 1.0), "source_angle": rng.uniform(0, np.pi),
            "source_x": radius * np.cos(phi), "source_y": radius * np.sin(phi),
            "snr": rng.uniform(*SNR_RANGE), "lens_snr": rng.uniform(*LENS_SNR_RANGE)}


def observe(source: np.ndarray, light: np.ndarray, snr: float, lens_snr: float,
            rng: np.random.Generator) -> np.ndarray:
    """Scale the components to their SNRs, add Poisson noise on the counts and the Gaussian sky (counts/s)."""
    clean = source * (snr / matched_snr(source)) + light * (lens_snr / matched_snr(light))
    counts = rng.poisson(np.maximum(clean, 0.0) * EXPOSURE) / EXPOSURE
    return counts + SKY_RMS * rng.normal(size=clean.shape)


def _simulate(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    model = _image_model()
    labels = np.zeros(n, dtype=np.int64)
    labels[rng.permutation(n)[: n // 2]] = 1
    images = np.empty((n, 1, PIXELS, PIXELS), dtype=np.float32)
    meta = {k: np.empty(n) for k in META_COLUMNS if k != "label"}
    for i in range(n):
        p = draw_parameters(rng)
        source, light = render(model, p, lensed=bool(labels[i]))
        images[i, 0] = observe(source, light, p["snr"], p["lens_snr"], rng)
        if not labels[i]:
            p["theta_e"], p["shear"] = 0.0, 0.0
        for k in meta:
            meta[k][i] = p[k]
    return {"images": images, "label": labels, **meta}


def simulate_lenses(n: int = 3000, *, seed: int = 0, cache: bool = True) -> dict[str, np.ndarray]:
    """n images (half lensed) from the module docstring's simulator, cached on disk.

    Returns:
        {"images": (n, 1, 32, 32) float32 counts/s, "label": (n,) 1 = lensed, and per image "theta_e"
        (arcsec; 0 for unlensed), "snr", "lens_snr", "q", "shear", "source_x", "source_y" (arcsec)}.
    """
    if n < 2:
        raise DataError(f"a lens sample needs n >= 2 images; received n = {n}.")
    return cached_arrays("lenses", {"n": n, "seed": seed}, lambda: _simulate(n, seed), cache=cache)


def lens_metadata(n: int = 3000, *, seed: int = 0) -> pd.DataFrame:
    """Per-image truth (theta_e, snr, ...) with the label as a class name; row i is image i (row id str(i))."""
    arrays = simulate_lenses(n, seed=seed)
    frame = pd.DataFrame({k: arrays[k] for k in META_COLUMNS})
    frame["label"] = np.asarray(CLASSES, dtype=object)[arrays["label"]]
    frame.index = [str(i) for i in range(n)]
    return frame
