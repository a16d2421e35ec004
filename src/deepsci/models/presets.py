"""Published time-series classifiers as CNN block lists: `[model] kind = "cnn"` with `preset = "fcn" | "resnet" |
"inception"`.

fcn and resnet are the networks of Wang, Yan & Oates (2017), "Time series classification from scratch with deep neural
networks: a strong baseline" (IJCNN), as Ismail Fawaz et al. (2019, "Deep learning for time series
classification: a review", DMKD) re-ran them on the 85 UCR sets, where the ResNet ranked first of nine:

    fcn     three convolution blocks (128 channels, width 8; 256, width 5; 128, width 3), each batch
            normalised and ReLU'd, then the global average pool and one linear layer (softmax).
    resnet  three residual blocks of 64, 128 and 128 channels, each three convolutions of widths 8, 5 and 3
            (batch norm, ReLU between them) added to a shortcut (a 1x1 convolution + batch norm where the
            channels change), then the global average pool and one linear layer.

inception is one network of InceptionTime (Ismail Fawaz et al. 2020, "InceptionTime: finding AlexNet for time
series classification", DMKD 34), the ensemble that matched HIVE-COTE on the UCR archive:

    inception  six Inception modules (each a 1x1 bottleneck to 32 channels, convolutions of widths 40, 20 and 10
            with 32 channels each and a max-pool + 1x1 branch of 32, concatenated to 128, batch norm, ReLU), a
            residual shortcut (1x1 convolution + batch norm) around every three, then the global average pool
            and one linear layer (deepsci.models.inception).

The paper's classifier is an ensemble of five such networks from different random initialisations, their
softmax outputs averaged: `[uncertainty] method = "ensemble"` with `members = 5` trains exactly that
(deepsci.training.ensemble_any). Its recipe: Adam at lr 1e-3, batches of 64 (at most a tenth of the training
series), 1500 epochs, the learning rate halved when the training loss stalls for 50 epochs (down to 1e-4).

No pooling inside: the length is kept, so any series length works, and the global pool makes the head
independent of it. The blocks are the ones `[model] blocks` spells out (deepsci.models.cnn), so a preset's
model.json is an ordinary CNN's. The Wang et al. recipe is Adam at lr 1e-3 with batches of 16 and the
learning rate halved when the training loss stalls for 50 epochs, for 1500 (resnet) or 2000 (fcn) epochs;
deepsci keeps `[train]` as given (docs/signals.md says what the default run uses).
"""

from __future__ import annotations

from typing import Any

PRESETS: dict[str, list[dict[str, Any]]] = {
    "fcn": [{"type": "conv", "channels": c, "kernel": k, "padding": "same", "batch_norm": True}
            for c, k in ((128, 8), (256, 5), (128, 3))],
    "resnet": [{"type": "residual", "channels": c, "kernels": [8, 5, 3], "batch_norm": True} for c in (64, 128, 128)],
    "inception": [{"type": "inception", "filters": 32, "kernels": [40, 20, 10], "bottleneck": 32, "depth": 3}
                  for _ in range(2)],
}


def preset_blocks(name: str) -> list[dict[str, Any]]:
    """The block list of preset `name` (a fresh copy: a caller may edit it)."""
    return [dict(block) for block in PRESETS[name]]
