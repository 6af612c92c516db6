#!/usr/bin/env python3
"""Averages the weights of several mann checkpoints (safetensors) of one model, tensor by tensor and
entry by entry, into a weights-only file: stochastic weight averaging (Izmailov et al. 2018) of
checkpoints saved along one training run. The optimiser state is left out (as weights-only.py does);
the metadata is the last input's, plus "averaged_checkpoints" (how many) and
"averaged_episodes_done" (each input's episodes_done, comma-separated). Standard library only.

    scripts/average-checkpoints.py OUT IN1 IN2 [IN3 ...]

Every input must hold the same weight tensors (names, dtypes, shapes). The sum is taken in double
precision and rounded once to the tensor's dtype. OUT is written whole or not at all.
"""
import array
import math
import sys

from safetensors_file import OPTIMISER_PREFIXES, read_safetensors, write_safetensors

TYPECODES = {"F32": "f", "F64": "d"}


def fail(message):
    sys.exit(f"average-checkpoints.py: {message}")


def read_checkpoint(path):
    """Returns (metadata dict, {name: (dtype, shape, array of values)}) of the weight tensors."""
    try:
        metadata, stored = read_safetensors(path)
    except ValueError as error:
        fail(str(error))
    tensors = {}
    for name, dtype, shape, data in stored:
        if name.startswith(OPTIMISER_PREFIXES):
            continue
        if dtype not in TYPECODES:
            fail(f"{path}: tensor {name} has dtype {dtype!r}, expected F32 or F64")
        values = array.array(TYPECODES[dtype])
        if len(data) != values.itemsize * math.prod(shape):
            fail(f"{path}: tensor {name} has {len(data)} bytes, which do not fit its shape {shape}")
        values.frombytes(data)
        if sys.byteorder != "little":
            values.byteswap()
        tensors[name] = (dtype, shape, values)
    if not tensors:
        fail(f"{path}: no weights in it")
    return metadata, tensors


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__.strip())
    target, sources = sys.argv[1], sys.argv[2:]
    if target in sources:
        fail(f"the output {target} is also an input")
    first_metadata, first = read_checkpoint(sources[0])
    sums = {name: [float(v) for v in values] for name, (_, _, values) in first.items()}
    episodes = [first_metadata.get("episodes_done", "?")]
    metadata = first_metadata
    for path in sources[1:]:
        metadata, tensors = read_checkpoint(path)
        if tensors.keys() != first.keys():
            fail(f"{path}: its tensors {sorted(tensors)} differ from {sources[0]}'s {sorted(first)}")
        for name, (dtype, shape, values) in tensors.items():
            if (dtype, shape) != first[name][:2]:
                fail(f"{path}: tensor {name} is {dtype} {shape}, {sources[0]} has {first[name][0]} {first[name][1]}")
            total = sums[name]
            for i, v in enumerate(values):
                total[i] += v
        episodes.append(metadata.get("episodes_done", "?"))
    count = len(sources)
    metadata = dict(metadata, averaged_checkpoints=str(count), averaged_episodes_done=",".join(episodes))
    averaged = []
    for name, (dtype, shape, _) in first.items():
        mean = array.array(TYPECODES[dtype], (s / count for s in sums[name]))
        if not all(math.isfinite(v) for v in mean):
            fail(f"tensor {name}: the average is not finite")
        if sys.byteorder != "little":
            mean.byteswap()
        averaged.append((name, dtype, shape, mean.tobytes()))
    size = write_safetensors(target, metadata, averaged)
    print(f"{target}: the mean of {count} checkpoints (episodes_done {', '.join(episodes)}), "
          f"{len(averaged)} tensors, {size} bytes")


if __name__ == "__main__":
    main()
