"""Recurrent networks: vanilla RNN, GRU, LSTM; stacked and bidirectional; seq2seq; char-level LM.

Three models, each with `spec()` / `from_spec(spec)` (JSON round trip, like the MLP):

- `SequenceModel`: many-to-one (classify/regress a whole sequence, or forecast `horizon` values at
  once) and many-to-many (one output per time step: sequence labelling).
- `Seq2Seq`: encoder-decoder forecaster. The encoder reads the input window; the decoder emits
  one step at a time, fed its previous output (free running) or, in training, the true previous
  value with probability `teacher_forcing` (Williams & Zipser 1989; Sutskever et al. 2014).
- `CharLM`: a character-level language model (embedding -> LSTM -> logits) with
  `sample(length, temperature, generator)` (Karpathy 2015, "The unreasonable effectiveness of RNNs").

Gradient-norm clipping is on by default for recurrent models: each spec carries
`"clip_grad_norm": 1.0` (global L2 norm of all gradients, Pascanu et al. 2013), which the training
loop should apply (`Trainer(clip_grad_norm=model.spec()["clip_grad_norm"])`, `tbptt.fit_tbptt` does
it itself). Set it to None to switch clipping off.

Shapes: real-valued sequences are batch-first (batch, T, n_inputs); symbol sequences are int64
(batch, T) and go through an embedding.
"""

from __future__ import annotations

import copy
from typing import Any, Union

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from deepsci.errors import ModelError, unknown_name

CELLS = ("rnn", "gru", "lstm")
MODES = ("many-to-one", "many-to-many")
DEFAULT_CLIP = 1.0

State = Union[Tensor, tuple[Tensor, Tensor], None]


def _check(name: str, value: str, known: tuple[str, ...]) -> str:
    if value not in known:
        raise ModelError(unknown_name(name, value, known))
    return value


def recurrent_layer(cell: str, n_inputs: int, hidden: int, *, layers: int = 1, bidirectional: bool = False,
                    dropout: float = 0.0, nonlinearity: str = "tanh") -> nn.RNNBase:
    """nn.RNN / nn.GRU / nn.LSTM, batch-first. `nonlinearity` ("tanh"|"relu") is for the vanilla RNN."""
    _check("recurrent cell", cell, CELLS)
    kw: dict[str, Any] = dict(num_layers=layers, batch_first=True, bidirectional=bidirectional,
                              dropout=dropout if layers > 1 else 0.0)
    if cell == "rnn":
        _check("RNN nonlinearity", nonlinearity, ("tanh", "relu"))
        return nn.RNN(n_inputs, hidden, nonlinearity=nonlinearity, **kw)
    return (nn.GRU if cell == "gru" else nn.LSTM)(n_inputs, hidden, **kw)


def detach_state(state: State) -> State:
    """Cut the graph at a chunk boundary (truncated BPTT) while keeping the hidden state's values."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return (state[0].detach(), state[1].detach())
    return state.detach()


def sequence_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy over every time step: logits (batch, T, V), targets (batch, T) int64 -> scalar (nats)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


class _Seeded:
    """Context that seeds the global RNG for layer init and restores it afterwards."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def __enter__(self) -> None:
        self.state = torch.random.get_rng_state()
        torch.manual_seed(self.seed)

    def __exit__(self, *exc: object) -> None:
        torch.random.set_rng_state(self.state)


