"""The graph-pair reaction network (deepsci.models.reaction): invariances held exactly, and end to end on the
sample reactions: accuracy against the nearest neighbour, and attributions that land in the reaction centre."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from deepsci.data.reaction_graphs import ReactionFeaturiser
from deepsci.data.raw import Raw
from deepsci.data.reactions import centre_atoms
from deepsci.explain.reaction_centres import centre_hits, top_atoms
from deepsci.models.reaction import ReactionNet

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "data" / "reactions_sample.csv"


def _batch(reactions: list[str], tmp_path: Path) -> dict[str, torch.Tensor]:
    raw = Raw(pd.DataFrame({"reaction": reactions}), {}, [str(i) for i in range(len(reactions))], "test")
    featuriser = ReactionFeaturiser("x", smiles_column="reaction", cache_dir=tmp_path)
    featuriser.fit(raw, np.arange(len(reactions)))
    graphs, bad = featuriser.transform(raw)
    assert not bad
    return graphs.take_rows(slice(None))  # type: ignore[union-attr]


@pytest.mark.parametrize("network", ["dmpnn", "gin"])
def test_reactant_order_batching_and_unchanged_atoms(network, tmp_path, one_thread):
    """Reordering the reactants changes nothing (1e-5); a reaction's output does not depend on its batch; and
    with "difference", a reaction that changes nothing gives the head's output at 0 whatever the molecules."""
    torch.manual_seed(0)
    net = ReactionNet(61, 14, 3, network=network, width=16, depth=2, hidden=(16,), seed=1).eval()
    reactions = ["CC(=O)O.NCc1ccccc1>>CC(=O)NCc1ccccc1", "NCc1ccccc1.CC(=O)O>>CC(=O)NCc1ccccc1",
                 "CCO.c1ccncc1>>CCO.c1ccncc1", "Cc1ccccc1>>Cc1ccccc1"]
    with torch.no_grad():
        both = net(**_batch(reactions, tmp_path))
        alone = torch.cat([net(**_batch([r], tmp_path)) for r in reactions])
        zero = net.graph.head_output(torch.zeros(1, 16))
    torch.testing.assert_close(both, alone, atol=1e-5, rtol=0)
    torch.testing.assert_close(both[0], both[1], atol=1e-5, rtol=0)
    torch.testing.assert_close(both[2:], zero.expand(2, -1), atol=1e-5, rtol=0)
    concat = ReactionNet(61, 14, 3, network=network, combine="concat", width=16, depth=2, hidden=(16,), seed=1).eval()
    with torch.no_grad():  # concatenation keeps the sides whole: unchanged reactions of different molecules differ
        out = concat(**_batch(reactions[2:], tmp_path))
    assert (out[0] - out[1]).abs().max() > 1e-3


def test_spec_round_trip():
    net = ReactionNet(61, 14, 5, network="gin", combine="concat", width=8, depth=2, hidden=(8,), seed=0)
    again = ReactionNet.from_spec(json.loads(json.dumps(net.spec())))
    again.load_state_dict(net.state_dict())
    assert again.spec() == net.spec() and again.spec()["kind"] == "reaction"


def test_top_atoms_and_hits_by_hand():
    assert top_atoms(np.array([0.1, -3.0, 2.0, 3.0]), 2).tolist() == [1, 3]  # |-3| = |3|: the lower index first
    reaction = "[CH3:1][OH:2]>>[CH3:1][O:2]C"  # product atoms: C1, O2, new C
    # reactant atoms C, O then product atoms C, O, C: per product atom own + mapped reactant value
    values = np.array([0.5, 0.0, -0.5, 2.0, 1.0])  # C cancels; O: 2.0; new C: 1.0
    hits = centre_hits([reaction, reaction], [[1], [0]], [values, values])
    assert (hits.hit_rate, hits.top1_rate, hits.precision) == (0.5, 0.5, 0.5)


def _chance(k: int, n: int) -> float:
    """P(at least ceil(k/2) of k atoms drawn at random from n lie in a centre of k atoms)."""
    need = -(-k // 2)
    return sum(math.comb(k, j) * math.comb(n - k, k - j) for j in range(need, k + 1)) / math.comb(n, k)


def _reactant_atoms(reaction: str) -> int:
    from rdkit import Chem

    return int(Chem.MolFromSmiles(reaction.split(">>")[0]).GetNumAtoms())


@pytest.mark.slow
def test_sample_reactions_end_to_end(fit_config, cli, tmp_path):
    """The sample (210 reactions, 7 classes), split by product scaffold: the graph pair beats chance by far and
    matches the nearest neighbour; integrated gradients put at least half of the top-k product atoms in the centre
    (k = the centre's size) for most test reactions, far more often than a random choice of k atoms does; a saved
    run predicts new reactions."""
    run = fit_config("rx", f"""
[data]
kind = "reaction"
source = "{SAMPLE}"
target = "reaction_class"
smiles_column = "reaction"
id_column = "id"
task = "multiclass"
split = "scaffold"
valid_fraction = 0.0

[model]
kind = "reaction"
width = 32
hidden = [32]

[train]
epochs = 25
batch_size = 16
lr = 3e-3
""")
    metrics = json.loads((run / "metrics.json").read_text())
    nearest = metrics["baselines"]["nearest-neighbour"]["test"]["accuracy"]
    assert metrics["test"]["accuracy"] >= 0.9 and nearest >= 0.8
    cli("explain", str(run), "--methods", "integrated-gradients", "--robustness", "")
    atoms = pd.read_csv(run / "atom_attributions.csv")
    frame = pd.read_csv(SAMPLE).set_index("id")
    ids = pd.read_csv(run / "predictions.csv")["id"].astype(str).tolist()
    values = [group["integrated-gradients"].to_numpy() for _, group in atoms.groupby("row", sort=True)]
    hits = centre_hits([frame.loc[i, "reaction"] for i in ids[:len(values)]],
                       [centre_atoms(frame.loc[i, "centre"]) for i in ids[:len(values)]], values)
    # At this size (150 training reactions, 25 epochs) 0.69 of the 42 test reactions were hits (seed 0); a random
    # choice of the k atoms hits far less often (hypergeometric: >= ceil(k/2) of k drawn atoms in the centre).
    chance = np.mean([_chance(len(centre_atoms(frame.loc[i, "centre"])),
                              len(v) - _reactant_atoms(frame.loc[i, "reaction"])) for i, v in zip(ids, values)])
    assert hits.rows == len(values) >= 20 and hits.hit_rate >= 0.6 and hits.hit_rate >= 4 * chance
    new = tmp_path / "new.csv"  # a saved run predicts reactions it never saw; an unparsable one is skipped
    pd.DataFrame({"reaction": ["CC(=O)O.NCc1ccccc1>>CC(=O)NCc1ccccc1", "not a reaction"]}).to_csv(new, index=False)
    cli("predict", str(run), str(new), "-o", str(tmp_path / "p.csv"))
    predicted = pd.read_csv(tmp_path / "p.csv")
    assert len(predicted) == 1 and predicted.filter(like="reaction_class").iloc[0, 0] == "amide_coupling-1"
