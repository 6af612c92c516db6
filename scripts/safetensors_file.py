"""Reads and writes safetensors files the way mann's checkpoints are laid out: an 8-byte header
length, the JSON header (with "__metadata__"), padded with spaces so the data starts 8-aligned, then
the tensors' bytes in order. A file is written whole under a temporary name and renamed: nothing
half-written under the target's name. Shared by weights-only.py, average-checkpoints.py and
set-metadata.py (standard library only).
"""
import json
import os
import struct

OPTIMISER_PREFIXES = ("rmsprop.", "adam.")


def read_safetensors(path):
    """Returns (metadata dict, [(name, dtype, shape, data bytes)] in file order).
    Raises ValueError naming the file and what is wrong with it."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as error:
        raise ValueError(f"{path}: cannot read ({error.strerror})") from None
    if len(raw) < 8:
        raise ValueError(f"{path}: too short for a safetensors file")
    (length,) = struct.unpack("<Q", raw[:8])
    if 8 + length > len(raw):
        raise ValueError(f"{path}: its header length {length} runs past the end of the file")
    try:
        header = json.loads(raw[8:8 + length])
    except ValueError as error:
        raise ValueError(f"{path}: the header is not JSON ({error})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: the header is not a JSON object")
    data = memoryview(raw)[8 + length:]
    tensors = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            begin, end = (int(v) for v in info["data_offsets"])
            shape = [int(n) for n in info["shape"]]
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{path}: tensor {name} has no valid shape and data_offsets in the header") from None
        if not 0 <= begin <= end <= len(data):
            raise ValueError(f"{path}: tensor {name} has data_offsets {begin}..{end} outside its {len(data)} data bytes")
        tensors.append((name, info.get("dtype"), shape, bytes(data[begin:end])))
    metadata = header.get("__metadata__", {})
    if not isinstance(metadata, dict):
        raise ValueError(f"{path}: its __metadata__ is not a JSON object")
    return metadata, tensors


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
