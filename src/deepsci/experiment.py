"""The experiment: a validated config, and the one path from it to a run folder.

    config (TOML) -> data -> model -> rule -> training -> evaluation -> report -> runs/<name>/

Configuration is validated here, at the edge: one pydantic model per TOML section, unknown keys
rejected with the nearest valid key suggested. Inside the library, plain typed arguments.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from deepsci.errors import ConfigError
from deepsci.models.activations import ACTIVATIONS
from deepsci.training.losses import LOSSES
from deepsci.training.optimisers import OPTIMISERS, SCHEDULES

if TYPE_CHECKING:
    from typing import Callable

    from torch import Tensor, nn

    from deepsci.evaluation.uncertainty import UncertaintySpec

    from deepsci.data.dataset import Dataset
    from deepsci.run import Run

RULE_NAMES = ("backprop", "feedback-alignment", "direct-feedback-alignment", "sign-symmetry",
              "adaptive-feedback-alignment")


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(Section):
    """Where the data comes from and how it is split.

    kind "table": `deepsci.data.load_dataset` (CSV, Parquet, NPZ, SDF, SMILES, bundled tables);
    "images": an image stack (.npz/.npy, with `labels`), a folder of images with a `labels` CSV, or
    "digits" as 8x8 images; "timeseries": forecasting windows of a record ("co2", "sunspots" or a CSV
    with `time_column`), split in time order; "text": next-symbol windows of a text file.
    """

    kind: Literal["table", "images", "timeseries", "text"] = "table"
    source: str = Field(description="a bundled dataset name (deepsci datasets) or a file path")
    target: str | list[str] | None = None
    features: list[str] | None = None
    smiles_column: str | None = None
    featuriser: Literal["descriptors", "morgan", "descriptors+morgan"] = "descriptors"
    morgan_radius: int = Field(2, ge=0, le=6)
    morgan_bits: int = Field(2048, ge=64, le=65536)
    id_column: str | None = None
    task: Literal["auto", "regression", "binary", "multiclass"] = "auto"
    split: Literal["auto", "random", "stratified", "scaffold", "column"] = "auto"
    split_column: str | None = None
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    valid_fraction: float = Field(0.1, gt=0.0, lt=1.0)
    missing: Literal["error", "drop"] = "error"
    scale_features: bool = True
    scale_targets: bool = True
    # images
    labels: str | None = Field(None, description="labels file (.npy/.csv) of an image stack, or the labels "
                                                 "CSV of an image folder")
    image_scale: Literal["unit", "standard", "none"] = "unit"
    # time series
    time_column: str | None = None
    value_columns: list[str] | None = None
    target_columns: list[str] | None = None
    input_length: int = Field(24, ge=1)
    horizon: int = Field(1, ge=1)
    stride: int = Field(1, ge=1)
    test_size: int | None = Field(None, ge=1, description="test part in time steps (overrides test_fraction)")
    valid_size: int | None = Field(None, ge=1)
    season: int | None = Field(None, ge=2, description="season length in steps, for the seasonal-naive baseline")
    # text
    seq_length: int = Field(100, ge=2)


class ModelConfig(Section):
    """The network. `init = "critical"` uses the critical (C_b, C_W) of the activation (deepsci.theory)."""

    kind: Literal["mlp", "cnn", "rnn", "seq2seq", "charlm"] = "mlp"
    hidden: list[int] = Field(default_factory=lambda: [64, 64],
                              description="MLP widths; CNN head widths; recurrent: [state size]")
    activation: str = "relu"
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    batch_norm: bool = False
    maxout_pieces: int = Field(2, ge=2, le=16)
    leaky_slope: float = Field(0.01, ge=0.0, lt=1.0)
    init: Literal["default", "xavier", "he", "lecun", "orthogonal", "gaussian", "critical"] = "default"
    cw: float | None = Field(None, gt=0.0)
    cb: float | None = Field(None, ge=0.0)
    # convolutional
    channels: list[int] = Field(default_factory=lambda: [32, 64], description="CNN: channels per stage")
    blocks: list[dict[str, Any]] | None = Field(
        None, description="CNN: explicit blocks instead of LeNet stages, e.g. [{type = 'conv', channels = 16}, "
                          "{type = 'residual', channels = 32, se = 4}, {type = 'pool'}] (see deepsci.models.cnn)")
    kernel: int = Field(3, ge=1)
    pool: Literal["max", "avg"] = "max"
    global_pool: Literal["avg", "max", "none"] = "avg"
    # recurrent
    cell: Literal["rnn", "gru", "lstm"] = "lstm"
    layers: int = Field(1, ge=1, le=16)
    bidirectional: bool = False
    teacher_forcing: float = Field(0.5, ge=0.0, le=1.0)
    embedding: int = Field(32, ge=1)

    @field_validator("activation")
    @classmethod
    def _known_activation(cls, value: str) -> str:
        return _check_name("activation", value, ACTIVATIONS)

    @field_validator("hidden")
    @classmethod
    def _positive_widths(cls, value: list[int]) -> list[int]:
        if any(h < 1 for h in value):
            raise ValueError(f"hidden layer widths must be positive integers, got {value}")
        return value


class TrainConfig(Section):
    """How the weights learn."""

    optimizer: str = "adam"
    lr: float = Field(1e-3, gt=0.0, le=10.0)
    weight_decay: float = Field(0.0, ge=0.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    nesterov: bool = False
    batch_size: int = Field(32, ge=1)
    epochs: int = Field(100, ge=1, le=100_000)
    schedule: str = "constant"
    step_size: int = Field(30, ge=1)
    gamma: float = Field(0.1, gt=0.0, le=1.0)
    plateau_patience: int = Field(10, ge=1)
    min_lr: float = Field(0.0, ge=0.0)
    clip_grad_norm: float | None = Field(None, gt=0.0)
    patience: int | None = Field(None, ge=1, description="early stopping on the validation loss")
    loss: str | None = None
    rule: str = "backprop"

    @field_validator("optimizer")
    @classmethod
    def _known_optimizer(cls, value: str) -> str:
        return _check_name("optimizer", value, OPTIMISERS)

    @field_validator("schedule")
    @classmethod
    def _known_schedule(cls, value: str) -> str:
        return _check_name("schedule", value, SCHEDULES)

    @field_validator("loss")
    @classmethod
    def _known_loss(cls, value: str | None) -> str | None:
        return None if value is None else _check_name("loss", value, tuple(LOSSES))

    @field_validator("rule")
    @classmethod
    def _known_rule(cls, value: str) -> str:
        return _check_name("rule", value, RULE_NAMES)


class AugmentConfig(Section):
    """Augmentation of training batches only (never at evaluation). See deepsci.training.augment."""

    hflip: float = Field(0.0, ge=0.0, le=1.0)
    vflip: float = Field(0.0, ge=0.0, le=1.0)
    rotate: float = Field(0.0, ge=0.0, le=180.0, description="max rotation, degrees")
    crop_scale: float | None = Field(None, gt=0.0, le=1.0)
    brightness: float = Field(0.0, ge=0.0)
    contrast: float = Field(0.0, ge=0.0)
    noise: float = Field(0.0, ge=0.0)
    erase: float = Field(0.0, ge=0.0, le=1.0)
    mixup: float = Field(0.0, ge=0.0, description="Beta(alpha, alpha) of mixup; 0 is off")


class ReportConfig(Section):
    """What the run folder gets beyond the metrics."""

    html: bool = True
    units: str = ""


class UncertaintyConfig(Section):
    """Error bars: a vectorised deep ensemble or MC dropout, a heteroscedastic head, conformal bands.

    See docs/uncertainty.md. Conformal intervals / sets are calibrated on the validation split (never
    test); with ~100 validation rows the coverage of one run scatters by ~0.03, so conformal runs are
    best given a larger data.valid_fraction (e.g. 0.2).
    """

    method: Literal["none", "ensemble", "mc-dropout"] = "none"
    members: int = Field(8, ge=2, le=256, description="ensemble size (method = 'ensemble')")
    samples: int = Field(50, ge=2, le=10_000, description="stochastic passes (method = 'mc-dropout')")
    heteroscedastic: bool = Field(False, description="regression: mean-and-variance head, Gaussian NLL loss")
    bootstrap: bool = Field(False, description="each ensemble member trains on its own bootstrap resample")
    conformal: bool | None = Field(None, description="conformal bands; default: on when method or "
                                   "heteroscedastic is set")
    level: float = Field(0.9, gt=0.0, lt=1.0)
    score: Literal["absolute", "normalised"] = "absolute"
    set_method: Literal["lac", "aps"] = "lac"
    randomised: bool = False
    link: Literal["softplus", "exp"] = "softplus"

    @model_validator(mode="after")
    def _consistent(self) -> "UncertaintyConfig":
        if self.bootstrap and self.method != "ensemble":
            raise ValueError("bootstrap = true resamples ensemble members; set method = 'ensemble' or drop bootstrap")
        if self.score == "normalised" and self.method == "none" and not self.heteroscedastic:
            raise ValueError("score = 'normalised' divides by a predicted sigma, and this model gives none; set "
                             "method = 'ensemble' or 'mc-dropout', or heteroscedastic = true, or score = 'absolute'")
        if self.conformal is None:  # resolved here so the run's config.toml states it
            self.__dict__["conformal"] = self.method != "none" or self.heteroscedastic
        return self


class Config(Section):
    """A whole experiment: `name` names the run folder; `seed` drives every random source."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    seed: int = Field(0, ge=0)
    data: DataConfig
    model: ModelConfig = Field(default_factory=lambda: ModelConfig())
    train: TrainConfig = Field(default_factory=lambda: TrainConfig())
    augment: AugmentConfig = Field(default_factory=lambda: AugmentConfig())
    report: ReportConfig = Field(default_factory=lambda: ReportConfig())
    uncertainty: UncertaintyConfig = Field(default_factory=UncertaintyConfig)  # type: ignore[arg-type]

    @model_validator(mode="after")
    def _uncertainty_fits_model(self) -> "Config":
        u = self.uncertainty
        if u.method == "mc-dropout" and self.model.dropout <= 0:
            raise ValueError("uncertainty.method = 'mc-dropout' needs dropout in the network; set model.dropout "
                             "(e.g. 0.1), or use uncertainty.method = 'ensemble'")
        if u.method == "ensemble" and self.train.rule != "backprop":
            raise ValueError(f"an ensemble trains as one stacked network by backprop; train.rule = "
                             f"'{self.train.rule}' cannot be stacked. Use train.rule = 'backprop', or "
                             "uncertainty.method = 'none'")
        if u.heteroscedastic and self.train.loss is not None:
            raise ValueError(f"a heteroscedastic head is trained with the Gaussian NLL; remove train.loss "
                             f"('{self.train.loss}') or set uncertainty.heteroscedastic = false")
        return self


