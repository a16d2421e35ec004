"""Vectorised deep ensemble vs one network through the deepsci Trainer, side by side in one run.

Issue 3, item 1: an 8-member ensemble must train in at most 2.0x the wall time of one member of the same
size. Both are trained by the SAME `deepsci.training.Trainer` (Adam, batch 32, same epochs, no early
stopping so both run every epoch): the single model as an MLP 2x64, the ensemble as one StackedMLP of 8
such MLPs with `ensemble_loss(mse)` -- exactly what `[uncertainty] method = "ensemble"` runs. Data: the
solubility descriptors through `deepsci.data.load_dataset` (the bundled train split, scaled).
Runs alternate `--repeats` times so drifts in machine load hit both alike; the ratio of medians is reported
with torch's thread count (on a loaded 2-core machine 1 thread is often faster for these small tensors).
Quality numbers (RMSE, coverage, NLL) are in benchmarks/conformal_coverage.py.

    .venv/bin/python benchmarks/ensemble_speed.py --threads 1   # writes benchmarks/results/ensemble_speed.json
    .venv/bin/python benchmarks/ensemble_speed.py --quick
    .venv/bin/python benchmarks/ensemble_speed.py --smoke   # 64 random rows, 1 epoch: that it runs (make test)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from deepsci.data import load_dataset
from deepsci.models import MLP
from deepsci.training import Trainer, build_ensemble, ensemble_loss
from deepsci.training.losses import mse

RESULTS = Path(__file__).parent / "results" / "ensemble_speed.json"


def fit_seconds(model: torch.nn.Module, loss: Any, X: torch.Tensor, y: torch.Tensor, *, epochs: int,
                seed: int) -> float:
    trainer = Trainer(model, loss=loss, optimizer="adam", lr=1e-3, batch_size=32, epochs=epochs, seed=seed)
    start = time.perf_counter()
    trainer.fit(X, y)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="64 random rows of 16 features, 1 epoch, no results "
                                                             "file: that it runs")
    args = parser.parse_args(argv)
    if args.quick or args.smoke:
        args.epochs, args.repeats = (1 if args.smoke else 5), 1
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.smoke:
        gen = torch.Generator().manual_seed(0)
        X, y = torch.randn(64, 16, generator=gen), torch.randn(64, 1, generator=gen)
    else:
        ds = load_dataset(source="solubility", valid_fraction=0.1, seed=0)
        X, y = ds.train.X, ds.train.y
    d = X.shape[1]
    single_s, ens_s = [], []
    for r in range(args.repeats):
        single_s.append(fit_seconds(MLP(d, 1, (64, 64), seed=r), mse, X, y, epochs=args.epochs, seed=r))
        ens = build_ensemble(lambda s: MLP(d, 1, (64, 64), seed=s), args.members, seed=100 * r)
        ens_s.append(fit_seconds(ens, ensemble_loss(mse), X, y, epochs=args.epochs, seed=r))
        print(f"repeat {r}: single {single_s[-1]:.2f} s, ensemble {ens_s[-1]:.2f} s", flush=True)
    s, e = statistics.median(single_s), statistics.median(ens_s)
    result = {"benchmark": "ensemble_speed (deepsci Trainer)", "data": "solubility train split",
              "train_shape": list(X.shape), "model": "MLP 2x64, Adam, batch 32", "members": args.members,
              "epochs": args.epochs, "repeats": args.repeats, "torch": torch.__version__,
              "threads": torch.get_num_threads(), "cpus": os.cpu_count(), "machine": platform.machine(),
              "load_average": os.getloadavg(), "single_seconds": single_s, "ensemble_seconds": ens_s,
              "single_median_s": s, "ensemble_median_s": e, "ratio": e / s}
    print(f"threads {torch.get_num_threads()}: single {s:.2f} s, {args.members}-member stacked ensemble {e:.2f} s, "
          f"ratio {e / s:.2f} (issue wants <= 2.0)")
    if not (args.quick or args.smoke):
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2))
        print(f"wrote {RESULTS}")
    return result


if __name__ == "__main__":
    main()
