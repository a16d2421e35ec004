"""A model's spec is its constructor's arguments (deepsci/models/arguments.py), for every registered kind."""

import inspect
import json

import numpy as np
import pytest
import torch

from deepsci.errors import ModelError
from deepsci.models import model_from_spec
from deepsci.models.arguments import Specified, plain
from deepsci.models.cnn import CNN
from deepsci.models.graph import GraphNet
from deepsci.models.mlp import MLP
from deepsci.models.multi import MultiInput
from deepsci.models.reaction import ReactionNet
from deepsci.models.registry import MODELS
from deepsci.models.rnn import CharLM, Seq2Seq, SequenceModel
from deepsci.models.sets import DeepSets, SetTransformer
from deepsci.models.specs import ENCODER_KINDS, SPECS
from deepsci.models.transformer import TransformerEncoderModel

SMALL = [
    lambda: MLP(3, 2, (4,)),
    lambda: CNN(1, 2, [{"type": "conv", "channels": 2}, {"type": "pool"}], dims=1, input_size=(8,)),
    lambda: SequenceModel(3, 2, hidden=4, stem_kernel=3),
    lambda: Seq2Seq(2, 3, target_channels=[1], hidden=4),
    lambda: CharLM(5, embedding=4, hidden=4, layers=1),
    lambda: TransformerEncoderModel(3, 2, width=8, heads=2, layers=1, per_step=True),
    lambda: DeepSets(3, 2, hidden=(4,), rho=(4,), pairwise=(4,)),
    lambda: SetTransformer(3, 2, width=8, heads=2, layers=1, inducing=2),
    lambda: GraphNet("ugrnn", 5, 3, 0, 1, width=4, depth=1, hidden=(4,)),
    lambda: ReactionNet(5, 3, 2, network="gin", combine="concat", width=4, depth=1, hidden=(4,)),
    lambda: MultiInput({"a": MLP(3, 1, (4,)).spec(), "b": DeepSets(2, 1, hidden=(4,)).spec()}, 2, hidden=(4,)),
]


@pytest.mark.parametrize("make", SMALL, ids=lambda make: type(make()).__name__)
def test_the_spec_is_every_constructor_argument_and_rebuilds_the_same_network(make):
    model = make()
    spec = model.spec()
    parameters = [p for p in inspect.signature(type(model).__init__).parameters if p != "self"]
    assert set(spec) == {"kind", *parameters}  # every argument, defaults filled in
    assert spec["kind"] in MODELS and MODELS[spec["kind"]].model is type(model)
    again = model_from_spec(json.loads(json.dumps(spec)))  # through JSON, as model.json stores it
    assert again.spec() == spec
    assert [tuple(p.shape) for p in again.parameters()] == [tuple(p.shape) for p in model.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), model.state_dict().values()))


def test_every_registered_kind_has_a_spec_type_and_a_model_class():
    assert list(SPECS) == ["mlp", "cnn", "rnn", "transformer", "deepsets", "set-transformer", "seq2seq", "charlm",
                           "equivariant-cnn", "lorentz", "multi", "dmpnn", "gin", "ugrnn", "reaction"]
    assert set(MODELS) == set(SPECS)
    assert all(MODELS[k].spec is SPECS[k] and issubclass(MODELS[k].model, Specified) for k in MODELS)
    assert ENCODER_KINDS == ("mlp", "cnn", "rnn", "transformer", "deepsets", "set-transformer", "equivariant-cnn",
                             "lorentz")
    assert [k for k in MODELS if MODELS[k].per_step] == ["rnn", "transformer"]


def test_a_bad_spec_names_what_is_wrong():
    spec = MLP(3, 1, (4,)).spec()
    with pytest.raises(ModelError, match="unknown key\\(s\\) widths; its keys are n_inputs, n_outputs, hidden"):
        MLP.from_spec({**spec, "widths": [4]})
    with pytest.raises(ModelError, match="missing key\\(s\\) n_outputs"):
        MLP.from_spec({k: v for k, v in spec.items() if k != "n_outputs"})
    with pytest.raises(ModelError, match="not a MLP spec: kind='cnn'; expected 'mlp'"):
        MLP.from_spec({**spec, "kind": "cnn"})