def _check_name(kind: str, value: str, known: Sequence[str]) -> str:
    if value not in known:
        close = difflib.get_close_matches(value, list(known), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ValueError(f"unknown {kind} '{value}'{hint}; known: {', '.join(known)}")
    return value


# -- loading ----------------------------------------------------------------------------------------
def load_config(path: str | Path, overrides: Sequence[str] = ()) -> Config:
    """Read a TOML config, apply `--set key.path=value` overrides, and validate it.

    Raises ConfigError naming the file, the bad key and the fix.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file '{path}' not found. Pass the path of a TOML file, e.g. examples/solubility.toml.")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}. Fix the syntax at that line.") from exc
    for item in overrides:
        apply_override(raw, item)
    return config_from_dict(raw, source=str(path))


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Set `section.key=value` in a raw config dict; the value is parsed as TOML, else kept as text."""
    if "=" not in item:
        raise ConfigError(f"--set expects KEY=VALUE (e.g. train.epochs=50), got '{item}'.")
    key, text = item.split("=", 1)
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    node = raw
    *parents, leaf = key.strip().split(".")
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: '{part}' is not a section.")
    node[leaf] = value


def config_from_dict(raw: dict[str, Any], source: str = "config") -> Config:
    """Validate a raw dict into a Config, turning pydantic's errors into one readable ConfigError."""
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, raw, source)) from None


