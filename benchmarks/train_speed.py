"""Training speed, side by side in one run: deepsci.Regressor vs a plain PyTorch loop vs scikit-learn.

The task of DESIGN.md: solubility RDKit descriptors (the 1025 training molecules), MLP 2x64 ReLU,
Adam (lr 1e-3), batch 32, 100 epochs, every epoch run (no early stopping). Each contender is timed
`--repeats` times, interleaved, and the median is kept; we report ratios to the plain loop, since wall
times on a shared 2-core machine are noisy.

    .venv/bin/python benchmarks/train_speed.py [--epochs 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.neural_network import MLPRegressor

import deepsci as ds
from deepsci.data import load_dataset


def plain_torch_loop(X: torch.Tensor, y: torch.Tensor, epochs: int, seed: int = 0) -> None:
    """The loop a PyTorch user writes: index slices of in-memory tensors, default Adam."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(X.shape[1], 64), torch.nn.ReLU(), torch.nn.Linear(64, 64),
                                torch.nn.ReLU(), torch.nn.Linear(64, 1))
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


def deepsci_regressor(X: np.ndarray, y: np.ndarray, epochs: int) -> None:
    ds.Regressor(hidden=(64, 64), activation="relu", lr=1e-3, batch_size=32, epochs=epochs, seed=0).fit(X, y)


def sklearn_mlp(X: np.ndarray, y: np.ndarray, epochs: int) -> None:
    MLPRegressor(hidden_layer_sizes=(64, 64), solver="adam", learning_rate_init=1e-3, batch_size=32,
                 max_iter=epochs, tol=0.0, n_iter_no_change=epochs + 1, random_state=0).fit(X, y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    data = load_dataset(source="solubility", seed=0)
    X = torch.cat([data.train.X, data.valid.X])  # the 1025 training molecules, scaled
    y = torch.cat([data.train.y, data.valid.y])
    Xn, yn = X.numpy(), y[:, 0].numpy()
    contenders = {
        "plain torch loop": lambda: plain_torch_loop(X, y, args.epochs),
        "deepsci.Regressor": lambda: deepsci_regressor(Xn, yn, args.epochs),
        "sklearn MLPRegressor": lambda: sklearn_mlp(Xn, yn, args.epochs),
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.repeats):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(t) for name, t in times.items()}
    base = median["plain torch loop"]
    steps = args.epochs * -(-X.shape[0] // 32)
    print(f"{X.shape[0]} x {X.shape[1]} descriptors, MLP 2x64, Adam, batch 32, {args.epochs} epochs "
          f"({steps} steps), median of {args.repeats}, torch threads {torch.get_num_threads()}")
    print(f"{'contender':<24}{'seconds':>10}{'us/step':>10}{'time / plain loop':>20}")
    for name, t in median.items():
        print(f"{name:<24}{t:>10.2f}{1e6 * t / steps:>10.0f}{t / base:>20.2f}")
    out = Path(__file__).parent / "results" / "train_speed.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"n": X.shape[0], "d": X.shape[1], "epochs": args.epochs, "steps": steps,
                               "seconds": times, "median_seconds": median,
                               "ratio_to_plain_loop": {k: v / base for k, v in median.items()}}, indent=2))


if __name__ == "__main__":
    main()
