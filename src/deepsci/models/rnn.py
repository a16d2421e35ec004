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

from typing import Any, Sequence, Union

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from deepsci.errors import ModelError
from deepsci.models.arguments import Specified, check_known
from deepsci.models.init import seeded
from deepsci.models.masking import prefix_lengths
from deepsci.models.stem import ConvStem, as_steps
from deepsci.models.transformer import masked_pool

CELLS = ("rnn", "gru", "lstm")
MODES = ("many-to-one", "many-to-many")
DEFAULT_CLIP = 1.0

State = Union[Tensor, tuple[Tensor, Tensor], None]


def recurrent_layer(cell: str, n_inputs: int, hidden: int, *, layers: int = 1, bidirectional: bool = False,
                    dropout: float = 0.0, nonlinearity: str = "tanh") -> nn.RNNBase:
    """nn.RNN / nn.GRU / nn.LSTM, batch-first. `nonlinearity` ("tanh"|"relu") is for the vanilla RNN."""
    check_known("recurrent cell", cell, CELLS)
    kw: dict[str, Any] = dict(num_layers=layers, batch_first=True, bidirectional=bidirectional,
                              dropout=dropout if layers > 1 else 0.0)
    if cell == "rnn":
        check_known("RNN nonlinearity", nonlinearity, ("tanh", "relu"))
        return nn.RNN(n_inputs, hidden, nonlinearity=nonlinearity, **kw)
    return (nn.GRU if cell == "gru" else nn.LSTM)(n_inputs, hidden, **kw)


def detach_state(state: State) -> State:
    """Cut the graph at a chunk boundary (truncated BPTT) while keeping the hidden state's values."""
    if isinstance(state, tuple):
        return (state[0].detach(), state[1].detach())
    return None if state is None else state.detach()


def sequence_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy over every time step: logits (batch, T, V), targets (batch, T) int64 -> scalar (nats)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


READOUTS = ("last", "mean", "max")


