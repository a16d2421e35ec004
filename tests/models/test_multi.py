"""The multi-input model (deepsci/models/multi.py): which kinds may encode an input."""

import pytest

import deepsci.models.build  # noqa: F401  (registers the kinds the encoders are rebuilt from)
from deepsci.errors import ModelError
from deepsci.models.mlp import MLP
from deepsci.models.multi import MultiInput
from deepsci.models.rnn import CharLM


def test_a_model_that_is_no_encoder_is_refused_with_the_kinds_that_are():
    with pytest.raises(ModelError, match="input 'text': a 'charlm' model cannot be an encoder; use mlp, cnn, rnn, "
                                         "transformer, deepsets, set-transformer, equivariant-cnn or lorentz."):
        MultiInput({"text": CharLM(5).spec(), "table": MLP(3, 1).spec()}, 2)


def test_each_encoder_loses_its_head_and_feeds_the_shared_one():
    model = MultiInput({"a": MLP(3, 1, (4,)).spec(), "b": MLP(2, 1, (6,)).spec()}, 2, hidden=(5,))
    assert model.head[1].in_features == 4 + 6  # the encoders' last hidden widths, concatenated