def _explain(exc: ValidationError, raw: dict[str, Any], source: str) -> str:
    """One line per problem: the key, what is wrong, and the nearest valid key for typos."""
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        key = ".".join(loc)
        if not loc:  # a check across sections: its message names the keys
            lines.append(err["msg"].removeprefix("Value error, ") + ".")
            continue
        if err["type"] == "extra_forbidden":
            section = _section_model(loc[:-1])
            valid = list(section.model_fields) if section else []
            close = difflib.get_close_matches(loc[-1], valid, n=1)
            hint = f" Did you mean '{'.'.join(loc[:-1] + [close[0]])}'?" if close else ""
            lines.append(f"unknown config key '{key}'.{hint} Valid keys here: {', '.join(valid)}.")
        elif err["type"] == "missing":
            lines.append(f"config key '{key}' is required; add it to the TOML.")
        else:
            value = _lookup(raw, loc)
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"config key '{key}' = {value!r}: {msg}.")
    return f"{source}: " + " ".join(lines)


def _section_model(loc: list[str]) -> type[BaseModel] | None:
    model: type[BaseModel] = Config
    for part in loc:
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


def _lookup(raw: Any, loc: list[str]) -> Any:
    for part in loc:
        if isinstance(raw, dict) and part in raw:
            raw = raw[part]
        else:
            return None
    return raw


