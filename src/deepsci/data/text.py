"""Text and symbol sequences (characters, DNA, amino acids) as next-symbol prediction windows."""

from __future__ import annotations

from pathlib import Path

import torch

from deepsci.data.dataset import Dataset, Split
from deepsci.data.sequences import Vocabulary, next_symbol_windows, unigram_entropy
from deepsci.errors import DataError


def text_dataset(path: str | Path, *, seq_length: int = 100, test_fraction: float = 0.1,
                 valid_fraction: float = 0.1) -> Dataset:
    """Windows of `seq_length` symbols of a text file, each with its next-symbol targets.

    The text is cut in order: the first part trains, then validation, then test (the last
    `test_fraction` of the symbols), so no window of the test text is seen in training.
    X and y are (n, seq_length) int64 indices into the vocabulary (all distinct characters of the
    file); y[i, t] is the symbol after X[i, t]. The task is "multiclass" over the vocabulary, and
    `summary["unigram_entropy_nats"]` is the entropy of the symbol frequencies: the loss of a model
    that ignores context.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"text file '{path}' not found. Set data.source to the path of a UTF-8 text file.")
    text = path.read_text(encoding="utf-8")
    if len(text) < 10 * seq_length:
        raise DataError(f"'{path}' has {len(text)} characters, too few for windows of {seq_length}; "
                        "use a longer text or a smaller data.seq_length.")
    vocab = Vocabulary.from_text(text)
    indices = torch.as_tensor(vocab.encode(text), dtype=torch.int64)
    n = len(indices)
    b_test = int(n * (1 - test_fraction))
    b_valid = int(b_test * (1 - valid_fraction))

    def part(lo: int, hi: int, name: str) -> Split:
        X, y = next_symbol_windows(indices[lo:hi], seq_length, stride=seq_length)
        return Split(X, y, [f"{name}{i}" for i in range(len(X))])

    train, valid, test = part(0, b_valid, "train"), part(b_valid, b_test, "valid"), part(b_test, n, "test")
    return Dataset(
        train=train, valid=valid, test=test, task="multiclass", feature_names=[], target_names=["next symbol"],
        class_names=list(vocab.symbols), featuriser={"kind": "text", "vocabulary": vocab.to_dict(),
                                                     "seq_length": seq_length},
        summary={"source": str(path), "characters": n, "vocabulary": len(vocab), "seq_length": seq_length,
                 "split": "in order (train, valid, test)", "n_train": len(train), "n_valid": len(valid),
                 "n_test": len(test), "unigram_entropy_nats": unigram_entropy(indices[:b_valid], len(vocab))})
