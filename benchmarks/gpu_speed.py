"""Training throughput on one GPU, side by side in one run: deepsci's Trainer, a plain PyTorch loop, Lightning.

Two small networks, each in float32 and in bfloat16 mixed precision (torch.autocast), the same model object
design, optimiser (Adam, fused, lr 1e-3), batch size, rows and epochs for every contender:

- MLP 3x256 ReLU (deepsci.models.MLP) on a regression table of `--rows` x 64, batch 512;
- CNN (two 3x3 conv layers 32 and 64 channels, 2x2 max-pool, dense 128, 10 classes) on `--images` 1x32x32
  images, batch 256, cross-entropy.

The data are synthetic and seeded: inputs N(0, 1), targets from a fixed random teacher network (speed does not
depend on what is learnt). Contenders:

- plain: the loop a PyTorch user writes, data resident on the GPU, a shuffled index per epoch, the loss summed
  on the GPU (no host sync per step) - the baseline every ratio divides by;
- deepsci: `deepsci.training.Trainer(device=..., precision=...)`;
- lightning: `lightning.Trainer` over DataLoader(TensorDataset, shuffle, pin_memory) of host tensors (its
  usual use), logging, checkpointing, progress bar and model summary off; timed from the first training
  epoch's start to the last one's end (its set-up excluded). Skipped where Lightning is not installed.

Each contender trains `--epochs` + 1 epochs, the first a warm-up (CUDA kernels, cuDNN autotuning), the others
timed, `--repeats` times, interleaved; the best rows/s is kept, with the last epoch's mean training loss (the
three train the same model on the same data, so it should agree to within the shuffles' differences). Prints a
Markdown table and writes JSON with `--json`.

    python benchmarks/gpu_speed.py [--device cuda] [--rows 200000] [--images 40000] [--epochs 3] [--repeats 2]

About 1-2 minutes on an H100 (Lightning's import included). `--device cpu` with small sizes checks it runs;
`--smoke` is that check at the smallest sizes (in make test).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import torch
from torch import nn

from deepsci.models import MLP
from deepsci.training import Callback, Trainer

Tensor = torch.Tensor
PRECISIONS = {"fp32": ("32", None, "32-true"), "bf16": ("bf16-mixed", torch.bfloat16, "bf16-mixed")}


@dataclass
class Task:
    """One benchmark problem: a model factory, its loss, the data (on the host) and the batch size."""

    name: str
    build: Callable[[], nn.Module]
    loss: Callable[[Tensor, Tensor], Tensor]
    X: Tensor
    y: Tensor
    batch_size: int


@dataclass
class Result:
    task: str
    precision: str
    contender: str
    rows_per_second: float
    seconds: float
    final_loss: float


def cnn() -> nn.Module:
    """The small image classifier: (n, 1, 32, 32) -> (n, 10) logits."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 16 * 16, 128), nn.ReLU(), nn.Linear(128, 10))


def tasks(rows: int, images: int) -> list[Task]:
    """The MLP regression and CNN classification problems, with targets from seeded random teachers."""
    g = torch.Generator().manual_seed(0)
    X = torch.randn(rows, 64, generator=g)
    with torch.no_grad():
        y = MLP(64, 1, (32,), "tanh", seed=1)(X)
        images_x = torch.randn(images, 1, 32, 32, generator=g)
        labels = cnn()(images_x).argmax(1)
    return [Task("MLP 3x256", lambda: MLP(64, 1, (256, 256, 256), "relu", seed=0), nn.functional.mse_loss, X, y, 512),
            Task("CNN 2 conv", cnn, nn.functional.cross_entropy, images_x, labels, 256)]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _adam(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)


def run_plain(task: Task, device: torch.device, precision: str, epochs: int) -> tuple[float, float]:
    """(seconds of epochs 2 .. epochs + 1, the last epoch's mean loss) of the plain loop; epoch 1 warms up."""
    model = task.build().to(device)
    optimiser = _adam(model)
    X, y = task.X.to(device), task.y.to(device)
    dtype = PRECISIONS[precision][1]
    g = torch.Generator(device=device).manual_seed(0)
    n = X.shape[0]

    def epoch() -> Tensor:
        total = torch.zeros((), device=device)
        order = torch.randperm(n, device=device, generator=g)
        for i in range(0, n, task.batch_size):
            idx = order[i:i + task.batch_size]
            optimiser.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                loss = task.loss(model(X[idx]), y[idx])
            loss.backward()
            optimiser.step()
            total += loss.detach().float() * idx.numel()
        return total / n

    epoch()
    _sync(device)
    start = time.perf_counter()
    for _ in range(epochs):
        last = epoch()
    _sync(device)
    return time.perf_counter() - start, float(last)


class _Clock(Callback):
    """deepsci callback: wall time from the start of epoch 2 (epoch 1 warms up) to the end of the last."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.start, self.stop = device, 0.0, 0.0

    def on_epoch_start(self, trainer: Any, epoch: int) -> None:
        if epoch == 2:
            _sync(self.device)
            self.start = time.perf_counter()

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any]) -> None:
        _sync(self.device)
        self.stop = time.perf_counter()


def run_deepsci(task: Task, device: torch.device, precision: str, epochs: int) -> tuple[float, float]:
    """The same with deepsci's Trainer (which moves the model and the data to the device itself)."""
    clock = _Clock(device)
    trainer = Trainer(task.build(), loss=task.loss, optimizer="adam", lr=1e-3, batch_size=task.batch_size,
                      epochs=epochs + 1, seed=0, device=device, precision=PRECISIONS[precision][0],
                      callbacks=[clock]).fit(task.X, task.y)
    return clock.stop - clock.start, float(trainer.history_[-1]["train_loss"])


