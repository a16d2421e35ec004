"""Physics-informed training (deepsci.training.physics_informed, equations, evaluation.physics_informed,
physics_run): the shipped problems against their closed forms, a user's equation in Python and by name in a
config, the run folder `deepsci fit` writes, and the configs it refuses."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import pytest
import torch

from deepsci.config import PhysicsConfig, load_fit_config
from deepsci.config.physics import physics_config_from_dict
from deepsci.errors import ConfigError, DataError
from deepsci.evaluation.physics_informed import check_solution, evaluation_grid, relative_l2
from deepsci.run import Run
from deepsci.training.equations import Condition, Problem, derivative, heat, oscillator, problem_of
from deepsci.training.physics_informed import collocation_points, fit

ROOT = Path(__file__).resolve().parents[2]
MAX_ERROR = 1e-3  # issue 25: relative L2 error against the analytic solution


def decay(rate: float = 2.0) -> Problem:
    """u' + rate u = 0, u(0) = 1 on t in [0, 1], with no ansatz: a user's equation in the soft form."""
    return Problem(name="decay", coordinates=("t",), lower=(0.0,), upper=(1.0,),
                   residual=lambda u, t: derivative(u(t), t, 0) + rate * u(t),
                   conditions=(Condition("u(0) = 1", torch.zeros(1, 1, dtype=torch.float64),
                                         lambda u, t: u(t) - 1.0),),
                   exact=lambda t: torch.exp(-rate * t))


# -- the problems themselves, against their closed forms (no training) ------------------------------------
@pytest.mark.parametrize("problem", [oscillator(), oscillator(damping=0.1, v0=2.0, t_end=3.0), heat(),
                                     heat(alpha=0.5, t_end=0.5)], ids=["osc", "osc-v0", "heat", "heat-fast"])
def test_the_closed_form_solves_the_equation_and_the_ansatz_meets_the_conditions(problem: Problem) -> None:
    points = collocation_points(problem, 64, seed=0).requires_grad_(True)
    residual = problem.residual(problem.exact, points)
    assert residual.abs().max() < 1e-10  # the residual and the closed form agree (float64 autograd)
    for condition in problem.conditions:
        q = condition.points.clone().requires_grad_(True)
        assert condition.residual(problem.exact, q).abs().max() < 1e-12, condition.name
        # whatever the network outputs, the hard form meets every condition
        wild = lambda p: problem.ansatz(p, torch.sin(7 * p.sum(1, keepdim=True)) + 3)  # noqa: E731
        assert condition.residual(wild, q).abs().max() < 1e-12, condition.name
    # an ordinary function misses them: the checks can fail
    assert problem.residual(lambda p: torch.cos(p.sum(1, keepdim=True)), points).abs().max() > 1e-2


# -- training reaches the closed forms --------------------------------------------------------------------
def test_oscillator_solution_is_within_1e_3_of_the_closed_form(one_thread: None) -> None:
    problem = oscillator()
    result = fit(problem, seed=0, collocation=128, epochs=200, lbfgs_steps=500)
    check = check_solution(problem, result.solution())
    assert check.shape == (1001,) and check.relative_l2 is not None
    assert check.relative_l2 <= MAX_ERROR, check.relative_l2
    first = result.history[0]["loss"]
    assert result.history[-1]["loss"] < 1e-4 * first  # the residual fell by orders of magnitude
    assert {row["stage"] for row in result.history} == {"adam", "lbfgs"}


def test_heat_solution_is_within_1e_3_of_the_closed_form(one_thread: None) -> None:
    problem = heat()
    result = fit(problem, seed=0, collocation=400, epochs=200, lbfgs_steps=300)
    check = check_solution(problem, result.solution())
    assert check.shape == (101, 101) and check.relative_l2 is not None
    assert check.relative_l2 <= MAX_ERROR, check.relative_l2
    untrained = fit(problem, seed=0, collocation=400, epochs=1, lbfgs_steps=0)  # the check can fail
    assert check_solution(problem, untrained.solution()).relative_l2 > 10 * MAX_ERROR


def test_a_users_equation_in_python_trains_in_the_soft_form(one_thread: None) -> None:
    problem = decay()
    result = fit(problem, constraints="soft", hidden=(16, 16), collocation=64, epochs=50, lbfgs_steps=100)
    assert check_solution(problem, result.solution()).relative_l2 <= MAX_ERROR
    assert any(row["conditions"] > 0 for row in result.history)  # the condition was penalised
    with pytest.raises(ConfigError, match="no ansatz"):
        fit(problem)  # the hard form needs an ansatz, which this problem lacks


def test_same_numbers_with_one_and_two_threads() -> None:
    before = torch.get_num_threads()
    runs = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            runs.append(fit(heat(), seed=3, collocation=256, epochs=5, lbfgs_steps=5).history)
    finally:
        torch.set_num_threads(before)
    assert [row["loss"] for row in runs[0]] == [row["loss"] for row in runs[1]]


def test_relative_l2_and_the_grid() -> None:
    assert relative_l2([1.0, 2.0, 2.0], [1.0, 2.0, 2.0]) == 0.0
    assert relative_l2([0.0, 0.0], [3.0, 4.0]) == 1.0
    assert math.isclose(relative_l2([3.0, 4.5], [3.0, 4.0]), 0.1)
    points, shape = evaluation_grid(heat(t_end=2.0), 5)
    assert shape == (5, 5) and points.shape == (25, 2)
    assert points[:, 1].max() == 2.0 and points[:, 0].min() == 0.0


# -- the run folder and the config ------------------------------------------------------------------------
@pytest.mark.slow
def test_deepsci_fit_of_the_heat_example_writes_a_run_folder(example_runs) -> None:
    _, folder = example_runs("pinn_heat")  # the fit the README's number is read from (tests/test_readme_numbers.py)
    assert {p.name for p in folder.iterdir()} == {"config.toml", "metrics.json", "history.csv", "predictions.csv",
                                                  "model.safetensors", "model.json", "report.html"}
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["kind"] == "physics-informed" and metrics["test"]["relative_l2"] <= MAX_ERROR
    assert metrics["test"]["grid"] == [101, 101] and metrics["evaluations"]["adam"] == 200
    html = (folder / "report.html").read_text()
    assert "u_t = 0.1 u_xx" in html and html.count("data:image/png;base64") >= 2
    rows = (folder / "predictions.csv").read_text().splitlines()
    assert rows[0] == "x,t,u_pred,u_exact,error" and len(rows) == 101 * 101 + 1
    assert load_fit_config(folder / "config.toml") == load_fit_config(ROOT / "examples" / "pinn_heat.toml")
    with pytest.raises(DataError, match="is a physics-informed run .* predict, evaluate and explain take runs fitted"):
        Run.load(folder)


def test_a_users_equation_named_in_a_config(tmp_path, monkeypatch, cli) -> None:
    (tmp_path / "my_decay.py").write_text(textwrap.dedent("""
        import torch
        from deepsci.training.equations import Condition, Problem, derivative

        def decay(rate):
            return Problem(name="decay", coordinates=("t",), lower=(0.0,), upper=(1.0,),
                           residual=lambda u, t: derivative(u(t), t, 0) + rate * u(t),
                           conditions=(Condition("u(0) = 1", torch.zeros(1, 1), lambda u, t: u(t) - 1.0),),
                           exact=lambda t: torch.exp(-rate * t))
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    config = tmp_path / "decay.toml"
    config.write_text('name = "decay"\n[model]\nhidden = [16, 16]\n[train]\nphysics = "my_decay:decay"\n'
                      'constraints = "soft"\ncollocation_points = 64\nepochs = 50\nlbfgs_steps = 100\n'
                      '[physics]\nrate = 2.0\n')
    cli("fit", str(config), "--out", str(tmp_path / "runs"), "--quiet")
    metrics = json.loads((tmp_path / "runs" / "decay" / "metrics.json").read_text())
    assert metrics["problem"] == "decay" and metrics["test"]["relative_l2"] <= MAX_ERROR
    with pytest.raises(ConfigError, match=r"keys \['speed'\] do not fit decay\(rate\)"):
        problem_of("my_decay:decay", {"speed": 1.0})
    with pytest.raises(ConfigError, match="has no function 'nothing'"):
        problem_of("my_decay:nothing")
    with pytest.raises(ConfigError, match="does not import"):
        problem_of("no_such_module_here:f")


