"""The `[model]` spec types: one pydantic model per model kind, and the registry of them (`SPECS`).

Each kind holds only its own keys, so a table MLP's resolved config has no CNN channels, LSTM cells or
teacher forcing, and a key of another kind is an error naming it. Keys that mean the same thing have
the same name in every kind:

    hidden      widths: MLP layers; CNN / set-network / multi-input head; recurrent: [state size]
    activation  a name from ACTIVATIONS
    dropout     probability in [0, 1)
    layers      stacked recurrent / attention layers
    embedding   width of the symbol embedding for token sequences

Kinds: mlp (tables), cnn (signals, images, token sequences), rnn (sequences, signals, forecasting
windows), transformer (sequences, signals, windows), deepsets and set-transformer (sets), seq2seq
(forecasting windows), charlm (text), multi (several inputs: one encoder each, then an MLP head),
dmpnn, gin and ugrnn (molecular graphs).
CNN `blocks` are a discriminated union on `type` (conv, pool, residual, se, dropout).

A kind's name is written once, as the `kind` of its spec type; `@spec_type` enters the type in `SPECS`
(in the order of the error messages), deepsci.models.build registers a builder for each (a kind without
one fails at import), and `ModelConfig`, the `[model]` union that deepsci.config puts under its key, is
assembled from `SPECS`. This module imports no torch, so the config can validate a TOML without loading it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, TypeVar, get_args

from pydantic import AfterValidator, Field, TypeAdapter, field_validator, model_validator

from deepsci.section import Section, check_name, tagged_union

S = TypeVar("S", bound="ModelSpec")

# the activations' names: one vocabulary for the TOML, the CLI, the API and the theory (deepsci.models.activations
# checks at import that it implements exactly these)
ACTIVATIONS: tuple[str, ...] = ("sigmoid", "tanh", "relu", "leaky-relu", "elu", "gelu", "silu", "softplus",
                                "linear", "maxout")
Activation = Annotated[str, AfterValidator(lambda value: check_name("activation", value, ACTIVATIONS))]
Init = Literal["default", "xavier", "he", "lecun", "orthogonal", "gaussian", "critical"]
# what [model] init may say: a scheme of INITS (deepsci.models.init), or "critical": "gaussian" at the
# activation's critical point
INIT_CHOICES: tuple[str, ...] = get_args(Init)
INITS: tuple[str, ...] = INIT_CHOICES[:-1]


def _check_widths(value: list[int]) -> list[int]:
    if any(h < 1 for h in value):
        raise ValueError(f"layer widths must be positive integers, got {value}")
    return value


Widths = Annotated[list[int], AfterValidator(_check_widths)]  # layer widths, each a positive integer
# a convolutional stem before sequence layers (rnn, transformer; deepsci.models.stem)
StemKernel = Annotated[int | None, Field(ge=1, description="its width (motif detectors); None: no stem")]
StemPool = Annotated[int, Field(ge=1, description="max pooling of the stem's output (shortens the sequence)")]


def _heads_divide_width(model: Any) -> Any:
    if model.width % model.heads:
        raise ValueError(f"model.width = {model.width} must be a multiple of model.heads = {model.heads}")
    return model


class ModelSpec(Section):
    """Keys every kind shares: `kind`, `activation` and `dropout` (mc-dropout reads model.dropout).

    `encoder` (a class attribute, not a key): the kind can encode one input of a multi-input model.
    """

    encoder: ClassVar[bool] = False
    if TYPE_CHECKING:  # each kind declares its own `kind` after these keys (the resolved config's key order)
        kind: str
    activation: Activation = "relu"
    dropout: float = Field(0.0, ge=0.0, lt=1.0)

    def applicable(self) -> dict[str, Any]:
        """The section as config.toml records it: every key that applies (a kind drops its keys that do not)."""
        return self.model_dump()


SPECS: dict[str, type[ModelSpec]] = {}


def spec_type(cls: type[S]) -> type[S]:
    """Class decorator: enter a spec type in `SPECS` under the default of its `kind` field."""
    name = str(cls.model_fields["kind"].default)
    if name in SPECS:
        raise RuntimeError(f"model kind '{name}' has two spec types")
    SPECS[name] = cls
    return cls


@spec_type
class MLPModel(ModelSpec):
    """A dense network on a table. `init = "critical"` uses the activation's critical (C_b, C_W)."""

    encoder = True
    kind: Literal["mlp"] = "mlp"
    hidden: Widths = Field(default_factory=lambda: [64, 64], description="hidden layer widths")
    batch_norm: bool = False
    maxout_pieces: int = Field(2, ge=2, le=16)
    leaky_slope: float = Field(0.01, ge=0.0, lt=1.0)
    init: Init = "default"
    cw: float | None = Field(None, gt=0.0, description="weight variance C_W for init = 'gaussian'")
    cb: float | None = Field(None, ge=0.0, description="bias variance C_b for init = 'gaussian'")
    monotone: dict[str, Literal["increasing", "decreasing"]] = Field(
        default_factory=dict, description="input columns every output must rise (or fall) with, by name, e.g. "
                                          "{ r = 'decreasing' } (deepsci.models.mlp)")

    @model_validator(mode="after")
    def _monotone_layers(self) -> "MLPModel":
        if self.monotone and (self.batch_norm or self.activation in ("gelu", "silu")):
            raise ValueError("model.monotone needs a non-decreasing activation (not gelu or silu) and batch_norm = "
                             f"false; got activation = '{self.activation}', batch_norm = {self.batch_norm}")
        return self

    def applicable(self) -> dict[str, Any]:
        """The keys config.toml records: `monotone` only when some column is constrained (older runs lack it)."""
        dumped = self.model_dump()
        if not self.monotone:
            dumped.pop("monotone")
        return dumped


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
    kernels: Widths | None = Field(None, description="one 'same' convolution per kernel width in the body (Wang et "
                                                      "al. 2017: [8, 5, 3]); None: two of `kernel`")


