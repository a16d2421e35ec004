"""Config validation at the edge: unknown keys, wrong types, out-of-range values, overrides."""

import pytest

from deepsci.config import UncertaintyConfig
from deepsci.errors import ConfigError
from deepsci.experiment import config_from_dict, load_config

BASE = {"name": "t", "data": {"source": "digits"}}


def _with(section, **values):
    raw = {k: dict(v) if isinstance(v, dict) else v for k, v in BASE.items()}
    raw.setdefault(section, {}).update(values)
    return raw


def test_defaults_fill_every_section():
    cfg = config_from_dict(BASE)
    assert cfg.model.hidden == [64, 64] and cfg.train.optimizer == "adam" and cfg.seed == 0


def test_unknown_key_suggests_the_nearest_valid_one():
    with pytest.raises(ConfigError, match=r"unknown config key 'train.epoch'. Did you mean 'train.epochs'\?"):
        config_from_dict(_with("train", epoch=3))
    with pytest.raises(ConfigError, match=r"Did you mean 'model'"):
        config_from_dict({**BASE, "modle": {}})


@pytest.mark.parametrize("section,key,value,match", [
    ("train", "lr", -1.0, "train.lr' = -1.0: Input should be greater than 0"),
    ("train", "epochs", "many", "train.epochs' = 'many'"),
    ("model", "dropout", 1.5, "model.dropout' = 1.5"),
    ("model", "activation", "rleu", "did you mean 'relu'"),
    ("train", "optimizer", "adan", "did you mean 'adam'"),
    ("train", "rule", "feedback", "known: backprop"),
    ("data", "split", "temporal", "data.split' = 'temporal'"),
])
def test_wrong_type_or_range_names_key_and_value(section, key, value, match):
    with pytest.raises(ConfigError, match=match):
        config_from_dict(_with(section, **{key: value}))


def test_missing_data_section_is_named():
    with pytest.raises(ConfigError, match="'data' is required"):
        config_from_dict({"name": "t"})


def test_toml_file_with_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('name = "x"\n[data]\nsource = "digits"\n[train]\nepochs = 5\n')
    cfg = load_config(path, ["train.epochs=7", "model.hidden=[3, 4]", "train.optimizer=sgd", "seed=4"])
    assert cfg.train.epochs == 7 and cfg.model.hidden == [3, 4] and cfg.train.optimizer == "sgd" and cfg.seed == 4
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_config(path, ["train.epochs"])


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_rule_and_critical_init_reach_the_model():
    import torch

    from deepsci.data.schema import InputSchema
    from deepsci.experiment import build_model

    cfg = config_from_dict({"name": "t", "data": {"source": "digits"},
                            "model": {"activation": "tanh", "init": "critical", "hidden": [400]},
                            "train": {"rule": "feedback-alignment"}})
    model = build_model(cfg, {"x": InputSchema("x", "table", (300,))}, 10, task="multiclass")
    from deepsci.rules import rule_of

    assert rule_of(model) == "feedback-alignment"
    weight = [p for n, p in model.named_parameters() if n.endswith("0.weight")][0]
    assert weight.var().item() == pytest.approx(1.0 / 300, rel=0.05)  # tanh is critical at C_W = 1
    out = model(torch.randn(4, 300))
    assert out.shape == (4, 10)


def test_resolve_returns_a_new_config_and_leaves_the_validated_one_as_it_was():
    from deepsci.experiment import resolve

    cfg = config_from_dict({**BASE, "uncertainty": {"method": "ensemble", "members": 2}})
    resolved, spec = resolve(cfg, "regression")
    assert cfg.uncertainty.heteroscedastic == "auto"  # untouched
    assert resolved.uncertainty.heteroscedastic is True and spec.heteroscedastic and spec.members == 2
    assert resolve(cfg, "multiclass")[0].uncertainty.heteroscedastic is False


def test_fit_in_memory_trains_and_evaluates_without_writing_anything(tmp_path, monkeypatch):
    from deepsci.experiment import build_dataset, fit_in_memory

    monkeypatch.chdir(tmp_path)
    cfg = config_from_dict({**BASE, "model": {"hidden": [8]}, "train": {"epochs": 2, "device": "cpu"}})
    fitted = fit_in_memory(cfg, build_dataset(cfg))
    assert len(fitted.history) == 2 and fitted.best_epoch == 2 and list(tmp_path.iterdir()) == []
    assert 0.0 <= fitted.evaluation.splits["test"].metrics["accuracy"] <= 1.0
    assert fit_in_memory(cfg, fitted.dataset, evaluate=False).evaluation is None


def test_distillation_trains_its_students_through_fit_in_memory(tmp_path):
    """The hard-label student of `distill_run` is the student config fitted by the one pipeline on the teacher's
    data: its test scores are those of `fit_in_memory` with the same settings, to the last digit."""
    import numpy as np
    import torch

    from deepsci.experiment import build_dataset, distill_run, fit_in_memory, run_experiment, write_distillation
    from deepsci.explain.distill import classifier_scores

    teacher = run_experiment(config_from_dict({**BASE, "model": {"hidden": [16]}, "train": {"epochs": 3},
                                               "uncertainty": {"method": "none"}}), tmp_path / "runs", progress=False)
    student = config_from_dict({**BASE, "name": "s", "seed": 2, "model": {"hidden": [8]}, "train": {"epochs": 3}})
    result = distill_run(teacher, student, temperature=2.0, alpha=0.5)
    dataset = build_dataset(teacher.config)
    plain = student.model_copy(update={"uncertainty": UncertaintyConfig(method="none")})  # students are one network
    hard = fit_in_memory(plain, dataset, loss=torch.nn.functional.cross_entropy, evaluate=False).model
    with torch.no_grad():
        proba = torch.softmax(hard(dataset.test.X), 1).double().numpy()
    assert result.hard == classifier_scores(proba, dataset.test.y.numpy())
    assert result.distilled != result.hard and result.members == 1
    folder = write_distillation(result, tmp_path / "s-distill")
    assert {p.name for p in folder.iterdir()} == {"distill.json", "report.html"}
    assert np.isfinite(result.distilled["nll"])
