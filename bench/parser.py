"""How fast is read_digitstruct? Against per-value h5py and mat73, on SVHN-sized files.

    python bench/parser.py [--sizes 33402 202353] [--h5py-subset 1000] [--mat73-limit 33402]
                           [--json results.json]

Writes MATLAB-layout digitStruct.mat files of the train (33,402 images) and extra
(202,353 images) sizes with made-up SVHN-like boxes (kerasvhn.data.digitstruct_writer)
into a temporary folder, then times, one after another in this process:

- h5py per value: the usual reader, one object dereference per name and per box
  value, on the first --h5py-subset images, extrapolated to the whole file
  (labelled so);
- mat73.loadmat, on files of at most --mat73-limit images (the train-sized file
  by default; it takes minutes), in full;
- read_digitstruct(method="pure"): the layout walk in Python, once;
- read_digitstruct(method="fast"): the compiled walk, median of several runs.

Every reader's records are checked against what was written. The files are in
the page cache when read (just written), as they are on a second read.
"""

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# Importing kerasvhn imports Keras; the parser needs no backend, so take the lightest.
os.environ.setdefault("KERAS_BACKEND", "numpy")

from harness import machine_description, markdown_table, time_per_call  # noqa: E402

FIELDS = ("label", "left", "top", "width", "height")


def plain_h5py(path, limit):
    """The per-value reader (how expected.jsonl was made), on the first limit images."""
    import h5py

    records = []
    with h5py.File(path, "r") as f:
        names, boxes = f["digitStruct/name"], f["digitStruct/bbox"]
        for i in range(min(limit, names.shape[0])):
            name = "".join(chr(c) for c in f[names[i, 0]][()].ravel())
            group = f[boxes[i, 0]]
            record = {"name": name}
            for field in FIELDS:
                data = group[field]
                if data.dtype == object:
                    record[field] = [float(f[ref][0, 0]) for ref in data[:, 0]]
                else:
                    record[field] = [float(data[0, 0])]
            records.append(record)
    return records


def mat73_records(path):
    import numpy as np
    import mat73

    loaded = mat73.loadmat(path, verbose=False)["digitStruct"]
    return [
        {"name": name, **{f: np.atleast_1d(np.asarray(bbox[f], np.float64)).ravel().tolist() for f in FIELDS}}
        for name, bbox in zip(loaded["name"], loaded["bbox"])
    ]


def timed_once(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def measure(size, folder, h5py_subset, mat73_limit):
    from kerasvhn.data.digitstruct import read_digitstruct
    from kerasvhn.data.digitstruct_writer import random_digitstruct, write_digitstruct

    source = random_digitstruct(size, seed=size)
    expected = list(source.records())
    path = os.path.join(folder, f"digitStruct_{size}.mat")
    write_seconds, _ = timed_once(lambda: write_digitstruct(path, source))
    file_mb = os.path.getsize(path) / 1e6
    print(f"wrote {size:,} images ({file_mb:,.0f} MB) in {write_seconds:.1f} s", flush=True)
    rows = []

    def row(method, seconds, how):
        rows.append({"images": size, "file_mb": file_mb, "method": method, "seconds": seconds, "how": how})
        print(f"  {method}: {seconds:.3f} s ({how})", flush=True)

    subset = min(h5py_subset, size)
    seconds, records = timed_once(lambda: plain_h5py(path, subset))
    assert records == expected[:subset], "h5py per value misread"
    row(
        "h5py, one dereference per value",
        seconds * size / subset,
        "full" if subset == size else f"extrapolated from {subset:,}",
    )

    try:
        import mat73  # noqa: F401
    except ImportError:
        print("  mat73 not installed: skipped (pip install mat73)")
    else:
        if size <= mat73_limit:
            seconds, records = timed_once(lambda: mat73_records(path))
            assert records == expected, "mat73 misread"
            row("mat73.loadmat", seconds, "full")
        else:
            print(f"  mat73: skipped above --mat73-limit {mat73_limit:,} images (it takes minutes)")

    seconds, boxes = timed_once(lambda: read_digitstruct(path, method="pure"))
    assert list(boxes.records()) == expected and not len(boxes.fallback), "pure walk misread"
    row("read_digitstruct, pure Python walk", seconds, "full, 1 run")

    boxes = read_digitstruct(path, method="fast")
    assert list(boxes.records()) == expected and not len(boxes.fallback), "fast walk misread"
    seconds = time_per_call(lambda: read_digitstruct(path, method="fast"), warmup=1, repeats=5)
    row("read_digitstruct, compiled walk", seconds, "full, median of 5+")
    os.remove(path)

    fast = rows[-1]["seconds"]
    for entry in rows:
        entry["fast_speedup"] = entry["seconds"] / fast
        entry["images_per_s"] = size / entry["seconds"]
    return rows


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", nargs="+", type=int, default=[33402, 202353])
    parser.add_argument("--h5py-subset", type=int, default=1000, help="images read per value with h5py")
    parser.add_argument("--mat73-limit", type=int, default=33402, help="largest file mat73 reads")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args()

    from kerasvhn.data.digitstruct import extension_available

    if not extension_available():
        sys.exit("the compiled extension is not built (pip install -e .) or KERASVHN_NO_EXTENSIONS=1 is set")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_parser_") as folder:
        for size in args.sizes:
            rows += measure(size, folder, args.h5py_subset, args.mat73_limit)
    print()
    print(f"digitStruct.mat parsing, {machine_description()}, files in the page cache")
    print()
    print(
        markdown_table(
            rows,
            [
                ("images", "images", "{:,}"),
                ("file_mb", "file MB", "{:,.0f}"),
                ("method", "reader", "{}"),
                ("seconds", "seconds", "{:,.3f}"),
                ("images_per_s", "images/s", "{:,.0f}"),
                ("fast_speedup", "compiled walk is x faster", "{:,.1f}"),
                ("how", "measured", "{}"),
            ],
        )
    )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": machine_description(), "rows": rows}, handle, indent=1)


if __name__ == "__main__":
    main()
