"""Build the network of a `[model]` section for a dataset's inputs: one builder per model kind.

    model = build_model(config.model, dataset.inputs, n_outputs, task="binary", seed=0)
    model = model_from_spec(spec)        # every kind registered: a run folder's model.json rebuilt

`inputs` maps each input name to its `InputSchema` (structure and one sample's shape); the kind must
accept that structure (its builder's `accepts` below), else ConfigError names the kind, the structure
received and the kinds that take it. Several inputs need kind "multi". The head has `n_outputs` raw
outputs: regression values, or logits (binary 1, multiclass k, multilabel k) that the loss turns into
probabilities. With task "tagging" the head is per step (the `per_step` kinds, RNN and transformer, emit
(batch, T, n_outputs)); a kind that summarises the whole input is refused with ConfigError.
"""

from __future__ import annotations

from typing import Any, Sequence

from torch import nn

from deepsci.data.schema import InputSchema
from deepsci.errors import ConfigError
from deepsci.models.cnn import CNN
from deepsci.models.equivariant import EquivariantCNN
from deepsci.models.graph import GraphNet
from deepsci.models.init import resolve_init
from deepsci.models.lorentz import LorentzNet
from deepsci.models.mlp import MLP
from deepsci.models.multi import MultiInput
from deepsci.models.presets import preset_blocks
from deepsci.models.reaction import ReactionNet
from deepsci.models.registry import MODELS, model_from_spec, model_kind, register
from deepsci.models.rnn import CharLM, Seq2Seq, SequenceModel
from deepsci.models.sets import DeepSets, SetTransformer
from deepsci.models.specs import (
    SPECS, CharLMModel, CNNModel, DeepSetsModel, DMPNNModel, EquivariantCNNModel, GINModel, LorentzModel, MLPModel,
    ModelSpec, MultiModel, ReactionModel, RNNModel, Seq2SeqModel, SetTransformerModel, TransformerModel, UGRNNModel)
from deepsci.models.transformer import TransformerEncoderModel
from deepsci.tasks import task_of

# the encoder a multi-input model gives an input whose name has no entry in model.inputs
DEFAULT_ENCODERS = {"table": "mlp", "signal": "cnn", "image": "cnn", "sequence": "rnn", "window": "rnn",
                    "set": "deepsets"}


def build_model(config: ModelSpec, inputs: dict[str, InputSchema], n_outputs: int, *, task: str, seed: int,
                target_channels: Sequence[int] | None = None) -> nn.Module:
    """The untrained network of `config` for these inputs, initialised from `seed`.

    Args:
        config: a validated [model] section (deepsci.models.specs; one class per kind).
        inputs: {name: InputSchema} of the dataset; one entry unless config.kind is "multi".
        n_outputs: width of the head (seq2seq: horizon x number of target channels; charlm: vocabulary).
        task: "regression", "binary", "multiclass", "multilabel", ... (seq2seq and charlm fix their own).
        seed: seeds every initial weight.
        target_channels: seq2seq only: which channels of the window are forecast (default [0]).

    Raises:
        ConfigError: the kind does not take the input's structure, or several inputs without "multi".
    """
    if not inputs:
        raise ConfigError("the dataset declares no inputs; a model needs at least one.")
    kind = model_kind(config.kind)
    several = "*" in kind.accepts  # one encoder per input (multi)
    if not several and len(inputs) > 1:
        raise ConfigError(f"model.kind = '{kind.name}' takes one input; the data has {len(inputs)} "
                          f"({', '.join(inputs)}). Set model.kind = 'multi' (one encoder per input).")
    given: Any = inputs if several else next(iter(inputs.values()))
    if not several:
        check_accepts(kind.name, given)
    if task_of(task).per_step:
        check_per_step(kind.name, config)
    return kind.build(config, given, n_outputs, task=task, seed=seed, target_channels=target_channels)


def check_accepts(kind: str, schema: InputSchema) -> None:
    """ConfigError unless model kind `kind` takes `schema`'s structure (charlm: token sequences only)."""
    accepts = model_kind(kind).accepts
    if schema.structure not in accepts or (model_kind(kind).tokens_only and not schema.tokens):
        what = f"{schema.structure} of {'tokens' if schema.tokens else 'shape'} {tuple(schema.shape)}"
        others = [k.name for k in MODELS.values()
                  if schema.structure in k.accepts and (schema.tokens or not k.tokens_only)]
        fix = (f"Set model.kind to one of: {', '.join(others)}." if others
               else f"No model kind takes a {schema.structure} yet.")
        raise ConfigError(f"model.kind = '{kind}' takes {' or '.join(accepts)} inputs; input '{schema.name}' is a "
                          f"{what}. {fix}")


