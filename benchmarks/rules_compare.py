"""Every number of issue 6 in one run: learning rules on digits, shallow rules, linear AE vs PCA,
recirculation, Hopfield capacity and the RBM. Writes benchmarks/results/rules.json.

    .venv/bin/python benchmarks/rules_compare.py [--epochs 40]
    .venv/bin/python benchmarks/rules_compare.py --smoke   # 1 epoch each, small Hopfield net, no results file
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA

from deepsci.models.autoencoder import Autoencoder, decoder_matrix, pca_subspace_angles
from deepsci.rules import RULES, fit_autoencoder, fit_recirculation, linearly_separable, oja_fit, perceptron_fit
from deepsci.rules.experiments import compare_rules, hopfield_capacity, rbm_digits


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="1 epoch of everything, a 40-unit Hopfield network, "
                                                             "no results file: that it runs")
    args = parser.parse_args(argv)
    # the issue-6 settings, or the smallest that run every step
    ae_epochs, rec_epochs, hop_n, hop_trials, rbm_epochs, gibbs = (1, 1, 40, 1, 1, 2) if args.smoke else \
        (300, 30, 200, 5, 20, 200)
    if args.smoke:
        args.epochs = 1
    out: dict = {"torch": torch.__version__, "threads": torch.get_num_threads()}

    start = time.perf_counter()
    res = compare_rules(tuple(RULES), epochs=args.epochs, seed=args.seed)
    out["rules"] = {"settings": res.settings, "test_accuracy": res.accuracy, "train_accuracy": res.train_accuracy,
                    "angle_start_deg": {r: [a["angle"] for a in res.angles[r] if a["step"] == 0] for r in res.angles},
                    "angle_final_deg": res.final_angles, "seconds": res.seconds}

    xor_x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    xor = perceptron_fit(xor_x, np.array([-1, 1, 1, -1]))
    out["perceptron_xor"] = {"separable_lp": linearly_separable(xor_x, np.array([-1, 1, 1, -1])),
                             "converged": xor.converged, "cycled": xor.cycled, "epochs": xor.epochs}

    X = load_digits().data
    Xs = (X - X.mean(0)) / X.std()
    ae = Autoencoder(64, 5, seed=args.seed)
    fit_autoencoder(ae, torch.tensor(Xs, dtype=torch.float32), epochs=ae_epochs, lr=1e-2, batch_size=0, seed=args.seed)
    out["linear_ae_k5_principal_angles_deg"] = pca_subspace_angles(decoder_matrix(ae), Xs).tolist()
    pc1 = PCA(1).fit(X).components_[0]
    w = oja_fit(X, seed=args.seed).w
    out["oja_cosine_pc1"] = float(abs(w @ pc1) / np.linalg.norm(w))

    U = X / 16.0
    rec = fit_recirculation(torch.tensor(U, dtype=torch.float32), 16, epochs=rec_epochs, seed=args.seed)
    pca16 = PCA(16).fit(U)
    out["recirculation_k16"] = {"mse_start": rec.mse[0], "mse_final": rec.mse[-1],
                                "pca16_mse": float(np.mean((pca16.inverse_transform(pca16.transform(U)) - U) ** 2))}

    cap = hopfield_capacity(hop_n, trials=hop_trials, seed=args.seed)
    out["hopfield_n200"] = {"loads": cap.loads, "recall_fraction": cap.recall_fraction,
                            "mean_overlap": cap.mean_overlap, "noise": cap.noise, "threshold": cap.threshold}

    for persistent in (False, True):
        r = rbm_digits(epochs=rbm_epochs, persistent=persistent, seed=args.seed, gibbs_steps=gibbs)
        out["rbm_pcd" if persistent else "rbm_cd1"] = {
            "test_reconstruction_mse": r.test_reconstruction, "chance_pixel_mean_mse": r.chance_mean,
            "chance_coin_mse": r.chance_coin, "pseudo_log_likelihood_per_unit": r.history.pseudo_likelihood[-1]}
    out["seconds_total"] = time.perf_counter() - start
    if not args.smoke:
        path = Path(__file__).parent / "results" / "rules.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(out, indent=2))
    print(json.dumps({k: v for k, v in out.items() if k != "rules"}, indent=2))
    print(json.dumps({k: out["rules"][k] for k in ("test_accuracy", "angle_final_deg")}, indent=2))
    return out


if __name__ == "__main__":
    main()