def test_arguments_are_stored_as_json_data():
    model = MLP(np.int64(3), 1, (np.int64(4), 5), dropout=np.float32(0.25))
    spec = model.spec()
    assert spec["n_inputs"] == 3 and type(spec["n_inputs"]) is int and spec["hidden"] == [4, 5]
    assert json.loads(json.dumps(spec)) == spec
    spec["hidden"].append(99)  # a copy: the model's own arguments do not change
    assert model.spec()["hidden"] == [4, 5]
    with pytest.raises(ModelError, match="argument 'x'"):
        plain(object(), "x")


def test_a_subclass_is_a_convenience_constructor_of_its_registered_class():
    class Wide(MLP):
        def __init__(self, n_inputs: int, width: int = 8) -> None:
            super().__init__(n_inputs, 1, (width, width))

    wide = Wide(3)  # MLP's body reads MLP's arguments; the spec rebuilds the registered MLP
    assert wide.spec() == MLP(3, 1, (8, 8)).spec()
    assert type(model_from_spec(wide.spec())) is MLP


# specs as the hand-kept spec() methods wrote them into model.json before the spec became the arguments
OLD_SPECS = [
    ({"kind": "transformer", "n_inputs": 3, "n_outputs": 2, "n_symbols": None, "width": 8, "heads": 2, "layers": 1,
      "feedforward": 16, "pooling": "mean", "dropout": 0.1, "activation": "relu", "hidden": [], "channels_first": False,
      "seed": 0}, lambda: TransformerEncoderModel(3, 2, width=8, heads=2, layers=1, feedforward=16)),
    ({"kind": "seq2seq", "n_inputs": 2, "horizon": 3, "target_channels": [0], "cell": "gru", "hidden": 4, "layers": 1,
      "dropout": 0.0, "teacher_forcing": 0.5, "relative": True, "clip_grad_norm": 1.0, "seed": 0},
     lambda: Seq2Seq(2, 3, cell="gru", hidden=4)),
    ({"kind": "charlm", "n_symbols": 5, "embedding": 4, "hidden": 4, "layers": 1, "cell": "lstm", "dropout": 0.0,
      "clip_grad_norm": 1.0, "seed": 0}, lambda: CharLM(5, embedding=4, hidden=4, layers=1)),
    ({"kind": "set-transformer", "n_inputs": 3, "n_outputs": 1, "width": 8, "heads": 2, "layers": 1, "inducing": None,
      "seeds": 1, "hidden": [], "dropout": 0.0, "activation": "relu", "seed": 0},
     lambda: SetTransformer(3, 1, width=8, heads=2, layers=1)),
    ({"kind": "dmpnn", "n_atom": 5, "n_bond": 3, "n_mol": 0, "n_outputs": 1, "width": 4, "depth": 2, "hidden": [4],
      "readout": "mean", "activation": "relu", "dropout": 0.0, "bond_features": True, "members": 1, "seed": 0},
     lambda: GraphNet("dmpnn", 5, 3, 0, 1, width=4, depth=2, hidden=(4,))),
    ({"kind": "multi", "encoders": {"a": MLP(3, 1, (4,)).spec()}, "n_outputs": 2, "hidden": [4], "dropout": 0.0,
      "activation": "relu", "seed": 0}, lambda: MultiInput({"a": MLP(3, 1, (4,)).spec()}, 2, hidden=(4,))),
]


@pytest.mark.parametrize("old,make", OLD_SPECS, ids=lambda x: x["kind"] if isinstance(x, dict) else "")
def test_a_spec_written_before_the_change_loads_the_same_network(old, make):
    loaded, today = model_from_spec(old), make()
    assert loaded.spec() == today.spec()
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), today.state_dict().values()))