def check_per_step(kind: str, config: Any) -> None:
    """ConfigError unless `kind` (with this config) gives one output per input step."""
    if not model_kind(kind).per_step:
        takers = [k.name for k in MODELS.values() if k.per_step]
        raise ConfigError(f"task = 'tagging' needs one output per step; model.kind = '{kind}' gives one per sample. "
                          f"Set model.kind = {' or '.join(repr(k) for k in takers)}.")
    if int(getattr(config, "stem_pool", 1) or 1) > 1:
        raise ConfigError(f"model.stem_pool = {config.stem_pool} shortens the sequence, and task = 'tagging' needs an "
                          "output at every step. Set model.stem_pool = 1.")


def _shape(schema: InputSchema, rank: int, layout: str) -> tuple[int, ...]:
    if len(schema.shape) != rank:
        raise ConfigError(f"input '{schema.name}' ({schema.structure}) should have samples of shape {layout}; "
                          f"its schema says {tuple(schema.shape)}.")
    return tuple(schema.shape)


def _columns(schema: InputSchema, names: list[str], key: str) -> list[int]:
    """The positions of `names` among the input's feature names; ConfigError naming the missing ones."""
    missing = [n for n in names if n not in schema.feature_names]
    if missing:
        raise ConfigError(f"model.{key} names {missing}, which input '{schema.name}' does not have; its features "
                          f"are {', '.join(schema.feature_names) or '(unnamed)'}.")
    return [schema.feature_names.index(n) for n in names]


# -- one builder per kind ----------------------------------------------------------------------------
@register(MLPModel, accepts=("table",), model=MLP)
def _mlp(m: MLPModel, schema: InputSchema, n_outputs: int, *, task: str, seed: int, **_: Any) -> nn.Module:
    (d,) = _shape(schema, 1, "(d,)")
    init, cb, cw = resolve_init(m.activation, m.init, cb=m.cb, cw=m.cw, slope=m.leaky_slope)
    monotone = {sense: _columns(schema, [n for n, v in m.monotone.items() if v == sense], "monotone")
                for sense in ("increasing", "decreasing")}
    return MLP(d, n_outputs, tuple(m.hidden), m.activation, dropout=m.dropout, batch_norm=m.batch_norm,
               maxout_pieces=m.maxout_pieces, leaky_slope=m.leaky_slope, init=init, cw=cw, cb=cb, seed=seed,
               **monotone)


@register(CNNModel, accepts=("signal", "image", "sequence"), model=CNN)
def _cnn(m: CNNModel, schema: InputSchema, n_outputs: int, *, task: str, seed: int, **_: Any) -> nn.Module:
    tokens: dict[str, Any] = {}
    size: tuple[int, ...]
    if schema.structure == "sequence" and schema.tokens:
        (length,) = _shape(schema, 1, "(L,) tokens")
        channels, size = (m.embedding or int(schema.n_symbols or 0) - 1), (length,)
        tokens = {"n_symbols": schema.n_symbols, "embedding": m.embedding}
    elif schema.structure == "sequence":
        length, channels = _shape(schema, 2, "(L, d)")
        size, tokens = (length,), {"steps_first": True}
    else:
        shape = schema.shape
        if not 2 <= len(shape) <= 4:
            raise ConfigError(f"input '{schema.name}': a CNN takes (C, L), (C, H, W) or (C, D, H, W) samples; "
                              f"received {tuple(shape)}.")
        channels, size = shape[0], tuple(shape[1:])
    common = dict(dims=len(size), input_size=size, activation=m.activation, global_pool=m.global_pool, seed=seed,
                  **tokens)
    if m.blocks is not None or m.preset is not None:
        blocks = preset_blocks(m.preset) if m.preset else [b.model_dump(exclude_none=True) for b in m.blocks or ()]
        blocks = with_body_dropout(blocks, m.body_dropout)
        return CNN(channels, n_outputs, blocks, head_hidden=m.hidden, head_dropout=m.dropout, **common)
    return CNN.lenet(channels, n_outputs, channels=m.channels, kernel=m.kernel, batch_norm=m.batch_norm, pool=m.pool,
                     dropout=m.dropout, head_hidden=m.hidden, **common)


#: CNN blocks a `body_dropout` follows: the ones that learn features (pooling, SE gates and dropout do not)
BODY_DROPOUT_AFTER = frozenset({"conv", "residual", "inception"})


