"""Training speed, side by side in one run: deepsci against the PyTorch trainers people use, and scikit-learn.

Three measurements, each contender timed `--repeats` times, interleaved, median kept (wall times on a shared
2-core machine are noisy, so the ratios within one run are what to read):

1. The solubility MLP of DESIGN.md: RDKit descriptors of the 1025 training molecules (scaled), MLP 2x64 ReLU,
   Adam (lr 1e-3), batch 32, `--epochs` epochs, every epoch run (no early stopping), test RMSE in logS units
   on the 257 test molecules. Contenders: a plain PyTorch loop over index slices of in-memory tensors (the
   baseline), the same loop over DataLoader(TensorDataset), deepsci.Regressor, scikit-learn's MLPRegressor,
   skorch, Lightning (logging, checkpointing, progress bar and model summary off) and Keras 3 on the torch
   backend. A peer that is not installed is skipped (`pip install 'deepsci[benchmark]'` installs them).
2. An 8-member deep ensemble (deepsci StackedMLP, one Trainer) against one member of the same width, on
   the same rows, for the same epochs.
3. A wide MLP 3x512 at batch 512 on 50,000 x 64 synthetic rows: achieved FLOP/s of a training step
   (forward 2BP, weight gradients 2BP, input gradients 2BP except the first layer's) against the float32
   matmul rate measured in the same run, both for a square 512 product and for this model's own products.

    .venv/bin/python benchmarks/train_speed.py [--epochs 100] [--repeats 3] [--wide-epochs 2] [--threads N]

Writes benchmarks/results/train_speed.json and prints a Markdown table (benchmarks/README.md keeps one).
`--smoke`: every part on 60 molecules and 2,048 wide rows, 1 epoch, 1 repeat, no results file (that it runs).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("KERAS_BACKEND", "torch")  # Keras 3 reads it once, at import

import numpy as np
import torch
from sklearn.neural_network import MLPRegressor

import deepsci as ds
from deepsci.data import load_dataset
from deepsci.models import MLP
from deepsci.training import Trainer, losses
from deepsci.training.ensemble import build_ensemble, ensemble_loss
from tiny import solubility_sample  # beside this script

Fit = Callable[[int, int], np.ndarray]  # (epochs, seed) -> test predictions (scaled target units)


# -- the contenders on the solubility MLP ----------------------------------------------------------------------
def _torch_mlp(d: int, seed: int = 0) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(d, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(),
                               torch.nn.Linear(64, 1))


def plain_loop(X: torch.Tensor, y: torch.Tensor, Xt: torch.Tensor, epochs: int, seed: int) -> np.ndarray:
    """The loop a PyTorch user writes: index slices of in-memory tensors, default Adam."""
    model = _torch_mlp(X.shape[1], seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.MSELoss()
    n = X.shape[0]
    for _ in range(epochs):
        perm = torch.randperm(n)
        for i in range(0, n, 32):
            idx = perm[i:i + 32]
            opt.zero_grad()
            loss = loss_fn(model(X[idx]), y[idx])
            loss.backward()
            opt.step()
    with torch.no_grad():
        return model(Xt).numpy()


def dataloader_loop(X: torch.Tensor, y: torch.Tensor, Xt: torch.Tensor, epochs: int, seed: int) -> np.ndarray:
    """The same loop over DataLoader(TensorDataset), as most tutorials write it."""
    from torch.utils.data import DataLoader, TensorDataset

    model = _torch_mlp(X.shape[1], seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.MSELoss()
    loader = DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True)
    for _ in range(epochs):
        for xb, yb in loader:
            opt.zero_grad()
            loss_fn(model(xb), yb).backward()
            opt.step()
    with torch.no_grad():
        return model(Xt).numpy()


def deepsci_regressor(X: np.ndarray, y: np.ndarray, Xt: np.ndarray, epochs: int, seed: int) -> np.ndarray:
    reg = ds.Regressor(hidden=(64, 64), activation="relu", lr=1e-3, batch_size=32, epochs=epochs, seed=seed)
    return reg.fit(X, y).predict(Xt)


def sklearn_mlp(X: np.ndarray, y: np.ndarray, Xt: np.ndarray, epochs: int, seed: int) -> np.ndarray:
    reg = MLPRegressor(hidden_layer_sizes=(64, 64), solver="adam", learning_rate_init=1e-3, batch_size=32,
                       max_iter=epochs, tol=0.0, n_iter_no_change=epochs + 1, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: every epoch is meant to run
        return reg.fit(X, y).predict(Xt)


def skorch_net(X: np.ndarray, y: np.ndarray, Xt: np.ndarray, epochs: int, seed: int) -> np.ndarray:
    from skorch import NeuralNetRegressor

    net = NeuralNetRegressor(_torch_mlp(X.shape[1], seed), criterion=torch.nn.MSELoss, optimizer=torch.optim.Adam,
                             lr=1e-3, batch_size=32, max_epochs=epochs, train_split=None, verbose=0,
                             iterator_train__shuffle=True)
    net.fit(X, y.reshape(-1, 1))
    return net.predict(Xt)


def lightning_fit(X: torch.Tensor, y: torch.Tensor, Xt: torch.Tensor, epochs: int, seed: int) -> np.ndarray:
    import lightning as L
    from torch.utils.data import DataLoader, TensorDataset

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = _torch_mlp(X.shape[1], seed)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            xb, yb = batch
            return torch.nn.functional.mse_loss(self.net(xb), yb)

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.Adam(self.parameters(), lr=1e-3)

    module = Module()
    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True))
    with torch.no_grad():
        return module.net(Xt).numpy()


def keras_fit(X: np.ndarray, y: np.ndarray, Xt: np.ndarray, epochs: int, seed: int) -> np.ndarray:
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((X.shape[1],)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(64, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    model.fit(X, y, batch_size=32, epochs=epochs, verbose=0, shuffle=True)
    return np.asarray(model.predict(Xt, verbose=0))


def _installed(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def _silence_peers() -> None:
    """Lightning's and Keras's start-up chatter (tips, 'GPU available' lines) off the benchmark's output."""
    import logging

    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lightning")


