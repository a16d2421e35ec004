"""Model builders: dense networks (more architectures register here as they land)."""

from deepsci.models.activations import ACTIVATIONS, Maxout, activation, activation_fn
from deepsci.models.heads import head_predictions
from deepsci.models.init import INITS, initialise_linear
from deepsci.models.mlp import MLP

__all__ = ["ACTIVATIONS", "INITS", "MLP", "Maxout", "activation", "activation_fn", "head_predictions",
           "initialise_linear"]