# -- running ----------------------------------------------------------------------------------------
TABLE_KEYS = ("source", "target", "features", "smiles_column", "featuriser", "morgan_radius", "morgan_bits",
              "id_column", "task", "split", "split_column", "test_fraction", "valid_fraction", "missing",
              "scale_features", "scale_targets")


def build_dataset(config: Config) -> "Dataset":
    """Load, validate, featurise, split and scale the config's data (seeded by config.seed)."""
    d = config.data
    if d.kind == "table":
        from deepsci.data import load_dataset

        return load_dataset(**{k: getattr(d, k) for k in TABLE_KEYS}, seed=config.seed)
    if d.kind == "images":
        return _image_dataset(d, config.seed)
    if d.kind == "timeseries":
        return _timeseries_dataset(d)
    from deepsci.data.text import text_dataset

    return text_dataset(d.source, seq_length=d.seq_length, test_fraction=d.test_fraction,
                        valid_fraction=d.valid_fraction)


def _image_dataset(d: DataConfig, seed: int) -> "Dataset":
    from deepsci.data.images import digits_images, load_image_array, load_image_folder

    if d.source == "digits":
        return digits_images(test_fraction=d.test_fraction, valid_fraction=d.valid_fraction, seed=seed)
    split: dict[str, Any] = dict(test_fraction=d.test_fraction, valid_fraction=d.valid_fraction, seed=seed)
    path = Path(d.source)
    if path.is_dir():
        if d.labels is None:
            raise ConfigError(f"data.source '{path}' is a folder of images: set data.labels to its labels CSV "
                              "(columns file, label).")
        return load_image_folder(path, d.labels, scale=d.image_scale, **split)
    if not path.is_file():
        raise ConfigError(f"data.source '{path}' is neither 'digits' nor an existing .npz/.npy file or image "
                          "folder. Fix the path.")
    return load_image_array(path, labels=d.labels, scale=d.image_scale, **split)


def _timeseries_dataset(d: DataConfig) -> "Dataset":
    from deepsci.data import timeseries as ts

    window: dict[str, Any] = dict(input_length=d.input_length, horizon=d.horizon, stride=d.stride)
    sizes: dict[str, Any] = {k: v for k, v in (("test_size", d.test_size), ("valid_size", d.valid_size)) if v is not None}
    if d.source in ("co2", "sunspots"):
        builder = ts.co2_dataset if d.source == "co2" else ts.sunspots_dataset
        return builder(**window, **sizes)
    if d.time_column is None:
        raise ConfigError(f"data.source '{d.source}' is a CSV record: set data.time_column to its time column "
                          "(and optionally data.value_columns / data.target_columns).")
    return ts.load_timeseries_csv(d.source, time_column=d.time_column, value_columns=d.value_columns,
                                  target_columns=d.target_columns, test_fraction=d.test_fraction,
                                  valid_fraction=d.valid_fraction, **window, **sizes)


