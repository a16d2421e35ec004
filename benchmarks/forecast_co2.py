"""CO2 (Mauna Loa, monthly): 12-month-ahead forecasts on the last 8 years, seq2seq LSTM vs baselines.

Windows: 36 months in, 12 out. Time-ordered split: test = windows whose 12 targets lie in
1994-01..2001-12, valid = 1990-1993, train = before 1990 (scaler fitted on train only).
Baselines on the same test windows: seasonal naive (the value 12 months earlier) and a linear
autoregression on the same 36-month window (least squares, fitted on the training windows; also
reported fitted on train+valid). Metric: test RMSE in ppm over all 12 horizon steps.

Run: .venv/bin/python benchmarks/forecast_co2.py   (writes benchmarks/results/forecast_co2.json)
     .venv/bin/python benchmarks/forecast_co2.py --smoke   (1 seed, 1 epoch, writes nothing: that it runs)
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import torch

from deepsci.data.ordered import co2_dataset
from deepsci.data.timeseries import (fit_linear_autoregression, linear_autoregression_predict,
                                     seasonal_naive_forecast)
from deepsci.models.rnn import Seq2Seq


def train(model, d, *, epochs, lr, batch=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    clip = model.spec()["clip_grad_norm"]
    best, best_state = float("inf"), None
    X, y = d.train.X, d.train.y
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(X), generator=g)
        for i in range(0, len(X), batch):
            idx = perm[i:i + batch]
            loss = torch.nn.functional.mse_loss(model(X[idx], y[idx], generator=g), y[idx])
            opt.zero_grad()
            loss.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
        sched.step()
        model.eval()
        with torch.no_grad():
            v = float(torch.nn.functional.mse_loss(model(d.valid.X), d.valid.y))
        if v < best:
            best, best_state = v, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    return model


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="one seed, 1 epoch, no results file: that it runs")
    args = parser.parse_args(argv)
    seeds, epochs = ((0,), 1) if args.smoke else ((0, 1, 2), 150)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    d = co2_dataset()
    sc = d.y_scaler

    def rmse(pred, target):
        return float(((sc.inverse_transform(pred) - sc.inverse_transform(target)) ** 2).mean().sqrt())

    Xt, yt = d.test.X, d.test.y
    out = {"dataset": "co2", "windows": {"train": len(d.train), "valid": len(d.valid), "test": len(d.test)},
           "boundaries": d.summary.boundaries, "input_length": 36, "horizon": 12, "units": "ppm",
           "seasonal_naive_rmse": rmse(seasonal_naive_forecast(Xt, 12, 12), yt)}
    W = fit_linear_autoregression(d.train.X, d.train.y)
    out["linear_ar_rmse"] = rmse(linear_autoregression_predict(W, Xt), yt)
    W2 = fit_linear_autoregression(torch.cat([d.train.X, d.valid.X]), torch.cat([d.train.y, d.valid.y]))
    out["linear_ar_train_valid_rmse"] = rmse(linear_autoregression_predict(W2, Xt), yt)
    runs = []
    for seed in seeds:
        t0 = time.perf_counter()
        m = train(Seq2Seq(1, 12, hidden=64, teacher_forcing=0.5, seed=seed), d, epochs=epochs, lr=3e-3, seed=seed)
        with torch.no_grad():
            runs.append({"seed": seed, "test_rmse": rmse(m(Xt), yt), "seconds": time.perf_counter() - t0})
    out["seq2seq_lstm"] = {"spec": m.spec(), "runs": runs,
                           "mean_test_rmse": sum(r["test_rmse"] for r in runs) / len(runs)}
    if not args.smoke:
        Path(__file__).parent.joinpath("results", "forecast_co2.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
