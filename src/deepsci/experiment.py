"""The experiment: the one path from a validated config (deepsci.config) to a trained model and its run folder.

    config (TOML / estimator) -> data -> model -> rule -> training -> evaluation   `fit_in_memory` -> Fitted
                                                                    -> report -> runs/<name>/   `run_experiment`

Each arrow is a library call with plain arguments; this module only wires them and owns nothing
else: the data layer builds the Dataset and its fitted preprocessor, the model registry builds the
network from the Dataset's input schema, the Trainer trains, evaluation returns an `Evaluation`
value that the run folder and the report read. `fit_in_memory` is the part without files, shared by
`deepsci fit` (`run_experiment`), the scikit-learn estimators (deepsci.estimators) and distillation
(`distill_run`), so one setting gives one number whichever face asked for it.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.distributed as dist
from torch import Tensor, nn

from deepsci.config import Config, UncertaintyConfig, apply_override, config_from_dict, load_config
from deepsci.config.uncertainty import resolve_section, resolve_uncertainty
from deepsci.data import build_dataset as build_data
from deepsci.data.dataset import Dataset
from deepsci.data.fingerprint import refuse_changed_data
from deepsci.data.schema import InputSchema
from deepsci.data.spec import TextData
from deepsci.analyses import analyse
from deepsci.errors import ConfigError, DataError
from deepsci.evaluation.evaluate import evaluate_model
from deepsci.evaluation.language import language_evaluation
from deepsci.evaluation.results import Evaluation
from deepsci.evaluation.stream_evaluation import check_streamed_uncertainty, evaluate_streamed
from deepsci.evaluation.uncertainty import UncertaintySpec
from deepsci.explain.adversarial import adversarial_augment
from deepsci.explain.distill import DistillationResult, distill
from deepsci.folder import RunLock, check_out, checkpoint_dir, replace_file
from deepsci.models import build_model as build_network
from deepsci.models.arguments import spec_of
from deepsci.models.rnn import sequence_cross_entropy
from deepsci.report import Section, write_report
from deepsci.report.run_report import run_report
from deepsci.rules.convolution import apply_network_rule
from deepsci.run import Run, environment, prediction_rows, write_run
from deepsci.theory.of_run import theory_of_run
from deepsci.training.augment import Augment
from deepsci.training.callbacks import Callback
from deepsci.training.checkpoint import Checkpoint, checkpoint_epoch, read_checkpoint_meta
from deepsci.training.device import resolve_device
from deepsci.training.distributed import check_one_device_per_process, launched_world, process_group, world
from deepsci.training.ensemble import HeldOutLoss
from deepsci.training.losses import get_loss
from deepsci.training.memory import memory_guard
from deepsci.training.tbptt import check_chunk, tbptt_training, unwrap
from deepsci.training.threads import FAMILIES, ShareCores, share_threads
from deepsci.training.trainer import Trainer
from deepsci.training.uncertainty import check_held_out_splits, uncertainty_training

__all__ = ["Config", "Fitted", "apply_override", "build_dataset", "build_model", "config_from_dict", "distill_run",
           "fit_in_memory", "load_config", "resolve", "run_experiment", "write_distillation"]

Loss = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class Fitted:
    """A config's model trained in memory, and what the run folder records of it (nothing written yet).

    Attributes:
        config: the config resolved for the data's task (`resolve`): what config.toml records.
        dataset: the data it was trained on: splits and the fitted preprocessor.
        model: the trained network (every ensemble member), on the host.
        uncertainty: the uncertainty method, resolved for the task.
        history: one dict per epoch (train_loss, valid_loss, lr, ...).
        best_epoch: the epoch whose weights were kept (early stopping), else the last.
        evaluation: metrics, predictions and the fitted calibration of every split; None when not asked for.
        trained_on: where training ran (device, precision, processes), for metrics.json.
        train_seconds: wall time of training.
    """

    config: Config
    dataset: Dataset
    model: nn.Module
    uncertainty: UncertaintySpec
    history: list[dict[str, Any]]
    best_epoch: int
    evaluation: Evaluation | None
    trained_on: dict[str, Any]
    train_seconds: float


def build_dataset(config: Config) -> Dataset:
    """Read, featurise, split and scale the config's data (seeded by config.seed)."""
    return build_data(config.data, seed=config.seed)


