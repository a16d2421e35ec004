"""Molecular features from SMILES: RDKit 2D descriptors and Morgan fingerprints, cached on disk.

Also Delaney's ESOL equation, the classic baseline for aqueous solubility.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deepsci.data.reactions import difference_fingerprint
from deepsci.errors import ConfigError, DataError, MissingDependencyError, unknown_name

FEATURE_KINDS: tuple[str, ...] = ("descriptors", "morgan", "descriptors+morgan", "reaction")
# Bump when the way features are computed changes, so old cache entries are not reused.
FEATURES_VERSION = 1
# Beyond this magnitude a descriptor value is treated as non-finite (float32 tops out at 3.4e38,
# and no physically meaningful 2D descriptor of a drug-like molecule comes near it).
MAX_ABS_DESCRIPTOR = 1e12


def _rdkit() -> Any:
    try:
        import rdkit  # noqa: F401
        from rdkit import Chem  # optional heavy dependency: imported when used
    except ImportError as exc:  # pragma: no cover - rdkit comes with [chem]
        raise MissingDependencyError("molecular features need RDKit: pip install 'deepsci[chem]'") from exc
    return Chem


@dataclass
class MolecularFeatures:
    """Features of a list of molecules.

    Attributes:
        X: (n, d) float32. Rows of unparsable SMILES are all NaN. Other entries may be NaN where
            a descriptor is undefined for a molecule (e.g. Gasteiger charges of some elements);
            `fill_nonfinite` with training-split medians makes them usable.
        names: the d feature names.
        valid: (n,) bool, False where RDKit could not parse the SMILES.
        seconds: wall time spent computing (or, on a cache hit, loading) the features.
        cache_hit: True when the features were read from the disk cache.
        kind, radius, bits: how they were computed.
    """

    X: np.ndarray
    names: list[str]
    valid: np.ndarray
    seconds: float
    cache_hit: bool
    kind: str = "descriptors"
    radius: int = 2
    bits: int = 2048

    @property
    def n_invalid(self) -> int:
        return int((~self.valid).sum())


# -------------------------------------------------------------------------------------------------
# descriptors and fingerprints of one molecule


def descriptor_names() -> list[str]:
    """Names of the 2D descriptors, in column order: RDKit's full `Descriptors.descList`,
    with Ipc replaced by ``log1p_Ipc``."""
    from rdkit.Chem import Descriptors  # optional heavy dependency: imported when used

    return ["log1p_Ipc" if name == "Ipc" else name for name, _ in Descriptors.descList]


def descriptors(mol: Any) -> np.ndarray:
    """All RDKit 2D descriptors of one RDKit molecule, (d,) float64.

    Ipc (Bonchev–Trinajstić information content) grows combinatorially with size (1e10 on
    the solubility set, overflow beyond); it is replaced by log(1 + Ipc), which keeps its order
    and puts it on the scale of the other descriptors. A descriptor that raises, is non-finite,
    or exceeds 1e12 in magnitude is returned as NaN, to be filled later from the training split.
    """
    from rdkit.Chem import Descriptors  # optional heavy dependency: imported when used

    out = np.empty(len(Descriptors.descList), dtype=np.float64)
    for j, (name, fn) in enumerate(Descriptors.descList):
        try:
            v = float(fn(mol))
        except Exception:  # RDKit descriptors raise various errors on exotic molecules
            v = math.nan
        if name == "Ipc" and math.isfinite(v):
            v = math.log1p(max(v, 0.0))
        out[j] = v if math.isfinite(v) and abs(v) <= MAX_ABS_DESCRIPTOR else math.nan
    return out


def morgan_fingerprint(mol: Any, radius: int = 2, bits: int = 2048) -> np.ndarray:
    """Morgan (ECFP-like) bit vector of one molecule, (bits,) float64 of 0/1. Rogers & Hahn (2010)."""
    from rdkit.Chem import rdFingerprintGenerator  # optional heavy dependency: imported when used

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=bits)
    return gen.GetFingerprintAsNumPy(mol).astype(np.float64)


def feature_names(kind: str, radius: int = 2, bits: int = 2048) -> list[str]:
    """Column names of `featurise_smiles(kind=...)`."""
    _check_kind(kind, radius, bits)
    names: list[str] = []
    if "descriptors" in kind:
        names += descriptor_names()
    if "morgan" in kind:
        names += [f"morgan{radius}_{i}" for i in range(bits)]
    if kind == "reaction":
        names += [f"reaction_morgan{radius}_{i}" for i in range(bits)]
    return names


# -------------------------------------------------------------------------------------------------
# many molecules, cached


def default_cache_dir() -> Path:
    """``$DEEPSCI_CACHE/features`` if DEEPSCI_CACHE is set, else ``~/.cache/deepsci/features``."""
    root = os.environ.get("DEEPSCI_CACHE")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "deepsci") / "features"


def featurise_smiles(smiles: Iterable[Any], kind: str = "descriptors", radius: int = 2, bits: int = 2048,
                     cache_dir: str | Path | None = None, *, cache: bool = True) -> MolecularFeatures:
    """Features of each SMILES string: RDKit 2D descriptors, Morgan bits, or both side by side; or, with kind
    "reaction", of each reaction SMILES its difference fingerprint (deepsci.data.reactions).

    Unparsable SMILES (and missing values) never raise: their row is all NaN and
    ``valid[i]`` is False, so the caller can count, report and drop them.

    Results are cached on disk under `cache_dir` (default `default_cache_dir()`) as
    ``<key>.npz`` (arrays X, valid; no pickle) plus ``<key>.json`` (names, parameters), where
    key = SHA-256 of (the SMILES list, kind, radius, bits, RDKit version, FEATURES_VERSION).
    A second call on the same input is a cache hit and skips RDKit entirely; `cache=False` neither reads nor
    writes it. `kind`: FEATURE_KINDS; `radius`, `bits`: the Morgan fingerprint's (ignored for "descriptors").
    X is (n, d) float32; see `descriptors` for how non-finite and huge descriptor values (Ipc) are handled.
    """
    Chem = _rdkit()
    from rdkit import rdBase  # optional heavy dependency: imported when used

    _check_kind(kind, radius, bits)
    smi = [s if isinstance(s, str) else "" for s in smiles]
    names = feature_names(kind, radius, bits)
    start = time.perf_counter()
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    key = _cache_key(smi, kind, radius, bits)
    if cache:
        hit = _cache_read(folder, key, len(smi), names)
        if hit is not None:
            X, valid = hit
            return MolecularFeatures(X, names, valid, time.perf_counter() - start, True, kind, radius, bits)

    X = np.full((len(smi), len(names)), np.nan, dtype=np.float32)
    valid = np.zeros(len(smi), dtype=bool)
    with rdBase.BlockLogs():  # RDKit logs every parse failure; we count and report them instead
        for i, s in enumerate(smi):
            if kind == "reaction":  # reaction SMILES: product minus reactants (deepsci.data.reactions)
                difference = difference_fingerprint(s, radius, bits)
                if difference is not None:
                    X[i], valid[i] = difference.astype(np.float32), True
                continue
            mol = Chem.MolFromSmiles(s) if s.strip() else None
            if mol is None:
                continue
            parts = []
            if "descriptors" in kind:
                parts.append(descriptors(mol))
            if "morgan" in kind:
                parts.append(morgan_fingerprint(mol, radius, bits))
            X[i] = np.concatenate(parts).astype(np.float32)
            valid[i] = True
    seconds = time.perf_counter() - start
    if cache:
        _cache_write(folder, key, X, valid, names, kind, radius, bits, seconds)
    return MolecularFeatures(X, names, valid, seconds, False, kind, radius, bits)


def _check_kind(kind: str, radius: int, bits: int) -> None:
    if kind not in FEATURE_KINDS:
        raise ConfigError(unknown_name("molecular featuriser", kind, FEATURE_KINDS))
    if ("morgan" in kind or kind == "reaction") and (int(radius) < 0 or int(bits) < 1):
        raise ConfigError(f"Morgan fingerprints need radius >= 0 and bits >= 1; received radius={radius}, "
                          f"bits={bits}. Typical values: radius 2, bits 2048.")


def _cache_key(smiles: list[str], kind: str, radius: int, bits: int) -> str:
    import rdkit  # optional heavy dependency: imported when used

    params: dict[str, Any] = {"kind": kind, "rdkit": rdkit.__version__, "version": FEATURES_VERSION}
    if "morgan" in kind or kind == "reaction":
        params.update(radius=int(radius), bits=int(bits))
    h = hashlib.sha256(json.dumps(params, sort_keys=True).encode())
    h.update("\n".join(smiles).encode("utf-8"))
    return h.hexdigest()[:32]


def _cache_read(folder: Path, key: str, n: int, names: list[str]) -> tuple[np.ndarray, np.ndarray] | None:
    npz, meta = folder / f"{key}.npz", folder / f"{key}.json"
    if not (npz.exists() and meta.exists()):
        return None
    try:
        info = json.loads(meta.read_text())
        with np.load(npz, allow_pickle=False) as archive:
            X, valid = archive["X"], archive["valid"]
    except (OSError, ValueError, KeyError):
        return None  # a damaged entry is recomputed and overwritten
    if info.get("names") != names or X.shape != (n, len(names)) or valid.shape != (n,):
        return None
    return X.astype(np.float32, copy=False), valid.astype(bool, copy=False)


def _cache_write(folder: Path, key: str, X: np.ndarray, valid: np.ndarray, names: list[str],
                 kind: str, radius: int, bits: int, seconds: float) -> None:
    import rdkit  # optional heavy dependency: imported when used

    try:
        folder.mkdir(parents=True, exist_ok=True)
        # Write to temporary files then rename, so a reader never sees half a cache entry.
        with tempfile.NamedTemporaryFile(dir=folder, suffix=".npz", delete=False) as f:
            np.savez(f, X=X, valid=valid)
        os.replace(f.name, folder / f"{key}.npz")
        meta = {"names": names, "kind": kind, "radius": radius, "bits": bits, "n": int(X.shape[0]),
                "n_invalid": int((~valid).sum()), "rdkit": rdkit.__version__,
                "version": FEATURES_VERSION, "seconds": seconds}
        with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".json", delete=False) as g:
            json.dump(meta, g)
        os.replace(g.name, folder / f"{key}.json")
    except OSError:
        pass  # a read-only or full disk only costs recomputation next time


# -------------------------------------------------------------------------------------------------
# non-finite values


def nonfinite_fill_values(X_train: np.ndarray) -> np.ndarray:
    """Per-column median of the finite training values, (d,) float64; 0 for a column with none.

    Use the training split only, so the fill values carry no information from test rows.
    """
    X = np.asarray(X_train, dtype=np.float64)
    masked = np.where(np.isfinite(X), X, np.nan)
    fill = np.zeros(X.shape[1], dtype=np.float64)
    has = np.isfinite(masked).any(0)
    if has.any():
        fill[has] = np.nanmedian(masked[:, has], axis=0)
    return fill


def fill_nonfinite(X: np.ndarray, fill: np.ndarray | list[float]) -> tuple[np.ndarray, int]:
    """Replace NaN/inf entries of X (n, d) by fill[j] of their column; returns (X', count)."""
    X = np.array(X, dtype=np.float32, copy=True)
    bad = ~np.isfinite(X)
    if bad.any():
        fill_arr = np.asarray(fill, dtype=np.float32)
        if fill_arr.shape != (X.shape[1],):
            raise DataError(f"fill values have shape {fill_arr.shape}; features have {X.shape[1]} columns.")
        X[bad] = np.broadcast_to(fill_arr, X.shape)[bad]
    return X, int(bad.sum())


# -------------------------------------------------------------------------------------------------
# ESOL


def esol_log_solubility(smiles: Iterable[Any]) -> np.ndarray:
    """Delaney's ESOL estimate of aqueous solubility, log10(mol/L), one value per SMILES.

    logS = 0.16 - 0.63 clogP - 0.0062 MW + 0.066 RB - 0.74 AP, with clogP the Crippen MolLogP,
    MW the molecular weight (g/mol), RB the number of rotatable bonds and AP the aromatic
    proportion (aromatic atoms / heavy atoms). Delaney, J. Chem. Inf. Comput. Sci. 44, 1000
    (2004); coefficients as refitted with RDKit descriptors (Walters, "ESOL revisited").

    Returns:
        (n,) float64; NaN where the SMILES cannot be parsed.
    """
    Chem = _rdkit()
    from rdkit import rdBase  # optional heavy dependency: imported when used
    from rdkit.Chem import Crippen as _crippen  # optional heavy dependency: imported when used
    from rdkit.Chem import Descriptors as _descriptors  # optional heavy dependency: imported when used

    Crippen: Any = _crippen  # RDKit's stubs omit these functions
    Descriptors: Any = _descriptors
    out = []
    with rdBase.BlockLogs():
        for s in smiles:
            mol = Chem.MolFromSmiles(s) if isinstance(s, str) and s.strip() else None
            if mol is None or mol.GetNumHeavyAtoms() == 0:
                out.append(math.nan)
                continue
            clogp = Crippen.MolLogP(mol)
            mw = Descriptors.MolWt(mol)
            rb = Descriptors.NumRotatableBonds(mol)
            ap = sum(a.GetIsAromatic() for a in mol.GetAtoms()) / mol.GetNumHeavyAtoms()
            out.append(0.16 - 0.63 * clogp - 0.0062 * mw + 0.066 * rb - 0.74 * ap)
    return np.asarray(out, dtype=np.float64)
