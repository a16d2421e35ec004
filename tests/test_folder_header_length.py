"""A safetensors file whose header length has 0x80 as its low byte is a safetensors file, not a pickle.

A pickle starts with 0x80 (PROTO); a safetensors file starts with its header's length as 8 little-endian
bytes, so one header length in 256 (e.g. an 8-member graph ensemble's) begins with the same byte. The
header's JSON starts at byte 8 with "{", which tells the two apart.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from deepsci.folder import read_weights


def test_header_length_with_low_byte_0x80_is_read(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    for pad in range(300):  # lengthen a tensor name until the header length ends in 0x80
        tensors = {"w" + "x" * pad: torch.arange(3.0)}
        save_file(tensors, str(path))
        if path.read_bytes()[0] == 0x80:
            break
    assert path.read_bytes()[0] == 0x80 and path.read_bytes()[8:9] == b"{"
    assert torch.equal(read_weights(path)["w" + "x" * pad], torch.arange(3.0))
