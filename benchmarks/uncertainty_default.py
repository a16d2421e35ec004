"""What `make demo` gives without asking (issue 29): examples/solubility.toml with its default error bars
(`[uncertainty] method = "auto"`: a 5-member CV+ ensemble, one stacked network, no validation split, sigma
rescaled on 20% of the training molecules) at seeds 0, 1 and 2, beside the plain run (`method = "none"`, one
network: what the demo trained before) at seed 0, through the real path (`run_experiment`).

Per run: test RMSE and R², the 90% conformal coverage of the 257 test molecules with its Clopper-Pearson 95%
interval, the mean interval width (log mol/L), the Gaussian 90% coverage of the reported sigma, the coverage
at 50/80/90/95%, and the training and total seconds. Times on a shared machine are noisy: compare the plain
and the default run of one invocation only.

    .venv/bin/python benchmarks/uncertainty_default.py            # 4 fits; a few minutes on 2 cores
    .venv/bin/python benchmarks/uncertainty_default.py --smoke    # 60 molecules, 1 epoch; no file
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from deepsci.config import load_config
from deepsci.experiment import run_experiment

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "solubility.toml"
RESULTS = ROOT / "benchmarks" / "results" / "uncertainty_default.json"
SEEDS = (0, 1, 2)


def fit(out: Path, seed: int, overrides: list[str]) -> dict[str, Any]:
    """One run of the example at `seed`: its test numbers and seconds."""
    config = load_config(EXAMPLE, [f"seed={seed}", f"name=solubility_{seed}", "report.html=false", *overrides])
    m = run_experiment(config, out, progress=False).metrics
    u = (m.get("uncertainty") or {}).get("test") or {}
    row: dict[str, Any] = {"seed": seed, "test_rmse": m["test"]["rmse"], "test_r2": m["test"]["r2"],
                           "training_seconds": m["timings"]["training_seconds"],
                           "total_seconds": m["timings"]["total_seconds"]}
    if u:
        row.update({"coverage_90": u["coverage"], "coverage_90_low": u["coverage_low"],
                    "coverage_90_high": u["coverage_high"], "mean_width_90": u["mean_width"],
                    "gaussian_coverage_90": u.get("gaussian_coverage"),
                    "coverage_by_level": u.get("coverage_by_level"), "scheme": m["uncertainty"].get("scheme")})
    return row


def main(argv: list[str]) -> dict[str, Any]:
    """The default runs at SEEDS and the plain run at seed 0; `--smoke`: seed 0 on 60 molecules, 1 epoch."""
    smoke = "--smoke" in argv
    with tempfile.TemporaryDirectory() as tmp:
        overrides: list[str] = []
        if smoke:
            from tiny import solubility_overrides  # beside this script

            overrides = solubility_overrides(Path(tmp))
        plain = fit(Path(tmp) / "plain", 0, [*overrides, "uncertainty.method=none"])
        default = [fit(Path(tmp) / "default", seed, overrides) for seed in (SEEDS[:1] if smoke else SEEDS)]
    result = {"example": "examples/solubility.toml", "default": default, "plain": plain,
              "training_seconds_ratio_seed0": default[0]["training_seconds"] / plain["training_seconds"],
              "total_seconds_ratio_seed0": default[0]["total_seconds"] / plain["total_seconds"]}
    print(json.dumps({k: v for k, v in result.items() if k != "default"}, indent=1))
    for row in default:
        coverage, width = row.get("coverage_90") or float("nan"), row.get("mean_width_90") or float("inf")
        print(f"seed {row['seed']}: RMSE {row['test_rmse']:.3f}, 90% coverage {coverage:.3f}, width {width:.2f}")
    return result


if __name__ == "__main__":
    out = main(sys.argv[1:])
    if "--smoke" not in sys.argv:
        RESULTS.write_text(json.dumps(out, indent=2) + "\n")