class SEBlock(Section):
    """Squeeze-and-excitation gate over channels."""

    type: Literal["se"] = "se"
    reduction: int = Field(4, ge=1)


class DropoutBlock(Section):
    """Channel dropout."""

    type: Literal["dropout"] = "dropout"
    p: float = Field(0.5, ge=0.0, lt=1.0)


class InceptionBlock(Section):
    """`depth` Inception modules around one residual shortcut, for 1-D signals (InceptionTime, Ismail Fawaz et al.
    2020; deepsci.models.inception): each module a 1x1 bottleneck, one convolution of `filters` channels per width
    in `kernels` and a max-pool + 1x1 branch, concatenated ((len(kernels) + 1) x filters channels), BN, ReLU."""

    type: Literal["inception"] = "inception"
    filters: int = Field(32, ge=1, description="channels of each branch")
    kernels: Widths = Field(default_factory=lambda: [40, 20, 10], description="widths of the convolution branches")
    bottleneck: int = Field(32, ge=0, description="channels of the 1x1 bottleneck (0: none)")
    depth: int = Field(3, ge=1, description="Inception modules inside the one residual shortcut")


BLOCK_MODELS: dict[str, type[Section]] = {"conv": ConvBlock, "pool": PoolBlock, "residual": ResidualBlockConfig,
                                          "se": SEBlock, "dropout": DropoutBlock, "inception": InceptionBlock}


if TYPE_CHECKING:  # the type checker sees the common base; pydantic validates the tagged union
    Block = Section
else:
    Block = tagged_union(BLOCK_MODELS, "type", None, "block_type",
                         f"each CNN block needs type = one of {', '.join(BLOCK_MODELS)}")


@spec_type
class CNNModel(ModelSpec):
    """A convolutional network on signals (1-D), images (2-D), volumes (3-D) or token sequences (1-D).

    Without `blocks`, LeNet stages: per entry of `channels`, two 'same' convolutions of `kernel`
    (+ batch norm) and a 2x `pool`. Token sequences are one-hot encoded (or embedded with `embedding`
    channels) first. `preset` names a published time-series classifier instead of blocks
    (deepsci.models.presets: "fcn" and "resnet", Wang et al. 2017; "inception", Ismail Fawaz et al. 2020); its
    head is the global average pool and one linear layer unless `hidden` is given.
    """

    encoder = True
    kind: Literal["cnn"] = "cnn"
    preset: Literal["fcn", "resnet", "inception"] | None = Field(
        None, description="a published time-series classifier (Wang et al. 2017; Ismail Fawaz et al. 2020) instead "
                          "of blocks")
    channels: Widths = Field(default_factory=lambda: [32, 64], description="channels per LeNet stage")
    blocks: list[Block] | None = Field(None, description="explicit blocks instead of LeNet stages")
    body_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="with blocks or a preset: dropout after every "
                                "conv, residual and inception block (model.dropout is the head's; LeNet stages "
                                "take model.dropout after each stage), so MC dropout samples the body too")
    kernel: int = Field(3, ge=1)
    pool: Literal["max", "avg"] = "max"
    global_pool: Literal["avg", "max", "none"] = "avg"
    batch_norm: bool = False
    hidden: Widths = Field(default_factory=lambda: [64, 64], description="head widths after pooling")
    embedding: int | None = Field(None, ge=1, description="token sequences: embedding channels (default one-hot)")

    @model_validator(mode="before")
    @classmethod
    def _preset_head(cls, data: Any) -> Any:
        """A preset's head is the papers' (global pooling, one linear layer): hidden = [] unless given."""
        if isinstance(data, dict) and data.get("preset") is not None:
            if data.get("blocks") is not None:
                raise ValueError("model.preset and model.blocks both describe the layers; keep one of them")
            return {"hidden": [], **data}
        return data

    @model_validator(mode="after")
    def _body_dropout_needs_blocks(self) -> "CNNModel":
        if self.body_dropout and self.blocks is None and self.preset is None:
            raise ValueError("model.body_dropout puts dropout after the blocks of model.blocks or a model.preset; "
                             "LeNet stages (model.channels) take model.dropout after each stage. Remove body_dropout "
                             "or set model.dropout")
        return self

    def applicable(self) -> dict[str, Any]:
        """The keys that shape this network (config.toml): LeNet's stage keys only without blocks or a preset,
        body_dropout only with them."""
        dumped = self.model_dump()
        if self.blocks is not None or self.preset is not None:
            for key in ("channels", "kernel", "pool", "batch_norm"):
                dumped.pop(key)
        else:
            dumped.pop("body_dropout")
        return dumped


