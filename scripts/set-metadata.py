#!/usr/bin/env python3
"""Copies a mann checkpoint (safetensors) with some of its settings changed, to evaluate trained
weights at another test-time setting: the examples' --eval-only rebuilds the model from the
checkpoint's metadata and refuses a command-line setting that differs from it. Standard library only.

    scripts/set-metadata.py IN OUT KEY=VALUE [KEY=VALUE ...]
    scripts/set-metadata.py pretrained/omniglot_mann_table2_15_strings.safetensors out/beta70.safetensors head.read_sharpness=70

Each KEY must already be in IN's metadata (a misspelt key is an error, not a new entry). The tensors
are copied unchanged; the metadata gains "edited_metadata", listing each change as "KEY: OLD -> NEW".
Whether the model accepts the new value is for --eval-only to say (e.g. head.width must match the
weights). OUT is written whole or not at all.
"""
import os
import sys

from safetensors_file import read_safetensors, write_safetensors


def fail(message):
    sys.exit(f"set-metadata.py: {message}")


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__.strip())
    source, target, assignments = sys.argv[1], sys.argv[2], sys.argv[3:]
    if os.path.realpath(target) == os.path.realpath(source):
        fail(f"the output {target} is also the input")
    try:
        metadata, tensors = read_safetensors(source)
    except ValueError as error:
        fail(str(error))
    metadata, changes = dict(metadata), []
    for assignment in assignments:
        key, equals, value = assignment.partition("=")
        if not equals or not key:
            fail(f"{assignment!r} is not KEY=VALUE")
        if key not in metadata:
            fail(f"{source} has no setting {key!r}; it has: {', '.join(sorted(metadata))}")
        changes.append(f"{key}: {metadata[key]} -> {value}")
        metadata[key] = value
    previous = metadata.get("edited_metadata")
    metadata["edited_metadata"] = "; ".join(([previous] if previous else []) + changes)
    size = write_safetensors(target, metadata, tensors)
    print(f"{target}: {'; '.join(changes)}; {len(tensors)} tensors, {size} bytes")


if __name__ == "__main__":
    main()
