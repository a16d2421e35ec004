"""The experiment: the one path from a validated config (deepsci.config) to a run folder.

    config (TOML) -> data -> model -> rule -> training -> evaluation -> report -> runs/<name>/

Each arrow is a library call with plain arguments; this module only wires them and owns nothing
else: the data layer builds the Dataset and its fitted preprocessor, the model registry builds the
network from the Dataset's input schema, the Trainer trains, evaluation returns an `Evaluation`
value that the run folder and the report read.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from deepsci.config import Config, apply_override, config_from_dict, load_config
from deepsci.errors import ConfigError, DataError

if TYPE_CHECKING:
    import torch
    from torch import Tensor, nn

    from deepsci.data.dataset import Dataset
    from deepsci.data.schema import InputSchema
    from deepsci.evaluation.results import Evaluation
    from deepsci.evaluation.uncertainty import UncertaintySpec
    from deepsci.run import Run
    from deepsci.training.callbacks import Callback

__all__ = ["Config", "apply_override", "build_dataset", "build_model", "config_from_dict", "load_config",
           "run_experiment"]


def build_dataset(config: Config) -> "Dataset":
    """Read, featurise, split and scale the config's data (seeded by config.seed)."""
    from deepsci.data import build_dataset as build

    return build(config.data, seed=config.seed)


def build_model(config: Config, inputs: "dict[str, InputSchema]", n_outputs: int, *, task: str,
                seed: int | None = None, target_channels: list[int] | None = None) -> "nn.Module":
    """The network of config.model for these inputs and head width, with config.train.rule applied.

    Args:
        inputs: the dataset's named inputs (`Dataset.inputs`).
        n_outputs: the head's width (a heteroscedastic head asks for twice the targets).
        task: "regression", "binary" or "multiclass".
        seed: initialisation seed (default config.seed; ensemble members get seed + k).
        target_channels: forecasting: the input channels the targets are (seq2seq feeds them back).
    """
    from deepsci.models import build_model as build

    seed = config.seed if seed is None else seed
    model = build(config.model, inputs, n_outputs, task=task, seed=seed, target_channels=target_channels)
    if config.train.rule != "backprop":
        from deepsci.rules import apply_rule

        if config.model.kind != "mlp":
            raise ConfigError(f"train.rule = '{config.train.rule}' is available for model.kind = 'mlp' only; "
                              "set train.rule = 'backprop'.")
        model = apply_rule(model, config.train.rule, seed=seed)
    return model


def make_augment(config: Config, n_classes: int | None) -> "Callable[..., Any] | None":
    """The batch augmentation of config.augment, or None when every transform is off."""
    from deepsci.training.augment import Augment

    augment = Augment(**config.augment.model_dump(), n_classes=n_classes)
    return augment if augment.active else None


def run_experiment(config: Config, out: str | Path = "runs", progress: bool = True, resume: bool = False,
                   callbacks: "Sequence[Callback]" = ()) -> "Run":
    """Train and evaluate the config's model and write its run folder `out/<name>/`.

    One writer per run name: a second fit of the same name is refused while the first holds the
    lock. The folder is staged beside `out/<name>` and published in one step, so a failure or a kill
    leaves the earlier run of that name whole. The training state is saved after every epoch to
    `out/.<name>.checkpoint/`, which ends in the run folder as `checkpoint/`; with `resume`, training
    goes on from it exactly as if it had not stopped (the config may differ in train.epochs and
    train.device only). `callbacks` are extra Trainer callbacks (a sweep's pruning reporter, say), run by
    rank 0 only.

    Started by torchrun (several processes), every process trains its shard of each batch
    (deepsci.training.distributed); rank 0 alone takes the lock, writes the checkpoints, evaluates and
    writes the run folder, and the other ranks return the Run it wrote.
    """
    from deepsci.folder import RunLock, check_out
    from deepsci.training.device import resolve_device
    from deepsci.training.distributed import check_one_device_per_process, launched_world, process_group

    out = Path(out)
    check_one_device_per_process(config.train.device)
    check_tbptt(config)
    announced = launched_world()
    device = resolve_device(config.train.device, local_rank=announced.local_rank if announced.distributed else None)
    with process_group(device) as current:
        if not current.is_main:
            return _fit_rank(config, out, device=device, resume=resume)
        check_out(out, config.name)
        with RunLock(out, config.name):
            run = _fit(config, out, progress=progress, resume=resume, device=device, callbacks=callbacks)
        _barrier(current)
        return run


