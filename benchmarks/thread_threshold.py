"""Where a second intra-op thread starts to pay, per model family: the thresholds of deepsci.training.threads.

For each family (dense, conv, recurrent, attention, sets, graph) a small network of that family is trained at
a ladder of sizes (batch 32; width doubling from 8 until a step passes `--max-mflop`), and one training step
(forward, backward, Adam) is timed with one thread and with every available core, interleaved, median of
`--repeats` rounds of `--steps` steps. The
size of a step is its floating-point work as torch counts it (`torch.utils.flop_counter.FlopCounterMode` on
the forward pass, times 3 for forward + backward). A family's threshold is the smallest step (MFLOP) that runs
faster on all cores than on one (time ratio below `--gain`) with the next larger size gaining too (two in a
row, so one noisy size does not decide); a family that never gains so gets the largest size measured.

    .venv/bin/python benchmarks/thread_threshold.py [--repeats 5] [--steps 20] [--gain 0.9] [--max-mflop 300]
    [--smoke]

Writes benchmarks/results/thread_threshold.json. Measure on a quiet machine with at least 2 cores: with other
processes on the cores, one thread wins everywhere and the thresholds come out too high.
`deepsci.training.threads.THRESHOLD_MFLOP` holds the values of the stored file (a test compares them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

RESULTS = Path(__file__).parent / "results" / "thread_threshold.json"
BATCH = 32


class _Sets(nn.Module):
    """Deep Sets: a per-element MLP, a sum over the set, a readout (batch, elements, features)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(3, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())
        self.rho = nn.Linear(width, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.rho(self.phi(x).sum(1))


class _Graph(nn.Module):
    """Message passing as deepsci's graph nets do it: gather neighbours, index_add into atoms, 3 steps."""

    def __init__(self, width: int, atoms: int) -> None:
        super().__init__()
        self.embed = nn.Linear(16, width)
        self.message = nn.Linear(width, width)
        g = torch.Generator().manual_seed(0)
        self.src = torch.randint(0, atoms, (2 * atoms,), generator=g)
        self.dst = torch.randint(0, atoms, (2 * atoms,), generator=g)
        self.out = nn.Linear(width, 1)

    def forward(self, x: Tensor) -> Tensor:
        h = torch.relu(self.embed(x))
        for _ in range(3):
            h = torch.relu(h + torch.zeros_like(h).index_add_(0, self.dst, self.message(h)[self.src]))
        return self.out(h.view(BATCH, -1, h.shape[-1]).sum(1))


class _Recurrent(nn.Module):
    """A GRU forecaster: 36 steps of one channel, the last state to one output."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.gru = nn.GRU(1, width, batch_first=True)
        self.out = nn.Linear(width, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.gru(x)[0][:, -1])


def _conv(width: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 1))


def _attention(width: int) -> nn.Module:
    layer = nn.TransformerEncoderLayer(width, 4, 2 * width, dropout=0.0, batch_first=True)
    return nn.Sequential(nn.TransformerEncoder(layer, 2, enable_nested_tensor=False), nn.Flatten(),
                         nn.LazyLinear(1))


#: family -> (model of a width, an input batch for it)
FAMILIES: dict[str, Callable[[int], tuple[nn.Module, Tensor]]] = {
    "dense": lambda w: (nn.Sequential(nn.Linear(64, w), nn.ReLU(), nn.Linear(w, w), nn.ReLU(), nn.Linear(w, 1)),
                        torch.randn(BATCH, 64)),
    "conv": lambda w: (_conv(w), torch.randn(BATCH, 1, 8, 8)),
    "recurrent": lambda w: (_Recurrent(w), torch.randn(BATCH, 36, 1)),
    "attention": lambda w: (_attention(w), torch.randn(BATCH, 16, w)),
    "sets": lambda w: (_Sets(w), torch.randn(BATCH, 30, 3)),
    "graph": lambda w: (_Graph(w, 24 * BATCH), torch.randn(24 * BATCH, 16)),
}
WIDTHS = (8, 16, 32, 64, 128, 256, 512)


def step_mflop(model: nn.Module, x: Tensor) -> float:
    """Forward + backward work of one step in MFLOP (3x the forward's counted FLOPs)."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return 3 * counter.get_total_flops() / 1e6


def step_seconds(model: nn.Module, x: Tensor, threads: int, steps: int) -> float:
    """Median seconds of one Adam step at `threads` intra-op threads."""
    torch.set_num_threads(threads)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    y = torch.zeros(model(x).shape)
    times = []
    for _ in range(steps + 2):
        start = time.perf_counter()
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()
        times.append(time.perf_counter() - start)
    return statistics.median(times[2:])


def measure(family: str, cores: int, repeats: int, steps: int, max_mflop: float) -> list[dict[str, float]]:
    """One row per width: step MFLOP, seconds at 1 thread and at `cores` threads, their ratio."""
    rows: list[dict[str, float]] = []
    for width in WIDTHS:
        torch.manual_seed(0)
        model, x = FAMILIES[family](width)
        mflop = step_mflop(model, x)
        if rows and mflop > max_mflop:
            break
        one, many = [], []
        for _ in range(repeats):  # interleaved, so a burst of load hits both alike
            one.append(step_seconds(model, x, 1, steps))
            many.append(step_seconds(model, x, cores, steps))
        t1, tn = statistics.median(one), statistics.median(many)
        rows.append({"width": width, "mflop": round(mflop, 3), "seconds_1": t1, f"seconds_{cores}": tn,
                     "ratio": tn / t1})
    return rows


def threshold(rows: list[dict[str, float]], gain: float) -> float:
    """The smallest MFLOP that gains (ratio < gain) with the next size gaining too; the largest size if none."""
    ordered = sorted(rows, key=lambda r: r["mflop"])
    for row, after in zip(ordered, ordered[1:]):
        if row["ratio"] < gain and after["ratio"] < gain:
            return row["mflop"]
    return ordered[-1]["mflop"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one round, results to a temporary file")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--gain", type=float, default=0.9, help="many-thread/one-thread time ratio that counts")
    parser.add_argument("--max-mflop", type=float, default=300.0, help="largest step measured (MFLOP)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.smoke:  # the code runs; the numbers mean nothing and stay out of results/
        args.repeats, args.steps, args.max_mflop = 1, 1, 0.5
        args.out = args.out if args.out != RESULTS else Path(tempfile.gettempdir()) / "thread_threshold_smoke.json"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    families = {}
    for family in FAMILIES:
        rows = measure(family, cores, args.repeats, args.steps, args.max_mflop)
        families[family] = {"threshold_mflop": threshold(rows, args.gain), "sizes": rows}
        print(f"{family:10s} threshold {families[family]['threshold_mflop']:10.3f} MFLOP  "
              + " ".join(f"{r['mflop']:.2f}:{r['ratio']:.2f}" for r in rows), flush=True)
    result = {"cores": cores, "batch": BATCH, "gain": args.gain, "repeats": args.repeats, "steps": args.steps,
              "max_mflop": args.max_mflop,
              "torch": torch.__version__, "platform": platform.platform(),
              "load_average": os.getloadavg(), "families": families}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
