"""[train] and [augment]: how the weights learn, and training-batch augmentation."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from deepsci.section import Section, check_name
from deepsci.training.names import LOSSES, OPTIMISERS, RULES, SCHEDULES


#: the train.schedule a run gets when its [train] names none, by data kind (others: "constant"). Signal classifiers
#: train a fixed budget on every row of a small set (data.valid_fraction = "auto"), so nothing picks the epoch: at a
#: constant lr 1e-3 Adam's late loss spikes left the default ResNet at chance on UCR GunPoint at seed 0 (batch norm's
#: running statistics out of step with the weights); annealed to 0 by a cosine, it matched MiniRocket on every seed
#: and set measured (docs/signals.md, benchmarks/signals_ucr.py).
DEFAULT_SCHEDULES: dict[str, str] = {"signal": "cosine"}


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
    tbptt: int | None = Field(None, ge=1, description="truncated backpropagation through time: chunk length k "
                                                       "in steps (a divisor of data.seq_length); text runs with "
                                                       "model.kind = 'charlm' only; none trains on whole windows")
    loss: str | None = None
    rule: str = "backprop"
    adversarial: float = Field(0.0, ge=0.0, description="adversarial training: the attack's ε in the model's "
                                                         "(standardised) input units; 0 is off")
    adversarial_method: Literal["fgsm", "pgd"] = "fgsm"
    adversarial_steps: int = Field(7, ge=1, le=100, description="PGD steps (of size 2.5 ε / steps)")
    device: str = Field("auto", description="'auto' (a CUDA GPU when present, else the CPU), 'cpu', 'cuda', "
                                            "'cuda:N' or 'mps'")
    precision: Literal["32", "bf16-mixed", "16-mixed"] = Field(
        "32", description="'32', or mixed precision through torch.autocast: 'bf16-mixed', '16-mixed'")
    threads: int | None = Field(None, description="intra-op threads of the fit; default: deepsci chooses (one "
                                                   "for a small step, else its share of the cores; docs/scale.md)")

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", value):
            raise ValueError(f"unknown device '{value}'; use 'auto', 'cpu', 'cuda', 'cuda:N' (N the GPU's index) "
                             "or 'mps'")
        return value

    @field_validator("threads")
    @classmethod
    def _positive_threads(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError(f"train.threads = {value}: a thread count must be 1 or more; set a positive number, "
                             "or remove the key to let deepsci share the cores")
        return value

    @field_validator("precision", mode="before")
    @classmethod
    def _precision_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("optimizer", "schedule", "loss", "rule")
    @classmethod
    def _known_name(cls, value: str | None, info: ValidationInfo) -> str | None:
        names = {"optimizer": OPTIMISERS, "schedule": SCHEDULES, "loss": LOSSES, "rule": RULES}[str(info.field_name)]
        return None if value is None else check_name(str(info.field_name), value, names)


class AugmentConfig(Section):
    """Augmentation of training batches only (never at evaluation). See deepsci.training.augment.

    IMAGE_ONLY: the keys that need images (2-D resampling and erasing); a config whose data has no image refuses
    them, and its config.toml leaves them out. SIGNAL_ONLY the same for series with steps
    (deepsci.training.series_augment).
    """

    IMAGE_ONLY: ClassVar[tuple[str, ...]] = ("rotate", "crop_scale", "erase")
    SIGNAL_ONLY: ClassVar[tuple[str, ...]] = ("window_slice", "time_shift", "magnitude_scale")

    hflip: float = Field(0.0, ge=0.0, le=1.0)
    vflip: float = Field(0.0, ge=0.0, le=1.0)
    rotate: float = Field(0.0, ge=0.0, le=180.0, description="max rotation, degrees")
    crop_scale: float | None = Field(None, gt=0.0, le=1.0)
    brightness: float = Field(0.0, ge=0.0)
    contrast: float = Field(0.0, ge=0.0)
    noise: float = Field(0.0, ge=0.0)
    erase: float = Field(0.0, ge=0.0, le=1.0)
    mixup: float = Field(0.0, ge=0.0, description="Beta(alpha, alpha) of mixup; 0 is off")
    window_slice: float | None = Field(None, gt=0.0, le=1.0, description="signals: a random window of this share "
                                                                        "of the length, stretched back (e.g. 0.9)")
    time_shift: float = Field(0.0, ge=0.0, lt=1.0, description="signals: largest shift, share of the length")
    magnitude_scale: float = Field(0.0, ge=0.0, description="signals: std of each series' amplitude factor")
