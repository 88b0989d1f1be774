"""Training MultiDigitNet on synthetic house numbers (`kerasvhn train`, the demo, and
the recipe of the shipped `small_synthetic` weights).

The recipe: render `train_count` framed synthetic numbers (split "train": the held-out
fonts and backgrounds are never drawn) and a validation set with another seed;
random 54x54 crops of the 64x64 images, a new order and new crops each epoch
(`SplitBatches`); Adam with a short warm-up and cosine decay to 1% of the peak
learning rate; the model's default masked multi-head loss.
"""

import sys
import time

import keras
import numpy as np

from kerasvhn.checks import check_int
from kerasvhn.data.batches import SplitBatches
from kerasvhn.data.synth import PHOTO_SHARE, render_numbers
from kerasvhn.model import MultiDigitNet
from kerasvhn.seeding import set_random_seed

CROP = 54


def centre_crops(images, crop=CROP):
    """The centred crop x crop windows of uint8 images, as float32 in [0, 1].

    >>> import numpy as np
    >>> centre_crops(np.zeros((2, 64, 64, 3), np.uint8)).shape
    (2, 54, 54, 3)
    """
    height, width = images.shape[1:3]
    top, left = (height - crop) // 2, (width - crop) // 2
    return images[:, top : top + crop, left : left + crop].astype(np.float32) / np.float32(255)


class TrainingClock(keras.callbacks.Callback):
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

    def images_per_second(self, images_per_epoch):
        """Training speed; the first epoch (tracing, compilation) is left out when
        there are others."""
        timed = self.seconds[1:] if len(self.seconds) > 1 else self.seconds
        return images_per_epoch * len(timed) / max(sum(timed), 1e-9)


def render(what, count, seed, split="train", workers=2, log=print, progress=True, photo_share=PHOTO_SHARE):
    """render_numbers with a log line giving the speed."""
    start = time.perf_counter()
    images, labels = render_numbers(count, seed=seed, split=split, workers=workers, progress=progress,
                                    photo_share=photo_share)
    seconds = time.perf_counter() - start
    log(f"rendered {count} {what} images (seed {seed}, {split} fonts and backgrounds) in "
        f"{seconds:.1f} s ({count / max(seconds, 1e-9):.0f} images/s)")
    return images, labels


def cosine_schedule(learning_rate, steps_per_epoch, epochs):
    """Warm-up from a tenth of the peak over half an epoch (at most 10% of training),
    then cosine decay to 1% of it."""
    total = steps_per_epoch * epochs
    warmup = min(steps_per_epoch // 2, total // 10)
    return keras.optimizers.schedules.CosineDecay(
        learning_rate / 10,
        decay_steps=max(1, total - warmup),
        alpha=0.01,
        warmup_target=learning_rate,
        warmup_steps=warmup,
    )


def train_on_synthetic(
    train_count=100_000,
    epochs=14,
    seed=0,
    *,
    validation_count=2_000,
    preset="small",
    batch_size=64,
    learning_rate=2e-3,
    initial_model=None,
    photo_share=PHOTO_SHARE,
    workers=2,
    verbose="auto",
    callbacks=(),
    log=print,
):
    """Trains a MultiDigitNet on freshly rendered synthetic house numbers.

    Args:
        train_count: training images, rendered with `seed` (split "train").
        epochs: passes over them, new random crops each time.
        seed: seeds the data, the initial weights and the crops; the validation
            set uses seed + 2.
        validation_count: validation images (scored after each epoch).
        preset: the MultiDigitNet preset (ignored with initial_model).
        batch_size, learning_rate: Adam's batch size and peak learning rate.
        initial_model: a MultiDigitNet to continue training from (fine-tuning)
            instead of fresh weights.
        photo_share: the share of training images framed like a whole street
            photo (see `render_numbers`); validation images use the same share.
        workers: processes rendering the images.
        verbose: Keras's `fit` display: 0, 1 (progress bar), 2 (a line per epoch)
            or "auto" (1 on a terminal, else 2).
        callbacks: more Keras callbacks for `fit`.
        log: where the report lines go.

    Returns:
        (model, history dict, train images per second).

    >>> import kerasvhn.train as t
    >>> model, history, speed = t.train_on_synthetic(64, 1, validation_count=16, workers=1,
    ...     verbose=0, log=lambda *a: None)
    >>> "loss" in history and "val_sequence_accuracy" in history, speed > 0
    (True, True)
    """
    for name, value, minimum in (
        ("train_count", train_count, 1),
        ("epochs", epochs, 1),
        ("seed", seed, 0),
        ("validation_count", validation_count, 1),
        ("batch_size", batch_size, 1),
    ):
        check_int(name, value, minimum)
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate!r}")
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    progress = verbose == 1
    train_images, train_labels = render("training", train_count, seed, "train", workers, log, progress, photo_share)
    val_images, val_labels = render("validation", validation_count, seed + 2, "train", workers, log, progress,
                                    photo_share)

    set_random_seed(seed)
    batches = SplitBatches((train_images, train_labels), batch_size=batch_size, training=True, seed=seed)
    model = initial_model if initial_model is not None else MultiDigitNet(preset)
    schedule = cosine_schedule(learning_rate, len(batches), epochs)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=schedule))
    log(f"training MultiDigitNet ({model.count_params():,} parameters) on the {keras.backend.backend()} "
        f"backend: {len(batches)} batches of {batch_size} x {epochs} epochs")
    clock = TrainingClock()
    history = model.fit(
        batches,
        epochs=epochs,
        validation_data=(centre_crops(val_images), val_labels),
        callbacks=[clock, *callbacks],
        verbose=verbose,
    )
    per_epoch = {key: [float(v) for v in values] for key, values in history.history.items()}
    return model, per_epoch, clock.images_per_second(train_count)
