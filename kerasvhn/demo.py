"""The demo (`make demo`, `kerasvhn demo`): train the small model on synthetic house
numbers, read a held-out set, write a report.

Steps: render a training set, a validation set and a held-out test set with
`kerasvhn.data.render_numbers` (three different seeds); train
`MultiDigitNet("small")` with Adam (cosine-decayed learning rate) on random 54x54
crops of the 64x64 training images, new crops every epoch (the paper's
augmentation); read the test set's centred 54x54 crops with `kerasvhn.decode`; print
whole-number accuracy, per-digit accuracy, coverage at 98% accuracy and the measured
training and prediction speeds; write history.json, training_curves.png,
examples.png and model.keras to the output folder.

Runs on whichever Keras backend is active (KERAS_BACKEND; tensorflow by default).
"""

import json
import os
import sys
import time
from pathlib import Path

import keras
import numpy as np

from kerasvhn.data.batches import SplitBatches
from kerasvhn.data.synth import render_numbers
from kerasvhn.model import MultiDigitNet
from kerasvhn.seeding import set_random_seed
from kerasvhn.sequence import coverage_at_accuracy, decode, labels_to_numbers

#: Defaults of `run_demo`: 2,500 training steps of 64 images, meant to take about
#: 6 minutes on 2 otherwise idle CPU cores with the tensorflow backend.
TRAIN_COUNT = 16_000
TEST_COUNT = 2_000
EPOCHS = 10
CROP = 54
#: The validation set (scored after each epoch, for the training curves) is this
#: size or the test set's, whichever is smaller.
VALIDATION_COUNT = 1_000


def centre_crops(images, crop=CROP):
    """The centred crop x crop windows of uint8 images, as float32 in [0, 1]."""
    height, width = images.shape[1:3]
    top, left = (height - crop) // 2, (width - crop) // 2
    return images[:, top : top + crop, left : left + crop].astype(np.float32) / np.float32(255)


class _TrainingClock(keras.callbacks.Callback):
    """Seconds spent on the training batches of each epoch (validation excluded)."""

    def __init__(self):
        super().__init__()
        self.seconds = []
        self._start = self._end = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._end = time.perf_counter(), None

    def on_test_begin(self, logs=None):
        if self._start is not None and self._end is None:
            self._end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append((self._end or time.perf_counter()) - self._start)


def _render(what, count, seed, log):
    start = time.perf_counter()
    images, labels = render_numbers(count, seed=seed)
    seconds = time.perf_counter() - start
    log(f"rendered {count} {what} images (seed {seed}) in {seconds:.1f} s ({count / max(seconds, 1e-9):.0f} images/s)")
    return images, labels


