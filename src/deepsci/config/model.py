"""[model]: the network, one pydantic model per kind (a discriminated union on `kind`, default "mlp").

Each kind holds only its own keys, so a table MLP's resolved config has no CNN channels, LSTM cells or
teacher forcing, and a key of another kind is an error naming it. Keys that mean the same thing have
the same name in every kind:

    hidden      widths: MLP layers; CNN / set-network / multi-input head; recurrent: [state size]
    activation  a name from deepsci.models.names.ACTIVATIONS
    dropout     probability in [0, 1)
    layers      stacked recurrent / attention layers
    embedding   width of the symbol embedding for token sequences

Kinds: mlp (tables), cnn (signals, images, token sequences), rnn (sequences, signals, forecasting
windows), transformer (sequences, signals, windows), deepsets and set-transformer (sets), seq2seq
(forecasting windows), charlm (text), multi (several inputs: one encoder each, then an MLP head),
dmpnn, gin and ugrnn (molecular graphs).
CNN `blocks` are a discriminated union on `type` (conv, pool, residual, se, dropout).

This module imports no torch: it reads the name registries of deepsci.models.names.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, Discriminator, Field, Tag, TypeAdapter, field_validator, model_validator

from deepsci.config.section import Section, check_name
from deepsci.models.names import ACTIVATIONS, INIT_CHOICES

def _known_activation(value: str) -> str:
    return check_name("activation", value, ACTIVATIONS)


Activation = Annotated[str, AfterValidator(_known_activation)]  # a name of deepsci.models.names.ACTIVATIONS
Init = Literal["default", "xavier", "he", "lecun", "orthogonal", "gaussian", "critical"]
assert set(INIT_CHOICES) == set(Init.__args__)  # type: ignore[attr-defined]  # one vocabulary with models


def _check_widths(value: list[int]) -> list[int]:
    if any(h < 1 for h in value):
        raise ValueError(f"layer widths must be positive integers, got {value}")
    return value


def _widths(*fields: str) -> Any:
    """A field validator: every width in these list fields is a positive integer."""
    return field_validator(*fields)(lambda cls, value: _check_widths(value))


def _heads_divide_width(model: Any) -> Any:
    if model.width % model.heads:
        raise ValueError(f"model.width = {model.width} must be a multiple of model.heads = {model.heads}")
    return model


class _Common(Section):
    """Keys every kind shares: `activation` and `dropout` (mc-dropout reads model.dropout)."""

    activation: Activation = "relu"
    dropout: float = Field(0.0, ge=0.0, lt=1.0)



class MLPModel(_Common):
    """A dense network on a table. `init = "critical"` uses the activation's critical (C_b, C_W)."""

    kind: Literal["mlp"] = "mlp"
    hidden: list[int] = Field(default_factory=lambda: [64, 64], description="hidden layer widths")
    batch_norm: bool = False
    maxout_pieces: int = Field(2, ge=2, le=16)
    leaky_slope: float = Field(0.01, ge=0.0, lt=1.0)
    init: Init = "default"
    cw: float | None = Field(None, gt=0.0, description="weight variance C_W for init = 'gaussian'")
    cb: float | None = Field(None, ge=0.0, description="bias variance C_b for init = 'gaussian'")

    _check_hidden = _widths("hidden")


# -- CNN blocks ------------------------------------------------------------------------------------
class ConvBlock(Section):
    """Convolution [-> BatchNorm] -> activation [-> Dropout]."""

    type: Literal["conv"] = "conv"
    channels: int = Field(ge=1)
    kernel: int = Field(3, ge=1)
    stride: int = Field(1, ge=1)
    padding: int | Literal["same"] = 0
    dilation: int = Field(1, ge=1)
    batch_norm: bool = False
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    activation: Activation | None = None



class PoolBlock(Section):
    """Max or average pooling (stride defaults to the kernel)."""

    type: Literal["pool"] = "pool"
    kind: Literal["max", "avg"] = "max"
    kernel: int = Field(2, ge=1)
    stride: int | None = Field(None, ge=1)
    padding: int = Field(0, ge=0)


class ResidualBlockConfig(Section):
    """A ResNet basic block (conv-BN-act-conv-BN [-SE] + shortcut); channels default to the input's."""

    type: Literal["residual"] = "residual"
    channels: int | None = Field(None, ge=1)
    kernel: int = Field(3, ge=1)
    stride: int = Field(1, ge=1)
    batch_norm: bool = True
    activation: Activation | None = None
    se: int | None = Field(None, ge=1, description="squeeze-excitation reduction inside the block")