def build_model(config: Config, inputs: dict[str, InputSchema], n_outputs: int, *, task: str,
                seed: int | None = None, target_channels: list[int] | None = None) -> nn.Module:
    """The network of config.model for these inputs and head width, with config.train.rule applied.

    Args:
        inputs: the dataset's named inputs (`Dataset.inputs`).
        n_outputs: the head's width (a heteroscedastic head asks for twice the targets).
        task: "regression", "binary" or "multiclass".
        seed: initialisation seed (default config.seed; ensemble members get seed + k).
        target_channels: forecasting: the input channels the targets are (seq2seq feeds them back).
    """
    seed = config.seed if seed is None else seed
    model = build_network(config.model, inputs, n_outputs, task=task, seed=seed, target_channels=target_channels)
    if config.train.rule == "backprop":
        return model
    return apply_network_rule(model, config.train.rule, seed=seed)


def resolve(config: Config, task: str) -> tuple[Config, UncertaintySpec]:
    """(config, spec): the config with its uncertainty section resolved for the data's task, a new value
    (the validated one is never rewritten), and the library's uncertainty spec of that section.

    What "auto" means is known once the task is: the resolved section is what config.toml records.
    """
    facts = config.run_facts(task)
    spec = resolve_uncertainty(config.uncertainty, task, seed=config.seed, loss=config.train.loss, facts=facts)
    section = resolve_section(config.uncertainty, task, loss=config.train.loss, facts=facts)
    return config.model_copy(update={"uncertainty": section}), spec


def fit_in_memory(config: Config, dataset: Dataset, *, device: torch.device | None = None, progress: bool = False,
                  callbacks: Sequence[Callback] = (), resume_from: Path | None = None, loss: Loss | None = None,
                  sample_weight: Tensor | None = None, valid_sample_weight: Tensor | None = None,
                  evaluate: bool = True) -> Fitted:
    """Train the config's model on `dataset` and evaluate it, writing nothing: data -> model -> train -> evaluate.

    Args:
        device: where to train (default: config.train.device resolved).
        callbacks: extra Trainer callbacks (a checkpoint, a sweep's pruning reporter).
        resume_from: a checkpoint folder to go on from.
        loss: a loss to train with instead of the task's (distillation's soft targets).
        sample_weight: (n_train,) weights of the training rows' losses; valid_sample_weight the same for valid.
        evaluate: False skips the evaluation (metrics, error bars and their calibration); `Fitted.evaluation`
            is then None.
    """
    config, spec = resolve(config, dataset.task)
    if dataset.summary.stream is not None and evaluate:
        check_streamed_uncertainty(spec)  # before training, not after it
    device = resolve_device(config.train.device) if device is None else device
    # Threads: an explicit setting, else one for a small step, else this process's share of the cores.
    with share_threads(config.train.threads, family=FAMILIES.get(config.model.kind)) as threads:
        trainer, X_train, y_train = _trainer(config, dataset, spec, device=device, progress=progress,
                                             callbacks=[*callbacks, ShareCores(threads)], loss=loss)
        threads.measure(trainer.model, X_train, config.train.batch_size)
        model = unwrap(trainer.model)  # the network itself, without a truncated-BPTT wrapper
        start = time.perf_counter()
        with memory_guard("training", "lower train.batch_size (or the model's size)", str(device)):
            _train(trainer, dataset, X_train, y_train, resume_from, sample_weight, valid_sample_weight)
        seconds = time.perf_counter() - start
        with memory_guard("evaluating the splits", "set uncertainty.method = 'none' (one network instead of an "
                          "ensemble) or lower train.batch_size", str(device)):
            evaluation = _evaluate(config, dataset, model, spec) if evaluate else None  # on the training device
    model.cpu().eval()  # the report's sections, the run folder and predictions read the weights on the host
    best_epoch = trainer.early_stopping.best_epoch if trainer.early_stopping else len(trainer.history_)
    trained_on = environment(device=trainer.device, precision=trainer.precision, processes=trainer.world.size)
    trained_on.update(torch_threads=threads.choice.threads if threads.choice else trained_on["torch_threads"],
                      threads=threads.to_json())
    return Fitted(config=config, dataset=dataset, model=model, uncertainty=spec, history=trainer.history_,
                  best_epoch=best_epoch, evaluation=evaluation, train_seconds=seconds, trained_on=trained_on)


def run_experiment(config: Config, out: str | Path = "runs", progress: bool = True, resume: bool = False,
                   callbacks: Sequence[Callback] = ()) -> Run:
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
    out = Path(out)
    check_one_device_per_process(config.train.device)
    _check_tbptt(config)
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


