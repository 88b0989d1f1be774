"""Which network reads real photos best after synthetic training? Presets trained from
fresh weights on the same synthetic images, then read the same real and synthetic tests.

    KERAS_BACKEND=tensorflow python bench/model_choice.py [--presets small,small_wide,seed]
        [--count 120000] [--epochs 4] [--photos ../shared/real-dev] [--out reports/model_choice]

Every arm sees the same training images (purpose "train", seed --seed, today's
generator and its default styles and effects) and validation images, in the same
order and crops, with Adam, warm-up and cosine decay from --learning-rate. Then each
reads: the photos of --photos (whole, as `kerasvhn predict` does; tight and loose
counted apart), 2,000 synthetic test images (purpose "benchmark", held-out fonts and
backgrounds, SVHN's mix of lengths) and the real SVHN fixture cropped by its boxes.
Each arm's weights go to --out/<preset>.weights.h5 (with their config sidecar), so
the best arm can be trained further. The photos are only measured: nothing here
chooses anything on them.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from harness import machine_description, markdown_table  # noqa: E402
from real_scores import COLUMNS, PHOTOS, photo_folder, scores, synthetic_test  # noqa: E402


def train_arm(preset, data, epochs, learning_rate, seed):
    import keras

    from kerasvhn.data.batches import SplitBatches
    from kerasvhn.framing import centre_crops
    from kerasvhn.model import MultiDigitNet
    from kerasvhn.seeding import set_random_seed
    from kerasvhn.train import TrainingClock, cosine_schedule

    set_random_seed(seed)
    batches = SplitBatches(data["train"], batch_size=64, training=True, seed=seed)
    model = MultiDigitNet(preset)
    model.compile(optimizer=keras.optimizers.Adam(cosine_schedule(learning_rate, len(batches), epochs)))
    clock = TrainingClock()
    val_images, val_labels = data["validation"]
    start = time.perf_counter()
    model.fit(batches, epochs=epochs, validation_data=(centre_crops(val_images), val_labels), callbacks=[clock],
              verbose=2)
    return model, time.perf_counter() - start, clock.images_per_second(len(data["train"][0]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="small,small_wide,seed")
    parser.add_argument("--count", type=int, default=120_000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--photos", default=str(PHOTOS))
    parser.add_argument("--out", default="reports/model_choice")
    args = parser.parse_args(argv)
    import keras

    from kerasvhn.saving import save_model
    from kerasvhn.train import render

    os.makedirs(args.out, exist_ok=True)
    photos = photo_folder(args.photos)
    data = {"train": render("train", args.count, args.seed), "validation": render("validation", 2000, args.seed)}
    synthetic = synthetic_test(seed=args.seed)
    rows = []
    for preset in args.presets.split(","):
        model, seconds, speed = train_arm(preset, data, args.epochs, args.learning_rate, args.seed)
        save_model(model, os.path.join(args.out, f"{preset}.weights.h5"))
        row = {"preset": preset, "parameters": model.count_params(), "train_minutes": seconds / 60,
               "images_per_s": speed, **scores(model, photos, synthetic)}
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "photo_readings"}), flush=True)
    print(f"\n{args.count} synthetic training images x {args.epochs} epochs, Keras {keras.__version__} on "
          f"{keras.backend.backend()}, {machine_description()}\n")
    print(markdown_table(rows, [
        ("preset", "preset", "{}"), ("parameters", "parameters", "{:,}"),
        ("train_minutes", "training minutes", "{:.1f}"), ("images_per_s", "training images/s", "{:.0f}"), *COLUMNS,
    ]))
    with open(os.path.join(args.out, "summary.json"), "w") as handle:
        json.dump({"args": vars(args), "machine": machine_description(), "rows": rows}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