def with_body_dropout(blocks: list[dict[str, Any]], p: float) -> list[dict[str, Any]]:
    """`blocks` with a dropout block of rate p after each conv, residual and inception block (p = 0: unchanged).

    Written into the block list itself, so model.json holds an ordinary CNN and MC dropout samples the body as
    well as the head (deepsci.evaluation.uncertainty.sampled_layers)."""
    if not p:
        return blocks
    out: list[dict[str, Any]] = []
    for block in blocks:
        out.append(block)
        if block.get("type") in BODY_DROPOUT_AFTER:
            out.append({"type": "dropout", "p": p})
    return out


def _steps(schema: InputSchema) -> dict[str, Any]:
    """n_inputs and layout keywords of a recurrent or attention model for this input."""
    if schema.structure == "sequence" and schema.tokens:
        _shape(schema, 1, "(L,) tokens")
        return {"n_inputs": 1, "n_symbols": schema.n_symbols}
    if schema.structure == "signal":
        return {"n_inputs": _shape(schema, 2, "(C, L)")[0], "channels_first": True}
    return {"n_inputs": _shape(schema, 2, "(L, d)")[1]}


@register(RNNModel, accepts=("sequence", "signal", "window"), model=SequenceModel, per_step=True)
def _rnn(m: RNNModel, schema: InputSchema, n_outputs: int, *, task: str, seed: int, **_: Any) -> nn.Module:
    steps = _steps(schema)
    return SequenceModel(steps.pop("n_inputs"), n_outputs, cell=m.cell, hidden=m.hidden[0], layers=m.layers,
                         bidirectional=m.bidirectional, readout=m.readout, dropout=m.dropout,
                         mode="many-to-many" if task_of(task).per_step else "many-to-one",
                         embedding=m.embedding, stem_kernel=m.stem_kernel, stem_channels=m.stem_channels,
                         stem_pool=m.stem_pool, seed=seed, **steps)


@register(TransformerModel, accepts=("sequence", "signal", "window"), model=TransformerEncoderModel, per_step=True)
def _transformer(m: TransformerModel, schema: InputSchema, n_outputs: int, *, task: str, seed: int,
                 **_: Any) -> nn.Module:
    steps = _steps(schema)
    return TransformerEncoderModel(steps.pop("n_inputs"), n_outputs, width=m.width, heads=m.heads, layers=m.layers,
                                   feedforward=m.feedforward, pooling=m.pooling, dropout=m.dropout,
                                   activation=m.activation, hidden=m.hidden, stem_kernel=m.stem_kernel,
                                   stem_pool=m.stem_pool, per_step=task_of(task).per_step, seed=seed, **steps)


@register(DeepSetsModel, accepts=("set",), model=DeepSets)
def _deepsets(m: DeepSetsModel, schema: InputSchema, n_outputs: int, *, task: str, seed: int, **_: Any) -> nn.Module:
    d = _shape(schema, 2, "(S, d)")[1]
    return DeepSets(d, n_outputs, hidden=m.hidden, rho=m.rho, pooling=m.pooling, pairwise=m.pairwise,
                    activation=m.activation, dropout=m.dropout, seed=seed)


@register(SetTransformerModel, accepts=("set",), model=SetTransformer)
def _set_transformer(m: SetTransformerModel, schema: InputSchema, n_outputs: int, *, task: str, seed: int,
                     **_: Any) -> nn.Module:
    d = _shape(schema, 2, "(S, d)")[1]
    return SetTransformer(d, n_outputs, width=m.width, heads=m.heads, layers=m.layers, inducing=m.inducing,
                          seeds=m.seeds, hidden=m.hidden, dropout=m.dropout, activation=m.activation, seed=seed)


@register(Seq2SeqModel, accepts=("window",), model=Seq2Seq)
def _seq2seq(m: Seq2SeqModel, schema: InputSchema, n_outputs: int, *, task: str, seed: int,
             target_channels: Sequence[int] | None = None, **_: Any) -> nn.Module:
    channels = _shape(schema, 2, "(L, C)")[1]
    targets = list(target_channels) if target_channels is not None else [0]
    if n_outputs % len(targets):
        raise ConfigError(f"seq2seq forecasts horizon x {len(targets)} target channel(s); {n_outputs} outputs is not "
                          "a multiple of that.")
    return Seq2Seq(channels, n_outputs // len(targets), target_channels=targets, cell=m.cell, hidden=m.hidden[0],
                   layers=m.layers, dropout=m.dropout, teacher_forcing=m.teacher_forcing, seed=seed)


