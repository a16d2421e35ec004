"""Conformal coverage of ensembles of networks other than MLPs (issue 28): a CNN and a GRU, `[uncertainty] method =
"ensemble"`, through the real path (`run_experiment`), each checked on a held-out test split of over 500 rows,
at seeds 0, 1 and 2 (the seed draws the split, the members' initial weights and the batches).

* **CNN on images, prediction sets** (`cnn_digits_sets`): the 1797 handwritten digits (8x8, scikit-learn), a
  small LeNet CNN (batch norm), 5 members trained one after another; 90% LAC sets calibrated on the calibration
  split (20% of the training rows); test split 30% of the digits (540 rows).
* **GRU on signals, prediction sets** (`gru_lightcurves_sets`): 2500 simulated light curves
  (deepsci.data.physics.lightcurves, 64 nights: flat stars, pulsators, eclipsing binaries, transients), a
  1-layer GRU of 32 units, 5 members; 90% LAC sets as above; test split 30% (750 rows).
* **CNN on signals, CV+ intervals** (`cnn_lightcurves_cvplus`): a regression on the same light curves: the
  fraction of the season's nights observed (what the flag channel shows) plus a Gaussian offset of sd 0.05 that
  no series shows, so the bands need width; a 1-D CNN, 5 members each leaving out one fold of the training rows,
  mean-and-variance heads; 90% CV+ intervals (Barber et al. 2021) from the out-of-fold residuals; test 30%.

With n test rows one coverage of 0.90 is known to about ±1.96 sqrt(0.09 / n): ±0.025 at 540, ±0.021 at 750;
each row records it with its Clopper-Pearson 95% interval, the mean set size or width, the test accuracy (or
RMSE) of the ensemble's mean prediction, and the coverage at 50/80/90/95%.

`speed`: training-step time of 5 members vmapped over stacked parameters (`VmapEnsemble`) against the same 5 run
one after another (`MemberEnsemble`, the default) and one member alone, for networks vmap can run (no batch norm,
no recurrent layer), batch 64, median of 5 alternating timings of 20 steps. Times on a shared machine are noisy:
compare the forms within one invocation only.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ensemble_coverage.py    # ~40 min on 2 busy cores; writes
        benchmarks/results/ensemble_coverage.json (docs/uncertainty.md quotes it; tests/evaluation/
        test_uncertainty_docs_ensembles.py holds the table to it)
    .venv/bin/python benchmarks/ensemble_coverage.py --smoke              # tiny data, 1 epoch; no file
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from deepsci.config import config_from_dict
from deepsci.data.physics.lightcurves import simulate_light_curves
from deepsci.data.schema import InputSchema
from deepsci.experiment import run_experiment
from deepsci.models import build_model
from deepsci.models.specs import model_config
from deepsci.training.ensemble import ensemble_loss
from deepsci.training.ensemble_any import build_any_ensemble

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "ensemble_coverage.json"
MEMBERS = 5
LEVEL = 0.9
EPOCHS = 30
SEEDS = (0, 1, 2)


def light_curves(folder: Path, n: int, length: int, seed: int = 0) -> tuple[Path, Path]:
    """Simulated light curves as two npz files: classes (label) and a regression target (observed fraction)."""
    sim = simulate_light_curves(n, length=length, seed=seed)
    rng = np.random.default_rng(seed + 1)
    observed = sim["X"][:, 1].mean(1) + rng.normal(0.0, 0.05, n)  # the flag channel's mean, blurred
    classes, fraction = folder / "lc_classes.npz", folder / "lc_fraction.npz"
    np.savez(classes, X=sim["X"], label=sim["label"])
    np.savez(fraction, X=sim["X"], fraction=observed.astype(np.float32))
    return classes, fraction


def configs(classes: Path, fraction: Path, epochs: int, digits_source: str = "digits",
            members: int = MEMBERS) -> dict[str, dict[str, Any]]:
    """The three runs (module docstring), as config dicts."""
    common = {"seed": 0, "report": {"html": False}}
    ensemble = {"method": "ensemble", "members": members, "level": LEVEL}
    return {
        "cnn_digits_sets": {
            **common, "name": "cnn_digits",
            "data": {"kind": "image", "source": digits_source, "test_fraction": 0.3},
            "model": {"kind": "cnn", "channels": [16, 32], "batch_norm": True, "hidden": [64]},
            "train": {"optimizer": "adam", "lr": 2e-3, "batch_size": 64, "epochs": epochs},
            "uncertainty": ensemble},
        "gru_lightcurves_sets": {
            **common, "name": "gru_lightcurves",
            "data": {"kind": "signal", "source": str(classes), "target": "label", "test_fraction": 0.3},
            "model": {"kind": "rnn", "cell": "gru", "hidden": [32]},
            "train": {"optimizer": "adam", "lr": 3e-3, "batch_size": 64, "epochs": epochs},
            "uncertainty": ensemble},
        "cnn_lightcurves_cvplus": {
            **common, "name": "cnn_fraction",
            "data": {"kind": "signal", "source": str(fraction), "target": "fraction", "test_fraction": 0.3},
            "model": {"kind": "cnn", "channels": [16, 32], "batch_norm": True, "hidden": [32]},
            "train": {"optimizer": "adam", "lr": 2e-3, "batch_size": 64, "epochs": epochs},
            "uncertainty": ensemble},
    }


def row(metrics: dict[str, Any]) -> dict[str, Any]:
    """What the results keep of one run: the test coverage at LEVEL, its interval, set size or width, accuracy."""
    u = metrics["uncertainty"]
    test = u["test"]
    out: dict[str, Any] = {"members": u["members"], "conformal_method": u["conformal_method"],
                           "calibrated_on": u["calibration"].get("calibrated_on"),
                           "n_calibration": u["calibration"]["n"], "n_test": test.get("n"),
                           "training_seconds": round(metrics["timings"]["training_seconds"], 1)}
    if "set_coverage" in test:
        out.update({"coverage": test["set_coverage"], "coverage_low": test["set_coverage_low"],
                    "coverage_high": test["set_coverage_high"], "mean_set_size": test["mean_set_size"],
                    "test_accuracy": metrics["test"]["accuracy"], "ece": test.get("ece")})
    else:
        out.update({"coverage": test["coverage"], "coverage_low": test["coverage_low"],
                    "coverage_high": test["coverage_high"], "mean_width": test["mean_width"],
                    "test_rmse": metrics["test"]["rmse"]})
    out["coverage_by_level"] = {level: round(v["coverage"], 4) for level, v in test["coverage_by_level"].items()}
    return out


#: networks without batch norm or recurrent layers (what vmap can run), on batches of 64: name -> (spec, input)
SPEED_NETWORKS: dict[str, tuple[dict[str, Any], InputSchema]] = {
    "cnn_image_8x8": ({"kind": "cnn", "channels": [16, 32], "hidden": [64]}, InputSchema("x", "image", (1, 8, 8))),
    "cnn_signal_2x64": ({"kind": "cnn", "channels": [16, 32], "hidden": [32]}, InputSchema("x", "signal", (2, 64))),
    "transformer_signal_2x64": ({"kind": "transformer", "width": 32, "heads": 4, "layers": 2, "feedforward": 64},
                                InputSchema("x", "signal", (2, 64))),
}


def _steps_seconds(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    """Seconds for `steps` Adam steps of an ensemble on the sum of its members' cross-entropies."""
    loss, opt = ensemble_loss(F.cross_entropy, target_dims=1), torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    start = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        loss(model(x), y).backward()
        opt.step()
    return time.perf_counter() - start


