"""`train.tbptt` from a config: a text run trains by truncated BPTT, resumes bit for bit, and is refused
where it does not apply."""

from pathlib import Path

import pandas as pd
import pytest
from safetensors.torch import load_file

from deepsci.config import config_from_dict
from deepsci.errors import ConfigError
from deepsci.experiment import run_experiment

TEXT = Path(__file__).resolve().parents[2] / "examples" / "data" / "docstrings.txt"  # the char-LM example's text


def _text_config(name: str, source: Path, **train: object) -> object:
    return config_from_dict({
        "name": name, "seed": 0,
        "data": {"kind": "text", "source": str(source), "seq_length": 40, "test_fraction": 0.1, "valid_fraction": 0.1},
        "model": {"kind": "charlm", "cell": "lstm", "hidden": [32], "layers": 1, "embedding": 16, "dropout": 0.1},
        "train": {"lr": 1e-2, "batch_size": 32, "tbptt": 10, **train}})


@pytest.mark.slow
def test_text_run_with_tbptt_learns_the_bundled_text(tmp_path: Path) -> None:
    run = run_experiment(_text_config("tb", TEXT, epochs=2), tmp_path, progress=False)
    history = pd.read_csv(tmp_path / "tb" / "history.csv")
    assert list(history["epoch"]) == [1, 2]
    assert history["train_loss"].iloc[1] < history["train_loss"].iloc[0]
    assert history["valid_loss"].iloc[1] < history["valid_loss"].iloc[0]
    test = run.metrics["test"]
    assert test["cross_entropy_over_unigram"] < 0.9  # it learned more than the symbol frequencies
    weights = load_file(tmp_path / "tb" / "model.safetensors")
    assert "embed.weight" in weights and not any(k.startswith("model.") for k in weights)  # the network, unwrapped


@pytest.mark.slow
def test_resumed_tbptt_run_has_the_weights_of_an_uninterrupted_one(tmp_path: Path) -> None:
    small = tmp_path / "small.txt"
    small.write_text(TEXT.read_text(encoding="utf-8")[:8000], encoding="utf-8")
    extra = {"patience": 5, "clip_grad_norm": 0.5}  # early stopping's state and clipping ride along
    run_experiment(_text_config("t", small, epochs=3, **extra), tmp_path / "a", progress=False)
    run_experiment(_text_config("t", small, epochs=2, **extra), tmp_path / "b", progress=False)
    run_experiment(_text_config("t", small, epochs=3, **extra), tmp_path / "b", progress=False, resume=True)
    straight, resumed = (load_file(tmp_path / d / "t" / "model.safetensors") for d in ("a", "b"))
    assert straight.keys() == resumed.keys()
    assert all(straight[k].equal(resumed[k]) for k in straight)  # bit for bit
    a, b = (pd.read_csv(tmp_path / d / "t" / "history.csv") for d in ("a", "b"))
    assert list(b["epoch"]) == [1, 2, 3] and a["train_loss"].equals(b["train_loss"])


@pytest.mark.parametrize(("data", "model", "tbptt", "match"), [
    ({"kind": "table", "source": "x.csv", "target": "y"}, {"kind": "mlp"}, 10, "Remove train.tbptt"),
    ({"kind": "sequence", "source": "s.csv", "target": "y"}, {"kind": "rnn"}, 10, "Remove train.tbptt"),
    ({"kind": "text", "source": "t.txt", "seq_length": 100}, {"kind": "charlm"}, 30, "e.g. 25 or 50"),
])
def test_tbptt_where_it_does_not_apply_is_a_one_line_config_error(tmp_path: Path, data: dict, model: dict,
                                                                  tbptt: int, match: str) -> None:
    config = config_from_dict({"name": "x", "data": data, "model": model, "train": {"tbptt": tbptt}})
    with pytest.raises(ConfigError, match=match) as err:
        run_experiment(config, tmp_path, progress=False)  # refused before any data is read
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="tbptt"):
        config_from_dict({"name": "x", "data": data, "model": model, "train": {"tbptt": 0}})
