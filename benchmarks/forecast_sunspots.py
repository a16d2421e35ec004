"""Sunspots (yearly Wolf numbers): one-year-ahead GRU forecast on the last 60 years vs persistence.

Windows: 24 years in, 1 out. Time-ordered split: test = 1949-2008, valid = 1919-1948, train before
(scaler fitted on train only). Baselines on the same test windows: persistence (next year = this
year) and a linear autoregression on the same 24-year window. Metric: test RMSE (sunspot number).

Run: .venv/bin/python benchmarks/forecast_sunspots.py   (writes benchmarks/results/forecast_sunspots.json)
     .venv/bin/python benchmarks/forecast_sunspots.py --smoke   (1 seed, 2 epochs, writes nothing: that it runs)
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from deepsci.data.ordered import sunspots_dataset
from deepsci.data.timeseries import fit_linear_autoregression, linear_autoregression_predict, persistence_forecast
from deepsci.models.rnn import SequenceModel


def train(model, d, *, epochs=200, lr=3e-3, batch=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-5)
    clip = model.spec()["clip_grad_norm"]
    best, best_state = float("inf"), None
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(d.train), generator=g)
        for i in range(0, len(perm), batch):
            idx = perm[i:i + batch]
            loss = F.mse_loss(model(d.train.X[idx]), d.train.y[idx])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
        model.eval()
        with torch.no_grad():
            v = float(F.mse_loss(model(d.valid.X), d.valid.y))
        if v < best:
            best, best_state = v, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    return model.eval()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="one seed, 2 epochs, no results file: that it runs")
    args = parser.parse_args(argv)
    seeds, epochs = ((0,), 2) if args.smoke else ((0, 1, 2), 200)
    torch.set_num_threads(1)
    d = sunspots_dataset()
    sc = d.y_scaler

    def rmse(pred, target):
        return float(((sc.inverse_transform(pred) - sc.inverse_transform(target)) ** 2).mean().sqrt())

    Xt, yt = d.test.X, d.test.y
    W = fit_linear_autoregression(d.train.X, d.train.y)
    out = {"dataset": "sunspots", "windows": {"train": len(d.train), "valid": len(d.valid), "test": len(d.test)},
           "boundaries": d.summary.boundaries, "input_length": 24, "horizon": 1,
           "persistence_rmse": rmse(persistence_forecast(Xt, 1), yt),
           "linear_ar_rmse": rmse(linear_autoregression_predict(W, Xt), yt)}
    runs = []
    for seed in seeds:
        t0 = time.perf_counter()
        m = train(SequenceModel(1, 1, cell="gru", hidden=32, seed=seed), d, seed=seed, epochs=epochs)
        with torch.no_grad():
            runs.append({"seed": seed, "test_rmse": rmse(m(Xt), yt), "seconds": time.perf_counter() - t0})
    out["gru"] = {"spec": m.spec(), "runs": runs, "mean_test_rmse": sum(r["test_rmse"] for r in runs) / len(runs)}
    if not args.smoke:
        Path(__file__).parent.joinpath("results", "forecast_sunspots.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