# -- the timing harness ----------------------------------------------------------------------------------------
def race(contenders: dict[str, Fit], epochs: int, repeats: int
         ) -> tuple[dict[str, list[float]], dict[str, list[np.ndarray]]]:
    """Wall seconds of each contender, `repeats` rounds interleaved (so load changes hit all alike), round r
    with seed r, and the predictions of every round (accuracy is read as the mean over seeds: one seed's
    test RMSE moves by several hundredths). One untimed epoch of each first when a fit runs several: imports
    and first-call costs (the first optimiser of a process imports torch._dynamo, seconds) are not training
    (with one epoch the median of the repeats leaves them out)."""
    for fit in contenders.values():
        if epochs > 1:
            fit(1, 0)
    times: dict[str, list[float]] = {name: [] for name in contenders}
    preds: dict[str, list[np.ndarray]] = {name: [] for name in contenders}
    for seed in range(repeats):
        for name, fit in contenders.items():
            start = time.perf_counter()
            preds[name].append(fit(epochs, seed))
            times[name].append(time.perf_counter() - start)
    return times, preds


def solubility(epochs: int, repeats: int, source: dict[str, Any]) -> dict[str, Any]:
    """Part 1 on the dataset of `source` (load_dataset's keywords: the solubility set, or a smoke run's sample)."""
    data = load_dataset(**source, seed=0)
    X = torch.cat([data.train.X, data.valid.X])  # the 1025 training molecules, scaled
    y = torch.cat([data.train.y, data.valid.y])
    Xt, yt = data.test.X, data.test.y
    Xn, yn, Xtn = X.numpy(), y[:, 0].numpy(), Xt.numpy()
    contenders: dict[str, Fit] = {
        "plain torch loop": lambda e, s: plain_loop(X, y, Xt, e, s),
        "deepsci.Regressor": lambda e, s: deepsci_regressor(Xn, yn, Xtn, e, s),
        "scikit-learn MLPRegressor": lambda e, s: sklearn_mlp(Xn, yn, Xtn, e, s),
        "DataLoader(TensorDataset) loop": lambda e, s: dataloader_loop(X, y, Xt, e, s),
    }
    skipped = []
    peers: list[tuple[str, str, Fit]] = [("skorch", "skorch", lambda e, s: skorch_net(Xn, yn, Xtn, e, s)),
                                         ("Lightning", "lightning", lambda e, s: lightning_fit(X, y, Xt, e, s)),
                                         ("Keras 3 (torch backend)", "keras", lambda e, s: keras_fit(Xn, yn, Xtn, e, s))]
    for name, module, fit in peers:
        if _installed(module):
            contenders[name] = fit
        else:
            skipped.append(name)
    times, preds = race(contenders, epochs, repeats)
    unscale = data.y_scaler.inverse_transform
    truth = unscale(yt).double().numpy()[:, 0]
    per_seed = {name: [float(np.sqrt(np.mean((unscale(torch.as_tensor(np.asarray(p, dtype=np.float32)).reshape(-1, 1))
                                              .double().numpy()[:, 0] - truth) ** 2))) for p in runs]
                for name, runs in preds.items()}
    median = {name: statistics.median(t) for name, t in times.items()}
    base = median["plain torch loop"]
    return {"n": X.shape[0], "d": X.shape[1], "epochs": epochs, "steps": epochs * -(-X.shape[0] // 32),
            "seconds": times, "median_seconds": median, "ratio_to_plain_loop": {k: v / base for k, v in median.items()},
            "test_rmse": {name: statistics.mean(r) for name, r in per_seed.items()}, "test_rmse_per_seed": per_seed,
            "skipped": skipped}


def ensemble(epochs: int, repeats: int, source: dict[str, Any]) -> dict[str, Any]:
    """One MLP 2x64 against 8 stacked members of the same width, both by deepsci's Trainer on the same rows."""
    data = load_dataset(**source, seed=0)
    X, y = torch.cat([data.train.X, data.valid.X]), torch.cat([data.train.y, data.valid.y])
    d = X.shape[1]

    def one(epochs: int, seed: int) -> np.ndarray:
        trainer = Trainer(MLP(d, 1, (64, 64), seed=seed), loss=losses.mse, epochs=epochs, seed=seed).fit(X, y)
        return trainer.predict(data.test.X).numpy()

    def eight(epochs: int, seed: int) -> np.ndarray:
        model = build_ensemble(lambda s: MLP(d, 1, (64, 64), seed=s), 8, seed=8 * seed)
        trainer = Trainer(model, loss=ensemble_loss(losses.mse, target_dims=2), epochs=epochs, seed=seed).fit(X, y)
        return trainer.predict(data.test.X).mean(0).numpy()

    times, preds = race({"one member": one, "8-member ensemble": eight}, epochs, repeats)
    median = {name: statistics.median(t) for name, t in times.items()}
    truth = data.y_scaler.inverse_transform(data.test.y).double().numpy()
    rmse = {k: statistics.mean(float(np.sqrt(np.mean((data.y_scaler.inverse_transform(torch.as_tensor(p)).double()
                                                       .numpy() - truth) ** 2))) for p in runs)
            for k, runs in preds.items()}
    return {"epochs": epochs, "seconds": times, "median_seconds": median, "test_rmse": rmse,
            "ratio_ensemble_to_one": median["8-member ensemble"] / median["one member"]}


# -- cross-validation of the scikit-learn estimators --------------------------------------------------------------
def cross_validation(epochs: int, repeats: int) -> dict[str, Any]:
    """5-fold cross_val_score on diabetes (442 x 10): deepsci.Regressor against MLPRegressor with the same
    settings (2x64 ReLU, Adam lr 1e-3, batch 32, `epochs` epochs all run, inputs standardised)."""
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import KFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_diabetes(return_X_y=True)
    folds = KFold(5, shuffle=True, random_state=0)
    scores: dict[str, float] = {}

    def ours(e: int, seed: int) -> np.ndarray:  # the same folds and seed every round
        reg = ds.Regressor(hidden=(64, 64), lr=1e-3, batch_size=32, epochs=e, seed=0)
        scores["deepsci.Regressor"] = float(np.mean(cross_val_score(reg, X, y, cv=folds)))
        return np.zeros(1)

    def theirs(e: int, seed: int) -> np.ndarray:
        reg = make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(64, 64), learning_rate_init=1e-3,
                                                           batch_size=32, max_iter=e, tol=0.0,
                                                           n_iter_no_change=e + 1, random_state=0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores["StandardScaler + MLPRegressor"] = float(np.mean(cross_val_score(reg, X, y, cv=folds)))
        return np.zeros(1)

    times, _ = race({"deepsci.Regressor": ours, "StandardScaler + MLPRegressor": theirs}, epochs, repeats)
    median = {name: statistics.median(t) for name, t in times.items()}
    return {"epochs": epochs, "seconds": times, "median_seconds": median, "mean_r2": scores,
            "ratio_deepsci_to_sklearn": median["deepsci.Regressor"] / median["StandardScaler + MLPRegressor"]}


# -- the wide MLP at the matmul rate ---------------------------------------------------------------------------
def step_flops(widths: list[int], batch: int) -> int:
    """Floating-point operations of one training step's products: forward 2*B*in*out per layer, weight
    gradients the same, input gradients the same for every layer but the first."""
    products = [a * b for a, b in zip(widths[:-1], widths[1:])]
    return 2 * batch * (2 * sum(products) + sum(products[1:]))


def matmuls(shapes: list[tuple[int, int, int]], repeats: int) -> np.ndarray:
    """Run the float32 products (m, k) x (k, n) of `shapes`, `repeats` times over: the matmul work alone."""
    pairs = [(torch.randn(m, k), torch.randn(k, n)) for m, k, n in shapes]
    for _ in range(repeats):
        for a, b in pairs:
            a.mm(b)
    return np.zeros(1)


def wide(epochs: int, repeats: int, n: int = 50_000) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(0)
    d, batch, widths = 64, 512, [64, 512, 512, 512, 1]
    X = torch.randn(n, d, generator=gen)
    y = (torch.sin(X[:, :8]).sum(1, keepdim=True) + 0.1 * torch.randn(n, 1, generator=gen))

    def deepsci_fit(epochs: int, seed: int) -> np.ndarray:  # seed 0 every round: a speed measurement
        trainer = Trainer(MLP(d, 1, (512, 512, 512), seed=0), loss=losses.mse, batch_size=batch, epochs=epochs, seed=0)
        return trainer.fit(X, y).predict(X[:8]).numpy()

    def plain_fit(epochs: int, seed: int) -> np.ndarray:
        torch.manual_seed(0)
        layers: list[torch.nn.Module] = []
        for a, b in zip(widths[:-2], widths[1:-1]):
            layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
        model = torch.nn.Sequential(*layers, torch.nn.Linear(widths[-2], 1))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
        for _ in range(epochs):
            perm = torch.randperm(n)
            for i in range(0, n, batch):
                idx = perm[i:i + batch]
                opt.zero_grad(set_to_none=True)
                torch.nn.functional.mse_loss(model(X[idx]), y[idx]).backward()
                opt.step()
        with torch.no_grad():
            return model(X[:8]).numpy()

    # The model's own products per step: forward (B x in)(in x out), weight gradient (out x B)(B x in), input
    # gradient (B x out)(out x in) but for the first layer; timed alone, interleaved with the fits, for as many
    # steps as a fit runs (full batches; the last, smaller batch of the epoch is left out of both counts).
    full = epochs * (n // batch)
    pairs = list(zip(widths[:-1], widths[1:]))
    own = [(batch, a, b) for a, b in pairs] + [(b, batch, a) for a, b in pairs] + [(batch, b, a) for a, b in pairs[1:]]
    flops = step_flops(widths, batch) * full
    square = max(1, round(flops / (2 * 512 ** 3)))
    contenders: dict[str, Fit] = {
        "deepsci Trainer": deepsci_fit, "plain torch loop (fused Adam)": plain_fit,
        "matmul alone: this model's products": lambda e, s: matmuls(own, e * (n // batch)),
        "matmul alone: 512^3 products": lambda e, s: matmuls([(512, 512, 512)], max(1, round(square * e / epochs))),
    }
    times, _ = race(contenders, epochs, repeats)
    rates = {name: (flops if name.startswith("matmul") else flops + step_flops(widths, n % batch) * epochs)
             / statistics.median(t) for name, t in times.items()}
    out: dict[str, Any] = {"rows": n, "widths": widths, "batch": batch, "epochs": epochs,
                           "steps": epochs * -(-n // batch), "seconds": times, "flops_per_second": rates,
                           "matmul_flops_square_512": rates["matmul alone: 512^3 products"],
                           "matmul_flops_model_shapes": rates["matmul alone: this model's products"]}
    for name in ("deepsci Trainer", "plain torch loop (fused Adam)"):
        out[name] = {"flops": rates[name], "fraction_of_square_512": rates[name] / out["matmul_flops_square_512"],
                     "fraction_of_model_shapes": rates[name] / out["matmul_flops_model_shapes"]}
    return out


def markdown(result: dict[str, Any]) -> str:
    """The tables of benchmarks/README.md from one run's results."""
    sol, ens, cv, wid = result["solubility"], result["ensemble"], result["cv"], result["wide"]
    lines = [f"Solubility MLP 2x64 ({sol['n']} x {sol['d']}), Adam, batch 32, {sol['epochs']} epochs, median of "
             f"{result['repeats']} rounds (seeds 0-{result['repeats'] - 1}), threads {result['torch_threads']}; "
             "test RMSE the mean over the seeds:", "",
             "| trainer | seconds | x plain loop | test RMSE |", "| --- | --- | --- | --- |"]
    for name, t in sorted(sol["median_seconds"].items(), key=lambda kv: kv[1]):
        lines.append(f"| {name} | {t:.2f} | {sol['ratio_to_plain_loop'][name]:.2f} | {sol['test_rmse'][name]:.3f} |")
    lines += ["", f"8-member ensemble vs one member (deepsci Trainer, same rows, {ens['epochs']} epochs, mean RMSE over the seeds): "
              f"{ens['median_seconds']['8-member ensemble']:.2f} s vs {ens['median_seconds']['one member']:.2f} s, "
              f"ratio {ens['ratio_ensemble_to_one']:.2f}; test RMSE {ens['test_rmse']['8-member ensemble']:.3f} vs "
              f"{ens['test_rmse']['one member']:.3f}.", "",
              f"5-fold cross_val_score on diabetes, 2x64, batch 32, {cv['epochs']} epochs: deepsci.Regressor "
              f"{cv['median_seconds']['deepsci.Regressor']:.2f} s (R² {cv['mean_r2']['deepsci.Regressor']:.3f}), "
              f"StandardScaler + MLPRegressor {cv['median_seconds']['StandardScaler + MLPRegressor']:.2f} s "
              f"(R² {cv['mean_r2']['StandardScaler + MLPRegressor']:.3f}), ratio {cv['ratio_deepsci_to_sklearn']:.2f}.", "",
              f"MLP 3x512, batch 512, {wid['rows']} x 64 rows, {wid['epochs']} epochs: float32 matmul "
              f"{wid['matmul_flops_square_512'] / 1e9:.0f} GFLOP/s (512^3), {wid['matmul_flops_model_shapes'] / 1e9:.0f} "
              "GFLOP/s (this model's products)", "",
              "| trainer | GFLOP/s | of 512^3 matmul | of the model's products |", "| --- | --- | --- | --- |"]
    for name in ("deepsci Trainer", "plain torch loop (fused Adam)"):
        r = wid[name]
        lines.append(f"| {name} | {r['flops'] / 1e9:.0f} | {r['fraction_of_square_512']:.0%} | "
                     f"{r['fraction_of_model_shapes']:.0%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--wide-epochs", type=int, default=2)
    parser.add_argument("--only", choices=["solubility", "ensemble", "cv", "wide"], default=None)
    parser.add_argument("--combine", action="store_true",
                        help="merge the results of separate --only runs into train_speed.json and print the tables")
    parser.add_argument("--threads", type=int, default=None,
                        help="intra-op threads for every contender, torch's and numpy's BLAS alike (default: each "
                        "library's own choice)")
    parser.add_argument("--smoke", action="store_true", help="tiny data, 1 epoch, 1 repeat, no results file")
    args = parser.parse_args(argv)
    if args.smoke:
        args.epochs, args.repeats, args.wide_epochs = 1, 1, 1
        with tempfile.TemporaryDirectory() as folder:
            source = {"source": str(solubility_sample(Path(folder))), "target": "SOL", "smiles_column": "smiles",
                      "split_column": "split", "id_column": "NAME", "cache_dir": folder}
            return measure(args, source, wide_rows=2048)
    return measure(args, {"source": "solubility"}, wide_rows=50_000)


def measure(args: argparse.Namespace, source: dict[str, Any], wide_rows: int) -> dict[str, Any]:
    """The parts `args` asks for (or --combine's merge), on the solubility data of `source`."""
    if args.threads is not None:
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(args.threads)
        threadpool_limits(args.threads)  # numpy's BLAS too: scikit-learn gets the threads torch gets
    results = Path(__file__).parent / "results"
    if args.combine:
        combined = {name: json.loads((results / f"train_speed_{name}.json").read_text())
                    for name in ("solubility", "ensemble", "cv", "wide")}
        merged = {**combined["solubility"], **{name: part[name] for name, part in combined.items()}}
        merged["parts"] = {name: {k: v for k, v in part.items() if k != name} for name, part in combined.items()}
        (results / "train_speed.json").write_text(json.dumps(merged, indent=2))
        print(markdown(merged))
        return merged
    _silence_peers()
    result: dict[str, Any] = {"repeats": args.repeats, "torch_threads": torch.get_num_threads(),
                              "torch": torch.__version__, "python": platform.python_version(),
                              "load_average_at_start": os.getloadavg()}
    parts = {"solubility": lambda: solubility(args.epochs, args.repeats, source),
             "ensemble": lambda: ensemble(args.epochs, args.repeats, source),
             "cv": lambda: cross_validation(args.epochs, args.repeats),
             "wide": lambda: wide(args.wide_epochs, args.repeats, wide_rows)}
    for name, run in parts.items():
        if args.only in (None, name):
            result[name] = run()
            print(json.dumps({name: result[name]}, indent=1), flush=True)
    result["load_average_at_end"] = os.getloadavg()
    out = results / ("train_speed.json" if args.only is None else f"train_speed_{args.only}.json")
    if not args.smoke:
        results.mkdir(exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
    if args.only is None:
        print(markdown(result))
    return result


if __name__ == "__main__":
    main()