class SEBlock(Section):
    """Squeeze-and-excitation gate over channels."""

    type: Literal["se"] = "se"
    reduction: int = Field(4, ge=1)


class DropoutBlock(Section):
    """Channel dropout."""

    type: Literal["dropout"] = "dropout"
    p: float = Field(0.5, ge=0.0, lt=1.0)


BLOCK_MODELS: dict[str, type[Section]] = {"conv": ConvBlock, "pool": PoolBlock, "residual": ResidualBlockConfig,
                                          "se": SEBlock, "dropout": DropoutBlock}


def _type_of(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return None if kind is None else str(kind)


Block = Annotated[
    Union[
        Annotated[ConvBlock, Tag("conv")],
        Annotated[PoolBlock, Tag("pool")],
        Annotated[ResidualBlockConfig, Tag("residual")],
        Annotated[SEBlock, Tag("se")],
        Annotated[DropoutBlock, Tag("dropout")],
    ],
    Discriminator(_type_of, custom_error_type="block_type",
                  custom_error_message=f"each CNN block needs type = one of {', '.join(BLOCK_MODELS)}"),
]


class CNNModel(_Common):
    """A convolutional network on signals (1-D), images (2-D), volumes (3-D) or token sequences (1-D).

    Without `blocks`, LeNet stages: per entry of `channels`, two 'same' convolutions of `kernel`
    (+ batch norm) and a 2x `pool`. Token sequences are one-hot encoded (or embedded with `embedding`
    channels) first.
    """

    kind: Literal["cnn"] = "cnn"
    channels: list[int] = Field(default_factory=lambda: [32, 64], description="channels per LeNet stage")
    blocks: list[Block] | None = Field(None, description="explicit blocks instead of LeNet stages")
    kernel: int = Field(3, ge=1)
    pool: Literal["max", "avg"] = "max"
    global_pool: Literal["avg", "max", "none"] = "avg"
    batch_norm: bool = False
    hidden: list[int] = Field(default_factory=lambda: [64, 64], description="head widths after pooling")
    embedding: int | None = Field(None, ge=1, description="token sequences: embedding channels (default one-hot)")

    _check_hidden = _widths("hidden", "channels")


# -- recurrent and attention -----------------------------------------------------------------------
class _Recurrent(_Common):
    cell: Literal["rnn", "gru", "lstm"] = "lstm"
    hidden: list[int] = Field(default_factory=lambda: [64], description="[state size] (stack with `layers`)")
    layers: int = Field(1, ge=1, le=16)

    @field_validator("hidden")
    @classmethod
    def _one_width(cls, value: list[int]) -> list[int]:
        _check_widths(value)
        if len(value) != 1:
            raise ValueError(f"a recurrent network takes one state size, e.g. hidden = [64], got {value}; "
                             "stack layers with model.layers")
        return value


class RNNModel(_Recurrent):
    """RNN / GRU / LSTM over a whole sequence, stacked and optionally bidirectional.

    readout: "last" (the top layer's state at the last real step; forward at the end and backward at
    step 0 when bidirectional), or masked "mean" / "max" over real steps.
    """

    kind: Literal["rnn"] = "rnn"
    bidirectional: bool = False
    embedding: int = Field(32, ge=1, description="token sequences: embedding width")
    readout: Literal["last", "mean", "max"] = "last"
    stem_kernel: int | None = Field(None, ge=1, description="a convolution of this width before the sequence "
                                    "layers (motif detectors; None: no stem)")
    stem_pool: int = Field(1, ge=1, description="max pooling of the stem's output (shortens the sequence)")
    stem_channels: int = Field(64, ge=1, description="channels of the stem's convolution")


class TransformerModel(_Common):
    """A transformer encoder (torch.nn.TransformerEncoder) with sinusoidal positions, then a head.

    Tokens are embedded and vectors projected to `width`; `pooling` is the masked mean over real steps
    or a learned CLS token. `activation` of the feed-forward layers is relu or gelu.
    """

    kind: Literal["transformer"] = "transformer"
    width: int = Field(64, ge=1, description="model width d_model (a multiple of heads)")
    heads: int = Field(4, ge=1)
    layers: int = Field(2, ge=1, le=24)
    feedforward: int = Field(128, ge=1, description="width of each layer's feed-forward block")
    pooling: Literal["mean", "cls"] = "mean"
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    stem_kernel: int | None = Field(None, ge=1, description="a convolution of this width before the sequence "
                                    "layers (motif detectors; None: no stem)")
    stem_pool: int = Field(1, ge=1, description="max pooling of the stem's output (shortens the sequence)")
    hidden: list[int] = Field(default_factory=list, description="head widths after pooling")

    _check_hidden = _widths("hidden")

    @field_validator("activation")
    @classmethod
    def _ff_activation(cls, value: str) -> str:
        return check_name("transformer activation", value, ("relu", "gelu"))

    _check_heads = model_validator(mode="after")(_heads_divide_width)


class DeepSetsModel(_Common):
    """Deep Sets (Zaheer et al. 2017): rho(pool_i phi(x_i)) with a masked sum/mean/max pool."""

    kind: Literal["deepsets"] = "deepsets"
    hidden: list[int] = Field(default_factory=lambda: [64, 64], description="phi widths (per element)")
    rho: list[int] = Field(default_factory=lambda: [64], description="rho widths (after pooling)")
    pooling: Literal["sum", "mean", "max"] = "sum"
    pairwise: list[int] = Field(default_factory=list,
                                description="psi widths on every pair [x_i, x_j] of elements, pooled beside phi "
                                            "(Relation Networks, Santoro et al. 2017); [] off; costs S^2")

    _check_hidden = _widths("hidden", "rho", "pairwise")


class SetTransformerModel(_Common):
    """Set Transformer (Lee et al. 2019): SAB (or ISAB with `inducing` points) blocks, then PMA pooling."""

    kind: Literal["set-transformer"] = "set-transformer"
    width: int = Field(64, ge=1)
    heads: int = Field(4, ge=1)
    layers: int = Field(2, ge=1, le=12)
    inducing: int | None = Field(None, ge=1, description="ISAB inducing points (None: full SAB)")
    seeds: int = Field(1, ge=1, description="PMA seed vectors (outputs pooled per set)")
    hidden: list[int] = Field(default_factory=list, description="head widths after pooling")

    _check_hidden = _widths("hidden")

    _check_heads = model_validator(mode="after")(_heads_divide_width)


class Seq2SeqModel(_Recurrent):
    """Encoder-decoder forecaster; the decoder is fed the truth with probability `teacher_forcing`."""

    kind: Literal["seq2seq"] = "seq2seq"
    teacher_forcing: float = Field(0.5, ge=0.0, le=1.0)


class CharLMModel(_Recurrent):
    """Character-level language model: embedding -> stacked recurrent layers -> next-symbol logits."""

    kind: Literal["charlm"] = "charlm"
    embedding: int = Field(32, ge=1)


class _GraphModel(_Common):
    """Keys of the networks on molecular graphs (deepsci.models.graph)."""

    width: int = Field(300, ge=1, description="atom / bond state width")
    depth: int = Field(3, ge=1, le=12, description="message-passing steps (dmpnn, gin) or stacked cells (ugrnn)")
    hidden: list[int] = Field(default_factory=lambda: [300], description="head widths after the readout")
    readout: Literal["mean", "sum", "attention"] = "mean"

    _check_hidden = _widths("hidden")


class DMPNNModel(_GraphModel):
    """Directed message passing on bonds (D-MPNN, Yang et al. 2019; chemprop's network)."""

    kind: Literal["dmpnn"] = "dmpnn"


class GINModel(_GraphModel):
    """Graph isomorphism network (Xu et al. 2019); GINE with bond features in the messages (Hu et al. 2020)."""

    kind: Literal["gin"] = "gin"
    width: int = Field(128, ge=1, description="atom state width")
    depth: int = Field(4, ge=1, le=12, description="GIN layers")
    bond_features: bool = Field(True, description="GINE: bond features enter the messages")


class UGRNNModel(_GraphModel):
    """The recursive "inner" network of Lusci, Pollastri & Baldi (2013): a cell run over the molecule
    oriented as a DAG towards each atom in turn, the roots' states pooled."""

    kind: Literal["ugrnn"] = "ugrnn"
    width: int = Field(128, ge=1, description="state width of the recursive cell")
    depth: int = Field(1, ge=1, le=4, description="stacked recursive cells (1: Lusci's network)")


EncoderConfig = Annotated[
    Union[
        Annotated[MLPModel, Tag("mlp")],
        Annotated[CNNModel, Tag("cnn")],
        Annotated[RNNModel, Tag("rnn")],
        Annotated[TransformerModel, Tag("transformer")],
        Annotated[DeepSetsModel, Tag("deepsets")],
        Annotated[SetTransformerModel, Tag("set-transformer")],
    ],
    Discriminator(lambda v: _kind_of(v, "mlp"), custom_error_type="model_kind",
                  custom_error_message="an input's encoder kind must be one of mlp, cnn, rnn, transformer, "
                                       "deepsets, set-transformer"),
]


class MultiModel(_Common):
    """Several inputs: one encoder per named input (its network without the head), features
    concatenated, then an MLP head of widths `hidden`. Inputs not named in `inputs` get the default
    encoder of their structure (table: mlp, signal/image: cnn, sequence/window: rnn, set: deepsets).
    """

    kind: Literal["multi"] = "multi"
    inputs: dict[str, EncoderConfig] = Field(default_factory=dict, description="encoder per input name")
    hidden: list[int] = Field(default_factory=lambda: [64], description="head widths after concatenation")

    _check_hidden = _widths("hidden")


MODEL_MODELS: dict[str, type[Section]] = {
    "mlp": MLPModel, "cnn": CNNModel, "rnn": RNNModel, "transformer": TransformerModel, "deepsets": DeepSetsModel,
    "set-transformer": SetTransformerModel, "seq2seq": Seq2SeqModel, "charlm": CharLMModel, "multi": MultiModel,
    "dmpnn": DMPNNModel, "gin": GINModel, "ugrnn": UGRNNModel}
MODEL_KINDS: tuple[str, ...] = tuple(MODEL_MODELS)


def _kind_of(value: Any, default: str = "mlp") -> str:
    kind = value.get("kind", default) if isinstance(value, dict) else getattr(value, "kind", default)
    return str(kind)


ModelConfig = Annotated[
    Union[
        Annotated[MLPModel, Tag("mlp")],
        Annotated[CNNModel, Tag("cnn")],
        Annotated[RNNModel, Tag("rnn")],
        Annotated[TransformerModel, Tag("transformer")],
        Annotated[DeepSetsModel, Tag("deepsets")],
        Annotated[SetTransformerModel, Tag("set-transformer")],
        Annotated[Seq2SeqModel, Tag("seq2seq")],
        Annotated[CharLMModel, Tag("charlm")],
        Annotated[MultiModel, Tag("multi")],
        Annotated[DMPNNModel, Tag("dmpnn")],
        Annotated[GINModel, Tag("gin")],
        Annotated[UGRNNModel, Tag("ugrnn")],
    ],
    Discriminator(_kind_of, custom_error_type="model_kind",
                  custom_error_message=f"model.kind must be one of {', '.join(MODEL_KINDS)}"),
]
AnyModel = Union[MLPModel, CNNModel, RNNModel, TransformerModel, DeepSetsModel, SetTransformerModel, Seq2SeqModel,
                 CharLMModel, MultiModel, DMPNNModel, GINModel, UGRNNModel]


def model_config(**values: Any) -> AnyModel:
    """A validated model section from keyword arguments (kind defaults to "mlp")."""
    return TypeAdapter(ModelConfig).validate_python(values)  # type: ignore[no-any-return]


def locate(loc: list[str]) -> tuple[list[str], type[Section] | None]:
    """The key path of a pydantic error location inside [model], without the union tags, and the section
    model that holds its last key (for "did you mean" hints).

    pydantic puts the discriminator's tag in the location: ('cnn', 'blocks', '0', 'conv', 'kernal') is
    the key model.blocks.0.kernal of a ConvBlock.
    """
    parts, path = [str(p) for p in loc], []
    section: type[Section] | None = None
    if parts and parts[0] in MODEL_MODELS:
        section = MODEL_MODELS[parts.pop(0)]
    while parts:
        part = parts.pop(0)
        path.append(part)
        tags = BLOCK_MODELS if path[-2:-1] == ["blocks"] else MODEL_MODELS if path[-2:-1] == ["inputs"] else None
        if tags is not None and parts and parts[0] in tags:
            section = tags[parts.pop(0)]
    return path, section
