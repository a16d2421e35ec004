from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem
from rdkit.Chem import Descriptors, rdFingerprintGenerator

from deepsci.data import default_cache_dir, esol_log_solubility, featurise_smiles
from deepsci.data.molecules import descriptor_names, fill_nonfinite, nonfinite_fill_values
from deepsci.errors import ConfigError


def test_descriptors_match_rdkit(small_molecules: pd.DataFrame, tmp_path: Path) -> None:
    smiles = small_molecules["smiles"].tolist()[:10]
    f = featurise_smiles(smiles, "descriptors", cache_dir=tmp_path)
    assert f.X.dtype == np.float32 and f.X.shape == (10, len(Descriptors.descList))
    assert f.valid.all() and not f.cache_hit
    names = f.names
    for i, s in enumerate(smiles):
        mol = Chem.MolFromSmiles(s)
        for col, fn in (("MolWt", Descriptors.MolWt), ("TPSA", Descriptors.TPSA),
                        ("NumHDonors", Descriptors.NumHDonors)):
            assert f.X[i, names.index(col)] == pytest.approx(fn(mol), rel=1e-6)
        # Ipc is replaced by log(1 + Ipc) (Ipc reaches 1e10 on this set).
        assert f.X[i, names.index("log1p_Ipc")] == pytest.approx(math.log1p(Descriptors.Ipc(mol)), rel=1e-5)


def test_morgan_bits_match_rdkit_generator() -> None:
    smiles = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1"]
    f = featurise_smiles(smiles, "morgan", radius=2, bits=1024, cache=False)
    assert f.X.shape == (3, 1024) and f.names[0] == "morgan2_0"
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)
    for i, s in enumerate(smiles):
        on = sorted(gen.GetFingerprint(Chem.MolFromSmiles(s)).GetOnBits())
        assert np.flatnonzero(f.X[i]).tolist() == on


def test_combined_features_are_descriptors_then_bits() -> None:
    both = featurise_smiles(["CCO", "CCN"], "descriptors+morgan", radius=1, bits=64, cache=False)
    desc = featurise_smiles(["CCO", "CCN"], "descriptors", cache=False)
    nd = len(descriptor_names())
    assert both.X.shape == (2, nd + 64)
    np.testing.assert_array_equal(both.X[:, :nd], desc.X)


def test_unparsable_smiles_are_masked_not_raised() -> None:
    smiles = ["CCO", "not a molecule", "C1CC", None, "", "c1ccccc1"]
    f = featurise_smiles(smiles, "descriptors", cache=False)
    assert f.valid.tolist() == [True, False, False, False, False, True]
    assert f.n_invalid == 4
    assert np.isnan(f.X[~f.valid]).all() and np.isfinite(f.X[0, :10]).all()


def test_second_call_is_a_cache_hit_read_from_disk(small_molecules: pd.DataFrame, tmp_path: Path) -> None:
    smiles = small_molecules["smiles"].tolist()
    first = featurise_smiles(smiles, "descriptors", cache_dir=tmp_path)
    assert not first.cache_hit
    entries = sorted(p.suffix for p in tmp_path.iterdir())
    assert entries == [".json", ".npz"]  # no pickle anywhere
    second = featurise_smiles(smiles, "descriptors", cache_dir=tmp_path)
    assert second.cache_hit
    np.testing.assert_array_equal(second.X, first.X)
    np.testing.assert_array_equal(second.valid, first.valid)
    # Prove the second call reads the file instead of recomputing: plant a sentinel in the cache.
    npz = next(tmp_path.glob("*.npz"))
    planted = np.full_like(first.X, 7.0)
    np.savez(npz, X=planted, valid=first.valid)
    assert (featurise_smiles(smiles, "descriptors", cache_dir=tmp_path).X == 7.0).all()
    meta = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert meta["n"] == len(smiles) and meta["kind"] == "descriptors"


def test_cache_key_depends_on_input_and_parameters(tmp_path: Path) -> None:
    featurise_smiles(["CCO", "CCN"], "morgan", radius=2, bits=128, cache_dir=tmp_path)
    assert not featurise_smiles(["CCO", "CCC"], "morgan", radius=2, bits=128, cache_dir=tmp_path).cache_hit
    assert not featurise_smiles(["CCO", "CCN"], "morgan", radius=3, bits=128, cache_dir=tmp_path).cache_hit
    assert not featurise_smiles(["CCO", "CCN"], "morgan", radius=2, bits=256, cache_dir=tmp_path).cache_hit
    assert featurise_smiles(["CCO", "CCN"], "morgan", radius=2, bits=128, cache_dir=tmp_path).cache_hit


def test_damaged_cache_entry_is_recomputed(tmp_path: Path) -> None:
    featurise_smiles(["CCO"], "morgan", bits=32, cache_dir=tmp_path)
    next(tmp_path.glob("*.npz")).write_bytes(b"garbage")
    again = featurise_smiles(["CCO"], "morgan", bits=32, cache_dir=tmp_path)
    assert not again.cache_hit and again.valid.all()


def test_cache_dir_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DEEPSCI_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path / "features"
    featurise_smiles(["CCO"], "morgan", bits=16)
    assert len(list((tmp_path / "features").glob("*.npz"))) == 1
    monkeypatch.delenv("DEEPSCI_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "deepsci" / "features"


def test_unknown_kind_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="Known molecular featurisers: descriptors"):
        featurise_smiles(["CCO"], "ecfp", cache=False)


def test_fill_nonfinite_uses_medians_of_the_given_rows() -> None:
    train = np.array([[1.0, np.nan], [3.0, 2.0], [10.0, np.inf], [np.nan, 4.0]])
    fill = nonfinite_fill_values(train)
    np.testing.assert_allclose(fill, [3.0, 3.0])  # median of finite values per column
    X, n = fill_nonfinite(np.array([[np.nan, 1.0], [2.0, -np.inf]]), fill)
    assert n == 2
    np.testing.assert_allclose(X, [[3.0, 1.0], [2.0, 3.0]])
    assert nonfinite_fill_values(np.full((3, 1), np.nan)).tolist() == [0.0]


def test_esol_hand_worked() -> None:
    # benzene: clogP 1.6866, MW 78.114, RB 0, AP 6/6 = 1
    benzene = 0.16 - 0.63 * 1.6866 - 0.0062 * 78.114 + 0.066 * 0 - 0.74 * 1.0
    # phenyl octanoate: clogP 3.9525, MW 220.312, RB 7, AP 6/16
    phenyl_octanoate = 0.16 - 0.63 * 3.9525 - 0.0062 * 220.312 + 0.066 * 7 - 0.74 * 6 / 16
    got = esol_log_solubility(["c1ccccc1", "CCCCCCCC(=O)Oc1ccccc1", "bad(smiles"])
    np.testing.assert_allclose(got[:2], [benzene, phenyl_octanoate], atol=1e-3)
    assert np.isnan(got[2])


def test_esol_tracks_measured_solubility(solubility_frame: pd.DataFrame) -> None:
    sub = solubility_frame.iloc[::10]
    pred = esol_log_solubility(sub["smiles"].tolist())
    r = np.corrcoef(pred, sub["SOL"].to_numpy())[0, 1]
    assert r > 0.8  # Delaney reports r^2 ~ 0.7-0.8 on such sets; a sign or unit error would fail this