def _fit(config: Config, out: Path, *, progress: bool, resume: bool, device: torch.device,
         callbacks: Sequence[Callback]) -> Run:
    """Rank 0: build the data, fit in memory (checkpointing every epoch), write the run folder."""
    start = time.perf_counter()
    pending = checkpoint_dir(out, config.name)
    resume_from = _resume_point(config, out, pending) if resume else None
    given = config
    config, dataset = _dataset_for_task(config)
    _check_split_sizes(dataset)
    checkpoint = Checkpoint(pending, meta={"config": _fingerprint(given),  # as given: a resume compares them
                                           "data": dataset.summary.fingerprint or {}})
    fitted = fit_in_memory(config, dataset, device=device, progress=progress, callbacks=[*callbacks, checkpoint],
                           resume_from=resume_from)
    assert fitted.evaluation is not None
    timings = {"featurisation_seconds": dataset.summary.featurisation_seconds,
               "featurisation_cache_hit": bool(dataset.summary.cache_hit),
               "training_seconds": fitted.train_seconds, "total_seconds": time.perf_counter() - start}
    theory = theory_of_run(fitted.config, dataset) if fitted.config.report.theory else None
    if theory is not None:
        timings["theory_seconds"] = theory.seconds
    report = run_report(config=fitted.config, dataset=dataset, evaluation=fitted.evaluation, history=fitted.history,
                        analyses=analyse(fitted.config, dataset, fitted.evaluation, fitted.model, theory=theory)
                        ) if fitted.config.report.html else None
    with memory_guard("writing the run folder", "set report.predictions to fewer rows (0: no predictions.csv)"):
        return write_run(out / config.name, config=fitted.config, dataset=dataset, model=fitted.model,
                         history=fitted.history, evaluation=fitted.evaluation, timings=timings,
                         best_epoch=fitted.best_epoch, uncertainty=fitted.uncertainty, report_html=report,
                         checkpoint=pending, trained_on=fitted.trained_on,
                         extra={"theory": theory.to_json()} if theory is not None else None)


def _fit_rank(config: Config, out: Path, *, device: torch.device, resume: bool) -> Run:
    """A rank other than 0: train its shards (no files written), then read the run folder rank 0 wrote."""
    pending = checkpoint_dir(out, config.name)
    resume_from = _resume_point(config, out, pending) if resume else None
    fit_in_memory(*_dataset_for_task(config), device=device, resume_from=resume_from, evaluate=False)
    _barrier(world())  # rank 0 has published the run folder
    return Run.load(out / config.name)


def _dataset_for_task(config: Config) -> tuple[Config, Dataset]:
    """(config, dataset): the config's data, read again with a validation split where the default error bars,
    planned before the task was known, turn out to need one (`Config.replanned`: a table of classes)."""
    dataset = build_dataset(config)
    replanned = config.replanned(dataset.task)
    return (config, dataset) if replanned is None else (replanned, build_dataset(replanned))


def _barrier(current: Any) -> None:
    """Wait for every rank (a no-op in a single process)."""
    if current.distributed:
        dist.barrier()


# -- training ---------------------------------------------------------------------------------------
def _trainer(config: Config, dataset: Dataset, spec: UncertaintySpec, *, device: torch.device, progress: bool,
             callbacks: list[Any], loss: Loss | None = None) -> tuple[Trainer, Any, Tensor]:
    """(trainer, X_train, y_train): the Trainer of config.train for the dataset's model, on `device`."""
    model, loss, X_train, y_train, augment = _training_setup(config, dataset, spec, loss)
    t = config.train
    model_spec = spec_of(model)
    if t.tbptt is not None:
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


def _train(trainer: Trainer, dataset: Dataset, X_train: Any, y_train: Tensor, resume_from: Path | None,
           sample_weight: Tensor | None = None, valid_sample_weight: Tensor | None = None) -> None:
    """Fit, watching the validation split where there is one (valid_fraction = 0: every epoch is trained)."""
    if isinstance(trainer.loss, HeldOutLoss):  # K-fold members: each is watched on its own left-out fold
        trainer.fit(X_train, y_train, X_train, trainer.loss.validation_targets(y_train), resume_from=resume_from)
        return
    watched = len(dataset.valid) > 0
    trainer.fit(X_train, y_train, dataset.valid.X if watched else None, dataset.valid.y if watched else None,
                sample_weight=sample_weight, valid_sample_weight=valid_sample_weight if watched else None,
                resume_from=resume_from)


