"""deepsci's training loop against a plain PyTorch loop, for every model kind, side by side in one run.

For each kind the example config's data and network are built by deepsci (so both contenders train the very
same network from the same initial weights on the same tensors); then
- plain: the loop the PyTorch tutorials write: each epoch a random permutation, index slices of the in-memory
  tensors, `zero_grad`, forward, loss, `backward`, `Adam.step`;
- deepsci: `deepsci.training.Trainer` (what `deepsci fit` runs: the dense fast path where it applies, fused
  Adam, the thread choice of deepsci.training.threads), no validation, no early stopping, no progress bar;
with the same batch size, optimiser (Adam, the config's lr), epochs and threads (`--threads`, default: what
deepsci chooses, given to both). Each contender runs `--repeats` times, interleaved; the median is kept.

    .venv/bin/python benchmarks/kinds_speed.py [--epochs 5] [--repeats 3] [--only mlp,cnn] [--threads N] [--smoke]

Kinds (example config): mlp (solubility.toml), cnn (digits_cnn.toml), rnn (sunspots_gru.toml, a GRU
forecaster), transformer (motifs_transformer.toml), deepsets (points_deepsets.toml), dmpnn
(solubility_graph.toml). chemprop is not run here (benchmarks/chemprop_compare.py compares it on the graphs).
Writes benchmarks/results/kinds_speed.json (`--out` to write elsewhere) and prints a Markdown table. Run it
on a quiet machine: with other processes on the cores the seconds mean little.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from deepsci.config import load_config
from deepsci.data.batch import forward, n_rows, take
from deepsci.experiment import build_dataset, build_model
from deepsci.training.losses import get_loss
from deepsci.training.threads import FAMILIES, share_threads, step_mflop
from deepsci.training.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "kinds_speed.json"
KINDS = {"mlp": "solubility.toml", "cnn": "digits_cnn.toml", "rnn": "sunspots_gru.toml",
         "transformer": "motifs_transformer.toml", "deepsets": "points_deepsets.toml",
         "dmpnn": "solubility_graph.toml"}


def plain_loop(model: nn.Module, loss: Any, X: Any, y: torch.Tensor, *, epochs: int, batch_size: int, lr: float,
               seed: int) -> float:
    """Seconds of the tutorial loop: permutation, index slices, zero_grad / forward / backward / Adam step."""
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    n = n_rows(X)
    start = time.perf_counter()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(n)
        for i in range(0, n, batch_size):
            idx = order[i:i + batch_size]
            optimizer.zero_grad()
            loss(forward(model, take(X, idx)), y[idx]).backward()
            optimizer.step()
    return time.perf_counter() - start


def deepsci_loop(model: nn.Module, loss: Any, X: Any, y: torch.Tensor, *, epochs: int, batch_size: int, lr: float,
                 seed: int) -> float:
    """Seconds of deepsci's Trainer on the same work."""
    trainer = Trainer(model, loss=loss, optimizer="adam", lr=lr, batch_size=batch_size, epochs=epochs, seed=seed,
                      progress=False, device="cpu")
    start = time.perf_counter()
    trainer.fit(X, y)
    return time.perf_counter() - start


def measure(kind: str, *, epochs: int, repeats: int, threads: int | None) -> dict[str, Any]:
    """Both contenders on one kind: median seconds, the ratio deepsci / plain, the step's MFLOP and threads."""
    config = load_config(ROOT / "examples" / KINDS[kind])
    dataset = build_dataset(config)
    model = build_model(config, dataset.inputs, dataset.n_outputs, task=dataset.task)
    loss = get_loss(config.train.loss, dataset.task)
    X, y, batch = dataset.train.X, dataset.train.y, config.train.batch_size
    work = step_mflop(model, X, batch)
    times: dict[str, list[float]] = {"plain": [], "deepsci": []}
    with share_threads(threads, family=FAMILIES.get(config.model.kind), work=work) as share:
        for r in range(repeats):  # interleaved: a burst of load hits both alike
            for name, loop in (("plain", plain_loop), ("deepsci", deepsci_loop)):
                times[name].append(loop(copy.deepcopy(model), loss, X, y, epochs=epochs, batch_size=batch,
                                        lr=config.train.lr, seed=r))
    plain, ours = statistics.median(times["plain"]), statistics.median(times["deepsci"])
    return {"config": KINDS[kind], "rows": n_rows(X), "batch_size": batch, "epochs": epochs,
            "step_mflop": work, "threads": share.to_json(), "plain_seconds": plain, "deepsci_seconds": ours,
            "ratio": ours / plain, "all_seconds": times}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="the GRU forecaster, one epoch, one round, results "
                                                           "to a temporary file")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default=",".join(KINDS), help="comma-separated kinds")
    parser.add_argument("--threads", type=int, default=None, help="threads of both (default: deepsci's choice)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.smoke:  # the code runs; the numbers mean nothing and stay out of results/
        args.epochs, args.repeats, args.only = 1, 1, "rnn"
        args.out = args.out if args.out != RESULTS else Path(tempfile.gettempdir()) / "kinds_speed_smoke.json"
    kinds = [k.strip() for k in args.only.split(",") if k.strip()]
    unknown = set(kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown kinds {sorted(unknown)}; known: {', '.join(KINDS)}")
    rows = {}
    for kind in kinds:
        rows[kind] = measure(kind, epochs=args.epochs, repeats=args.repeats, threads=args.threads)
        r = rows[kind]
        print(f"| {kind} | {r['step_mflop'] or 0:.3g} | {r['threads']['threads']} | {r['plain_seconds']:.3f} | "
              f"{r['deepsci_seconds']:.3f} | {r['ratio']:.2f} |", flush=True)
    result = {"torch": torch.__version__, "platform": platform.platform(), "load_average": os.getloadavg(),
              "epochs": args.epochs, "repeats": args.repeats, "kinds": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
