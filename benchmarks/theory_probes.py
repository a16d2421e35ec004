"""Speed of `probe_mlp` (all initialisations as one batched computation) against the plain way
(one nn.Sequential per initialisation, forward and autograd backward), same sizes, same measurements.

    .venv/bin/python benchmarks/theory_probes.py [--width 512 --depth 20 --inits 50]
    .venv/bin/python benchmarks/theory_probes.py --smoke   # width 16, depth 3, 2 inits, no results file

Writes benchmarks/results/theory_probes.json (seconds and the ratio).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch import nn

from deepsci.theory.probes import probe_mlp


def plain(widths: list[int], X: torch.Tensor, cw: float, n_inits: int, seed: int) -> torch.Tensor:
    """Per-layer mean z² by building and running one network per initialisation (with gradients)."""
    gen = torch.Generator().manual_seed(seed)
    out = torch.zeros(len(widths) - 1)
    for _ in range(n_inits):
        mods: list[nn.Module] = []
        for i in range(len(widths) - 1):
            lin = nn.Linear(widths[i], widths[i + 1])
            with torch.no_grad():
                lin.weight.normal_(0.0, (cw / widths[i]) ** 0.5, generator=gen)
                lin.bias.zero_()
            mods += [lin, nn.Tanh()] if i < len(widths) - 2 else [lin]
        h = X
        zs = []
        for m in mods:
            h = m(h)
            if isinstance(m, nn.Linear):
                h.retain_grad()
                zs.append(h)
        h[0].sum().backward()
        out += torch.stack([z.detach().pow(2).mean() for z in zs])
    return out / n_inits


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--inits", type=int, default=50)
    parser.add_argument("--smoke", action="store_true", help="width 16, depth 3, 2 inits, no results file")
    args = parser.parse_args(argv)
    if args.smoke:
        args.width, args.depth, args.inits = 16, 3, 2
    widths = [64] + [args.width] * args.depth
    X = torch.randn(2, 64, generator=torch.Generator().manual_seed(1))
    t0 = time.perf_counter()
    r = probe_mlp(widths, "tanh", X, cb=0.0, cw=1.0, n_inits=args.inits, seed=0)
    batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    v = plain(widths, X, 1.0, args.inits, 0)
    loop = time.perf_counter() - t0
    res = {"width": args.width, "depth": args.depth, "inits": args.inits, "threads": torch.get_num_threads(),
           "probe_mlp_seconds": batched, "loop_seconds": loop, "loop_over_batched": loop / batched,
           "variance_last_layer": {"probe_mlp": float(r.variance[-1].mean()), "loop": float(v[-1])}}
    if not args.smoke:
        path = Path(__file__).parent / "results" / "theory_probes.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    main()