def _training_setup(config: Config, dataset: Dataset, spec: UncertaintySpec, loss: Loss | None = None) -> tuple[
        nn.Module, Loss, Any, Tensor, Any]:
    """(model, loss, X_train, y_train, augment) for the Trainer: the uncertainty method decides the first four."""
    check_held_out_splits(spec, len(dataset.calib) if dataset.calib is not None else 0)
    kind = dataset.summary.kind  # what the rows are: "table", "series", "text", ...
    loss = loss or KIND_LOSSES.get(kind) or get_loss(config.train.loss, dataset.task)
    width = dataset.n_outputs * (2 if spec.heteroscedastic else 1)
    channels_of = KIND_TARGET_CHANNELS.get(kind)
    channels = channels_of(dataset) if channels_of is not None else None
    model, loss, X_train, y_train, member_augment = uncertainty_training(
        spec, dataset.task, lambda seed: build_model(config, dataset.inputs, width, task=dataset.task, seed=seed,
                                                     target_channels=channels), loss,
        dataset.train.X, dataset.train.y, seed=config.seed)
    batch_augment = _augment(config, len(dataset.class_names) or None)
    if config.train.adversarial > 0:
        if batch_augment is not None:
            raise ConfigError("train.adversarial and [augment] cannot be combined yet; turn one of them off.")
        t = config.train
        batch_augment = adversarial_augment(model, loss, epsilon=t.adversarial, method=t.adversarial_method,
                                            steps=t.adversarial_steps)
    if batch_augment is not None and member_augment is not None:
        raise ConfigError("[augment] and uncertainty.bootstrap cannot be combined; turn one of them off.")
    return model, loss, X_train, y_train, member_augment or batch_augment


def _augment(config: Config, n_classes: int | None) -> Callable[..., Any] | None:
    """The batch augmentation of config.augment, or None when every transform is off."""
    augment = Augment(**config.augment.model_dump(), n_classes=n_classes)
    return augment if augment.active else None


def _series_channels(dataset: Dataset) -> list[int]:
    """Forecasting: the input channels that the targets are (seq2seq feeds its predictions back into them)."""
    channels, targets = dataset.summary.channels or [], dataset.summary.targets or []
    return [channels.index(t) for t in targets]


#: What a kind of data changes in training and evaluation, registered by kind (every other kind: the task's
#: loss, no fed-back channels, `evaluate_model`). A character language model's data ("text") is next-symbol
#: windows: a loss per step, and held-out cross-entropy read split by split on the host.
KIND_LOSSES: dict[str, Loss] = {"text": sequence_cross_entropy}
KIND_TARGET_CHANNELS: dict[str, Callable[[Dataset], list[int]]] = {"series": _series_channels}
KIND_EVALUATIONS: dict[str, Callable[[nn.Module, Dataset], Evaluation]] = {
    "text": lambda model, dataset: language_evaluation(model.cpu(), dataset)}


def _check_tbptt(config: Config) -> None:
    """Refuse, before any data is read, a train.tbptt where truncated BPTT does not apply.

    It applies to a character language model (data.kind = "text", model.kind = "charlm"): one output per
    step, so each chunk of k steps has its own loss. A table, an image, a set, a whole-sequence classifier
    (its one output needs the whole sequence) or seq2seq has no per-step loss to cut.
    """
    k = config.train.tbptt
    if k is None:
        return
    if not isinstance(config.data, TextData) or config.model.kind != "charlm":
        raise ConfigError(f"train.tbptt = {k} trains a character language model chunk by chunk (data.kind = "
                          f"'text', model.kind = 'charlm'); this run has data.kind = '{config.data.kind}', "
                          f"model.kind = '{config.model.kind}', whose model reads each sample whole. "
                          "Remove train.tbptt.")
    if config.train.adversarial > 0:
        raise ConfigError("train.tbptt and train.adversarial cannot be combined (the attack's forward passes would "
                          "advance the carried state); set train.adversarial = 0 or remove train.tbptt.")
    check_chunk(config.data.seq_length, k)


# -- evaluation -------------------------------------------------------------------------------------
def _evaluate(config: Config, dataset: Dataset, model: nn.Module, spec: UncertaintySpec) -> Evaluation:
    """The evaluation the run folder records: the task's metrics, references and error bars."""
    own = KIND_EVALUATIONS.get(dataset.summary.kind)
    if dataset.summary.stream is not None:  # block by block: the rows stay on disk
        evaluation = evaluate_streamed(model, dataset, spec,
                                       keep_rows=prediction_rows(config.report.predictions, streamed=True) or 0)
    else:
        evaluation = own(model, dataset) if own is not None else evaluate_model(
            model, dataset, spec, season=getattr(config.data, "season", None))
    ignored = (*dataset.summary.notes, *ignored_settings(config, dataset))
    return replace(evaluation, warnings=(*evaluation.warnings, *ignored)) if ignored else evaluation