def _config(**train):
    return {"name": "p", "train": {"physics": "oscillator", **train}}


@pytest.mark.parametrize("raw, message", [
    (_config(physics="osc"), "unknown physics problem 'osc'; known: oscillator, heat, or 'module:function'"),
    ({**_config(), "model": {"activation": "relu"}}, "model.activation = 'relu' has no smooth second derivative"),
    ({**_config(), "data": {"source": "solubility"}}, "unknown config key 'data'; a physics-informed run has no"),
    ({**_config(), "physics": {"damping": 5.0}}, "physics.damping = 5.0 .* over-damped"),
    ({**_config(), "physics": {"alpha": 0.1}}, "physics.alpha: not a parameter of 'oscillator'; its keys are mass"),
    (_config(constraints="exact"), "unknown constraints 'exact'"),
    (_config(epochs="3"), "config key 'train.epochs': expected a number"),
])
def test_bad_physics_configs_name_the_key_and_the_fix(raw, message) -> None:
    with pytest.raises(ConfigError, match=message):
        physics_config_from_dict(raw)


def test_a_physics_config_fills_its_defaults_and_refuses_resume(tmp_path) -> None:
    config = physics_config_from_dict({"name": "p", "train": {"physics": "heat"}})
    assert isinstance(config, PhysicsConfig) and config.physics == {"alpha": 0.1, "t_end": 1.0}
    assert (config.model.activation, config.model.hidden, config.model.init) == ("tanh", [32, 32], "xavier")
    path = tmp_path / "p.toml"
    path.write_text(config.toml())
    assert load_fit_config(path) == config
    with pytest.raises(SystemExit) as exit_:
        from deepsci.cli import main

        main(["fit", str(path), "--out", str(tmp_path), "--resume"])
    assert exit_.value.code == 2 and not (tmp_path / "p").exists()