def _fit_rank(config: Config, out: Path, *, device: "torch.device", resume: bool) -> "Run":
    """A rank other than 0: train its shards (no files written), then read the run folder rank 0 wrote."""
    from deepsci.folder import checkpoint_dir
    from deepsci.run import Run
    from deepsci.training.distributed import world

    pending = checkpoint_dir(out, config.name)
    resume_from = _resume_point(config, out, pending) if resume else None
    dataset = build_dataset(config)
    config, spec = _resolved(config, dataset)
    trainer, X_train, y_train = _trainer(config, dataset, spec, device=device, progress=False, callbacks=[])
    _train(trainer, dataset, X_train, y_train, resume_from)
    _barrier(world())  # rank 0 has published the run folder
    return Run.load(out / config.name)


def _barrier(current: Any) -> None:
    """Wait for every rank (a no-op in a single process)."""
    if current.distributed:
        import torch.distributed as dist

        dist.barrier()


def _fit(config: Config, out: Path, *, progress: bool, resume: bool, device: "torch.device",
         callbacks: "Sequence[Callback]") -> "Run":
    from deepsci.folder import checkpoint_dir
    from deepsci.report.data_sections import data_sections
    from deepsci.run import environment, write_run
    from deepsci.training.checkpoint import Checkpoint
    from deepsci.training.tbptt import unwrap

    start = time.perf_counter()
    pending = checkpoint_dir(out, config.name)
    resume_from = _resume_point(config, out, pending) if resume else None
    dataset = build_dataset(config)
    check_split_sizes(dataset)
    fingerprint = _fingerprint(config)  # as given: a resume compares it with the config given then
    config, spec = _resolved(config, dataset)
    trainer, X_train, y_train = _trainer(config, dataset, spec, device=device, progress=progress,
                                         callbacks=[*callbacks, Checkpoint(pending, meta={"config": fingerprint})])
    model = unwrap(trainer.model)  # the network itself, without a truncated-BPTT wrapper
    fit_start = time.perf_counter()
    _train(trainer, dataset, X_train, y_train, resume_from)
    train_seconds = time.perf_counter() - fit_start
    evaluation = evaluate(config, dataset, model, spec)  # on the training device
    model.cpu()  # the report's sections and the run folder read the weights on the host
    timings = {"featurisation_seconds": dataset.summary.get("featurisation_seconds", 0.0),
               "featurisation_cache_hit": dataset.summary.get("cache_hit", False),
               "training_seconds": train_seconds, "total_seconds": time.perf_counter() - start}
    best_epoch = trainer.early_stopping.best_epoch if trainer.early_stopping else len(trainer.history_)
    return write_run(out / config.name, config=config, dataset=dataset, model=model, history=trainer.history_,
                     evaluation=evaluation, timings=timings, best_epoch=best_epoch, uncertainty=spec,
                     sections=data_sections(config, dataset, evaluation, model), checkpoint=pending,
                     trained_on=environment(device=trainer.device, precision=trainer.precision,
                                             processes=trainer.world.size))


def _resolved(config: Config, dataset: "Dataset") -> tuple[Config, "UncertaintySpec"]:
    """The config with its uncertainty section resolved for the dataset's task, and the uncertainty spec."""
    from deepsci.config.uncertainty import resolve_section, resolve_uncertainty

    # What "auto" means is known once the task is: the resolved section is what config.toml records.
    spec = resolve_uncertainty(config.uncertainty, dataset.task, seed=config.seed, loss=config.train.loss)
    config = config.model_copy(update={"uncertainty": resolve_section(config.uncertainty, dataset.task,
                                                                      loss=config.train.loss)})
    return config, spec