def build_model(config: Config, n_inputs: int, n_outputs: int, input_shape: Sequence[int] = ()) -> "nn.Module":
    """The network of config.model, initialised from config.seed, with config.train.rule applied.

    Args:
        n_inputs: input width of a dense network (features per sample).
        n_outputs: width of the head.
        input_shape: one sample's shape, (C, H, W) for images, (L, C) for windows, (L,) for text.

    init = "critical" is resolved here to the Gaussian initialisation at the activation's critical
    (C_b, C_W) (Roberts, Yaida & Hanin 2022, ch. 5), so model builders need no theory.
    """
    m = config.model
    if m.kind != "mlp":
        return _build_shaped_model(config, n_outputs, tuple(input_shape))
    from deepsci.models import MLP

    init, cb, cw = resolve_init(m.activation, m.init, cb=m.cb, cw=m.cw)
    model: nn.Module = MLP(n_inputs, n_outputs, tuple(m.hidden), m.activation, dropout=m.dropout,
                batch_norm=m.batch_norm, maxout_pieces=m.maxout_pieces, leaky_slope=m.leaky_slope,
                init=init, cw=cw, cb=cb, seed=config.seed)
    if config.train.rule != "backprop":
        from deepsci.rules import apply_rule

        model = apply_rule(model, config.train.rule, seed=config.seed)
    return model


def _build_shaped_model(config: Config, n_outputs: int, shape: tuple[int, ...]) -> "nn.Module":
    """CNNs for images (C, *spatial) and recurrent models for windows (L, C) or text (L,)."""
    from deepsci.models.cnn import CNN
    from deepsci.models.rnn import CharLM, Seq2Seq, SequenceModel

    m, seed = config.model, config.seed
    if config.train.rule != "backprop":
        raise ConfigError(f"train.rule = '{config.train.rule}' is available for model.kind = 'mlp' only; "
                          "set train.rule = 'backprop'.")
    expected = {"cnn": "images", "rnn": "timeseries", "seq2seq": "timeseries", "charlm": "text"}[m.kind]
    if config.data.kind != expected and not (m.kind == "rnn" and config.data.kind == "text"):
        raise ConfigError(f"model.kind = '{m.kind}' needs data.kind = '{expected}' (got '{config.data.kind}').")
    if m.kind == "cnn" and m.blocks is not None:
        return CNN(shape[0], n_outputs, m.blocks, dims=len(shape) - 1, input_size=shape[1:],
                   activation=m.activation, global_pool=m.global_pool, head_hidden=m.hidden,
                   head_dropout=m.dropout, seed=seed)
    if m.kind == "cnn":
        return CNN.lenet(shape[0], n_outputs, dims=len(shape) - 1, channels=m.channels, kernel=m.kernel,
                         batch_norm=m.batch_norm, pool=m.pool, dropout=m.dropout, head_hidden=m.hidden,
                         input_size=shape[1:], global_pool=m.global_pool, activation=m.activation, seed=seed)
    width = m.hidden[0] if m.hidden else 64
    if m.kind == "rnn":
        return SequenceModel(shape[-1], n_outputs, cell=m.cell, hidden=width, layers=m.layers,
                             bidirectional=m.bidirectional, dropout=m.dropout, seed=seed)
    if m.kind == "seq2seq":
        return Seq2Seq(shape[-1], config.data.horizon, cell=m.cell, hidden=width, layers=m.layers,
                       dropout=m.dropout, teacher_forcing=m.teacher_forcing, seed=seed)
    return CharLM(n_outputs, embedding=m.embedding, hidden=width, layers=max(m.layers, 1), cell=m.cell,
                  dropout=m.dropout, seed=seed)


def make_augment(config: Config, n_classes: int | None) -> "Callable[..., Any] | None":
    """The batch augmentation of config.augment, or None when every transform is off."""
    from deepsci.training.augment import Augment

    augment = Augment(**config.augment.model_dump(), n_classes=n_classes)
    return augment if augment.active else None