# -- the numbers docs/physics.md quotes are the stored benchmark's ---------------------------------------
def test_docs_quote_the_stored_benchmark() -> None:
    stored = json.loads((ROOT / "benchmarks" / "results" / "pinn.json").read_text())
    doc = (ROOT / "docs" / "physics.md").read_text()
    text = " ".join(doc.split())
    assert stored["seeds"] == [0, 1, 2]
    conditions = {"hard": "built in (hard)", "soft": "penalties (soft)", "hard-adam": "built in (hard)"}
    for problem, result in stored["problems"].items():
        example = load_fit_config(ROOT / "examples" / f"pinn_{problem}.toml")
        assert result["settings"] == example.train.model_dump() and result["physics"] == example.physics
        for way, cell in result["ways"].items():
            settings = result["settings"]
            optimisers = ("Adam alone, as many loss evaluations" if way == "hard-adam" else
                          f"Adam {settings['epochs']}, then L-BFGS {settings['lbfgs_steps']}")
            errors = " | ".join(f"{cell['per_seed'][str(seed)]['relative_l2']:.1e}" for seed in (0, 1, 2))
            assert f"| {problem} | {conditions[way]} | {optimisers} | {errors} |" in doc, (problem, way)
    ways = {problem: result["ways"] for problem, result in stored["problems"].items()}
    hard = max(w["hard"]["max_relative_l2"] for w in ways.values())
    assert hard <= MAX_ERROR and f"at least {int(MAX_ERROR / hard)} times below the 1e-3" in text
    assert max(w["soft"]["max_relative_l2"] for w in ways.values()) <= MAX_ERROR  # "stays below it too"
    adam = [r["relative_l2"] for r in ways["oscillator"]["hard-adam"]["per_seed"].values()]
    assert f"still {round(100 * min(adam))}–{round(100 * max(adam))} % off" in text
    heat_adam, heat_hard = ways["heat"]["hard-adam"], ways["heat"]["hard"]
    assert heat_adam["max_relative_l2"] <= MAX_ERROR  # "comes within 1e-3"
    assert 5 <= heat_adam["median_relative_l2"] / heat_hard["median_relative_l2"] <= 20  # "about ten times"
    seconds = [r["cpu_seconds"] for w in ways.values() for cell in w.values() for r in cell["per_seed"].values()]
    assert f"A fit takes {math.floor(min(seconds))}–{math.ceil(max(seconds))} s of CPU" in text


def test_docs_state_the_examples_settings() -> None:
    text = " ".join((ROOT / "docs" / "physics.md").read_text().split())
    osc, hot = (load_fit_config(ROOT / "examples" / f"pinn_{name}.toml") for name in ("oscillator", "heat"))
    assert isinstance(osc, PhysicsConfig) and isinstance(hot, PhysicsConfig)
    p = osc.physics
    assert (f"m = {p['mass']:g}, c = {p['damping']:g}, k = {p['stiffness']:g}, x0 = {p['x0']:g}, v0 = {p['v0']:g}, "
            f"T = {p['t_end']:g} (damping ratio {p['damping'] / (2 * math.sqrt(p['mass'] * p['stiffness'])):g}") in text
    g = p["damping"] / (2 * p["mass"])
    periods = math.sqrt(p["stiffness"] / p["mass"] - g ** 2) * p["t_end"] / (2 * math.pi)
    assert f"{periods:.1f} periods" in text
    assert f"α = {hot.physics['alpha']:g}, T = {hot.physics['t_end']:g}" in text
    assert (f"({osc.train.collocation_points} points for the oscillator, {hot.train.collocation_points} for the heat "
            "equation)") in text
    assert osc.model == hot.model and f"a tanh MLP of 2 × {osc.model.hidden[0]}" in text
    assert osc.model.hidden == [32, 32] and osc.model.activation == "tanh" and osc.train.precision == "64"
    assert (osc.train.epochs, osc.train.lr) == (hot.train.epochs, hot.train.lr)
    assert f"{osc.train.epochs} full-batch Adam steps (lr {osc.train.lr:g})" in text
    assert f"({osc.train.lbfgs_steps} iterations for the oscillator, {hot.train.lbfgs_steps} for heat)" in text