def _trainer(config: Config, dataset: "Dataset", spec: "UncertaintySpec", *, device: "torch.device",
             progress: bool, callbacks: list[Any]) -> tuple[Any, Any, "Tensor"]:
    """(trainer, X_train, y_train): the Trainer of config.train for the dataset's model, on `device`."""
    from deepsci.models.spec import spec_of
    from deepsci.training import Trainer

    model, loss, X_train, y_train, augment = _training_setup(config, dataset, spec)
    t = config.train
    model_spec = spec_of(model)
    if t.tbptt is not None:
        from deepsci.training.tbptt import tbptt_training

        # Chunk rows batched group by group; validation stays whole windows, evaluated from a zero state.
        model, X_train, y_train, reset = tbptt_training(model, X_train, y_train, chunk=t.tbptt,
                                                        batch_size=t.batch_size)
        callbacks = [reset, *callbacks]
    trainer = Trainer(
        model, loss=loss, optimizer=t.optimizer, lr=t.lr, augment=augment,
        teacher_forcing=model_spec.get("kind") == "seq2seq" and getattr(config.model, "teacher_forcing", 0) > 0,
        weight_decay=t.weight_decay, momentum=t.momentum, nesterov=t.nesterov, batch_size=t.batch_size,
        epochs=t.epochs, schedule=t.schedule,
        schedule_kwargs=dict(step_size=t.step_size, gamma=t.gamma, plateau_patience=t.plateau_patience,
                             min_lr=t.min_lr),
        # Recurrent models carry a default clipping norm in their spec (exploding gradients, Pascanu 2013).
        clip_grad_norm=t.clip_grad_norm if t.clip_grad_norm is not None else model_spec.get("clip_grad_norm"),
        patience=t.patience, seed=config.seed, progress=progress, callbacks=callbacks,
        device=device, precision=t.precision)
    return trainer, X_train, y_train


def check_tbptt(config: Config) -> None:
    """Refuse, before any data is read, a train.tbptt where truncated BPTT does not apply.

    It applies to a character language model (data.kind = "text", model.kind = "charlm"): one output per
    step, so each chunk of k steps has its own loss. A table, an image, a set, a whole-sequence classifier
    (its one output needs the whole sequence) or seq2seq has no per-step loss to cut.
    """
    k = config.train.tbptt
    if k is None:
        return
    data_kind = getattr(config.data, "kind", "table")
    if data_kind != "text" or config.model.kind != "charlm":
        raise ConfigError(f"train.tbptt = {k} trains a character language model chunk by chunk (data.kind = 'text', "
                          f"model.kind = 'charlm'); this run has data.kind = '{data_kind}', model.kind = "
                          f"'{config.model.kind}', whose model reads each sample whole. Remove train.tbptt.")
    if config.train.adversarial > 0:
        raise ConfigError("train.tbptt and train.adversarial cannot be combined (the attack's forward passes would "
                          "advance the carried state); set train.adversarial = 0 or remove train.tbptt.")
    from deepsci.config.data import TextData
    from deepsci.training.tbptt import check_chunk

    assert isinstance(config.data, TextData)
    check_chunk(config.data.seq_length, k)


def _train(trainer: Any, dataset: "Dataset", X_train: Any, y_train: "Tensor", resume_from: Path | None) -> None:
    """Fit, watching the validation split where there is one (valid_fraction = 0: every epoch is trained)."""
    from deepsci.training.ensemble import HeldOutLoss

    if isinstance(trainer.loss, HeldOutLoss):  # K-fold members: each is watched on its own left-out fold
        trainer.fit(X_train, y_train, X_train, trainer.loss.validation_targets(y_train), resume_from=resume_from)
        return
    watched = len(dataset.valid) > 0
    trainer.fit(X_train, y_train, dataset.valid.X if watched else None, dataset.valid.y if watched else None,
                resume_from=resume_from)


def _training_setup(config: Config, dataset: "Dataset", spec: "UncertaintySpec") -> tuple[
        "nn.Module", "Callable[[Tensor, Tensor], Tensor]", Any, "Tensor", Any]:
    """(model, loss, X_train, y_train, augment) for the Trainer: the uncertainty method decides the first four."""
    from deepsci.training import get_loss
    from deepsci.training.uncertainty import check_held_out_splits, uncertainty_training

    check_held_out_splits(spec, len(dataset.valid), len(dataset.calib) if dataset.calib is not None else 0)
    if is_text(dataset):
        from deepsci.models.rnn import sequence_cross_entropy

        loss: Callable[[Tensor, Tensor], Tensor] = sequence_cross_entropy
    else:
        loss = get_loss(config.train.loss, dataset.task)
    width = dataset.n_outputs * (2 if spec.heteroscedastic else 1)
    channels = ([list(dataset.summary["channels"]).index(t) for t in dataset.summary["targets"]]
                if dataset.summary.get("kind") == "series" else None)
    model, loss, X_train, y_train, member_augment = uncertainty_training(
        spec, dataset.task, lambda seed: build_model(config, dataset.inputs, width, task=dataset.task, seed=seed,
                                                     target_channels=channels), loss,
        dataset.train.X, dataset.train.y, seed=config.seed)
    batch_augment = make_augment(config, len(dataset.class_names) or None)
    if config.train.adversarial > 0:
        from deepsci.explain.adversarial import adversarial_augment

        if batch_augment is not None:
            raise ConfigError("train.adversarial and [augment] cannot be combined yet; turn one of them off.")
        batch_augment = adversarial_augment(model, loss, epsilon=config.train.adversarial,
                                            method=config.train.adversarial_method, steps=config.train.adversarial_steps)
    if batch_augment is not None and member_augment is not None:
        raise ConfigError("[augment] and uncertainty.bootstrap cannot be combined; turn one of them off.")
    return model, loss, X_train, y_train, member_augment or batch_augment


