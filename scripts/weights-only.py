#!/usr/bin/env python3
"""Copies a mann checkpoint (safetensors) without its optimiser state: the model's weights and all of
its metadata, enough for the examples' --eval-only. Standard library only.

    scripts/weights-only.py out/omniglot/mann.safetensors pretrained/omniglot_mann_table1.safetensors
"""
import json
import os
import struct
import sys

OPTIMISER_PREFIXES = ("rmsprop.", "adam.")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip())
    source, target = sys.argv[1], sys.argv[2]
    with open(source, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
        data = f.read()
    kept, offset, chunks = {}, 0, []
    for name, info in header.items():
        if name == "__metadata__":
            kept[name] = info
            continue
        if name.startswith(OPTIMISER_PREFIXES):
            continue
        begin, end = info["data_offsets"]
        chunks.append(data[begin:end])
        kept[name] = dict(info, data_offsets=[offset, offset + end - begin])
        offset += end - begin
    if not any(name != "__metadata__" for name in kept):
        sys.exit(f"{source}: no weights in it")
    text = json.dumps(kept, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-aligned
    temporary = target + ".partial"
    with open(temporary, "wb") as f:  # nothing half-written under the target's name
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))
    os.replace(temporary, target)
    print(f"{target}: {len(chunks)} tensors, {os.path.getsize(target)} bytes")


if __name__ == "__main__":
    main()
