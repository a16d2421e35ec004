"""Model builders: dense, convolutional and recurrent networks, autoencoders, energy models."""

from deepsci.models.activations import ACTIVATIONS, Maxout, activation, activation_fn
from deepsci.models.autoencoder import Autoencoder, VariationalAutoencoder
from deepsci.models.cnn import CNN, ResidualBlock, SqueezeExcite, conv_output_size
from deepsci.models.heads import head_predictions
from deepsci.models.init import INITS, initialise_linear
from deepsci.models.mlp import MLP
from deepsci.models.rbm import BernoulliRBM
from deepsci.models.rnn import CharLM, Seq2Seq, SequenceModel
from deepsci.models.spec import MODEL_KINDS, model_from_spec, spec_of

__all__ = ["ACTIVATIONS", "Autoencoder", "BernoulliRBM", "CNN", "CharLM", "INITS", "MLP", "MODEL_KINDS", "Maxout",
           "ResidualBlock", "Seq2Seq", "SequenceModel", "SqueezeExcite", "VariationalAutoencoder", "activation",
           "activation_fn", "conv_output_size", "head_predictions", "initialise_linear", "model_from_spec", "spec_of"]
