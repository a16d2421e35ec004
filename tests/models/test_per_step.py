"""Per-step heads (task = "tagging"): recurrent networks and the transformer emit one set of logits per step,
padding cannot reach the real steps' outputs, and kinds that summarise a whole input are refused."""

from __future__ import annotations

import pytest
import torch

from deepsci.data.schema import InputSchema
from deepsci.errors import ConfigError, ModelError
from deepsci.models import build_model, model_from_spec, spec_of
from deepsci.models.specs import model_config
from deepsci.models.transformer import TransformerEncoderModel

TOKENS = InputSchema("x", "sequence", (9,), masked=True, n_symbols=6)
SIGNAL = InputSchema("x", "signal", (2, 9))

PER_STEP = [
    {"kind": "rnn", "cell": "rnn", "hidden": [5]},
    {"kind": "rnn", "cell": "gru", "hidden": [5], "layers": 2},
    {"kind": "rnn", "cell": "lstm", "hidden": [5], "layers": 2, "bidirectional": True},
    {"kind": "transformer", "width": 8, "heads": 2, "layers": 1, "feedforward": 16, "dropout": 0.0},
]


def _tokens(lengths: list[int], fill: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(1, 6, (len(lengths), 9), generator=g)
    mask = torch.arange(9)[None, :] < torch.tensor(lengths)[:, None]
    return {"x": x.masked_fill(~mask, fill), "mask": mask}


@pytest.mark.parametrize("spec", PER_STEP, ids=lambda s: f"{s['kind']}-{s.get('cell', '')}")
def test_per_step_heads_give_logits_per_step_that_padding_cannot_change(spec):
    model = build_model(model_config(**spec), {"x": TOKENS}, 3, task="tagging", seed=0).eval()
    batch = _tokens([9, 4, 6])
    out = model(**batch)
    assert out.shape == (3, 9, 3)
    # other symbols on the padded steps: every real step's logits are unchanged
    other = _tokens([9, 4, 6], fill=0)
    other["x"] = other["x"].masked_fill(~other["mask"], 5)
    assert torch.allclose(model(**other)[batch["mask"]], out[batch["mask"]], atol=1e-5)
    again = model_from_spec(spec_of(model))
    again.load_state_dict(model.state_dict())
    assert torch.equal(again.eval()(**batch), out)  # the spec round trip keeps the per-step head


@pytest.mark.parametrize("spec", PER_STEP[1:], ids=lambda s: s["kind"])
def test_signals_are_tagged_step_by_step(spec):
    model = build_model(model_config(**spec), {"x": SIGNAL}, 2, task="tagging", seed=0).eval()
    assert model(torch.randn(4, 2, 9)).shape == (4, 9, 2)


def test_a_whole_sequence_model_is_unchanged_by_the_per_step_option():
    # a classifier's spec says per_step = False, and a spec written before the option (no key) loads as one
    whole = build_model(model_config(kind="transformer", width=8, heads=2, layers=1), {"x": TOKENS}, 2,
                        task="binary", seed=0).eval()
    spec = spec_of(whole)
    assert spec["per_step"] is False and whole(**_tokens([9, 3])).shape == (2, 2)
    old = model_from_spec({k: v for k, v in spec.items() if k not in ("per_step", "stem_kernel", "stem_pool")})
    old.load_state_dict(whole.state_dict())
    assert torch.equal(old.eval()(**_tokens([9, 3])), whole(**_tokens([9, 3])))


@pytest.mark.parametrize("spec,schema", [({"kind": "cnn"}, TOKENS), ({"kind": "mlp"}, InputSchema("x", "table", (4,))),
                                         ({"kind": "deepsets"}, InputSchema("x", "set", (5, 2), masked=True))])
def test_a_model_with_one_output_per_sample_is_refused_for_tagging(spec, schema):
    with pytest.raises(ConfigError, match=f"model.kind = '{spec['kind']}' gives one per sample. Set model.kind = "
                                          "'rnn' or 'transformer'"):
        build_model(model_config(**spec), {"x": schema}, 2, task="tagging", seed=0)


def test_a_stem_that_shortens_the_sequence_is_refused_for_tagging():
    with pytest.raises(ConfigError, match="stem_pool = 2 shortens the sequence"):
        build_model(model_config(kind="rnn", stem_kernel=3, stem_pool=2), {"x": TOKENS}, 2, task="tagging", seed=0)
    with pytest.raises(ModelError, match="per-step transformer needs pooling = 'mean'"):
        TransformerEncoderModel(1, 2, n_symbols=6, width=8, heads=2, pooling="cls", per_step=True)
