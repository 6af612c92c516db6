"""Writes a safetensors file the way mann's checkpoints are laid out: an 8-byte header length, the
JSON header (with "__metadata__"), padded with spaces so the data starts 8-aligned, then the tensors'
bytes in order. The file is written whole under a temporary name and renamed: nothing half-written
under the target's name. Shared by weights-only.py and average-checkpoints.py (standard library only).
"""
import json
import os
import struct


def write_safetensors(target, metadata, tensors):
    """tensors: (name, dtype, shape, data bytes) in file order. Returns the file's size in bytes."""
    header, offset = {"__metadata__": metadata}, 0
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-aligned
    temporary = target + ".partial"
    with open(temporary, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(data for _, _, _, data in tensors))
    os.replace(temporary, target)
    return os.path.getsize(target)