def evaluate(config: Config, dataset: "Dataset", model: "nn.Module", spec: "UncertaintySpec") -> "Evaluation":
    """The evaluation the run folder records: the task's metrics, references and error bars."""
    if is_text(dataset):
        from deepsci.evaluation.language import language_evaluation

        model.cpu()  # language_evaluation reads its splits on the host, batch by batch
        return language_evaluation(model, dataset)
    from deepsci.evaluation.evaluate import evaluate_model

    season = getattr(config.data, "season", None)
    return evaluate_model(model, dataset, spec, season=season)


MIN_ROWS = 2  # metrics of one row (a variance, a correlation, R²) are undefined


def check_split_sizes(dataset: "Dataset") -> None:
    """Refuse, before any training, a split too small to train on or to measure."""
    sizes = {name: len(part) for name in ("train", "valid", "test", "calib")
             if (part := getattr(dataset, name, None)) is not None}
    small = {name: n for name, n in sizes.items() if (0 < n < MIN_ROWS) or (name == "train" and n < MIN_ROWS)}
    if small:
        parts = ", ".join(f"{name} {n} row(s)" for name, n in small.items())
        raise DataError(f"the data gives {parts} (all parts: {', '.join(f'{k} {v}' for k, v in sizes.items())}); "
                        f"every part in use needs at least {MIN_ROWS} rows. Use more data, or raise "
                        "data.valid_fraction / data.test_fraction / data.calib_fraction for the part named.")


def is_text(dataset: "Dataset") -> bool:
    """A dataset of next-symbol windows of a text (a character-level language model's data)."""
    return dataset.summary.get("kind") == "text"


# -- resuming ---------------------------------------------------------------------------------------
def _fingerprint(config: Config) -> dict[str, Any]:
    """The config as it decides the training, without train.epochs and train.device (a resume may change them)."""
    raw = config.model_dump(mode="json")
    raw["train"].pop("epochs", None)
    raw["train"].pop("device", None)  # a run may go on on another machine (its last digits may differ)
    return raw


def _resume_point(config: Config, out: Path, pending: Path) -> Path:
    """The checkpoint to resume from, after checking it was made by this config (train.epochs aside)."""
    from deepsci.training.checkpoint import checkpoint_epoch, read_checkpoint_meta

    finished = out / config.name / "checkpoint"
    folder = next((p for p in (pending, finished) if p.is_dir() and not p.is_symlink()), None)
    if folder is None:
        raise ConfigError(f"--resume: no checkpoint of run '{config.name}' in '{out}' (looked for {pending} "
                          f"and {finished}). Run without --resume to start afresh.")
    meta = read_checkpoint_meta(folder)
    saved = meta.get("config")
    if saved is not None:
        differ = _differences(saved, _fingerprint(config))
        if differ:
            raise ConfigError(f"--resume: the config differs from the checkpoint's in {', '.join(differ)}; only "
                              "train.epochs and train.device may change on resume. Restore those keys, or fit "
                              "afresh without --resume.")
    epochs_done = checkpoint_epoch(folder)
    if folder == finished and config.train.epochs <= epochs_done:
        raise ConfigError(f"--resume: run '{config.name}' already finished {epochs_done} epoch(s) and "
                          f"train.epochs is {config.train.epochs}; raise it (e.g. --set train.epochs="
                          f"{epochs_done * 2}) to train further.")
    return folder


def _differences(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested dicts."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(set(a) | set(b))
        return [d for k in keys for d in _differences(a.get(k), b.get(k), f"{prefix}{k}.")]
    return [] if a == b else [prefix.rstrip(".")]