class SequenceModel(nn.Module):
    """Recurrent encoder + linear head, many-to-one or many-to-many.

    Args:
        n_inputs: features per time step (ignored with `n_symbols`, which embeds int64 symbols).
        n_outputs: outputs per sequence (many-to-one; e.g. classes, or a forecast horizon) or per step.
        cell: "rnn" (Elman), "gru" (Cho et al. 2014) or "lstm" (Hochreiter & Schmidhuber 1997).
        hidden: hidden units per direction; layers: stacked layers (deep RNN).
        bidirectional: read the sequence both ways (not for forecasting or generation: it sees the future).
        mode: "many-to-one" (head on the last step's top-layer state; both directions' final states
            when bidirectional) or "many-to-many" (head on every step).
        dropout: between stacked layers and before the head.
        n_symbols, embedding: for symbol input, vocabulary size and embedding width.
        nonlinearity: "tanh" or "relu" for the vanilla RNN.
        clip_grad_norm: recommended gradient-norm clip for training (default 1.0; None = off).
        seed: seeds the weight initialisation.

    Shapes: forward(x: (batch, T, n_inputs) float or (batch, T) int64) ->
        (batch, n_outputs) many-to-one, (batch, T, n_outputs) many-to-many.
    """

    def __init__(self, n_inputs: int, n_outputs: int, *, cell: str = "lstm", hidden: int = 64, layers: int = 1,
                 bidirectional: bool = False, mode: str = "many-to-one", dropout: float = 0.0,
                 n_symbols: int | None = None, embedding: int = 32, nonlinearity: str = "tanh",
                 clip_grad_norm: float | None = DEFAULT_CLIP, seed: int = 0) -> None:
        super().__init__()
        _check("sequence mode", mode, MODES)
        self._spec: dict[str, Any] = {
            "kind": "rnn", "n_inputs": int(n_inputs), "n_outputs": int(n_outputs), "cell": cell,
            "hidden": int(hidden), "layers": int(layers), "bidirectional": bool(bidirectional), "mode": mode,
            "dropout": float(dropout), "n_symbols": n_symbols, "embedding": int(embedding),
            "nonlinearity": nonlinearity, "clip_grad_norm": clip_grad_norm, "seed": int(seed)}
        with _Seeded(seed):
            self.embed = nn.Embedding(n_symbols, embedding) if n_symbols else None
            width_in = embedding if n_symbols else n_inputs
            self.rnn = recurrent_layer(cell, width_in, hidden, layers=layers, bidirectional=bidirectional,
                                       dropout=dropout, nonlinearity=nonlinearity)
            self.drop = nn.Dropout(dropout)
            self.head = nn.Linear(hidden * (2 if bidirectional else 1), n_outputs)

    def step(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        """Run on a chunk from a given hidden state: returns (outputs, new state). For truncated BPTT."""
        if self.embed is not None:
            if x.dtype != torch.int64 or x.dim() != 2:
                raise ModelError(f"this model embeds symbols: expected int64 (batch, T); received "
                                 f"{x.dtype} {tuple(x.shape)}.")
            x = self.embed(x)
        elif x.dim() != 3 or x.shape[-1] != self._spec["n_inputs"]:
            raise ModelError(f"expected (batch, T, {self._spec['n_inputs']}) inputs; received {tuple(x.shape)}. "
                             "Windows of a time series are (n, input_length, channels).")
        h, state = self.rnn(x, state)  # h: (batch, T, hidden * directions)
        if self._spec["mode"] == "many-to-many":
            return self.head(self.drop(h)), state
        hidden = self._spec["hidden"]
        if self._spec["bidirectional"]:
            # forward direction's last step, backward direction's first step (its final state)
            last = torch.cat([h[:, -1, :hidden], h[:, 0, hidden:]], dim=-1)
        else:
            last = h[:, -1]
        return self.head(self.drop(last)), state

    def forward(self, x: Tensor) -> Tensor:
        return self.step(x)[0]

    def spec(self) -> dict[str, Any]:
        return copy.deepcopy(self._spec)

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> "SequenceModel":
        s = dict(spec)
        if s.pop("kind", "rnn") != "rnn":
            raise ModelError(f"not a recurrent-model spec: kind={spec.get('kind')!r}; expected 'rnn'.")
        return cls(s.pop("n_inputs"), s.pop("n_outputs"), **s)


class Seq2Seq(nn.Module):
    """Encoder-decoder forecaster of `horizon` future steps of `n_targets` series.

    The encoder (a stacked RNN) reads the window x (batch, L, n_inputs); its final state starts the
    decoder, whose first input is the last observed target value x[:, -1, target_channels]. Each
    decoder step outputs the next value; the next step is fed either that prediction (free running,
    always at inference) or, in training when `y` is given, the true value with probability
    `teacher_forcing`.

    Args:
        n_inputs: channels of the input window; target_channels: which of them are forecast
            (default [0]).
        horizon: steps forecast.
        cell, hidden, layers, dropout: as in `SequenceModel` (unidirectional).
        teacher_forcing: probability of feeding the true previous value in training (default 0.5;
            1.0 = always, 0.0 = train free running).
        relative: work relative to the window's last value (default True): the encoder reads
            x - x[:, -1:] and the forecast is that last target value plus the decoder's output. A
            trending record (CO2) then never leaves the range seen in training.
        clip_grad_norm: recommended clipping (default 1.0).

    Shapes: forward(x (batch, L, n_inputs), y=None) -> (batch, horizon) for one target, else
    (batch, horizon * n_targets) ordered step-major (reshape to (batch, horizon, n_targets)).
    `y` has the same shape as the output.
    """

    def __init__(self, n_inputs: int, horizon: int, *, target_channels: list[int] | None = None,
                 cell: str = "lstm", hidden: int = 64, layers: int = 1, dropout: float = 0.0,
                 teacher_forcing: float = 0.5, relative: bool = True, clip_grad_norm: float | None = DEFAULT_CLIP,
                 seed: int = 0) -> None:
        super().__init__()
        targets = list(target_channels) if target_channels is not None else [0]
        if any(not 0 <= t < n_inputs for t in targets):
            raise ModelError(f"target_channels {targets} must index the {n_inputs} input channels.")
        if not 0.0 <= teacher_forcing <= 1.0:
            raise ModelError(f"teacher_forcing is a probability in [0, 1]; received {teacher_forcing}.")
        self._spec: dict[str, Any] = {
            "kind": "seq2seq", "n_inputs": int(n_inputs), "horizon": int(horizon), "target_channels": targets,
            "cell": cell, "hidden": int(hidden), "layers": int(layers), "dropout": float(dropout),
            "teacher_forcing": float(teacher_forcing), "relative": bool(relative), "clip_grad_norm": clip_grad_norm,
            "seed": int(seed)}
        k = len(targets)
        with _Seeded(seed):
            self.encoder = recurrent_layer(cell, n_inputs, hidden, layers=layers, dropout=dropout)
            self.decoder = recurrent_layer(cell, k, hidden, layers=layers, dropout=dropout)
            self.head = nn.Linear(hidden, k)

    def forward(self, x: Tensor, y: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        s = self._spec
        if x.dim() != 3 or x.shape[-1] != s["n_inputs"]:
            raise ModelError(f"Seq2Seq expects (batch, L, {s['n_inputs']}) windows; received {tuple(x.shape)}.")
        batch, k = x.shape[0], len(s["target_channels"])
        origin = x[:, -1:, s["target_channels"]] if s["relative"] else torch.zeros_like(x[:, -1:, s["target_channels"]])
        if s["relative"]:
            x = x - x[:, -1:]
        _, state = self.encoder(x)
        prev = x[:, -1:, s["target_channels"]]  # (batch, 1, k)
        force = self.training and y is not None and s["teacher_forcing"] > 0
        if force:
            y_steps = y.reshape(batch, s["horizon"], k) - origin  # type: ignore[union-attr]
            use_truth = torch.rand(s["horizon"], generator=generator) < s["teacher_forcing"]
        outs = []
        for t in range(s["horizon"]):
            h, state = self.decoder(prev, state)
            out = self.head(h)  # (batch, 1, k)
            outs.append(out)
            prev = y_steps[:, t:t + 1] if force and bool(use_truth[t]) else out
        pred = torch.cat(outs, dim=1) + origin  # (batch, horizon, k)
        return pred.reshape(batch, s["horizon"] * k)

    def spec(self) -> dict[str, Any]:
        return copy.deepcopy(self._spec)

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> "Seq2Seq":
        s = dict(spec)
        if s.pop("kind", "seq2seq") != "seq2seq":
            raise ModelError(f"not a seq2seq spec: kind={spec.get('kind')!r}; expected 'seq2seq'.")
        return cls(s.pop("n_inputs"), s.pop("horizon"), **s)


class CharLM(nn.Module):
    """Character-level language model: embedding -> stacked LSTM/GRU/RNN -> logits over the vocabulary.

    Trained on `deepsci.data.sequences.next_symbol_windows` with `sequence_cross_entropy`;
    generates with `sample`.

    Shapes: forward(idx (batch, T) int64) -> logits (batch, T, V).
    """

    def __init__(self, n_symbols: int, *, embedding: int = 32, hidden: int = 128, layers: int = 2,
                 cell: str = "lstm", dropout: float = 0.0, clip_grad_norm: float | None = DEFAULT_CLIP,
                 seed: int = 0) -> None:
        super().__init__()
        if n_symbols < 2:
            raise ModelError(f"a language model needs at least 2 symbols; received {n_symbols}.")
        self._spec: dict[str, Any] = {
            "kind": "charlm", "n_symbols": int(n_symbols), "embedding": int(embedding), "hidden": int(hidden),
            "layers": int(layers), "cell": cell, "dropout": float(dropout), "clip_grad_norm": clip_grad_norm,
            "seed": int(seed)}
        with _Seeded(seed):
            self.embed = nn.Embedding(n_symbols, embedding)
            self.rnn = recurrent_layer(cell, embedding, hidden, layers=layers, dropout=dropout)
            self.drop = nn.Dropout(dropout)
            self.head = nn.Linear(hidden, n_symbols)

    def step(self, idx: Tensor, state: State = None) -> tuple[Tensor, State]:
        """Logits (batch, T, V) and the final hidden state, continuing from `state`."""
        if idx.dtype != torch.int64 or idx.dim() != 2:
            raise ModelError(f"CharLM expects int64 symbol indices (batch, T); received {idx.dtype} "
                             f"{tuple(idx.shape)}. Encode text with deepsci.data.sequences.Vocabulary.")
        h, state = self.rnn(self.embed(idx), state)
        return self.head(self.drop(h)), state

    def forward(self, idx: Tensor) -> Tensor:
        return self.step(idx)[0]

    @torch.no_grad()
    def sample(self, length: int, temperature: float = 1.0, generator: torch.Generator | None = None,
               prompt: Tensor | None = None) -> Tensor:
        """Generate `length` symbols, each drawn from softmax(logits / temperature).

        Args:
            length: symbols to generate (the prompt is not included in the result).
            temperature: > 0; below 1 sharpens (more likely, more repetitive), above 1 flattens.
            generator: seeded torch.Generator for reproducible samples.
            prompt: (P,) int64 symbols to condition on; default a uniformly drawn first symbol.

        Returns:
            (length,) int64 symbol indices (decode with `Vocabulary.decode`).
        """
        if temperature <= 0:
            raise ModelError(f"temperature must be > 0; received {temperature}. Use a small value such "
                             "as 0.1 for near-greedy sampling.")
        was_training = self.training
        self.eval()
        V = self._spec["n_symbols"]
        if prompt is None:
            prompt = torch.randint(V, (1,), generator=generator)
        logits, state = self.step(prompt.view(1, -1).long())
        out = torch.empty(length, dtype=torch.int64)
        for i in range(length):
            p = torch.softmax(logits[0, -1] / temperature, dim=-1)
            nxt = torch.multinomial(p, 1, generator=generator)  # (1,)
            out[i] = nxt
            logits, state = self.step(nxt.view(1, 1), state)
        self.train(was_training)
        return out

    def spec(self) -> dict[str, Any]:
        return copy.deepcopy(self._spec)

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> "CharLM":
        s = dict(spec)
        if s.pop("kind", "charlm") != "charlm":
            raise ModelError(f"not a CharLM spec: kind={spec.get('kind')!r}; expected 'charlm'.")
        return cls(s.pop("n_symbols"), **s)


def recurrent_from_spec(spec: dict[str, Any]) -> nn.Module:
    """Rebuild any recurrent model from its spec, dispatching on spec["kind"]."""
    builders = {"rnn": SequenceModel.from_spec, "seq2seq": Seq2Seq.from_spec, "charlm": CharLM.from_spec}
    kind = spec.get("kind", "")
    if kind not in builders:
        raise ModelError(unknown_name("recurrent model kind", str(kind), tuple(builders)))
    return builders[kind](spec)  # type: ignore[operator]