# -- recurrent and attention -----------------------------------------------------------------------
class _Recurrent(ModelSpec):
    cell: Literal["rnn", "gru", "lstm"] = "lstm"
    hidden: Widths = Field(default_factory=lambda: [64], description="[state size] (stack with `layers`)")
    layers: int = Field(1, ge=1, le=16)

    @field_validator("hidden")
    @classmethod
    def _one_width(cls, value: list[int]) -> list[int]:
        if len(value) != 1:
            raise ValueError(f"a recurrent network takes one state size, e.g. hidden = [64], got {value}; "
                             "stack layers with model.layers")
        return value


@spec_type
class RNNModel(_Recurrent):
    """RNN / GRU / LSTM over a whole sequence, stacked and optionally bidirectional.

    readout: "last" (the top layer's state at the last real step; forward at the end and backward at
    step 0 when bidirectional), or masked "mean" / "max" over real steps.
    """

    encoder = True
    kind: Literal["rnn"] = "rnn"
    bidirectional: bool = False
    embedding: int = Field(32, ge=1, description="token sequences: embedding width")
    readout: Literal["last", "mean", "max"] = "last"
    stem_kernel: StemKernel = None
    stem_pool: StemPool = 1
    stem_channels: int = Field(64, ge=1, description="channels of the stem's convolution")


@spec_type
class TransformerModel(ModelSpec):
    """A transformer encoder (torch.nn.TransformerEncoder) with sinusoidal positions, then a head.

    Tokens are embedded and vectors projected to `width`; `pooling` is the masked mean over real steps
    or a learned CLS token. `activation` of the feed-forward layers is relu or gelu.
    """

    encoder = True
    kind: Literal["transformer"] = "transformer"
    width: int = Field(64, ge=1, description="model width d_model (a multiple of heads)")
    heads: int = Field(4, ge=1)
    layers: int = Field(2, ge=1, le=24)
    feedforward: int = Field(128, ge=1, description="width of each layer's feed-forward block")
    pooling: Literal["mean", "cls"] = "mean"
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    stem_kernel: StemKernel = None
    stem_pool: StemPool = 1
    hidden: Widths = Field(default_factory=list, description="head widths after pooling")

    @field_validator("activation")
    @classmethod
    def _ff_activation(cls, value: str) -> str:
        return check_name("transformer activation", value, ("relu", "gelu"))

    _check_heads = model_validator(mode="after")(_heads_divide_width)


@spec_type
class DeepSetsModel(ModelSpec):
    """Deep Sets (Zaheer et al. 2017): rho(pool_i phi(x_i)) with a masked sum/mean/max pool."""

    encoder = True
    kind: Literal["deepsets"] = "deepsets"
    hidden: Widths = Field(default_factory=lambda: [64, 64], description="phi widths (per element)")
    rho: Widths = Field(default_factory=lambda: [64], description="rho widths (after pooling)")
    pooling: Literal["sum", "mean", "max"] = "sum"
    pairwise: Widths = Field(default_factory=list,
                             description="psi widths on every pair [x_i, x_j] of elements, pooled beside phi "
                                         "(Relation Networks, Santoro et al. 2017); [] off; costs S^2")


