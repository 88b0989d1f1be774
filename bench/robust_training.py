"""The adversarial-training experiment: does FGSM-RS adversarial training at eps 4/255
make the shipped small model robust to PGD-10, and what does it cost in clean accuracy?

    KERAS_BACKEND=tensorflow python bench/robust_training.py [--train-count 30000]
        [--epochs 3] [--test-count 500] [--eps 4] [--out reports/robust_training]

Both arms start from the shipped `small_synthetic` weights and see the same images
(synthetic, training fonts and backgrounds, purpose "train", seed 10) for the same epochs with the same
optimiser and schedule; only the adversarial arm has `kerasvhn.AdversarialTraining`
(FGSM with a random start, half of each batch adversarial, eps ramped over the first
epoch, PGD collapse guard on a held batch). Both are then attacked on the same test
images (purpose "benchmark", seed 11: never drawn for training) with FGSM and PGD-10 (random start, 10 steps of eps/4) at eps 0, 1, 2,
4 and 8 /255. Prints both report tables and the two figures of issue 5: the PGD-10
gain at eps 4/255 (target: at least +20 points) and the clean drop (at most 3 points).
"""

import argparse
import json
import os
import sys
import time

import keras

import kerasvhn
from kerasvhn.adversarial import report
from kerasvhn.data.batches import SplitBatches
from kerasvhn.seeding import set_random_seed
from kerasvhn.framing import centre_crops
from kerasvhn.train import cosine_schedule, render

EPS_GRID = (0.0, 1 / 255, 2 / 255, 4 / 255, 8 / 255)


def fine_tune(train, epochs, learning_rate, seed, callbacks=()):
    set_random_seed(seed)
    model = kerasvhn.MultiDigitNet.from_preset("small_synthetic")
    model.compile(optimizer=keras.optimizers.Adam(cosine_schedule(learning_rate, len(train), epochs)))
    start = time.perf_counter()
    history = model.fit(train, epochs=epochs, callbacks=list(callbacks), verbose=2)
    return model, history.history, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-count", type=int, default=30_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--test-count", type=int, default=500)
    parser.add_argument("--eps", type=float, default=4.0, help="training eps, in /255 (default: 4)")
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--out", default="reports/robust_training")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    images, labels = render("train", args.train_count, 10, "train", progress=sys.stderr.isatty())
    test_images, test_labels = render("benchmark", args.test_count, 11, "train", progress=False)
    test = (centre_crops(test_images), test_labels)
    monitor = (test[0][:64], {k: v[:64] for k, v in test_labels.items()})
    train = SplitBatches((images, labels), batch_size=64, training=True, seed=10)

    clean, clean_history, clean_seconds = fine_tune(train, args.epochs, args.learning_rate, 10)
    train.epoch = 0
    callback = kerasvhn.AdversarialTraining(
        eps=args.eps / 255, ratio=0.5, attack="fgsm-rs", ramp_epochs=1, monitor=monitor, restore_on_collapse=True
    )
    robust, robust_history, robust_seconds = fine_tune(train, args.epochs, args.learning_rate, 10, [callback])

    tables = {}
    for name, model in (("clean fine-tuning", clean), ("adversarial fine-tuning", robust)):
        start = time.perf_counter()
        rows = report.robustness_report(model, test, eps=EPS_GRID, attacks=("fgsm", "pgd-10"), seed=0)
        tables[name] = rows
        print(f"\n{name} ({args.test_count} test images, attacked in {time.perf_counter() - start:.0f} s):")
        print(report.format_report(rows))
        slug = name.split()[0]
        report.write_report_csv(rows, os.path.join(args.out, f"{slug}.csv"))
        report.plot_report(rows, os.path.join(args.out, f"{slug}.png"))

    def accuracy(name, attack, eps):
        return next(r["sequence_accuracy"] for r in tables[name] if r["attack"] == attack and abs(r["eps"] - eps) < 1e-9)

    eps = args.eps / 255
    gain = accuracy("adversarial fine-tuning", "pgd-10", eps) - accuracy("clean fine-tuning", "pgd-10", eps)
    drop = accuracy("clean fine-tuning", "pgd-10", 0.0) - accuracy("adversarial fine-tuning", "pgd-10", 0.0)
    print(f"\nPGD-10 whole-number accuracy at eps {args.eps:g}/255: {100 * gain:+.1f} points (target >= +20)")
    print(f"clean whole-number accuracy: {-100 * drop:+.1f} points (target: a drop of at most 3)")
    print(f"fine-tuning time: clean {clean_seconds:.0f} s, adversarial {robust_seconds:.0f} s "
          f"({robust_seconds / clean_seconds:.2f}x), {keras.backend.backend()} backend")
    summary = {
        "settings": vars(args),
        "backend": keras.backend.backend(),
        "tables": tables,
        "pgd10_gain_points": 100 * gain,
        "clean_drop_points": 100 * drop,
        "seconds": {"clean": clean_seconds, "adversarial": robust_seconds},
        "history": {"clean": clean_history, "adversarial": {k: [float(x) for x in v] for k, v in robust_history.items()}},
    }
    with open(os.path.join(args.out, "summary.json"), "w") as handle:
        json.dump(summary, handle, indent=1, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
