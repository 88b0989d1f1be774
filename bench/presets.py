"""Parameters and training / prediction throughput of each MultiDigitNet preset, per backend.

    python bench/presets.py [--backends torch tensorflow jax] [--presets small small_wide seed goodfellow]
                            [--batch 64] [--json results.json]

Each backend runs in its own process (TensorFlow and Triton cannot share one). A
training step is forward + backward + Adam update on one batch (model.train_on_batch);
prediction is model.predict_on_batch. Ratios are against the `small` preset measured
in the same worker.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import machine_description, markdown_table, run_on_backend, time_per_call  # noqa: E402

PRESETS = ("small", "small_wide", "seed", "goodfellow")


def measure(presets, batch):
    import keras
    import numpy as np

    import kerasvhn

    rng = np.random.default_rng(0)
    x = rng.uniform(size=(batch, 54, 54, 3)).astype("float32")
    y = kerasvhn.encode_numbers([str(n) for n in rng.integers(0, 10**4, size=batch)])
    rows = []
    for preset in presets:
        model = kerasvhn.MultiDigitNet(preset)
        model.compile(optimizer="adam")
        slow = preset == "goodfellow"
        train = time_per_call(lambda: model.train_on_batch(x, y), warmup=2, repeats=3 if slow else 5)
        predict = time_per_call(lambda: model.predict_on_batch(x), warmup=2, repeats=3 if slow else 5)
        rows.append(
            {
                "backend": keras.backend.backend(),
                "preset": preset,
                "parameters": model.count_params(),
                "batch": batch,
                "train_images_per_s": batch / train,
                "predict_images_per_s": batch / predict,
            }
        )
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=["torch", "tensorflow", "jax"])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=PRESETS)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.presets, args.batch)))
        return
    rows = []
    for backend in args.backends:
        print(f"measuring {', '.join(args.presets)} on {backend} ...", flush=True)
        rows += run_on_backend(__file__, backend, ["--presets", *args.presets, "--batch", str(args.batch)])
    for row in rows:
        base = next((r for r in rows if r["backend"] == row["backend"] and r["preset"] == "small"), None)
        if base:
            row["train_vs_small"] = row["train_images_per_s"] / base["train_images_per_s"]
    print(f"\nMultiDigitNet presets on {machine_description()}, batch {args.batch}, float32\n")
    print(
        markdown_table(
            rows,
            [
                ("preset", "preset", "{}"),
                ("backend", "backend", "{}"),
                ("parameters", "parameters", "{:,}"),
                ("train_images_per_s", "training images/s", "{:.0f}"),
                ("predict_images_per_s", "prediction images/s", "{:.0f}"),
                ("train_vs_small", "training speed vs small", "{:.2f}x"),
            ],
        )
    )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": machine_description(), "rows": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