class SequenceModel(Specified, nn.Module):
    """Recurrent encoder + linear head, many-to-one or many-to-many.

    Args:
        n_inputs: features per time step (ignored with `n_symbols`, which embeds int64 symbols).
        n_outputs: outputs per sequence (many-to-one; e.g. classes, or a forecast horizon) or per step.
        cell: "rnn" (Elman), "gru" (Cho et al. 2014) or "lstm" (Hochreiter & Schmidhuber 1997).
        hidden: hidden units per direction; layers: stacked layers (deep RNN).
        bidirectional: read the sequence both ways (not for forecasting or generation: it sees the future).
        mode: "many-to-one" (one output per sequence) or "many-to-many" (one output per step: tagging).
        readout: many-to-one summary of the top layer: "last" (the state at the last real step; when
            bidirectional, the forward state at the last real step and the backward state at step 0),
            or the "mean" / "max" over real steps.
        dropout: between stacked layers and before the head.
        n_symbols, embedding: for symbol input, vocabulary size (index 0 = padding) and embedding width.
        channels_first: inputs are signals (batch, C, L), read as L steps of C features.
        stem_kernel, stem_channels, stem_pool: a convolutional stem (deepsci.models.stem.ConvStem) before
            the recurrence: motif detectors of width stem_kernel, max-pooled by stem_pool (None: no stem).
        nonlinearity: "tanh" or "relu" for the vanilla RNN.
        clip_grad_norm: recommended gradient-norm clip for training (default 1.0; None = off).
        seed: seeds the weight initialisation.

    Masks: `forward(x, mask)` with mask (batch, T) bool, True on real steps, a prefix of each row
    (padding at the end). Sequences are packed (`pack_padded_sequence`), so padded steps never enter
    the recurrence and their values cannot change the outputs.

    Shapes: forward(x: (batch, T, n_inputs) float, (batch, n_inputs, T) when channels_first, or
    (batch, T) int64; mask: (batch, T) bool or None) -> (batch, n_outputs) many-to-one,
    (batch, T, n_outputs) many-to-many (padded steps' encodings are zero, so their outputs are the head's
    bias: a per-step loss must ignore them, as deepsci.training.losses.cross_entropy does for tag -100).
    """

    KIND = "rnn"

    def __init__(self, n_inputs: int, n_outputs: int, *, cell: str = "lstm", hidden: int = 64, layers: int = 1,
                 bidirectional: bool = False, mode: str = "many-to-one", readout: str = "last",
                 dropout: float = 0.0, n_symbols: int | None = None, embedding: int = 32,
                 channels_first: bool = False, stem_kernel: int | None = None, stem_channels: int = 64,
                 stem_pool: int = 1, nonlinearity: str = "tanh",
                 clip_grad_norm: float | None = DEFAULT_CLIP, seed: int = 0) -> None:
        super().__init__()
        check_known("sequence mode", mode, MODES)
        check_known("sequence readout", readout, READOUTS)
        with seeded(seed):
            self.embed = nn.Embedding(n_symbols, embedding, padding_idx=0) if n_symbols else None
            width_in = embedding if n_symbols else n_inputs
            self.stem = ConvStem(width_in, stem_channels, stem_kernel, stem_pool) if stem_kernel else None
            width_in = stem_channels if stem_kernel else width_in
            self.rnn = recurrent_layer(cell, width_in, hidden, layers=layers, bidirectional=bidirectional,
                                       dropout=dropout, nonlinearity=nonlinearity)
            self.drop = nn.Dropout(dropout)
            self.head = nn.Linear(hidden * (2 if bidirectional else 1), n_outputs)

    def _steps(self, x: Tensor) -> Tensor:
        """The input as (batch, T, width) float steps."""
        x = as_steps(x, self.hparams["n_inputs"], tokens=self.embed is not None,
                     channels_first=self.hparams["channels_first"])
        return x if self.embed is None else self.embed(x)

    def step(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        """Run on an unpadded chunk from a given hidden state: returns (outputs, new state). For truncated BPTT."""
        steps = self._steps(x)
        if self.stem is not None:
            steps, _ = self.stem(steps)
        h, state = self.rnn(steps, state)  # h: (batch, T, hidden * directions)
        if self.hparams["mode"] == "many-to-many":
            return self.head(self.drop(h)), state
        return self.head(self.drop(self._summary(h, _top_state(state, self.hparams), None))), state

    def encode(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """Top-layer states: (batch, features) many-to-one, (batch, T, features) many-to-many."""
        steps = self._steps(x)
        if mask is not None:  # a fill, not a product: NaN padding must not reach a gradient either
            steps = steps.masked_fill(~mask.bool().unsqueeze(-1), 0.0)
        if self.stem is not None:
            steps, mask = self.stem(steps, mask)
        if mask is None:
            h, state = self.rnn(steps)
        else:  # packed: padded steps never enter the recurrence
            lengths = prefix_lengths(mask, steps.shape[1]).cpu()
            out, state = self.rnn(nn.utils.rnn.pack_padded_sequence(steps, lengths, batch_first=True,
                                                                    enforce_sorted=False))
            h, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=steps.shape[1])
        if self.hparams["mode"] == "many-to-many":
            return h
        return self._summary(h, _top_state(state, self.hparams), mask)

    def _summary(self, h: Tensor, last: Tensor, mask: Tensor | None) -> Tensor:
        """(batch, features): the final states `last`, or the masked mean / max of h over real steps."""
        readout = self.hparams["readout"]
        return last if readout == "last" else masked_pool(h, mask, readout)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.head(self.drop(self.encode(x, mask)))


def _top_state(state: State, spec: dict[str, Any]) -> Tensor:
    """The top layer's final hidden state(s): (batch, hidden) or, bidirectional, forward ++ backward.

    nn.RNN/GRU/LSTM return h_n (layers * directions, batch, hidden); with packed input the forward
    final state is at each row's last real step and the backward one at step 0.
    """
    h_n = state[0] if isinstance(state, tuple) else state
    assert h_n is not None
    if spec["bidirectional"]:
        return torch.cat([h_n[-2], h_n[-1]], dim=-1)
    return h_n[-1]


class Seq2Seq(Specified, nn.Module):
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

    KIND = "seq2seq"

    def __init__(self, n_inputs: int, horizon: int, *, target_channels: Sequence[int] = (0,),
                 cell: str = "lstm", hidden: int = 64, layers: int = 1, dropout: float = 0.0,
                 teacher_forcing: float = 0.5, relative: bool = True, clip_grad_norm: float | None = DEFAULT_CLIP,
                 seed: int = 0) -> None:
        super().__init__()
        targets = [int(t) for t in target_channels]
        if any(not 0 <= t < n_inputs for t in targets):
            raise ModelError(f"target_channels {targets} must index the {n_inputs} input channels.")
        if not 0.0 <= teacher_forcing <= 1.0:
            raise ModelError(f"teacher_forcing is a probability in [0, 1]; received {teacher_forcing}.")
        k = len(targets)
        with seeded(seed):
            self.encoder = recurrent_layer(cell, n_inputs, hidden, layers=layers, dropout=dropout)
            self.decoder = recurrent_layer(cell, k, hidden, layers=layers, dropout=dropout)
            self.head = nn.Linear(hidden, k)

    def forward(self, x: Tensor, y: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        s = self.hparams
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


class CharLM(Specified, nn.Module):
    """Character-level language model: embedding -> stacked LSTM/GRU/RNN -> logits over the vocabulary.

    Trained on `deepsci.data.sequences.next_symbol_windows` with `sequence_cross_entropy`;
    generates with `sample`.

    Shapes: forward(idx (batch, T) int64) -> logits (batch, T, V).
    """

    KIND = "charlm"

    def __init__(self, n_symbols: int, *, embedding: int = 32, hidden: int = 128, layers: int = 2,
                 cell: str = "lstm", dropout: float = 0.0, clip_grad_norm: float | None = DEFAULT_CLIP,
                 seed: int = 0) -> None:
        super().__init__()
        if n_symbols < 2:
            raise ModelError(f"a language model needs at least 2 symbols; received {n_symbols}.")
        with seeded(seed):
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
        V = self.hparams["n_symbols"]
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
