"""Devices and precision on the CPU: names, errors, autocast, the gradient scaler, the loss kept on the
device, and what metrics.json records. (The same paths on a GPU: tests/training/test_gpu.py.)"""

import pytest
import torch
from sklearn.datasets import load_diabetes

from deepsci.config import config_from_dict
from deepsci.errors import ConfigError
from deepsci.models import MLP
from deepsci.run import environment
from deepsci.training import Callback, Trainer, get_loss
from deepsci.training.device import autocast, model_device, place, resolve_device

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the messages of a machine without CUDA")


def _diabetes():
    X, y = load_diabetes(return_X_y=True)
    X = torch.tensor((X - X.mean(0)) / X.std(0), dtype=torch.float32)
    y = torch.tensor((y - y.mean()) / y.std(), dtype=torch.float32)[:, None]
    return X[:300], y[:300], X[300:], y[300:]


def _trainer(**kw):
    options = dict(loss=get_loss(None, "regression"), lr=3e-3, epochs=6, seed=0) | kw
    return Trainer(MLP(10, 1, (32,), "relu", seed=0), **options)


def test_names_resolve_to_devices_and_unknown_ones_fail_with_the_list():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == (torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu"))
    with pytest.raises(ConfigError, match="'auto', 'cpu', 'cuda', 'cuda:N'"):
        resolve_device("gpu")
    with pytest.raises(ConfigError, match="train.device"):
        config_from_dict({"name": "x", "data": {"source": "diabetes"}, "train": {"device": "gpu0"}})
    typed_as_a_number = config_from_dict({"name": "x", "data": {"source": "diabetes"}, "train": {"precision": 32}})
    assert typed_as_a_number.train.precision == "32"


@no_cuda
def test_a_missing_gpu_is_a_config_error_that_names_the_fix():
    with pytest.raises(ConfigError, match="sees no CUDA GPU.*train.device = 'cpu'"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match="sees no CUDA GPU"):
        _trainer(device="cuda:1")
    with pytest.raises(ConfigError, match="unknown; use one of: 32, bf16-mixed, 16-mixed"):
        _trainer(precision="fp8")


def test_more_processes_than_gpus_train_on_the_cpu_under_auto_and_are_refused_under_cuda(monkeypatch):
    """torchrun --nproc-per-node 2 on a one-GPU machine: NCCL cannot put two ranks on one GPU."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert resolve_device("auto", local_rank=1) == torch.device("cpu")
    with pytest.raises(ConfigError, match="2 processes run on this machine and it has 1; use --nproc 1"):
        resolve_device("cuda", local_rank=1)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    assert resolve_device("auto", local_rank=0) == torch.device("cuda", 0)


def test_on_the_cpu_data_is_used_where_it_is():
    X, y, _, _ = _diabetes()
    (X2, y2, w), resident = place([X, y, None], torch.device("cpu"))
    assert resident and X2 is X and y2 is y and w is None


class _Batches(Callback):
    """Records what the loop hands each batch: the loss must stay a tensor (no host sync per step)."""

    def __init__(self):
        self.losses = []

    def on_batch_end(self, trainer, batch, logs):
        self.losses.append(logs["loss"])


def test_the_epoch_loss_is_the_mean_of_the_batch_losses_kept_on_the_device():
    X, y, Xv, yv = _diabetes()
    seen = _Batches()
    trainer = _trainer(batch_size=64, epochs=1, callbacks=[seen]).fit(X, y, Xv, yv)
    assert all(isinstance(loss, torch.Tensor) and loss.dim() == 0 and not loss.requires_grad for loss in seen.losses)
    sizes = [64, 64, 64, 64, 44]  # 300 rows
    expected = sum(float(loss) * n for loss, n in zip(seen.losses, sizes)) / 300
    assert trainer.history_[0]["train_loss"] == pytest.approx(expected, rel=1e-12)


def test_bf16_mixed_runs_the_forward_in_bfloat16_and_learns_like_float32():
    X, y, Xv, yv = _diabetes()
    dtypes = []
    mixed = _trainer(precision="bf16-mixed")
    mixed.model.layers[0].register_forward_hook(lambda m, i, o: dtypes.append(o.dtype) if m.training else None)
    mixed.fit(X, y, Xv, yv)
    full = _trainer().fit(X, y, Xv, yv)
    assert set(dtypes) == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in mixed.model.parameters())  # the weights stay float32
    assert mixed.history_[-1]["valid_loss"] < 0.7 * mixed.history_[0]["train_loss"]
    # bfloat16 keeps 8 bits of mantissa: the curves agree to about 1e-2, not to float32's 1e-7
    assert mixed.history_[-1]["valid_loss"] == pytest.approx(full.history_[-1]["valid_loss"], abs=0.05)


def test_float16_mixed_scales_the_loss_and_learns():
    X, y, Xv, yv = _diabetes()
    trainer = _trainer(precision="16-mixed").fit(X, y, Xv, yv)
    assert trainer.scaler is not None and trainer.scaler.get_scale() > 1.0
    assert trainer.history_[-1]["valid_loss"] < 0.7 * trainer.history_[0]["train_loss"]
    with autocast(torch.device("cpu"), "16-mixed"):
        assert trainer.model(X[:2]).dtype == torch.float16


def test_metrics_json_records_device_precision_processes_and_threads():
    env = environment(torch.device("cpu"), "bf16-mixed", 2)
    assert env["device"] == "cpu" and env["precision"] == "bf16-mixed" and env["processes"] == 2
    assert env["torch_threads"] == torch.get_num_threads()
    assert model_device(MLP(3, 1, (4,), seed=0)) == torch.device("cpu")
