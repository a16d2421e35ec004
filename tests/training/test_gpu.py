"""GPU-only tests (`pytest -m gpu`): every model kind, the uncertainty methods, a learning rule, mixed precision,
the per-batch (pinned) path, resume, the empirical NTK and the theory probes on a CUDA device, checked
against the same work on the CPU. They skip where torch sees no CUDA GPU."""

from pathlib import Path

import pytest
import torch
from sklearn.datasets import load_diabetes

from deepsci.models import MLP
from deepsci.training import Trainer, get_loss

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
ROOT = Path(__file__).resolve().parents[2]


def _diabetes():
    X, y = load_diabetes(return_X_y=True)
    X = torch.tensor((X - X.mean(0)) / X.std(0), dtype=torch.float32)
    y = torch.tensor((y - y.mean()) / y.std(), dtype=torch.float32)[:, None]
    return X[:300], y[:300], X[300:], y[300:]


def _fit(device: str, **kw):
    X, y, Xv, yv = _diabetes()
    options = dict(loss=get_loss(None, "regression"), lr=3e-3, epochs=5, seed=0, batch_size=32) | kw
    return Trainer(MLP(10, 1, (64, 64), "tanh", seed=0), device=device, **options).fit(X, y, Xv, yv)


def test_cuda_training_takes_the_cpu_steps():
    cpu, gpu = _fit("cpu"), _fit("cuda")
    assert next(gpu.model.parameters()).device.type == "cuda"
    for (name, a), b in zip(cpu.model.state_dict().items(), gpu.model.state_dict().values()):
        # TF32 is off by default for matmuls in torch; the sums' order differs: 1e-4 after 50 Adam steps
        torch.testing.assert_close(b.cpu(), a, atol=1e-4, rtol=1e-4, msg=name)
    assert gpu.history_[-1]["valid_loss"] == pytest.approx(cpu.history_[-1]["valid_loss"], abs=1e-4)


def test_data_too_large_for_the_gpu_streams_from_pinned_memory_with_the_same_result(monkeypatch):
    import deepsci.training.device as device

    resident = _fit("cuda")
    monkeypatch.setattr(device, "RESIDENT_FRACTION", 0.0)  # nothing "fits": every batch is copied
    streamed = _fit("cuda")
    assert not streamed._resident and resident._resident
    for a, b in zip(resident.model.parameters(), streamed.model.parameters()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_mixed_precision_learns_on_the_gpu(precision):
    trainer = _fit("cuda", precision=precision, epochs=10)
    full = _fit("cuda", epochs=10)
    assert trainer.history_[-1]["valid_loss"] < 0.7 * trainer.history_[0]["train_loss"]
    assert trainer.history_[-1]["valid_loss"] == pytest.approx(full.history_[-1]["valid_loss"], abs=0.05)


def test_resume_on_the_gpu_gives_the_uninterrupted_weights(tmp_path):
    from deepsci.training.checkpoint import Checkpoint

    X, y, Xv, yv = _diabetes()

    def trainer(epochs, folder=None):
        model = MLP(10, 1, (32,), "relu", dropout=0.2, seed=0)  # dropout: the GPU's generator must be restored
        return Trainer(model, loss=get_loss(None, "regression"), epochs=epochs, seed=0, device="cuda",
                       callbacks=[Checkpoint(folder)] if folder else [])

    whole = trainer(4).fit(X, y, Xv, yv)
    trainer(2, tmp_path).fit(X, y, Xv, yv)
    resumed = trainer(4, tmp_path).fit(X, y, Xv, yv, resume_from=tmp_path)
    for a, b in zip(whole.model.parameters(), resumed.model.parameters()):
        assert torch.equal(a, b)


EXAMPLES = ["breast_cancer", "digits_cnn", "digits_conformal", "motifs_bilstm", "motifs_transformer",
            "points_set_transformer", "co2_lstm", "text_lstm", "rules_feedback_alignment"]


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_model_kind_trains_and_evaluates_on_the_gpu(example, tmp_path):
    from deepsci.experiment import load_config, run_experiment

    config = load_config(ROOT / "examples" / f"{example}.toml",
                         ["train.device=cuda", "train.epochs=2", "report.html=false"])
    run = run_experiment(config, tmp_path, progress=False)
    env = run.metrics["environment"]
    assert env["device"].startswith("cuda") and env["device_name"]
    assert (tmp_path / config.name / "model.safetensors").exists()


def test_mc_dropout_and_bf16_through_the_whole_run(tmp_path):
    from deepsci.experiment import load_config, run_experiment

    config = load_config(ROOT / "examples" / "breast_cancer.toml",
                         ["train.device=cuda", "train.precision=bf16-mixed", "train.epochs=3", "report.html=false",
                          'uncertainty.method="mc-dropout"', "uncertainty.samples=8", "uncertainty.conformal=false"])
    run = run_experiment(config, tmp_path, progress=False)
    assert run.metrics["environment"]["precision"] == "bf16-mixed"
    assert run.metrics["uncertainty"]["method"] == "mc-dropout"


def test_empirical_ntk_and_probes_agree_with_the_cpu():
    from deepsci.theory import empirical_ntk
    from deepsci.theory.probes import probe_mlp

    model = MLP(5, 2, (32, 32), "tanh", seed=0).double()
    X = torch.randn(12, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    on_cpu = empirical_ntk(model, X)
    on_gpu = empirical_ntk(model.cuda(), X)  # inputs on the host go to the model's device
    assert on_gpu.device.type == "cuda"
    torch.testing.assert_close(on_gpu.cpu(), on_cpu, atol=1e-10, rtol=1e-10)
    a = probe_mlp([5, 64, 64], "tanh", X, cb=0.0, cw=1.0, n_inits=20, seed=0, dtype=torch.float64)
    b = probe_mlp([5, 64, 64], "tanh", X.cuda(), cb=0.0, cw=1.0, n_inits=20, seed=0, dtype=torch.float64)
    torch.testing.assert_close(b.variance, a.variance, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(b.kurtosis, a.kurtosis, atol=1e-8, rtol=1e-8)
