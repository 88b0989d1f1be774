"""Do SplitBatches keep up with training? Batches/s against training steps/s, per backend.

    python bench/batches.py [--backends torch tensorflow jax] [--images 5000] [--batch 64]
                            [--json results.json]

Each backend worker writes an HDF5 split of synthetic random 64x64 images to a
temporary folder (kerasvhn.data.splits.write_split), then measures in the same
process: SplitBatches in training mode (random 54x54 crops, shuffled order), read
from memory (in_memory="auto" loads a split this small) and from the file batch by
batch (in_memory=False, as for the 2.5 GB extra split), one batch per call on one
thread; and the small model's training step (model.train_on_batch, forward +
backward + Adam) on a batch of the same size. The ratio batches/s over steps/s must
be above 1 for the input pipeline not to slow training down.
"""

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import machine_description, markdown_table, run_on_backend, time_per_call  # noqa: E402


def measure(images, batch):
    import keras
    import numpy as np

    import kerasvhn
    from kerasvhn.data.batches import SplitBatches
    from kerasvhn.data.splits import write_split

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(images, 64, 64, 3), dtype=np.uint8)
    labels = kerasvhn.encode_numbers([str(n) for n in rng.integers(0, 10**4, size=images)])
    names = [f"synthetic/{i + 1}.png" for i in range(images)]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        path = write_split(os.path.join(folder, "train.h5"), pixels, labels, names)
        del pixels

        model = kerasvhn.MultiDigitNet("small")
        model.compile(optimizer="adam")
        x, y = SplitBatches(path, batch_size=batch)[0]
        step = time_per_call(lambda: model.train_on_batch(x, y), warmup=2, repeats=5)

        for source, in_memory in (("in memory", "auto"), ("from file", False)):
            batches = SplitBatches(path, batch_size=batch, training=True, in_memory=in_memory)
            position = iter(range(0))

            def next_batch():
                nonlocal position
                index = next(position, None)
                if index is None:
                    batches.on_epoch_end()
                    position = iter(range(len(batches) - 1))  # full batches only
                    index = next(position)
                return batches[index]

            per_batch = time_per_call(next_batch, warmup=2, repeats=20, min_seconds=1.0)
            batches.close()
            rows.append(
                {
                    "backend": keras.backend.backend(),
                    "source": source,
                    "images": images,
                    "batch": batch,
                    "batches_per_s": 1.0 / per_batch,
                    "train_steps_per_s": 1.0 / step,
                    "ratio": step / per_batch,
                }
            )
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=["torch", "tensorflow", "jax"])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.images, args.batch)))
        return
    rows = []
    for backend in args.backends:
        print(f"measuring on {backend} ...", flush=True)
        rows += run_on_backend(__file__, backend, ["--images", str(args.images), "--batch", str(args.batch)])
    print(
        f"\nSplitBatches (training mode, {args.images} synthetic 64x64 images in HDF5, one thread) "
        f"vs small-model training steps, on {machine_description()}, batch {args.batch}\n"
    )
    print(
        markdown_table(
            rows,
            [
                ("backend", "backend", "{}"),
                ("source", "images read", "{}"),
                ("batches_per_s", "batches/s", "{:.1f}"),
                ("train_steps_per_s", "training steps/s", "{:.2f}"),
                ("ratio", "batches per step", "{:.1f}x"),
            ],
        )
    )
    slow = [row for row in rows if row["ratio"] <= 1]
    print("\nbatches keep up with training" if not slow else f"\nWARNING: batches are slower than training in {len(slow)} row(s)")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": machine_description(), "rows": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
