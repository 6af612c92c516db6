#!/usr/bin/env python3
"""Copies a mann checkpoint (safetensors) without its optimiser state: the model's weights and all of
its metadata, enough for the examples' --eval-only. Standard library only.

    scripts/weights-only.py out/omniglot/mann.safetensors pretrained/omniglot_mann_table1.safetensors
"""
import json
import struct
import sys

from safetensors_file import write_safetensors

OPTIMISER_PREFIXES = ("rmsprop.", "adam.")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip())
    source, target = sys.argv[1], sys.argv[2]
    with open(source, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
        data = f.read()
    metadata, kept = header.get("__metadata__", {}), []
    for name, info in header.items():
        if name == "__metadata__" or name.startswith(OPTIMISER_PREFIXES):
            continue
        begin, end = info["data_offsets"]
        kept.append((name, info["dtype"], info["shape"], data[begin:end]))
    if not kept:
        sys.exit(f"{source}: no weights in it")
    size = write_safetensors(target, metadata, kept)
    print(f"{target}: {len(kept)} tensors, {size} bytes")


if __name__ == "__main__":
    main()
