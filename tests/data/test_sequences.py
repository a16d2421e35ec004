"""Vocabularies, encoding, next-symbol windows and the unigram entropy."""

import math

import pytest
import torch

from deepsci.data.sequences import Vocabulary, next_symbol_windows, unigram_entropy
from deepsci.errors import DataError


def test_text_round_trip_and_one_hot():
    text = "the cat sat on the mat"
    v = Vocabulary.from_text(text)
    assert v.symbols == sorted(set(text))
    assert v.decode(v.encode(text)) == text
    oh = v.one_hot("cat")
    assert oh.shape == (3, len(v)) and torch.equal(oh.argmax(1), v.encode("cat"))
    assert Vocabulary.from_dict(v.to_dict()).symbols == v.symbols


def test_dna_protein_alphabets_and_unknown_symbols():
    dna = Vocabulary.alphabet("dna", unknown="N")
    assert dna.encode("ACGTRN").tolist() == [0, 1, 2, 3, 4, 4]  # R is ambiguous -> N
    assert len(Vocabulary.alphabet("protein")) == 20
    with pytest.raises(DataError, match="position 2"):
        Vocabulary.alphabet("dna").encode("ACX")
    with pytest.raises(DataError, match="unknown alphabet"):
        Vocabulary.alphabet("dnaa")


def test_next_symbol_windows_are_shifted_by_one():
    idx = torch.arange(20)
    X, y = next_symbol_windows(idx, 5, 3)
    assert X.shape == y.shape and X.shape[1] == 5
    assert torch.equal(y, X + 1)
    assert X[1, 0] == 3
    with pytest.raises(DataError, match="too short"):
        next_symbol_windows(idx[:4], 5)


def test_unigram_entropy_against_closed_form():
    idx = torch.tensor([0, 0, 1, 2])  # p = 1/2, 1/4, 1/4
    assert math.isclose(unigram_entropy(idx), 1.5 * math.log(2), rel_tol=1e-12)
    assert math.isclose(unigram_entropy(torch.arange(8)), math.log(8), rel_tol=1e-12)
