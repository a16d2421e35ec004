"""Every "must show" number of issue 5 (theory of deep networks) in one run, with figures.

Writes benchmarks/results/theory.json and PNGs in benchmarks/results/theory/:

    .venv/bin/python benchmarks/theory_experiments.py [--only critical,propagation,...] [--quick]

Parts: critical (every activation, checked by Monte Carlo), propagation (tanh and ReLU, width 512,
depth 20, 50 initialisations), gradients (tanh depth 100, width 256, C_W = 0.5/1/2, K^(1) = 1),
trainability (tanh depth 100, width 128 on digits with the Trainer, SGD lr 0.005, 40 epochs), kurtosis (vertex vs L/n,
tanh width 256 L/n <= 0.16, ReLU width 512 L/n <= 0.047, 1000 initialisations), ntk (empirical vs analytic NTK, widths 64..4096).
`--quick` shrinks every part; `--smoke --out DIR` shrinks them to seconds (that the script runs, in make test);
the numbers in docs/theory.md are from the full run.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict
from pathlib import Path

import torch

from deepsci.theory import critical
from deepsci.theory.experiments import (
    gradient_experiment,
    gradient_figure,
    kurtosis_experiment,
    kurtosis_figure,
    ntk_convergence_experiment,
    ntk_figure,
    propagation_experiment,
    propagation_figure,
    trainability_experiment,
    trainability_figure,
)

PARTS = ("critical", "propagation", "gradients", "trainability", "kurtosis", "ntk")
ACTIVATIONS = ("relu", "leaky-relu", "tanh", "erf", "elu", "gelu", "silu", "sigmoid", "softplus")
#: sizes of each mode: the full run (docs/theory.md), --quick, --smoke
SIZES: dict[str, dict[str, object]] = {
    "full": {"activations": ACTIVATIONS, "mc": 4_000_000, "prop_width": 512, "prop_inits": 50, "grad_depth": 100,
             "grad_width": 256, "grad_inits": 8, "train_depth": 100, "train_width": 128, "train_epochs": 40,
             "kurt_inits": 1000, "kurt_widths": (256, 512),
             "kurt_depths": ((8, 16, 24, 32, 40), (4, 8, 12, 16, 20, 24)),
             "ntk_widths": (64, 128, 256, 512, 1024, 2048, 4096), "ntk_seeds": 3},
    "quick": {"activations": ACTIVATIONS, "mc": 4_000_000, "prop_width": 128, "prop_inits": 10, "grad_depth": 30,
              "grad_width": 64, "grad_inits": 4, "train_depth": 30, "train_width": 64, "train_epochs": 3,
              "kurt_inits": 100, "kurt_widths": (256, 512),
              "kurt_depths": ((8, 16, 24, 32, 40), (4, 8, 12, 16, 20, 24)),
              "ntk_widths": (64, 256, 1024), "ntk_seeds": 1},
    "smoke": {"activations": ("relu", "tanh", "silu"), "mc": 10_000, "prop_width": 16, "prop_inits": 2,
              "grad_depth": 4, "grad_width": 16, "grad_inits": 2, "train_depth": 3, "train_width": 16,
              "train_epochs": 1, "kurt_inits": 20, "kurt_widths": (16, 16), "kurt_depths": ((2, 4), (2, 4)),
              "ntk_widths": (16, 32), "ntk_seeds": 1},
}


def _mc_check(name: str, k: float, cb: float, cw: float, n: int = 4_000_000) -> dict[str, float]:
    """χ∥, χ⊥ and K' at K by Monte Carlo (independent of the quadrature in `critical`)."""
    from deepsci.theory.activation import resolve_activation

    fn = resolve_activation(name).fn
    u = torch.randn(n, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    z = math.sqrt(k) * u
    h = 1e-5
    d = (fn(z + h) - fn(z - h)) / (2 * h)
    s2 = fn(z) ** 2
    return {"K": k, "chi_par": cw * float((s2 * (z * z - k)).mean()) / (2 * k * k),
            "chi_perp": cw * float((d * d).mean()), "K_next": cb + cw * float(s2.mean())}


def _clean(x):  # NaN → None for JSON
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_clean(v) for v in x]
    return x


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated subset of {PARTS}")
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: that it runs (with --out, not results/)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    parts = [p for p in args.only.split(",") if p]
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise SystemExit(f"unknown parts {sorted(unknown)}; choose from {PARTS}")
    q = args.quick or args.smoke
    size: dict = SIZES["smoke" if args.smoke else "quick" if args.quick else "full"]
    fig_dir = args.out / "theory"
    fig_dir.mkdir(parents=True, exist_ok=True)
    json_path = args.out / ("theory_quick.json" if q else "theory.json")
    out: dict = json.loads(json_path.read_text()) if json_path.exists() else {}
    out.update({"torch": torch.__version__, "threads": torch.get_num_threads(), "quick": q})
    seconds: dict[str, float] = out.setdefault("seconds", {})

    def save(fig, name: str) -> None:
        fig.savefig(fig_dir / f"{name}{'_quick' if q else ''}.png", dpi=30 if args.smoke else 110, facecolor="white")

    for part in parts:
        t0 = time.perf_counter()
        if part == "critical":
            rows = {}
            for name in size["activations"]:
                p = critical(name)
                row = p.to_dict()
                if p.universality in ("half-stable", "scale-invariant"):
                    k = p.k_star if p.k_star is not None else 1.0
                    row["monte_carlo"] = _mc_check(name, k, p.cb, p.cw, size["mc"])
                elif p.universality == "K*=0":
                    row["monte_carlo"] = _mc_check(name, 1e-4, p.cb, p.cw, size["mc"])
                rows[name] = row
            # Issue 5's quoted SiLU point, (C_b, C_W) = (0.055, 1.988), at our K* and at its own fixed point.
            silu = critical("silu")
            rows["silu_quoted_0.055"] = {
                "at_our_K*": _mc_check("silu", silu.k_star or 1.0, 0.055, 1.988, size["mc"]),
                "at_its_fixed_point": _mc_check("silu", 0.11889, 0.055, 1.988, size["mc"])}
            out["critical"] = rows
        elif part == "propagation":
            out["propagation"] = {}
            for act in ("tanh", "relu"):
                res = propagation_experiment(act, depth=4 if args.smoke else 20, width=size["prop_width"],
                                             n_inits=size["prop_inits"])
                d = asdict(res)
                d["max_relative_error_over_2se"] = max(
                    abs(m / p - 1) / (2 * s / p) for m, p, s in zip(res.measured_variance, res.predicted_variance,
                                                                      res.variance_se))
                out["propagation"][act] = d
                save(propagation_figure(res), f"propagation_{act}")
        elif part == "gradients":
            res = gradient_experiment("tanh", depth=size["grad_depth"], width=size["grad_width"],
                                      n_inits=size["grad_inits"])
            out["gradients"] = asdict(res)
            save(gradient_figure(res), "gradients")
        elif part == "trainability":
            res = trainability_experiment(depth=size["train_depth"], width=size["train_width"],
                                          epochs=size["train_epochs"], lr=0.005)
            out["trainability"] = asdict(res)
            save(trainability_figure(res), "trainability")
        elif part == "kurtosis":
            # ReLU's vertex is exactly (1 + 5/n)^(L-1) - 1, linear in L/n only while 5L/n << 1: at L/n up to
            # 0.16 the fitted slope is ~8, so ReLU uses width 512 and L/n <= 0.047 (tanh's ν = 2/3 is linear
            # much further).
            results = [kurtosis_experiment(act, width=w, depths=depths, n_inits=size["kurt_inits"])
                       for act, w, depths in zip(("tanh", "relu"), size["kurt_widths"], size["kurt_depths"])]
            out["kurtosis"] = {r.activation: asdict(r) for r in results}
            for r in results:
                out["kurtosis"][r.activation]["slope_relative_error"] = abs(r.slope / r.nu - 1)
            save(kurtosis_figure(results), "kurtosis")
        elif part == "ntk":
            res = ntk_convergence_experiment(size["ntk_widths"], n_seeds=size["ntk_seeds"])
            out["ntk"] = asdict(res)
            save(ntk_figure(res), "ntk")
        seconds[part] = time.perf_counter() - t0
        json_path.write_text(json.dumps(_clean(out), indent=1))
        print(f"{part}: {seconds[part]:.1f} s", flush=True)
    print(f"written: {json_path} and {fig_dir}/")


if __name__ == "__main__":
    main()
