"""Why kerasvhn writes digitStruct.mat with NumPy: the same file through h5py, side by side.

Writes N made-up SVHN records twice, with `kerasvhn.data.digitstruct_writer` (MATLAB's
layout, bytes composed with NumPy) and with plain h5py (one libhdf5 object per value, as
a short writer would), then reads both back with `read_digitstruct` and prints write and
read times, the read path taken and whether both give the same numbers.

    python bench/digitstruct_writers.py --count 5000
"""

import argparse
import os
import tempfile
import time

import h5py
import numpy as np

from kerasvhn.data.digitstruct import read_digitstruct
from kerasvhn.data.digitstruct_writer import MATLAB_FIELDS, random_digitstruct, write_digitstruct


def write_with_h5py(path, records):
    """The same groups and object references as MATLAB's file, written one object at a time."""
    with h5py.File(path, "w", libver="earliest") as handle:
        refs = handle.create_group("#refs#")
        top = handle.create_group("digitStruct")
        names = top.create_dataset("name", (len(records), 1), dtype=h5py.ref_dtype)
        boxes = top.create_dataset("bbox", (len(records), 1), dtype=h5py.ref_dtype)
        cells = 0
        for i, record in enumerate(records):
            name = np.frombuffer(record["name"].encode(), np.uint8).astype(np.uint16)[:, None]
            names[i, 0] = refs.create_dataset(f"n{i}", data=name).ref
            group = refs.create_group(f"b{i}")
            for field in MATLAB_FIELDS:
                values = record[field]
                if len(values) == 1:
                    group.create_dataset(field, data=np.array([[values[0]]], np.float64))
                    continue
                references = []
                for value in values:
                    references.append(refs.create_dataset(f"v{cells}", data=np.array([[value]], np.float64)).ref)
                    cells += 1
                group.create_dataset(field, data=np.array(references, dtype=h5py.ref_dtype)[:, None])
            boxes[i, 0] = group.ref


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=5000)
    args = parser.parse_args(argv)
    records = list(random_digitstruct(args.count, seed=0).records())
    folder = tempfile.mkdtemp()
    numpy_path, h5py_path = os.path.join(folder, "numpy.mat"), os.path.join(folder, "h5py.mat")
    _, numpy_seconds = timed(write_digitstruct, numpy_path, records)
    _, h5py_seconds = timed(write_with_h5py, h5py_path, records)
    print(f"write {args.count} images: NumPy writer {numpy_seconds:.2f} s, h5py {h5py_seconds:.2f} s "
          f"({h5py_seconds / numpy_seconds:.0f}x slower)")
    reference = None
    for label, path in (("NumPy writer", numpy_path), ("h5py", h5py_path)):
        boxes, seconds = timed(read_digitstruct, path)
        reference = reference or boxes.numbers()
        print(f"read the {label} file: {seconds:.2f} s, path {boxes.method!r}, "
              f"{len(boxes.fallback)} of {len(boxes)} images through h5py, same numbers: {boxes.numbers() == reference}")


if __name__ == "__main__":
    main()