def _check_count(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def run_demo(
    out_dir="reports/demo",
    train_count=TRAIN_COUNT,
    test_count=TEST_COUNT,
    epochs=EPOCHS,
    seed=0,
    *,
    batch_size=64,
    learning_rate=2e-3,
    preset="small",
    verbose="auto",
    log=print,
):
    """Trains `MultiDigitNet(preset)` on synthetic house numbers and reports how well
    it reads a held-out set.

    Args:
        out_dir: where history.json, training_curves.png, examples.png and
            model.keras are written (created if missing).
        train_count: training images (rendered with `seed`).
        test_count: held-out test images (rendered with `seed + 1`).
        epochs: passes over the training images, new random crops each time.
        seed: seeds the data, the weights' initialisation and the crops; the
            validation set uses `seed + 2`.
        batch_size: training batch size.
        learning_rate: Adam's peak learning rate (short warm-up, then cosine decay
            to 1% of it by the end).
        preset: the MultiDigitNet preset.
        verbose: Keras's progress display in `fit`: 0 (none), 1 (progress bar), 2
            (one line per epoch) or "auto" (1 on a terminal, 2 otherwise: a
            progress bar written to a file or pipe is one line per update).
        log: where the report lines go (print by default).

    Returns:
        A dict with the test figures ("whole_number_accuracy", "per_digit_accuracy",
        "coverage_at_98"), the speeds ("train_images_per_s", "predict_images_per_s"),
        "history" (per-epoch metrics) and "files" (the paths written).
    """
    _check_count("train_count", train_count)
    _check_count("test_count", test_count)
    _check_count("epochs", epochs)
    _check_count("seed", seed, minimum=0)
    _check_count("batch_size", batch_size)
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate!r}")
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    backend = keras.backend.backend()
    log(f"kerasvhn demo: preset {preset!r} on the {backend} backend, {train_count} training "
        f"images x {epochs} epochs, {test_count} test images; writing to {out_dir}")

    train_images, train_labels = _render("training", train_count, seed, log)
    validation_count = min(VALIDATION_COUNT, test_count)
    validation_images, validation_labels = _render("validation", validation_count, seed + 2, log)
    test_images, test_labels = _render("held-out test", test_count, seed + 1, log)

    set_random_seed(seed)
    batches = SplitBatches((train_images, train_labels), batch_size=batch_size, training=True, seed=seed)
    total_steps = len(batches) * epochs
    warmup_steps = min(len(batches) // 2, total_steps // 10)
    schedule = keras.optimizers.schedules.CosineDecay(
        learning_rate / 10,
        decay_steps=max(1, total_steps - warmup_steps),
        alpha=0.01,
        warmup_target=learning_rate,
        warmup_steps=warmup_steps,
    )
    model = MultiDigitNet(preset)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=schedule))
    log(f"training MultiDigitNet({preset!r}): {model.count_params():,} parameters, "
        f"{len(batches)} batches of {batches.batch_size} per epoch")
    clock = _TrainingClock()
    history = model.fit(
        batches,
        epochs=epochs,
        validation_data=(centre_crops(validation_images), validation_labels),
        callbacks=[clock],
        verbose=verbose,
    )
    # The first epoch includes tracing/compilation: leave it out when there are others.
    timed = clock.seconds[1:] if len(clock.seconds) > 1 else clock.seconds
    train_images_per_s = train_count * len(timed) / sum(timed)

    x_test = centre_crops(test_images)
    predict_batch = 256
    # Compile first, for a full batch and for the last partial one (jax compiles each shape).
    warm_up = predict_batch + len(x_test) % predict_batch if len(x_test) > predict_batch else len(x_test)
    model.predict(x_test[:warm_up], batch_size=predict_batch, verbose=0)
    start = time.perf_counter()
    outputs = model.predict(x_test, batch_size=predict_batch, verbose=0)
    predict_images_per_s = len(x_test) / (time.perf_counter() - start)

    numbers, confidences = decode(outputs)
    truth = labels_to_numbers(test_labels)
    correct = np.array([p == t for p, t in zip(numbers, truth)])
    whole = float(correct.mean())
    digit_pred = np.argmax(outputs["digits"], axis=-1)
    positions = np.arange(digit_pred.shape[1])[None, :] < test_labels["length"][:, None]
    hits = (digit_pred == test_labels["digits"]) & positions
    per_digit = float(hits.sum() / max(positions.sum(), 1))
    coverage = coverage_at_accuracy(confidences, correct, 0.98)

    files = {
        "history": out_dir / "history.json",
        "curves": out_dir / "training_curves.png",
        "examples": out_dir / "examples.png",
        "model": out_dir / "model.keras",
    }
    per_epoch = {key: [float(v) for v in values] for key, values in history.history.items()}
    results = {
        "whole_number_accuracy": whole,
        "per_digit_accuracy": per_digit,
        "coverage_at_98": coverage,
        "train_images_per_s": train_images_per_s,
        "predict_images_per_s": predict_images_per_s,
    }
    report = {
        "backend": backend,
        "keras_version": keras.__version__,
        "preset": preset,
        "parameters": int(model.count_params()),
        "settings": {
            "train_count": train_count,
            "validation_count": validation_count,
            "test_count": test_count,
            "epochs": epochs,
            "seed": seed,
            "validation_seed": seed + 2,
            "test_seed": seed + 1,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "crop": CROP,
        },
        "history": per_epoch,
        "test": {**results, "count": test_count},
        "wall_seconds": None,
    }
    _plot_curves(per_epoch, files["curves"])
    _plot_examples(test_images[:32], numbers[:32], confidences[:32], truth[:32], files["examples"])
    model.save(files["model"])
    wall = time.perf_counter() - started
    report["wall_seconds"] = wall
    files["history"].write_text(json.dumps(report, indent=2) + "\n")

    log(f"held-out test set: {test_count} images, centred {CROP}x{CROP} crops")
    log(f"whole-number accuracy: {100 * whole:.1f}%")
    log(f"per-digit accuracy: {100 * per_digit:.1f}%")
    log(f"coverage at 98% accuracy: {100 * coverage:.1f}%")
    log(f"training: {train_images_per_s:.0f} images/s; prediction: {predict_images_per_s:.0f} images/s "
        f"({backend}, {os.cpu_count()} CPU cores visible)")
    log(f"wrote {', '.join(str(path) for path in files.values())} ({wall:.0f} s in all)")
    return {**results, "history": per_epoch, "files": {k: str(v) for k, v in files.items()}}


def _figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)  # the Agg canvas, whatever pyplot's backend is
    return figure


def _plot_curves(history, path):
    from matplotlib.ticker import MaxNLocator

    figure = _figure(10, 4)
    panels = figure.subplots(1, 2)
    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    for panel, metric, title in (
        (panels[0], "loss", "loss"),
        (panels[1], "sequence_accuracy", "whole-number accuracy"),
    ):
        for key, label in ((metric, "training (random crops)"), (f"val_{metric}", "validation (centred)")):
            if key in history:
                panel.plot(epochs, history[key], marker="o", label=label)
        panel.set_title(title)
        panel.set_xlabel("epoch")
        panel.xaxis.set_major_locator(MaxNLocator(integer=True))
        panel.grid(alpha=0.3)
        panel.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def _plot_examples(images, numbers, confidences, truth, path, columns=8):
    rows = -(-len(images) // columns)
    figure = _figure(columns * 1.4, rows * 1.85)
    axes = figure.subplots(rows, columns, squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index >= len(images):
            continue
        axis.imshow(images[index])
        right = numbers[index] == truth[index]
        text = f"{numbers[index] or 'none'} ({100 * confidences[index]:.0f}%)"
        if not right:
            text += f"\ntrue: {truth[index] or 'none'}"
        axis.set_title(text, fontsize=8, color="green" if right else "red")
    figure.suptitle("held-out test images: prediction (confidence); green right, red wrong", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
