"""Published time-series classifiers as CNN block lists: `[model] kind = "cnn"` with `preset = "fcn" | "resnet"`.

Both are the networks of Wang, Yan & Oates (2017), "Time series classification from scratch with deep neural
networks: a strong baseline" (IJCNN), as Ismail Fawaz et al. (2019, "Deep learning for time series
classification: a review", DMKD) re-ran them on the 85 UCR sets, where the ResNet ranked first of nine:

    fcn     three convolution blocks (128 channels, width 8; 256, width 5; 128, width 3), each batch
            normalised and ReLU'd, then the global average pool and one linear layer (softmax).
    resnet  three residual blocks of 64, 128 and 128 channels, each three convolutions of widths 8, 5 and 3
            (batch norm, ReLU between them) added to a shortcut (a 1x1 convolution + batch norm where the
            channels change), then the global average pool and one linear layer.

No pooling inside: the length is kept, so any series length works, and the global pool makes the head
independent of it. The blocks are the ones `[model] blocks` spells out (deepsci.models.cnn), so a preset's
model.json is an ordinary CNN's. Their published recipe is Adam at lr 1e-3 with batches of 16 and the
learning rate halved when the training loss stalls for 50 epochs, for 1500 (resnet) or 2000 (fcn) epochs;
deepsci keeps `[train]` as given (docs/signals.md says what the default run uses).
"""

from __future__ import annotations

from typing import Any

PRESETS: dict[str, list[dict[str, Any]]] = {
    "fcn": [{"type": "conv", "channels": c, "kernel": k, "padding": "same", "batch_norm": True}
            for c, k in ((128, 8), (256, 5), (128, 3))],
    "resnet": [{"type": "residual", "channels": c, "kernels": [8, 5, 3], "batch_norm": True} for c in (64, 128, 128)],
}


def preset_blocks(name: str) -> list[dict[str, Any]]:
    """The block list of preset `name` (a fresh copy: a caller may edit it)."""
    return [dict(block) for block in PRESETS[name]]