def resolve_init(activation: str, init: str, *, cb: float | None = None,
                 cw: float | None = None) -> tuple[str, float | None, float | None]:
    """(init, cb, cw) for the model builders, with "critical" turned into "gaussian" at the critical point."""
    if init != "critical":
        return init, cb, cw
    from deepsci.theory import critical

    point = critical(activation)
    if point.cw is None:
        raise ConfigError(f"the activation '{activation}' has no critical initialisation ({point.notes}). "
                          "Use init = 'he' or 'xavier', or another activation.")
    return "gaussian", point.cb, point.cw


def run_experiment(config: Config, out: str | Path = "runs", progress: bool = True, resume: bool = False) -> "Run":
    """Train and evaluate the config's model and write its run folder `out/<name>/`.

    The folder is written to a temporary sibling and renamed at the end, so a failure leaves no
    half-written run (and an earlier run of the same name intact). The training state is saved after
    every epoch to `out/.<name>.checkpoint/`, which ends in the run folder as `checkpoint/`; with
    `resume`, training goes on from the interrupted checkpoint (or from the finished run's, to train
    for more epochs) exactly as if it had not stopped.
    """
    import time

    from deepsci.models.rnn import sequence_cross_entropy
    from deepsci.models.spec import spec_of
    from deepsci.report.data_sections import data_sections
    from deepsci.run import evaluate_splits, uncertainty_spec, write_run
    from deepsci.training import Trainer, get_loss
    from deepsci.training.checkpoint import Checkpoint

    start = time.perf_counter()
    pending, finished = Path(out) / f".{config.name}.checkpoint", Path(out) / config.name / "checkpoint"
    resume_from = None
    if resume:
        resume_from = next((p for p in (pending, finished) if p.is_dir()), None)
        if resume_from is None:
            raise ConfigError(f"--resume: no checkpoint of run '{config.name}' in '{out}' (looked for {pending} "
                              f"and {finished}). Run without --resume to start afresh.")
    dataset = build_dataset(config)
    t = config.train
    spec = uncertainty_spec(config)
    text = dataset.featuriser.get("kind") == "text"
    model, loss, X_train, y_train, augment = uncertainty_training(
        spec, dataset.task, lambda seed: build_model(config.model_copy(update={"seed": seed}), dataset.n_features,
                                                     dataset.n_outputs * (2 if spec.heteroscedastic else 1),
                                                     input_shape=dataset.train.X.shape[1:]),
        sequence_cross_entropy if text else get_loss(t.loss, dataset.task), dataset.train.X, dataset.train.y,
        seed=config.seed)
    batch_augment = make_augment(config, len(dataset.class_names) or None)
    if batch_augment is not None and augment is not None:
        raise ConfigError("[augment] and uncertainty.bootstrap cannot be combined; turn one of them off.")
    model_spec = spec_of(model)
    trainer = Trainer(
        model, loss=loss, optimizer=t.optimizer, lr=t.lr, augment=augment or batch_augment,
        teacher_forcing=model_spec.get("kind") == "seq2seq" and config.model.teacher_forcing > 0,
        weight_decay=t.weight_decay, momentum=t.momentum, nesterov=t.nesterov, batch_size=t.batch_size,
        epochs=t.epochs, schedule=t.schedule,
        schedule_kwargs=dict(step_size=t.step_size, gamma=t.gamma, plateau_patience=t.plateau_patience,
                             min_lr=t.min_lr),
        # Recurrent models carry a default clipping norm in their spec (exploding gradients, Pascanu 2013).
        clip_grad_norm=t.clip_grad_norm if t.clip_grad_norm is not None else model_spec.get("clip_grad_norm"),
        patience=t.patience, seed=config.seed, progress=progress, callbacks=[Checkpoint(pending)])
    fit_start = time.perf_counter()
    trainer.fit(X_train, y_train, dataset.valid.X, dataset.valid.y, resume_from=resume_from)
    train_seconds = time.perf_counter() - fit_start
    results = language_results(model, dataset) if text else evaluate_splits(model, dataset, spec)
    sections = data_sections(config, dataset, results, model)
    timings = {"featurisation_seconds": dataset.summary.get("featurisation_seconds", 0.0),
               "featurisation_cache_hit": dataset.summary.get("cache_hit", False),
               "training_seconds": train_seconds, "total_seconds": time.perf_counter() - start}
    best_epoch = trainer.early_stopping.best_epoch if trainer.early_stopping else len(trainer.history_)
    run = write_run(Path(out) / config.name, config=config, dataset=dataset, model=model,
                     history=trainer.history_, results=results, timings=timings, best_epoch=best_epoch,
                     extra_sections=sections)
    if pending.is_dir():
        pending.rename(run.path / "checkpoint")
    return run


