"""Image, time-series and text examples end to end through the CLI (issue 4's numbers)."""


import pytest

from deepsci.cli import main
from deepsci.errors import ConfigError
from deepsci.experiment import config_from_dict, run_experiment



@pytest.mark.slow
def test_digits_cnn_beats_the_bar_and_the_mlp(tmp_path, fit_example):
    cnn = fit_example("digits_cnn", tmp_path)
    mlp = fit_example("digits_mlp", tmp_path)
    assert cnn["data"]["n_test"] == 360 and mlp["data"]["split"]["test"] == 360  # the same split
    assert cnn["test"]["accuracy"] >= 0.985 > mlp["test"]["accuracy"]
    report = (tmp_path / "digits_cnn" / "report.html").read_text()
    assert "most wrong" in report


@pytest.mark.slow
def test_co2_lstm_beats_seasonal_naive_and_autoregression(tmp_path, fit_example):
    forecast = fit_example("co2_lstm", tmp_path)["test"]["forecast"]
    assert forecast["beats"]["seasonal-naive"] and forecast["beats"]["linear autoregression"], forecast


@pytest.mark.slow
def test_sunspots_gru_beats_persistence(tmp_path, fit_example):
    forecast = fit_example("sunspots_gru", tmp_path)["test"]["forecast"]
    assert forecast["beats"]["persistence"], forecast


@pytest.mark.slow
def test_char_lstm_learns_and_samples(tmp_path, capsys, fit_example):
    metrics = fit_example("text_lstm", tmp_path)
    assert metrics["valid"]["cross_entropy_nats"] < 0.8 * metrics["valid"]["unigram_entropy_nats"]
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["sample", str(tmp_path / "text_lstm"), "--length", "200", "--temperature", "0.8"])
    assert exit_info.value.code in (0, None)
    assert len(capsys.readouterr().out.rstrip("\n")) >= 200


def test_a_model_kind_needs_its_data_kind():
    with pytest.raises(ConfigError, match="model.kind = 'cnn' takes signal or image or sequence inputs; input 'x' is a table"):
        run_experiment(config_from_dict({"name": "x", "data": {"source": "digits"}, "model": {"kind": "cnn"},
                                         "train": {"epochs": 1}}), out="/nonexistent", progress=False)


def test_augment_keys_are_validated():
    with pytest.raises(ConfigError, match="augment.erase"):
        config_from_dict({"name": "x", "data": {"source": "digits"}, "augment": {"erase": 2.0}})


def test_sample_refuses_a_run_that_is_not_a_language_model(tmp_path, capsys, fit_example):
    fit_example("breast_cancer", tmp_path, "train.epochs=2")
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["sample", str(tmp_path / "breast_cancer")])
    assert exit_info.value.code == 2 and "charlm" in capsys.readouterr().err


def test_cnn_blocks_from_the_toml_build_residual_and_se_networks(tmp_path):
    from deepsci.run import Run

    cfg = config_from_dict({
        "name": "blocks", "data": {"kind": "image", "source": "digits"},
        "model": {"kind": "cnn", "hidden": [16],
                  "blocks": [{"type": "conv", "channels": 8, "padding": "same"},
                             {"type": "residual", "channels": 16, "se": 4}, {"type": "pool"}]},
        "train": {"epochs": 2}})
    run = run_experiment(cfg, out=tmp_path, progress=False)
    names = {type(m).__name__ for m in run.model.modules()}
    assert {"ResidualBlock", "SqueezeExcite"} <= names  # rebuilt from model.json alone
    assert run.metrics["test"]["accuracy"] > 0.3  # two epochs already learn something (chance 0.1)
    assert Run.load(run.path).metrics == run.metrics