@register(CharLMModel, accepts=("sequence",), model=CharLM, tokens_only=True)
def _charlm(m: CharLMModel, schema: InputSchema, n_outputs: int, *, task: str, seed: int, **_: Any) -> nn.Module:
    return CharLM(n_outputs, embedding=m.embedding, hidden=m.hidden[0], layers=m.layers, cell=m.cell,
                  dropout=m.dropout, seed=seed)


def _graph(m: Any, schema: InputSchema, n_outputs: int, *, task: str, seed: int, **_: Any) -> nn.Module:
    n_atom, n_bond, n_mol = _shape(schema, 3, "(atom features, bond features, molecule features)")
    return GraphNet(m.kind, n_atom, n_bond, n_mol, n_outputs, width=m.width, depth=m.depth, hidden=m.hidden,
                    readout=m.readout, activation=m.activation, dropout=m.dropout,
                    bond_features=getattr(m, "bond_features", True), seed=seed)


for _spec in (DMPNNModel, GINModel, UGRNNModel):  # one builder and one class for the three graph encoders
    register(_spec, accepts=("graph",), model=GraphNet)(_graph)


@register(EquivariantCNNModel, accepts=("image",), model=EquivariantCNN)
def _equivariant_cnn(m: EquivariantCNNModel, schema: InputSchema, n_outputs: int, *, task: str, seed: int,
                     **_: Any) -> nn.Module:
    channels, height, width = _shape(schema, 3, "(C, H, W)")
    return EquivariantCNN(channels, n_outputs, group=m.group, channels=m.channels, kernel=m.kernel,
                          batch_norm=m.batch_norm, pool=m.pool, input_size=(height, width), global_pool=m.global_pool,
                          hidden=m.hidden, dropout=m.dropout, activation=m.activation, seed=seed)


@register(LorentzModel, accepts=("set",), model=LorentzNet)
def _lorentz(m: LorentzModel, schema: InputSchema, n_outputs: int, *, task: str, seed: int, **_: Any) -> nn.Module:
    d = _shape(schema, 2, "(S, d)")[1]
    return LorentzNet(d, n_outputs, momentum=_columns(schema, m.momentum, "momentum"),
                      scalars=_columns(schema, m.scalars, "scalars"), hidden=m.hidden, rho=m.rho, pooling=m.pooling,
                      scale=m.scale, activation=m.activation, dropout=m.dropout, seed=seed)


@register(ReactionModel, accepts=("reaction",), model=ReactionNet)
def _reaction(m: ReactionModel, schema: InputSchema, n_outputs: int, *, task: str, seed: int, **_: Any) -> nn.Module:
    n_atom, n_bond, _n_mol = _shape(schema, 3, "(atom features, bond features, molecule features)")
    return ReactionNet(n_atom, n_bond, n_outputs, network=m.network, combine=m.combine, width=m.width, depth=m.depth,
                       hidden=m.hidden, readout=m.readout, activation=m.activation, dropout=m.dropout,
                       bond_features=m.bond_features, seed=seed)


@register(MultiModel, accepts=("*",), model=MultiInput)
def _multi(m: MultiModel, inputs: dict[str, InputSchema], n_outputs: int, *, task: str, seed: int,
           **_: Any) -> nn.Module:
    unknown = sorted(set(m.inputs) - set(inputs))
    if unknown:
        raise ConfigError(f"model.inputs names {unknown}, which the data does not have; its inputs are "
                          f"{', '.join(inputs)}.")
    encoders = {}
    for i, (name, schema) in enumerate(sorted(inputs.items())):
        sub = m.inputs.get(name)
        if sub is None:
            if schema.structure not in DEFAULT_ENCODERS:
                raise ConfigError(f"input '{name}' is a {schema.structure}; give its encoder in model.inputs.{name}.")
            sub = SPECS[DEFAULT_ENCODERS[schema.structure]].model_validate({})  # the default encoder
        check_accepts(sub.kind, schema)
        encoder = MODELS[sub.kind].build(sub, schema, 1, task=task, seed=seed + 1 + i)
        encoders[name] = encoder.spec()  # type: ignore[operator]
    return MultiInput(encoders, n_outputs, hidden=m.hidden, dropout=m.dropout, activation=m.activation, seed=seed)

_missing = set(SPECS) - set(MODELS)
if _missing:  # a spec type without a builder is a programming error, caught at import
    raise RuntimeError(f"model kind(s) {sorted(_missing)} have a spec type but no builder")
MODEL_KINDS: tuple[str, ...] = tuple(MODELS)
