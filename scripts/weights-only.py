#!/usr/bin/env python3
"""Copies a mann checkpoint (safetensors) without its optimiser state: the model's weights and all of
its metadata, enough for the examples' --eval-only. Standard library only.

    scripts/weights-only.py out/omniglot/mann.safetensors pretrained/omniglot_mann_table1.safetensors
"""
import sys

from safetensors_file import OPTIMISER_PREFIXES, read_safetensors, write_safetensors


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip())
    source, target = sys.argv[1], sys.argv[2]
    try:
        metadata, tensors = read_safetensors(source)
    except ValueError as error:
        sys.exit(f"weights-only.py: {error}")
    kept = [t for t in tensors if not t[0].startswith(OPTIMISER_PREFIXES)]
    if not kept:
        sys.exit(f"weights-only.py: {source}: no weights in it")
    size = write_safetensors(target, metadata, kept)
    print(f"{target}: {len(kept)} tensors, {size} bytes")


if __name__ == "__main__":
    main()
