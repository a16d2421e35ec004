"""Digits as 8x8 images with a CNN, and a character-level LSTM on a small text.

1. CNN on scikit-learn digits (N, 1, 8, 8), pixels / 16. Split: stratified, seed 0, test 20 %
   (360 images), valid 10 % of the rest (144), train 1293 (`deepsci.data.images.digits_images`).
   LeNet-style CNN (2 stages of two 3x3 'same' conv + BN + ReLU, max-pool 2; 32 and 64 channels;
   global average pooling; head 128), augmentation (rotation +-10 deg, crop 0.9-1 resized, random
   erasing p 0.1), one-cycle schedule (peak 4e-3), 100 epochs, batch 64; weights of the best valid epoch.
2. Char-level LSTM language model (embedding 32, 2 x LSTM 128, Adam 3e-3, 10 epochs, windows of 100
   characters) on the module docstrings of deepsci (read from the installed
   source, nothing downloaded): cross-entropy (nats/char) on a held-out last 10 % of the text,
   against the unigram entropy of the text; and a sample of 200 characters at temperature 0.8.

Run: .venv/bin/python benchmarks/forecast_images_text.py [digits_cnn] [char_lm]  (writes results/images_text.json)
     .venv/bin/python benchmarks/forecast_images_text.py --smoke   (1 epoch on 128 images and 3000 characters;
     writes nothing: that it runs, in make test)
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import deepsci
from deepsci.data.images import digits_images
from deepsci.data.sequences import Vocabulary, next_symbol_windows, unigram_entropy
from deepsci.models.cnn import CNN
from deepsci.models.rnn import CharLM, sequence_cross_entropy
from deepsci.training.augment import Augment


def digits_cnn(seed: int = 0, epochs: int = 100, rows: int | None = None) -> dict:
    """The CNN of part 1 (`rows`: train on the first rows only, for a smoke run)."""
    d = digits_images(seed=0)
    if rows is not None:
        d.train.X, d.train.y = d.train.X[:rows], d.train.y[:rows]
    model = CNN.lenet(1, 10, channels=(32, 64), head_hidden=(128,), dropout=0.1, seed=seed)
    aug = Augment(rotate=10, crop_scale=0.9, erase=0.1)
    g = torch.Generator().manual_seed(seed)
    batch = 64
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 4e-3, total_steps=epochs * ((len(d.train) + batch - 1) // batch))
    best, best_state, t0 = -1.0, None, time.perf_counter()
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(d.train), generator=g)
        for i in range(0, len(perm), batch):
            idx = perm[i:i + batch]
            xb, yb = aug(d.train.X[idx], d.train.y[idx], g)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            acc = float((model(d.valid.X).argmax(1) == d.valid.y).float().mean())
        if acc >= best:
            best, best_state = acc, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    model.eval()
    with torch.no_grad():
        test_acc = float((model(d.test.X).argmax(1) == d.test.y).float().mean())
    return {"split": "stratified seed 0, test 0.2, valid 0.1", "n": [len(d.train), len(d.valid), len(d.test)],
            "valid_accuracy": best, "test_accuracy": test_acc, "errors": round((1 - test_acc) * len(d.test)),
            "seconds": time.perf_counter() - t0, "spec": model.spec(), "augment": aug.spec()}


def docstring_corpus() -> str:
    texts = []
    for p in sorted(Path(deepsci.__path__[0]).rglob("*.py")):
        tree = ast.parse(p.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)):
                doc = ast.get_docstring(node)
                if doc:
                    texts.append(doc)
    return "\n\n".join(texts)


def char_lm(seed: int = 0, epochs: int = 10, chars: int | None = None) -> dict:
    """The language model of part 2 (`chars`: the first characters of the corpus only, for a smoke run)."""
    text = docstring_corpus()[:chars]
    vocab = Vocabulary.from_text(text)
    idx = vocab.encode(text)
    cut = int(0.9 * len(idx))
    Xtr, ytr = next_symbol_windows(idx[:cut], 100, 50)
    Xte, yte = next_symbol_windows(idx[cut:], 100, 100)
    model = CharLM(len(vocab), embedding=32, hidden=128, layers=2, seed=seed)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(seed)
    t0, hist = time.perf_counter(), []
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(Xtr), generator=g)
        for i in range(0, len(perm), 64):
            b = perm[i:i + 64]
            loss = sequence_cross_entropy(model(Xtr[b]), ytr[b])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), model.spec()["clip_grad_norm"])
            opt.step()
        model.eval()
        with torch.no_grad():
            hist.append(float(sequence_cross_entropy(model(Xte), yte)))
    prompt = vocab.encode("The model ")
    sample = "The model " + vocab.decode(model.sample(200, 0.8, torch.Generator().manual_seed(0), prompt=prompt))
    return {"chars": len(text), "vocabulary": len(vocab), "unigram_entropy_nats": unigram_entropy(idx, len(vocab)),
            "heldout_loss_nats_per_epoch": hist, "final_heldout_loss_nats": hist[-1],
            "seconds": time.perf_counter() - t0, "sample_t0.8": sample}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", help="digits_cnn, char_lm (default: both)")
    parser.add_argument("--smoke", action="store_true", help="1 epoch on tiny data, no results file")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    path = Path(__file__).parent.joinpath("results", "images_text.json")
    out = json.loads(path.read_text()) if path.exists() and not args.smoke else {}
    runs = {"digits_cnn": lambda: digits_cnn(epochs=1, rows=128) if args.smoke else digits_cnn(),
            "char_lm": lambda: char_lm(epochs=1, chars=3000) if args.smoke else char_lm()}
    out.update({p: runs[p]() for p in args.parts or list(runs)})
    if not args.smoke:
        path.write_text(json.dumps(out, indent=2))
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "spec"} for k, v in out.items()}, indent=2))
    return out


if __name__ == "__main__":
    main()