def ignored_settings(config: Config, dataset: Dataset) -> tuple[str, ...]:
    """Warnings for settings the run could not honour: train.patience without validation rows to stop on."""
    if config.train.patience is None or len(dataset.valid) > 0:
        return ()
    return (f"train.patience = {config.train.patience} was ignored: the data has no validation rows to stop on "
            f"(data.valid_fraction = {getattr(config.data, 'valid_fraction', 0)!r}), so all {config.train.epochs} "
            "epochs were trained. Set data.valid_fraction > 0 (e.g. 0.1) to stop early, or remove train.patience.",)


MIN_ROWS = 2  # metrics of one row (a variance, a correlation, R²) are undefined


def _check_split_sizes(dataset: Dataset) -> None:
    """Refuse, before any training, a split too small to train on or to measure."""
    sizes = {name: len(part) for name in ("train", "valid", "test", "calib")
             if (part := getattr(dataset, name, None)) is not None}
    small = {name: n for name, n in sizes.items() if (0 < n < MIN_ROWS) or (name == "train" and n < MIN_ROWS)}
    if small:
        parts = ", ".join(f"{name} {n} row(s)" for name, n in small.items())
        raise DataError(f"the data gives {parts} (all parts: {', '.join(f'{k} {v}' for k, v in sizes.items())}); "
                        f"every part in use needs at least {MIN_ROWS} rows. Use more data, or raise "
                        "data.valid_fraction / data.test_fraction / data.calib_fraction for the part named.")


# -- resuming ---------------------------------------------------------------------------------------
def _fingerprint(config: Config) -> dict[str, Any]:
    """The config as it decides the training, without train.epochs, .device and .threads (a resume may change them)."""
    raw = config.model_dump(mode="json")
    raw["train"].pop("epochs", None)
    raw["train"].pop("device", None)  # a run may go on on another machine (its last digits may differ)
    raw["train"].pop("threads", None)  # so may its thread count
    return raw


def _resume_point(config: Config, out: Path, pending: Path) -> Path:
    """The checkpoint to resume from, after checking it was made by this config (train.epochs aside)."""
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
                              "train.epochs, train.device and train.threads may change on resume. Restore those keys, "
                              "or fit afresh without --resume.")
    refuse_changed_data(meta.get("data"), config.data)
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


# -- distillation -----------------------------------------------------------------------------------
def distill_run(teacher: Run, config: Config, *, temperature: float = 3.0, alpha: float = 0.9) -> DistillationResult:
    """Distil a teacher run into the student of `config` ([model] and [train]; its seed seeds the student).

    The student learns on the teacher's own data and split, rebuilt from the teacher's [data] and seed
    (the student config's [data] is not used), so no teacher test row is ever a student training row. Both
    students (hard labels; the teacher's soft targets) train through `fit_in_memory` as `deepsci fit` trains
    the student config, without error bars (one network each: the soft-target loss reads (n, C) logits).
    """
    dataset = build_dataset(teacher.config)
    student = config.model_copy(update={"data": teacher.config.data, "uncertainty": UncertaintyConfig(method="none")})

    def train(loss: Loss, y_train: Tensor, y_valid: Tensor) -> nn.Module:
        targets = replace(dataset, train=replace(dataset.train, y=y_train), valid=replace(dataset.valid, y=y_valid))
        return fit_in_memory(student, targets, loss=loss, evaluate=False).model

    result = distill(teacher.model, dataset, train, temperature=temperature, alpha=alpha, seed=config.seed)
    result.student = {"name": config.name, "model": config.model.model_dump(mode="json"), "teacher": str(teacher.path)}
    return result


def write_distillation(result: DistillationResult, folder: Path) -> Path:
    """distill.json and report.html in `folder` (each written under a temporary name, then renamed)."""
    folder.mkdir(parents=True, exist_ok=True)
    replace_file(folder / "distill.json", lambda p: p.write_text(json.dumps(asdict(result), indent=2)))
    rows = [[name, f"{s['accuracy']:.4f}", f"{s['nll']:.4f}", f"{s['ece']:.4f}"] for name, s in result.table().items()]
    html = (f"<p>Student trained on the teacher's class probabilities softened at T = {result.temperature:g} "
            f"(loss α T² KL + (1 − α) CE, α = {result.alpha:g}; Hinton et al. 2015), beside the same student "
            "(architecture, seed, settings) trained on the hard labels. Test split of the teacher's run; NLL in "
            "nats, ECE over 15 confidence bins.</p>")
    section = Section(title="Distillation", html=html,
                      table={"columns": ["model", "accuracy", "NLL", "ECE"], "rows": rows})
    replace_file(folder / "report.html", lambda p: write_report(
        p, title=f"Distillation: {result.student.get('name', 'student')}", config_toml=json.dumps(result.student),
        data_summary={}, metrics={}, figures=[], sections=[section]))
    return folder
