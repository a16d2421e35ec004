"""`deepsci rules ...`: learning rules compared on digits, Hopfield capacity, RBM on digits.

A thin face over ``deepsci.rules.experiments``: each command prints a table and writes PNG figures,
a JSON of the numbers and a self-contained report.html into --out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from deepsci.cli.fast import cap_epochs
from deepsci.errors import ConfigError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# torch, matplotlib and the library are imported inside each command: `deepsci --help` answers at once.

app = typer.Typer(help="Learning rules beyond backprop, Hopfield networks, RBMs.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)


def _write(out: Path, name: str, title: str, numbers: dict[str, Any], figures: list[tuple[str, str, Figure]],
           table: dict[str, Any] | None, text: str) -> None:
    """PNG per figure, <name>.json, and report.html via deepsci.report."""
    from deepsci.evaluation.figures import figure_to_data_uri
    from deepsci.report import Section, write_report

    out.mkdir(parents=True, exist_ok=True)
    uris = []
    for stem, caption, fig in figures:
        fig.savefig(out / f"{stem}.png", dpi=110, facecolor="white")
        uris.append((caption, figure_to_data_uri(fig)))
    (out / f"{name}.json").write_text(json.dumps(numbers, indent=2))
    section = Section(title=title, html=f"<p>{text}</p>", figures=uris, table=table)
    config = "\n".join(f"{k} = {json.dumps(v)}" for k, v in numbers.get("settings", {}).items())
    write_report(out / "report.html", title=title, config_toml=config, data_summary=numbers.get("data", {}),
                 metrics={}, figures=[], sections=[section])
    print(f"written: {out}/report.html, {name}.json and {len(figures)} PNG figure(s)")


@app.command()
def compare(epochs: int = typer.Option(40, "--epochs", help="training epochs for every rule"),
            rules: str = typer.Option("backprop,feedback-alignment,direct-feedback-alignment,sign-symmetry",
                                      "--rules", help="comma-separated learning rules"),
            seed: int = typer.Option(0, "--seed"),
            out: Path = typer.Option(Path("runs/rules-compare"), "--out", help="output folder")) -> None:
    """The same MLP on digits trained with each learning rule: test accuracy and alignment plot."""
    from deepsci.rules.experiments import compare_rules

    if epochs < 1:
        raise ConfigError(f"--epochs must be >= 1; received {epochs}.")
    names = tuple(r.strip() for r in rules.split(",") if r.strip())
    res = compare_rules(names, epochs=cap_epochs(epochs), seed=seed)
    table = Table("rule", "test accuracy", "train accuracy", "final angle per layer (deg)", "seconds")
    for r in names:
        table.add_row(r, f"{res.accuracy[r]:.4f}", f"{res.train_accuracy[r]:.4f}",
                      ", ".join(f"{a:.1f}" for a in res.final_angles[r]), f"{res.seconds[r]:.1f}")
    Console().print(table)
    numbers = {"settings": res.settings, "accuracy": res.accuracy, "train_accuracy": res.train_accuracy,
               "final_angles": res.final_angles, "angles": res.angles,
               "data": {"dataset": "sklearn digits", "train rows": res.settings["n_train"],
                        "test rows": res.settings["n_test"]}}
    _write(out, "rules", "Learning rules on digits", numbers, [("alignment", "update–gradient angle per layer",
           res.figure())], {r: {k: round(v, 4) for k, v in row.items()} for r, row in res.table().items()},
           "The same MLP (same initial weights) trained with each rule; angles measured on 256 training rows.")


@app.command()
def hopfield(n: int = typer.Option(200, "--n", help="number of units"),
             trials: int = typer.Option(3, "--trials", help="networks per load"),
             noise: float = typer.Option(0.05, "--noise", help="fraction of flipped units in each cue"),
             seed: int = typer.Option(0, "--seed"),
             out: Path = typer.Option(Path("runs/rules-hopfield"), "--out", help="output folder")) -> None:
    """Capacity curve of a Hopfield network: recall fraction against P/N."""
    from deepsci.rules.experiments import hopfield_capacity, plot_capacity

    if n < 2 or not 0.0 <= noise < 0.5:
        raise ConfigError(f"need --n >= 2 and 0 <= --noise < 0.5; received n={n}, noise={noise}.")
    cap = hopfield_capacity(n, trials=trials, noise=noise, seed=seed)
    table = Table("P/N", "P", "recalled", "mean overlap")
    for load, p, f, m in zip(cap.loads, cap.n_patterns, cap.recall_fraction, cap.mean_overlap):
        table.add_row(f"{load:.3f}", str(p), f"{f:.3f}", f"{m:.3f}")
    Console().print(table)
    numbers = {"settings": {"n": n, "trials": trials, "noise": noise, "threshold": cap.threshold, "seed": seed},
               "loads": cap.loads, "n_patterns": cap.n_patterns, "recall_fraction": cap.recall_fraction,
               "mean_overlap": cap.mean_overlap}
    rows = {f"{load:.3f}": {"P": p, "recalled": round(f, 3), "mean overlap": round(m, 3)}
            for load, p, f, m in zip(cap.loads, cap.n_patterns, cap.recall_fraction, cap.mean_overlap)}
    _write(out, "hopfield", "Hopfield network capacity", numbers, [("capacity", "recall against load",
           plot_capacity(cap))], rows, "Hebbian storage of random ±1 patterns; asynchronous recall from noisy cues.")


@app.command()
def rbm(epochs: int = typer.Option(20, "--epochs"), hidden: int = typer.Option(64, "--hidden"),
        k: int = typer.Option(1, "--k", help="Gibbs steps of CD-k"),
        persistent: bool = typer.Option(False, "--persistent", help="persistent contrastive divergence"),
        seed: int = typer.Option(0, "--seed"),
        out: Path = typer.Option(Path("runs/rules-rbm"), "--out", help="output folder")) -> None:
    """A Bernoulli RBM on binarised digits: held-out reconstruction against chance, and samples."""
    from deepsci.rules.experiments import rbm_digits

    if epochs < 1 or hidden < 1:
        raise ConfigError(f"--epochs and --hidden must be >= 1; received {epochs} and {hidden}.")
    epochs = cap_epochs(epochs)
    res = rbm_digits(n_hidden=hidden, k=k, persistent=persistent, epochs=epochs, seed=seed)
    rows = {"RBM reconstruction (held-out)": res.test_reconstruction,
            "chance: training pixel means": res.chance_mean, "chance: coin (0.5)": res.chance_coin}
    table = Table("model", "MSE per pixel")
    for name, v in rows.items():
        table.add_row(name, f"{v:.4f}")
    Console().print(table)
    numbers = {"settings": {"epochs": epochs, "hidden": hidden, "k": k, "persistent": persistent, "seed": seed},
               "test_reconstruction": res.test_reconstruction, "chance_mean": res.chance_mean,
               "chance_coin": res.chance_coin, "reconstruction": res.history.reconstruction,
               "pseudo_likelihood": res.history.pseudo_likelihood}
    _write(out, "rbm", "RBM on binarised digits", numbers, [("rbm_samples", "held-out, reconstructions, samples",
           res.figure())], {k_: {"MSE per pixel": round(v, 4)} for k_, v in rows.items()},
           "Trained by contrastive divergence; samples after 1000 Gibbs steps from noise.")