def speed(steps: int, repeats: int, members: int = MEMBERS, networks: Sequence[str] = tuple(SPEED_NETWORKS)
          ) -> dict[str, Any]:
    """Training-step time of the vectorised (vmap) and the sequential ensemble of each of `networks` (SPEED_NETWORKS
    names), and of one member alone: medians of `repeats` alternating timings of `steps` steps, batch 64, 10
    classes."""
    out: dict[str, Any] = {"members": members, "steps": steps, "repeats": repeats, "batch": 64,
                           "threads": torch.get_num_threads(), "networks": {}}
    for name in networks:
        spec, schema = SPEED_NETWORKS[name]
        make: Callable[[int], torch.nn.Module] = lambda s, spec=spec, schema=schema: build_model(  # noqa: E731
            model_config(**spec), {"x": schema}, 10, task="multiclass", seed=s)
        forms = {"vectorised": build_any_ensemble(make, members, vectorise=True),
                 "sequential": build_any_ensemble(make, members), "one_member": make(0)}
        g = torch.Generator().manual_seed(0)
        x, y = torch.randn(64, *schema.shape, generator=g), torch.randint(0, 10, (64,), generator=g)
        times: dict[str, list[float]] = {form: [] for form in forms}
        for _ in range(repeats):
            for form, model in forms.items():
                one = form == "one_member"
                seconds = _steps_seconds(model, x, y, steps) if not one else _one_seconds(model, x, y, steps)
                times[form].append(seconds / steps)
        median = {form: statistics.median(t) for form, t in times.items()}
        out["networks"][name] = {"seconds_per_step": median,
                                 "vectorised_over_sequential": median["vectorised"] / median["sequential"],
                                 "sequential_over_one_member": median["sequential"] / median["one_member"]}
    return out


def _one_seconds(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    """Seconds for `steps` Adam steps of one network alone (the unit of the ratios)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    start = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return time.perf_counter() - start


def main(argv: list[str]) -> dict[str, Any]:
    """Fit the three runs at SEEDS and time the two forms (`--smoke`: 120 light curves of 32 nights, 300 digits,
    2 members, 1 epoch, seed 0, one timed step of one network) and print their rows."""
    smoke = "--smoke" in argv
    seeds = SEEDS[:1] if smoke else SEEDS
    results: dict[str, Any] = {"level": LEVEL, "members": MEMBERS, "seeds": list(seeds), "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        classes, fraction = light_curves(folder, 120 if smoke else 2500, 32 if smoke else 64)
        digits = "digits"
        if smoke:  # 300 digits as images in an npz
            from sklearn.datasets import load_digits

            images = load_digits()
            digits = str(folder / "digits.npz")
            np.savez(digits, X=images.images[:300, None].astype(np.float32), digit=images.target[:300])
        for seed in seeds:
            runs = configs(classes, fraction, 1 if smoke else EPOCHS, digits, 2 if smoke else MEMBERS)
            for name, raw in runs.items():
                if smoke and name == "cnn_digits_sets":
                    raw["data"]["target"] = "digit"
                raw["seed"] = seed
                run = run_experiment(config_from_dict(raw), out=folder / "runs", progress=False)
                results["runs"].setdefault(name, []).append({"seed": seed, **row(run.metrics)})
                print(name, json.dumps(results["runs"][name][-1]))
    for rows in results["runs"].values():
        rows.append({"seed": "mean", **{k: statistics.mean(r[k] for r in rows) for k in ("coverage", "n_test")}})
    results["speed"] = speed(1, 1, 2, ["cnn_image_8x8"]) if smoke else speed(20, 5)
    print(json.dumps(results["speed"], indent=1))
    return results


if __name__ == "__main__":
    out = main(sys.argv[1:])
    if "--smoke" not in sys.argv:
        RESULTS.write_text(json.dumps(out, indent=2) + "\n")
