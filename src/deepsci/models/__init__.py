"""Model builders: dense, convolutional, recurrent, attention and set networks, autoencoders, energy models.

    model = build_model(config.model, dataset.inputs, n_outputs, task="binary", seed=0)
    model = model_from_spec(json.loads(path.read_text()))      # a run folder's model.json

Names are imported on first use (PEP 562), so `deepsci.config` can read the `[model]` spec types in
`deepsci.models.specs` without importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "ACTIVATIONS": "activations", "Maxout": "activations", "activation": "activations", "activation_fn": "activations",
    "Autoencoder": "autoencoder", "VariationalAutoencoder": "autoencoder",
    "BernoulliRBM": "rbm",
    "CNN": "cnn", "ResidualBlock": "cnn", "SqueezeExcite": "cnn", "conv_output_size": "cnn",
    "INITS": "init", "initialise_linear": "init", "resolve_init": "init",
    "MLP": "mlp",
    "CharLM": "rnn", "Seq2Seq": "rnn", "SequenceModel": "rnn",
    "TransformerEncoderModel": "transformer",
    "DeepSets": "sets", "SetTransformer": "sets",
    "MultiInput": "multi",
    "MODELS": "registry", "ModelKind": "registry",
    "build_model": "build", "MODEL_KINDS": "build", "model_from_spec": "build", "spec_of": "arguments",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from deepsci.models.activations import ACTIVATIONS, Maxout, activation, activation_fn
    from deepsci.models.autoencoder import Autoencoder, VariationalAutoencoder
    from deepsci.models.arguments import spec_of
    from deepsci.models.build import MODEL_KINDS, build_model, model_from_spec
    from deepsci.models.cnn import CNN, ResidualBlock, SqueezeExcite, conv_output_size
    from deepsci.models.init import INITS, initialise_linear, resolve_init
    from deepsci.models.mlp import MLP
    from deepsci.models.multi import MultiInput
    from deepsci.models.rbm import BernoulliRBM
    from deepsci.models.registry import MODELS, ModelKind
    from deepsci.models.rnn import CharLM, Seq2Seq, SequenceModel
    from deepsci.models.sets import DeepSets, SetTransformer
    from deepsci.models.transformer import TransformerEncoderModel


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"deepsci.models.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'deepsci.models' has no attribute '{name}'")
