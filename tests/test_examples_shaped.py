"""Image, time-series and text examples end to end through the CLI (issue 4's numbers)."""


import pytest

from deepsci.cli import main
from deepsci.errors import ConfigError
from deepsci.experiment import config_from_dict, run_experiment



@pytest.mark.slow
def test_digits_cnn_beats_the_mlp_on_the_same_split(example_runs):
    cnn, cnn_run = example_runs("digits_cnn")
    mlp, _ = example_runs("digits_mlp")
    assert cnn["data"]["split"]["test"] == 360 and mlp["data"]["split"]["test"] == 360  # the same split
    assert cnn["test"]["accuracy"] > mlp["test"]["accuracy"]
    assert "most wrong" in (cnn_run / "report.html").read_text()


@pytest.mark.slow
def test_co2_lstm_beats_seasonal_naive_and_autoregression(example_runs):
    forecast = example_runs("co2_lstm")[0]["forecast"]
    assert forecast["beats"]["seasonal-naive"] and forecast["beats"]["linear autoregression"], forecast


@pytest.mark.slow
def test_sunspots_gru_beats_persistence(example_runs):
    forecast = example_runs("sunspots_gru")[0]["forecast"]
    assert forecast["beats"]["persistence"], forecast


@pytest.mark.slow
def test_char_lstm_learns_and_samples(capsys, example_runs):
    metrics, run = example_runs("text_lstm")
    assert metrics["valid"]["cross_entropy_nats"] < 0.8 * metrics["valid"]["unigram_entropy_nats"]
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["sample", str(run), "--length", "200", "--temperature", "0.8"])
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