@spec_type
class SetTransformerModel(ModelSpec):
    """Set Transformer (Lee et al. 2019): SAB (or ISAB with `inducing` points) blocks, then PMA pooling."""

    encoder = True
    kind: Literal["set-transformer"] = "set-transformer"
    width: int = Field(64, ge=1)
    heads: int = Field(4, ge=1)
    layers: int = Field(2, ge=1, le=12)
    inducing: int | None = Field(None, ge=1, description="ISAB inducing points (None: full SAB)")
    seeds: int = Field(1, ge=1, description="PMA seed vectors (outputs pooled per set)")
    hidden: Widths = Field(default_factory=list, description="head widths after pooling")

    _check_heads = model_validator(mode="after")(_heads_divide_width)


@spec_type
class Seq2SeqModel(_Recurrent):
    """Encoder-decoder forecaster; the decoder is fed the truth with probability `teacher_forcing`."""

    kind: Literal["seq2seq"] = "seq2seq"
    teacher_forcing: float = Field(0.5, ge=0.0, le=1.0)


@spec_type
class CharLMModel(_Recurrent):
    """Character-level language model: embedding -> stacked recurrent layers -> next-symbol logits."""

    kind: Literal["charlm"] = "charlm"
    embedding: int = Field(32, ge=1)


# -- symmetry by construction (deepsci.models.equivariant, deepsci.models.lorentz; docs/physics.md) --------------
@spec_type
class EquivariantCNNModel(ModelSpec):
    """Group convolutions over D4 (rotations by 90 degrees and reflections) or C4 (rotations) on images, pooled
    to an invariant: the output cannot change when the image is rotated or flipped. LeNet stages as `cnn`'s
    (two convolutions, batch norm, a 2x pool per entry of `channels`); each channel holds |G| maps."""

    encoder = True  # the invariant features before the head encode an image input of a multi-input model
    kind: Literal["equivariant-cnn"] = "equivariant-cnn"
    group: Literal["d4", "c4"] = "d4"
    channels: Widths = Field(default_factory=lambda: [8, 16], description="channels per stage (x |G| maps each)")
    kernel: int = Field(3, ge=1, description="odd convolution width")
    batch_norm: bool = True
    pool: Literal["max", "avg"] = "max"
    global_pool: Literal["avg", "max"] = "avg"
    hidden: Widths = Field(default_factory=lambda: [64], description="head widths after the invariant pool")

    @field_validator("kernel")
    @classmethod
    def _odd(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError(f"model.kernel must be odd for an equivariant CNN (symmetric padding), got {value}")
        return value


@spec_type
class LorentzModel(ModelSpec):
    """A set network over the particles' pairwise Minkowski products (metric +,-,-,-): the output cannot change
    under a boost or rotation of the event. Reads unscaled features ([data] scale = "none"; in a multi-input
    dataset, data.inputs.<name>.scale = "none")."""

    encoder = True  # the invariant event features before the head encode a set input of a multi-input model
    kind: Literal["lorentz"] = "lorentz"
    momentum: list[str] = Field(default_factory=lambda: ["pt", "eta", "phi", "energy"],
                                description="the set features holding pT [GeV], eta, phi [rad] and E [GeV]")
    scalars: list[str] = Field(default_factory=list, description="invariant per-particle features (tags, charges)")
    hidden: Widths = Field(default_factory=lambda: [64, 64], description="psi (pairs) and phi (particles) widths")
    rho: Widths = Field(default_factory=lambda: [64], description="widths after the pools")
    pooling: Literal["sum", "mean"] = "sum"
    scale: float = Field(100.0, gt=0.0, description="GeV; products are compressed as log(1 + |M| / scale^2)")

    @field_validator("momentum")
    @classmethod
    def _four(cls, value: list[str]) -> list[str]:
        if len(value) != 4:
            raise ValueError(f"model.momentum names the 4 features pT, eta, phi and E, got {value}")
        return value


#: the kinds that can encode one input of a multi-input model (their spec types say `encoder = True`)
ENCODER_KINDS: tuple[str, ...] = tuple(name for name, spec in SPECS.items() if spec.encoder)
if TYPE_CHECKING:
    EncoderConfig = ModelSpec
else:
    EncoderConfig = tagged_union({k: SPECS[k] for k in ENCODER_KINDS}, "kind", "mlp", "model_kind",
                                 f"an input's encoder kind must be one of {', '.join(ENCODER_KINDS)}")


@spec_type
class MultiModel(ModelSpec):
    """Several inputs: one encoder per named input (its network without the head), features
    concatenated, then an MLP head of widths `hidden`. Inputs not named in `inputs` get the default
    encoder of their structure (table: mlp, signal/image: cnn, sequence/window: rnn, set: deepsets).
    """

    kind: Literal["multi"] = "multi"
    inputs: dict[str, EncoderConfig] = Field(default_factory=dict, description="encoder per input name")
    hidden: Widths = Field(default_factory=lambda: [64], description="head widths after concatenation")


class _GraphModel(ModelSpec):
    """Keys of the networks on molecular graphs (deepsci.models.graph)."""

    width: int = Field(300, ge=1, description="atom / bond state width")
    depth: int = Field(3, ge=1, le=12, description="message-passing steps (dmpnn, gin) or stacked cells (ugrnn)")
    hidden: Widths = Field(default_factory=lambda: [300], description="head widths after the readout")
    readout: Literal["mean", "sum", "attention"] = "mean"


@spec_type
class DMPNNModel(_GraphModel):
    """Directed message passing on bonds (D-MPNN, Yang et al. 2019; chemprop's network)."""

    kind: Literal["dmpnn"] = "dmpnn"


@spec_type
class GINModel(_GraphModel):
    """Graph isomorphism network (Xu et al. 2019); GINE with bond features in the messages (Hu et al. 2020)."""

    kind: Literal["gin"] = "gin"
    width: int = Field(128, ge=1, description="atom state width")
    depth: int = Field(4, ge=1, le=12, description="GIN layers")
    bond_features: bool = Field(True, description="GINE: bond features enter the messages")


@spec_type
class UGRNNModel(_GraphModel):
    """The recursive "inner" network of Lusci, Pollastri & Baldi (2013): a cell run over the molecule
    oriented as a DAG towards each atom in turn, the roots' states pooled."""

    kind: Literal["ugrnn"] = "ugrnn"
    width: int = Field(128, ge=1, description="state width of the recursive cell")
    depth: int = Field(1, ge=1, le=4, description="stacked recursive cells (1: Lusci's network)")


# -- chemical reactions (deepsci.models.reaction; docs/molecules.md) ----------------------------------------
@spec_type
class ReactionModel(ModelSpec):
    """Reactions as graph pairs: the reactants' and the product's graphs through one shared graph network,
    each side read out, the readouts differenced (product - reactants) or concatenated, then an MLP head."""

    kind: Literal["reaction"] = "reaction"
    network: Literal["dmpnn", "gin", "ugrnn"] = Field("dmpnn", description="the shared graph encoder")
    combine: Literal["difference", "concat"] = Field("difference", description="z_product - z_reactants, or both "
                                                                              "side by side")
    width: int = Field(128, ge=1, description="atom / bond state width")
    depth: int = Field(3, ge=1, le=12, description="message-passing steps (dmpnn, gin) or stacked cells (ugrnn)")
    hidden: Widths = Field(default_factory=lambda: [128], description="head widths after the readouts")
    readout: Literal["mean", "sum", "attention"] = "sum"
    bond_features: bool = Field(True, description="gin only: bond features enter the messages")


# -- the [model] section: a union on `kind` (default "mlp") of every spec type -----------------------
if TYPE_CHECKING:  # the type checker sees the common base; pydantic validates the tagged union
    ModelConfig = ModelSpec
else:
    ModelConfig = tagged_union(SPECS, "kind", "mlp", "model_kind", f"model.kind must be one of {', '.join(SPECS)}")


#: the [model] a run gets when its config has no [model] section, by data kind: the network made for that
#: structure (the default loss follows the task the same way). Signals get the 1-D ResNet of Wang et al. (2017),
#: the strongest single network of Ismail Fawaz et al.'s (2019) comparison on the UCR archive.
DEFAULT_MODELS: dict[str, dict[str, Any]] = {
    "table": {"kind": "mlp"}, "signal": {"kind": "cnn", "preset": "resnet"}, "image": {"kind": "cnn"},
    "sequence": {"kind": "rnn"}, "set": {"kind": "deepsets"}, "graph": {"kind": "dmpnn"}, "series": {"kind": "rnn"},
    "text": {"kind": "charlm"}, "multi": {"kind": "multi"}, "reaction": {"kind": "reaction"}}


def model_config(**values: Any) -> ModelSpec:
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
    if parts and parts[0] in SPECS:
        section = SPECS[parts.pop(0)]
    while parts:
        part = parts.pop(0)
        path.append(part)
        tags = BLOCK_MODELS if path[-2:-1] == ["blocks"] else SPECS if path[-2:-1] == ["inputs"] else None
        if tags is not None and parts and parts[0] in tags:
            section = tags[parts.pop(0)]
    return path, section
