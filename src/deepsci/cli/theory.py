"""`deepsci theory ...`: critical initialisation, signal propagation plots, NNGP/NTK regression.

A thin face over `deepsci.theory`: commands print results and write figures/JSON/report.html.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any, Optional

import typer

from deepsci.cli.fast import cap_epochs
from deepsci.errors import ConfigError

# torch, matplotlib and the library are imported inside each command: `deepsci --help` answers at once.

app = typer.Typer(help="Theory of deep networks: criticality, propagation, kernels, capacity, double descent.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)


@app.command("critical")
def critical_cmd(
    activation: str = typer.Option("relu", "--activation", "-a", help="activation name (relu, tanh, gelu, ...)"),
    slope: Optional[float] = typer.Option(None, help="negative slope for leaky-relu"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of text"),
) -> None:
    """Print the critical (C_b, C_W), the fixed point K* and the universality class."""
    from deepsci.theory import critical

    point = critical(activation, slope=slope)
    if as_json:
        print(json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in point.to_dict().items()}))
    else:
        print(point)


def _save(fig: Any, path: Path) -> None:
    fig.savefig(path, dpi=110, facecolor="white")


@app.command("propagate")
def propagate_cmd(
    activation: str = typer.Option("tanh", "--activation", "-a"),
    depth: int = typer.Option(50, min=2, help="number of layers L"),
    width: int = typer.Option(256, min=1),
    cb: Optional[float] = typer.Option(None, "--cb", help="bias variance (default: critical)"),
    cw: Optional[float] = typer.Option(None, "--cw", help="weight variance (default: critical)"),
    n_inits: int = typer.Option(50, "--inits", min=2, help="random initialisations measured"),
    seed: int = typer.Option(0),
    out: Path = typer.Option(Path("runs/theory-propagate"), "--out", help="folder for PNG, JSON and report.html"),
) -> None:
    """Predicted (kernel recursion) vs measured variance, correlation and gradient norms per layer."""
    from deepsci.theory.experiments import propagation_experiment, propagation_figure

    if (cb is None) != (cw is None):
        raise ConfigError(f"give both --cb and --cw, or neither (critical); received cb={cb}, cw={cw}.")
    res = propagation_experiment(activation, depth, width, cb=cb, cw=cw, n_inits=n_inits, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    fig = propagation_figure(res)
    png = out / "propagation.png"
    _save(fig, png)
    numbers = asdict(res)
    (out / "propagation.json").write_text(json.dumps(numbers, indent=2))
    paths = [png, out / "propagation.json"]
    try:
        from deepsci.evaluation.figures import figure_to_data_uri
        from deepsci.report import Section, write_report
    except ImportError:
        pass
    else:
        rows = {"layer": list(range(1, depth + 1)), "predicted variance": res.predicted_variance,
                "measured variance": res.measured_variance, "measured SE": res.variance_se}
        text = (f"{activation} MLP, width {width}, depth {depth}, C_b = {res.cb:g}, C_W = {res.cw:g}, "
                f"{n_inits} initialisations. Largest relative error of the variance over layers: "
                f"{100 * res.max_relative_error:.2f}%.")
        section = Section(title="Signal propagation at initialisation", html=f"<p>{text}</p>",
                          figures=[("predicted vs measured", figure_to_data_uri(fig))], table=rows)
        config = "\n".join(f"{k} = {json.dumps(v)}" for k, v in
                           {"activation": activation, "depth": depth, "width": width, "cb": res.cb, "cw": res.cw,
                            "n_inits": n_inits, "seed": seed}.items())
        paths.append(write_report(out / "report.html", title=f"Signal propagation: {activation}", config_toml=config,
                                  data_summary={}, metrics={}, figures=[], sections=[section]))
    print(f"max relative variance error {100 * res.max_relative_error:.2f}% over {depth} layers "
          f"(C_b={res.cb:g}, C_W={res.cw:g}, {n_inits} inits)")
    for p in paths:
        print(f"written: {p}")


@app.command("depth")
def depth_cmd(
    depth: int = typer.Option(100, min=2, help="hidden layers"),
    width: int = typer.Option(128, min=1, help="hidden width of the digits network"),
    epochs: int = typer.Option(40, min=1),
    lr: float = typer.Option(0.005, help="SGD learning rate"),
    cws: str = typer.Option("0.5,1,2", "--cws", help="comma-separated C_W values (tanh: 1 is critical)"),
    seed: int = typer.Option(0),
    out: Path = typer.Option(Path("runs/theory-depth"), "--out", help="folder for PNGs, JSON and report.html"),
) -> None:
    """Deep tanh MLPs per C_W: gradient norms across layers at init, and training on digits."""
    from deepsci.theory.experiments import gradient_experiment, gradient_figure, trainability_experiment, trainability_figure

    try:
        cw_values = tuple(float(c) for c in cws.split(",") if c.strip())
    except ValueError:
        raise ConfigError(f"--cws must be comma-separated numbers like '0.5,1,2'; received '{cws}'.") from None
    if not cw_values or any(c <= 0 for c in cw_values):
        raise ConfigError(f"--cws needs positive weight variances; received '{cws}'.")
    epochs = cap_epochs(epochs)
    grads = gradient_experiment("tanh", depth=depth, width=width, cws=cw_values, seed=seed)
    train = trainability_experiment(depth=depth, width=width, cws=cw_values, epochs=epochs, lr=lr, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    figs = {"gradients": gradient_figure(grads), "trainability": trainability_figure(train)}
    paths = []
    for name, fig in figs.items():
        _save(fig, out / f"{name}.png")
        paths.append(out / f"{name}.png")
    (out / "depth.json").write_text(json.dumps({"gradients": asdict(grads), "trainability": asdict(train)}, indent=1))
    paths.append(out / "depth.json")
    try:
        from deepsci.evaluation.figures import figure_to_data_uri
        from deepsci.report import Section, write_report
    except ImportError:
        pass
    else:
        keys = list(train.test_accuracy)
        table = {"C_W": keys, "test accuracy": [train.test_accuracy[k] for k in keys],
                 "weight-gradient max/min": [grads.spread[k] for k in keys],
                 "backprop-signal max/min": [grads.preact_spread[k] for k in keys]}
        sections = [
            Section(title="Gradient norms at initialisation",
                    html=f"<p>tanh MLP, depth {depth}, width {width}, K^(1) = 1, {grads.n_inits} initialisations.</p>",
                    figures=[("weight gradients and backprop signal per layer", figure_to_data_uri(figs["gradients"]))]),
            Section(title="Training on digits",
                    html=f"<p>SGD lr {lr:g}, batch {train.batch_size}, {epochs} epochs; chance accuracy 0.1.</p>",
                    figures=[("loss and test accuracy per epoch", figure_to_data_uri(figs["trainability"]))],
                    table=table),
        ]
        config = "\n".join(f"{k} = {json.dumps(v)}" for k, v in
                           {"depth": depth, "width": width, "epochs": epochs, "lr": lr, "cws": list(cw_values),
                            "seed": seed}.items())
        paths.append(write_report(out / "report.html", title="Depth and criticality: tanh", config_toml=config,
                                  data_summary={}, metrics={}, figures=[], sections=sections))
    for k in train.test_accuracy:
        print(f"C_W = {k}: test accuracy {train.test_accuracy[k]:.3f}, weight-gradient max/min {grads.spread[k]:.3g}, "
              f"backprop-signal max/min {grads.preact_spread[k]:.3g}")
    for p in paths:
        print(f"written: {p}")


@app.command("kernel")
def kernel_cmd(
    config: Path = typer.Argument(..., help="experiment TOML (its data section is used)"),
    kernel: str = typer.Option("ntk", help="ntk or nngp"),
    depth: int = typer.Option(3, min=0, help="hidden layers of the infinite-width MLP"),
    activation: Optional[str] = typer.Option(None, help="default: the config's model activation, else relu"),
    ridge: float = typer.Option(1e-3, min=0.0, help="ridge, relative to the mean kernel diagonal"),
    runs: Path = typer.Option(Path("runs"), help="folder holding runs/<name>/metrics.json"),
) -> None:
    """NNGP/NTK kernel ridge regression on a config's dataset; test metrics beside the trained network's."""
    import torch

    from deepsci.evaluation.metrics import regression_metrics
    from deepsci.experiment import build_dataset, load_config
    from deepsci.tasks import task_of
    from deepsci.theory import critical, kernel_regression

    cfg = load_config(config)
    ds = build_dataset(cfg)
    if not task_of(ds.task).continuous:
        raise ConfigError(f"'theory kernel' does kernel regression; the dataset's task is '{ds.task}'. "
                          "Use a regression config (e.g. examples/solubility.toml).")
    act = activation or str(getattr(getattr(cfg, "model", None), "activation", "relu") or "relu")
    point = critical(act)
    if point.universality == "none":
        raise ConfigError(f"activation '{act}' has no critical point to set C_b, C_W; pass --activation relu or tanh.")
    X_train = torch.cat([_flat(ds.train.X), _flat(ds.valid.X)])
    y_train = torch.cat([ds.train.y, ds.valid.y])
    X_test = _flat(ds.test.X)
    pred = kernel_regression(X_train, y_train, X_test, kernel=kernel, depth=depth, activation=act,  # type: ignore[arg-type]
                             cb=point.cb, cw=point.cw, ridge=ridge)
    y_true = ds.test.y.double()
    y_scaler = getattr(ds, "y_scaler", None)
    if y_scaler is not None and hasattr(y_scaler, "inverse_transform"):
        pred = y_scaler.inverse_transform(pred.float()).double()
        y_true = y_scaler.inverse_transform(ds.test.y.float()).double()
    m = regression_metrics(y_true, pred)
    rmse, r2 = float(m["rmse"]), float(m["r2"])
    print(f"{kernel.upper()} regression ({act}, {depth} hidden layers, C_b={point.cb:g}, C_W={point.cw:g}, "
          f"ridge={ridge:g}) on {cfg.name}: test RMSE {rmse:.4g}, R² {r2:.4g}  (n_train={len(y_train)}, n_test={len(y_true)})")
    metrics_path = runs / cfg.name / "metrics.json"
    if metrics_path.exists():
        trained = json.loads(metrics_path.read_text())
        test = trained.get("test", trained.get("metrics", {}).get("test", {}))
        if isinstance(test, dict) and "rmse" in test:
            trained_rmse = float(test["rmse"])
            print(f"trained network ({metrics_path}): test RMSE {trained_rmse:.4g}, R² {float(test.get('r2', float('nan'))):.4g}")
            print(f"kernel / trained RMSE = {rmse / trained_rmse:.3g} (below 1: the infinite-width kernel is better)")
        else:
            print(f"trained network metrics at {metrics_path} have no test rmse")
    else:
        print(f"no trained run at {metrics_path}; run `deepsci fit {config}` to compare")


def _flat(x: Any) -> Any:
    """Inputs of one fixed shape as a (n, features) tensor; masked or several inputs have no kernel here."""
    if isinstance(x, dict):
        raise ConfigError(f"'theory kernel' needs one fixed-shape input (a table or an image); this dataset's "
                          f"inputs are {sorted(x)}. Use a table config such as examples/solubility.toml.")
    return x.reshape(len(x), math.prod(x.shape[1:]))  # an empty split (no validation rows) keeps its width


def _write_theory_report(out: Path, title: str, section: Any, params: dict[str, Any]) -> Path | None:
    """report.html in `out` with one section (None where the report package is not importable)."""
    try:
        from deepsci.report import write_report
    except ImportError:
        return None
    config = "\n".join(f"{k} = {json.dumps(v)}" for k, v in params.items())
    return write_report(out / "report.html", title=title, config_toml=config, data_summary={}, metrics={},
                        figures=[], sections=[section])


@app.command("capacity")
def capacity_cmd(
    n: int = typer.Option(50, "--n", min=1, help="input dimension N (weights of the perceptron)"),
    ratios: str = typer.Option("0.5,1,1.5,1.75,2,2.25,2.5,3,4", "--ratios", help="comma-separated P/N values"),
    trials: int = typer.Option(200, "--trials", min=1, help="random dichotomies per P"),
    seed: int = typer.Option(0),
    out: Path = typer.Option(Path("runs/theory-capacity"), "--out", help="folder for PNG, JSON and report.html"),
) -> None:
    """Cover's function counting: the fraction of random dichotomies a perceptron realises, vs C(P, N)/2^P."""
    from deepsci.theory.capacity import capacity_experiment, capacity_figure

    try:
        values = tuple(float(r) for r in ratios.split(",") if r.strip())
    except ValueError:
        raise ConfigError(f"--ratios must be comma-separated numbers like '0.5,1,2'; received '{ratios}'.") from None
    if not values or any(r <= 0 for r in values):
        raise ConfigError(f"--ratios needs positive P/N values; received '{ratios}'.")
    res = capacity_experiment(n, values, trials=trials, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    fig = capacity_figure(res)
    _save(fig, out / "capacity.png")
    (out / "capacity.json").write_text(json.dumps(asdict(res), indent=2))
    paths = [out / "capacity.png", out / "capacity.json"]
    from deepsci.evaluation.figures import figure_to_data_uri
    from deepsci.report import Section

    table = {"columns": ["P", "P/N", "measured", "SE", "Cover"],
             "rows": [[p, f"{p / n:.3g}", f"{m:.3f}", f"{s:.3f}", f"{c:.3f}"]
                      for p, m, s, c in zip(res.p, res.measured, res.stderr, res.formula)]}
    text = (f"{trials} random ±1 labelings of P Gaussian points in N = {n} dimensions per P; a labeling counts as "
            f"realised when the margin LP finds a separating hyperplane through the origin. Largest deviation from "
            f"Cover's formula: {res.max_deviation:.3f}.")
    report = _write_theory_report(out, f"Perceptron capacity, N = {n}",
                                  Section(title="Cover's function counting", html=f"<p>{text}</p>",
                                          figures=[("measured vs formula", figure_to_data_uri(fig))], table=table),
                                  {"n": n, "ratios": list(values), "trials": trials, "seed": seed})
    paths += [report] if report is not None else []
    for p, m, c in zip(res.p, res.measured, res.formula):
        print(f"P = {p} (P/N = {p / n:.3g}): measured {m:.3f}, Cover {c:.3f}")
    print(f"largest deviation {res.max_deviation:.3f}")
    for path in paths:
        print(f"written: {path}")


@app.command("double-descent")
def double_descent_cmd(
    n_train: int = typer.Option(200, "--n", min=2, help="training samples n (the threshold is at width n)"),
    noise: float = typer.Option(0.5, "--noise", min=0.0, help="label-noise standard deviation"),
    ridges: str = typer.Option("0,0.001", "--weight-decay", help="comma-separated weight decays λ (0: none)"),
    seeds: int = typer.Option(5, "--seeds", min=1, help="draws of data, labels and features averaged"),
    seed: int = typer.Option(0),
    out: Path = typer.Option(Path("runs/theory-double-descent"), "--out", help="folder for PNG, JSON and report.html"),
) -> None:
    """Test error against width of a random-features network across the interpolation threshold."""
    from deepsci.theory.double_descent import double_descent_experiment, double_descent_figure

    try:
        decays = tuple(float(r) for r in ridges.split(",") if r.strip())
    except ValueError:
        raise ConfigError(f"--weight-decay must be comma-separated numbers like '0,0.001'; received '{ridges}'.") from None
    if not decays or any(r < 0 for r in decays):
        raise ConfigError(f"--weight-decay needs values >= 0; received '{ridges}'.")
    res = double_descent_experiment(n_train, noise=noise, ridges=decays, seeds=seeds, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    fig = double_descent_figure(res)
    _save(fig, out / "double_descent.png")
    (out / "double_descent.json").write_text(json.dumps(asdict(res), indent=2))
    paths = [out / "double_descent.png", out / "double_descent.json"]
    from deepsci.evaluation.figures import figure_to_data_uri
    from deepsci.report import Section

    keys = list(res.test_error)
    table = {"columns": ["width N", *[f"test MSE, λ = {k}" for k in keys]],
             "rows": [[w, *[f"{res.test_error[k][i]:.4g}" for k in keys]] for i, w in enumerate(res.widths)]}
    text = (f"Random-features regression, n = {n_train} training samples, label noise σ = {noise:g}, {seeds} seeds; "
            f"readout at convergence (minimum norm, or ridge λ). Peak width per λ: "
            + ", ".join(f"λ = {k}: N = {w}" for k, w in res.peak_width.items()) + ".")
    report = _write_theory_report(out, "Double descent",
                                  Section(title="Test error against width", html=f"<p>{text}</p>",
                                          figures=[("test MSE against width", figure_to_data_uri(fig))], table=table),
                                  {"n": n_train, "noise": noise, "weight_decay": list(decays), "seeds": seeds,
                                   "seed": seed})
    paths += [report] if report is not None else []
    for k in keys:
        i = res.widths.index(res.peak_width[k])
        print(f"λ = {k}: peak test MSE {res.test_error[k][i]:.4g} at width {res.peak_width[k]} (n = {n_train})")
    for path in paths:
        print(f"written: {path}")