def language_results(model: "nn.Module", dataset: "Dataset") -> dict[str, dict[str, Any]]:
    """Per split: next-symbol cross-entropy, perplexity and accuracy; the test split also gets a
    predictions table (each test window's last 40 symbols, the true next symbol and the predicted one)."""
    import pandas as pd
    import torch

    from deepsci.data.sequences import Vocabulary
    from deepsci.evaluation.language import language_metrics

    h = dataset.summary["unigram_entropy_nats"]
    results = {name: {"metrics": language_metrics(model, split.X, split.y, h)}
                      for name in ("train", "valid", "test") if len(split := getattr(dataset, name))}
    vocab = Vocabulary.from_dict(dataset.featuriser["vocabulary"])
    test = dataset.test
    with torch.no_grad():
        last = model(test.X)[:, -1].argmax(-1)  # (n,)
    results["test"]["frame"] = pd.DataFrame({
        "id": test.ids, "context": [vocab.decode(x[-40:]) for x in test.X],
        "next": [vocab.decode(y[-1:]) for y in test.y], "next_pred": [vocab.decode(p.view(1)) for p in last]})
    return results


def uncertainty_training(spec: "UncertaintySpec", task: str, make_member: "Callable[[int], nn.Module]",
                         loss: "Callable[[Tensor, Tensor], Tensor]", X: "Tensor", y: "Tensor", *, seed: int = 0
                         ) -> tuple["nn.Module", "Callable[[Tensor, Tensor], Tensor]", "Tensor", "Tensor", Any]:
    """What the Trainer needs for an uncertainty method: (model, loss, X_train, y_train, augment).

    - heteroscedastic: the head has 2t outputs (make_member must build it so) and the loss is the Gaussian
      NLL (`deepsci.evaluation.uncertainty.gaussian_nll`), in scaled target units;
    - ensemble: `members` networks make_member(seed + k) stacked into one StackedMLP, trained by the same
      Trainer on `ensemble_loss(loss)` (the sum of the members' mean losses; logged losses are that sum);
      with bootstrap, each member gets its own resample (`bootstrap_data`, augment `per_member_batch`);
    - otherwise make_member(seed) and `loss` unchanged (method "none" is exactly the plain run).
    """
    from functools import partial

    import torch

    from deepsci.evaluation.uncertainty import gaussian_nll
    from deepsci.training.ensemble import bootstrap_data, build_ensemble, ensemble_loss, per_member_batch

    if spec.heteroscedastic:
        if task != "regression":
            raise ConfigError(f"uncertainty.heteroscedastic = true is for regression (a mean-and-variance head); "
                              f"this task is {task}. Set heteroscedastic = false (class probabilities already "
                              "carry the aleatoric part).")
        loss = partial(gaussian_nll, link=spec.link)  # type: ignore[arg-type]
    if spec.method != "ensemble":
        return make_member(seed), loss, X, y, None
    model = build_ensemble(make_member, spec.members, seed=seed)
    member_loss = ensemble_loss(loss, target_dims=y.dim())
    if not spec.bootstrap:
        return model, member_loss, X, y, None
    # A different stream from the Trainer's (seeded with `seed`), so resamples and batch order are independent.
    Xb, yb = bootstrap_data(X, y, spec.members, torch.Generator().manual_seed(seed + 1_000_003))
    return model, member_loss, Xb, yb, per_member_batch
