"""Training MultiDigitNet on synthetic house numbers (`kerasvhn train`, the demo, and
the recipe of the shipped `small_synthetic` weights).

The recipe: render `train_count` framed synthetic numbers (purpose "train", split
"train": the held-out fonts and backgrounds are never drawn) and a validation set
(purpose "validation"); the model records both streams (`training_streams`);
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
from kerasvhn.data.synth import GENERATOR_VERSION, PHOTO_SHARE, render_numbers, stream
from kerasvhn.framing import centre_crops
from kerasvhn.labels import encode_numbers
from kerasvhn.model import MultiDigitNet
from kerasvhn.seeding import set_random_seed

#: Located crops: jittered crops of each number, and the share of photos giving a decoy.
LOCATED_PER_NUMBER, LOCATED_DECOYS = 3, 0.3


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


def render(purpose, count, seed, split="train", workers=2, log=print, progress=True, **options):
    """render_numbers for a purpose, with a log line giving the speed; options go to
    render_numbers (photo_share, lengths, styles, effects)."""
    start = time.perf_counter()
    images, labels = render_numbers(count, seed=seed, split=split, workers=workers, progress=progress,
                                    purpose=purpose, **options)
    seconds = time.perf_counter() - start
    log(f"rendered {count} {purpose} images (seed {seed}, {split} fonts and backgrounds) in "
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
    styles=None,
    effects=None,
    located=(0, 0),
    located_data=None,
    workers=2,
    verbose="auto",
    callbacks=(),
    log=print,
):
    """Trains a MultiDigitNet on freshly rendered synthetic house numbers.

    Args:
        train_count: training images, rendered with `seed` (split "train").
        epochs: passes over them, new random crops each time.
        seed: seeds the data (purposes "train" and "validation"), the initial
            weights and the crops.
        validation_count: validation images (scored after each epoch).
        preset: the MultiDigitNet preset (ignored with initial_model).
        batch_size, learning_rate: Adam's batch size and peak learning rate.
        initial_model: a MultiDigitNet to continue training from (fine-tuning)
            instead of fresh weights.
        photo_share, styles, effects: the generator's options (see
            `render_numbers`), for training and validation images alike.
        located: (photos at 320-640 px, photos at 800-1280 px) of synthetic
            whole photos (`photo_scenes`, purpose "train", `seed`) whose numbers
            are cut out as the two stages frame a located box, added to the
            training images (`render_located`; (0, 0): none).
        located_data: those crops already rendered ((images, numbers), as
            `render_located` returns them), to train several models on them.
        workers: processes rendering the images.
        verbose: Keras's `fit` display: 0, 1 (progress bar), 2 (a line per epoch)
            or "auto" (1 on a terminal, else 2).
        callbacks: more Keras callbacks for `fit`.
        log: where the report lines go.

    Returns:
        (model, history dict, train images per second). The model's
        `training_streams` gain the two streams drawn, with the options.

    >>> import kerasvhn.train as t
    >>> model, history, speed = t.train_on_synthetic(64, 1, validation_count=16, workers=1,
    ...     verbose=0, log=lambda *a: None)
    >>> "loss" in history and "val_sequence_accuracy" in history, speed > 0
    (True, True)
    >>> [s["purpose"] for s in model.training_streams]
    ['train', 'validation']
    """
    _check_arguments(train_count=train_count, epochs=epochs, seed=seed, validation_count=validation_count,
                     batch_size=batch_size, learning_rate=learning_rate)
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    options = {"photo_share": photo_share, "styles": styles, "effects": effects}
    located = tuple(check_int("located photos", count, 0) for count in located)
    data = {purpose: render(purpose, count, seed, "train", workers, log, verbose == 1, **options)
            for purpose, count in (("train", train_count), ("validation", validation_count))}
    training = data["train"]
    if any(located):
        crops = located_data or render_located(*located, seed, workers, log, verbose == 1)
        training = _joined(training, crops)
        log(f"training on {train_count} framed images and {len(crops[1])} located crops")
    set_random_seed(seed)
    batches = SplitBatches(training, batch_size=batch_size, training=True, seed=seed)
    model = initial_model if initial_model is not None else MultiDigitNet(preset)
    _record_streams(model, seed, train_count, validation_count, options, fine_tuned=initial_model is not None,
                    located=located)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=cosine_schedule(learning_rate, len(batches), epochs)))
    log(f"training MultiDigitNet ({model.count_params():,} parameters) on the {keras.backend.backend()} "
        f"backend: {len(batches)} batches of {batch_size} x {epochs} epochs")
    clock = TrainingClock()
    val_images, val_labels = data["validation"]
    history = model.fit(batches, epochs=epochs, validation_data=(centre_crops(val_images), val_labels),
                        callbacks=[clock, *callbacks], verbose=verbose)
    per_epoch = {key: [float(v) for v in values] for key, values in history.history.items()}
    return model, per_epoch, clock.images_per_second(len(training[1]["length"]))


def render_located(small, large, seed, workers=2, log=print, progress=True):
    """The located crops of `small` synthetic whole photos at 320-640 px (indices 0
    .. small - 1 of purpose "train", `seed`) and `large` at 800-1280 px (the
    indices after them): three jittered crops of each number, a decoy in 30% of
    the photos (`kerasvhn.data.located_crops`). Returns (uint8 images, numbers)."""
    from kerasvhn.data.located_crops import located_crops

    start = time.perf_counter()
    parts = [located_crops(count, seed, "train", workers, progress, purpose="train", long_side=side,
                           per_number=LOCATED_PER_NUMBER, decoy_share=LOCATED_DECOYS, start=first)
             for count, side, first in ((small, (320, 640), 0), (large, (800, 1280), small)) if count]
    images = np.concatenate([images for images, _ in parts])
    numbers = [number for _, part in parts for number in part]
    seconds = time.perf_counter() - start
    log(f"cut {len(numbers)} located crops from {small + large} synthetic photos (seed {seed}) in {seconds:.1f} s")
    return images, numbers


def _joined(framed, located):
    images, labels = framed
    crops, numbers = located
    extra = encode_numbers(numbers, labels["digits"].shape[1])
    return (np.concatenate([images, crops]),
            {key: np.concatenate([labels[key], extra[key]]) for key in ("length", "digits")})


def _check_arguments(learning_rate, **counts):
    minimum = {"seed": 0}
    for name, value in counts.items():
        check_int(name, value, minimum.get(name, 1))
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate!r}")


def _record_streams(model, seed, train_count, validation_count, options, fine_tuned, located=(0, 0)):
    """Adds the streams this training draws to the model's record (weights of
    unrecorded provenance are marked "unknown")."""
    from kerasvhn.data.photo_scenes import VERSION as PHOTO_SCENES_VERSION

    earlier = model.training_streams
    if earlier is None and fine_tuned:
        earlier = [{"purpose": "unknown"}]
    settings = {"generator": GENERATOR_VERSION, **{k: v for k, v in options.items() if v is not None}}
    model.training_streams = [
        *(earlier or []),
        stream("train", seed, count=train_count, **settings),
        stream("validation", seed, count=validation_count, **settings),
        *([stream("train", seed, count=sum(located), generator=f"photo_scenes-{PHOTO_SCENES_VERSION}",
                  located=list(located))] if any(located) else []),
    ]