def lightning_module() -> Any:
    """The `lightning` package (or the older `pytorch_lightning`), or None where neither is installed."""
    import logging

    for name in ("lightning", "pytorch_lightning"):
        try:
            module = __import__(name)
        except ImportError:
            continue
        for logger in (name, f"{name}.pytorch", f"{name}.fabric", "lightning.pytorch.utilities.rank_zero"):
            logging.getLogger(logger).setLevel(logging.ERROR)  # its banners would bury the table
        return module
    return None


def run_lightning(L: Any, task: Task, device: torch.device, precision: str, epochs: int) -> tuple[float, float]:
    """The same with Lightning, timed between the first training epoch's start and the last one's end."""
    from torch.utils.data import DataLoader, TensorDataset

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = task.build()
            self.total = torch.zeros(())  # the epoch's loss sum, kept on the device like the others

        def on_train_epoch_start(self) -> None:
            self.total = torch.zeros((), device=self.device)

        def training_step(self, batch: Any, batch_idx: int) -> Tensor:
            x, y = batch
            loss = task.loss(self.model(x), y)
            self.total += loss.detach().float() * x.shape[0]
            return loss

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return _adam(self)

    class Clock(L.Callback):
        def __init__(self) -> None:
            self.start, self.stop = 0.0, 0.0

        def on_train_epoch_start(self, trainer: Any, module: Any) -> None:
            if trainer.current_epoch == 1:  # epoch 0 is the warm-up
                _sync(device)
                self.start = time.perf_counter()

        def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
            _sync(device)
            self.stop = time.perf_counter()

    loader = DataLoader(TensorDataset(task.X, task.y), batch_size=task.batch_size, shuffle=True,
                        pin_memory=device.type == "cuda", generator=torch.Generator().manual_seed(0))
    clock, module = Clock(), Module()
    trainer = L.Trainer(accelerator="gpu" if device.type == "cuda" else "cpu", devices=1,
                        precision=PRECISIONS[precision][2], max_epochs=epochs + 1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0, callbacks=[clock])
    trainer.fit(module, loader)
    return clock.stop - clock.start, float(module.total) / task.X.shape[0]


def measure(task_list: list[Task], device: torch.device, epochs: int, repeats: int) -> list[Result]:
    """Every (task, precision, contender), `repeats` times interleaved; the fastest of each is kept."""
    L = lightning_module()
    contenders: dict[str, Callable[..., tuple[float, float]]] = {"plain": run_plain, "deepsci": run_deepsci}
    if L is not None:
        contenders["lightning"] = lambda *args: run_lightning(L, *args)
    best: dict[tuple[str, str, str], Result] = {}
    for _ in range(repeats):
        for task in task_list:
            for precision in PRECISIONS:
                for name, run in contenders.items():
                    seconds, loss = run(task, device, precision, epochs)
                    result = Result(task.name, precision, name, task.X.shape[0] * epochs / seconds, seconds, loss)
                    key = (task.name, precision, name)
                    if key not in best or result.rows_per_second > best[key].rows_per_second:
                        best[key] = result
    return list(best.values())


def table(results: list[Result]) -> str:
    """Markdown: rows/s of each contender and its ratio to the plain loop of the same task and precision."""
    plain = {(r.task, r.precision): r.rows_per_second for r in results if r.contender == "plain"}
    lines = ["| model | precision | contender | rows/s | vs plain PyTorch | final loss |",
             "| --- | --- | --- | ---: | ---: | ---: |"]
    for r in results:
        ratio = r.rows_per_second / plain[(r.task, r.precision)]
        lines.append(f"| {r.task} | {r.precision} | {r.contender} | {r.rows_per_second:,.0f} | {ratio:.2f}x | "
                     f"{r.final_loss:.4f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[Result]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--images", type=int, default=40_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    parser.add_argument("--smoke", action="store_true", help="CPU, 256 rows, 32 images, 1 epoch: that it runs")
    args = parser.parse_args(argv)
    if args.smoke:
        args.device, args.rows, args.images, args.epochs, args.repeats = "cpu", 256, 32, 1, 1
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU here: run on a GPU machine, or pass --device cpu with small --rows/--images")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "CPU"
    results = measure(tasks(args.rows, args.images), device, args.epochs, args.repeats)
    L = lightning_module()
    print(f"## Training throughput on {name} (torch {torch.__version__}"
          f"{', Lightning ' + L.__version__ if L is not None else ', Lightning not installed: skipped'})\n")
    print(f"{args.rows:,} table rows, {args.images:,} images; {args.epochs} timed epochs after one warm-up, "
          f"best of {args.repeats}.\n")
    print(table(results))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"device": name, "torch": torch.__version__, "lightning": getattr(L, "__version__", None),
                       "rows": args.rows, "images": args.images, "epochs": args.epochs, "repeats": args.repeats,
                       "results": [asdict(r) for r in results]}, handle, indent=2)
    return results


if __name__ == "__main__":
    main()
