"""Training and scoring NumberLocator on synthetic whole photos (`kerasvhn
train_locator`, `kerasvhn evaluate_locator`-style scores in bench/locators.py).

The recipe: render `count` photos (kerasvhn.data.photo_scenes, purpose "train", split
"train") and a validation set (purpose "validation"), kept in memory as JPEG bytes
(quality 95) with their number boxes. Each epoch reads every photo once, resized so
that its long side is the locator's input size times a random factor (SCALES, 0.45 to
1.3: numbers of every size at every scale) and cut to a random CROP x CROP window (most
windows hold a number; edge pixels repeated where the photo is smaller); a number
that the window cuts keeps its target when at least 75% of it is inside and is
ignored (neither found nor missed) otherwise. Targets (`encode_targets`): a Gaussian
around each number's centre on the heat map (1 at its cell, spread a sixth of the
box's width and height) and the box at the cells where the Gaussian is at least 0.3.
Adam with warm-up and cosine decay (kerasvhn.train.cosine_schedule). Optionally a
share of the windows is cut as the locator's second look cuts its own: around a number
as a first look might box it (`look_window`), or around a random box (`decoy_window`).

Scores (`score_boxes`): a located box is right when its IoU with a true box not yet
claimed is at least 0.5 (best scores claim first); precision and recall at a
score threshold, recall by the number's width as a share of the photo's width.
"""

import io
import math

import keras
import numpy as np
from PIL import Image

from kerasvhn.checks import check_int
from kerasvhn.data import photo_scenes
from kerasvhn.data.located_crops import decoy_size
from kerasvhn.data.photo_scenes import render_encoded
from kerasvhn.data.synth import stream
from kerasvhn.locator import STRIDE, NumberLocator, fit_photo, iou
from kerasvhn.saving import WEIGHTS_SUFFIX, save_model

#: The side of a training window, pixels.
CROP = 384
#: A training photo's long side, as factors of the locator's input size (log-uniform):
#: numbers of every size at every scale, the largest ones small enough to fit a window.
SCALES = (0.45, 1.3)
#: A number cut by a window keeps its target when this share of its box is inside.
KEEP_VISIBLE = 0.75
#: Cells whose Gaussian reaches this carry the box loss.
BOX_CELLS = 0.3
#: A window cut as the second look cuts one (`look_window`) is centred on a number's box
#: moved by up to this share of its width and height, each side scaled by up to this
#: factor either way: the first look's errors.
LOOK_SHIFT, LOOK_SCALE = 0.15, 1.25
#: Size buckets of the scores: the number's width as a share of the photo's width.
SIZE_BUCKETS = ((0.0, 0.05), (0.05, 0.15), (0.15, 1.01))


def encode_targets(boxes, height, width, stride=STRIDE, ignore=()):
    """The training targets of one input image (height x width pixels, multiples of
    stride) holding `boxes` (x0, y0, x1, y1) in its pixels: {"heat": (h, w, 1),
    "box": (h, w, 5)} as `kerasvhn.locator.locator_loss` reads them; `ignore`: boxes
    whose cells are neither numbers nor background (-1 on the heat map).

    >>> targets = encode_targets([(36, 16, 84, 40)], 64, 128)
    >>> targets["heat"].shape, float(targets["heat"].max()), np.argwhere(targets["heat"][..., 0] == 1).tolist()
    ((8, 16, 1), 1.0, [[3, 7]])
    >>> [round(float(v), 2) for v in targets["box"][3, 7]]
    [0.0, 0.0, 6.0, 3.0, 1.0]
    """
    rows, cols = height // stride, width // stride
    heat = np.zeros((rows, cols), np.float32)
    box = np.zeros((rows, cols, 5), np.float32)
    best = np.zeros((rows, cols), np.float32)  # the Gaussian of the box each cell regresses
    ys = np.arange(rows, dtype=np.float32)[:, None]
    xs = np.arange(cols, dtype=np.float32)[None, :]
    for x0, y0, x1, y1 in ignore:
        r0, r1 = max(0, int(y0 // stride)), min(rows, int(math.ceil(y1 / stride)))
        c0, c1 = max(0, int(x0 // stride)), min(cols, int(math.ceil(x1 / stride)))
        heat[r0:r1, c0:c1] = -1.0
    for x0, y0, x1, y1 in boxes:
        w, h = (x1 - x0) / stride, (y1 - y0) / stride
        gx, gy = (x0 + x1) / 2 / stride - 0.5, (y0 + y1) / 2 / stride - 0.5
        sx, sy = max(0.5, w / 6), max(0.5, h / 6)
        gauss = np.exp(-((xs - gx) ** 2 / (2 * sx * sx) + (ys - gy) ** 2 / (2 * sy * sy))).astype(np.float32)
        cy, cx = min(rows - 1, max(0, int(round(gy)))), min(cols - 1, max(0, int(round(gx))))
        gauss[cy, cx] = 1.0
        heat = np.where(heat < 0, np.where(gauss >= BOX_CELLS, gauss, heat), np.maximum(heat, gauss))
        claim = (gauss >= BOX_CELLS) & (gauss > best)
        if claim.any():
            rr, cc = np.nonzero(claim)
            box[rr, cc, 0] = gx - cc
            box[rr, cc, 1] = gy - rr
            box[rr, cc, 2] = w
            box[rr, cc, 3] = h
            box[rr, cc, 4] = gauss[rr, cc]
            best[rr, cc] = gauss[rr, cc]
    return {"heat": heat[..., None], "box": box}


# ----------------------------------------------------------------------------- photos in memory


def decode_photo(data):
    """An RGB PIL image from stored JPEG bytes."""
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


class LocatorBatches(keras.utils.PyDataset):
    """Batches of (images, targets) from photos stored as (JPEG bytes, boxes, ...).

    training: random scale (SCALES times `size` on the long side) and a random
    crop x crop window per photo, a new draw each epoch; otherwise each photo whole
    as `NumberLocator.locate` reads it (fit to size x size). With `look` (the
    locator's second look, [factor, side]), a share `look_share` of the training
    windows of photos with numbers are cut as the second look cuts them
    (`look_window`), and a share `decoy_share` of all training windows as it cuts
    them around a random box (`decoy_window`).
    """

    def __init__(self, photos, size, batch_size=16, training=True, crop=CROP, seed=0, look=(), look_share=0.0,
                 decoy_share=0.0, **kwargs):
        super().__init__(**kwargs)
        self.photos, self.size, self.batch_size = photos, int(size), int(batch_size)
        self.training, self.crop, self.seed = training, int(crop), int(seed)
        self.look, self.look_share, self.decoy_share = tuple(look), float(look_share), float(decoy_share)
        self.epoch = 0
        self.order = np.arange(len(photos))
        self.on_epoch_end()

    def __len__(self):
        return max(1, math.ceil(len(self.photos) / self.batch_size)) if not self.training else \
            max(1, len(self.photos) // self.batch_size)

    def on_epoch_end(self):
        if self.training:
            self.order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.photos))
        self.epoch += 1

    def __getitem__(self, index):
        chosen = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        images, heats, boxes = [], [], []
        for k in chosen:
            data, truth = self.photos[k][0], self.photos[k][1]
            if self.training:
                rng = np.random.default_rng([self.seed, self.epoch, int(k)])
                if self.look and self.decoy_share and rng.random() < self.decoy_share:
                    pixels, kept, ignored = decoy_window(rng, decode_photo(data), truth, self.crop, *self.look)
                elif self.look and lookable(truth) and rng.random() < self.look_share:
                    pixels, kept, ignored = look_window(rng, decode_photo(data), truth, self.crop, *self.look)
                else:
                    pixels, kept, ignored = training_window(rng, decode_photo(data), truth, self.size, self.crop)
            else:
                pixels, (sx, sy) = fit_photo(decode_photo(data), self.size)
                kept, ignored = [(b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy) for b in truth], []
            targets = encode_targets(kept, pixels.shape[0], pixels.shape[1], ignore=ignored)
            images.append(pixels)
            heats.append(targets["heat"])
            boxes.append(targets["box"])
        return np.stack(images), {"heat": np.stack(heats), "box": np.stack(boxes)}


def training_window(rng, image, truth, size, crop):
    """One random training window of a photo: (float32 (crop, crop, 3) in [0, 1], the
    boxes kept, the boxes ignored), in the window's pixels."""
    width, height = image.size
    factor = size * math.exp(rng.uniform(math.log(SCALES[0]), math.log(SCALES[1]))) / max(width, height)
    rw, rh = max(1, int(round(width * factor))), max(1, int(round(height * factor)))
    sx, sy = rw / width, rh / height
    boxes = [(b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy) for b in truth]
    if boxes and rng.random() < 0.7:  # a window around one of the numbers
        x0, y0, x1, y1 = boxes[int(rng.integers(len(boxes)))]
        left = rng.uniform(min(x1 - crop, x0), max(x1 - crop, x0))
        top = rng.uniform(min(y1 - crop, y0), max(y1 - crop, y0))
    else:
        left, top = rng.uniform(0, max(0, rw - crop)), rng.uniform(0, max(0, rh - crop))
    left = int(round(min(max(left, 0), max(0, rw - crop))))
    top = int(round(min(max(top, 0), max(0, rh - crop))))
    resized = np.asarray(image.resize((rw, rh), Image.BILINEAR), np.float32) / np.float32(255)
    window = resized[top : top + crop, left : left + crop]
    window = np.pad(window, ((0, crop - window.shape[0]), (0, crop - window.shape[1]), (0, 0)), mode="edge")
    kept, ignored = visible_boxes([(x0 - left, y0 - top, x1 - left, y1 - top) for x0, y0, x1, y1 in boxes],
                                  min(crop, rw - left), min(crop, rh - top))
    return window, kept, ignored


def look_window(rng, image, truth, crop, factor, side):
    """One training window cut as the second look cuts one (kerasvhn.second_look):
    around one of the photo's numbers, its box moved and scaled at random as a first
    look might have placed it (LOOK_SHIFT, LOOK_SCALE), a square `factor` times that
    box's longer side read at `side` pixels, so here `factor * crop / side` times it
    read at crop x crop: the number as many pixels high as the second look sees it,
    magnified (and blurred) as much when it is small in the photo. Returns what
    `training_window` returns."""
    from kerasvhn.locator import Box

    around = lookable(truth)
    if not around:
        raise ValueError("no number of the photo is a pixel wide and high to cut a window around")
    x0, y0, x1, y1 = around[int(rng.integers(len(around)))]
    width, height = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2 + rng.uniform(-LOOK_SHIFT, LOOK_SHIFT) * width
    cy = (y0 + y1) / 2 + rng.uniform(-LOOK_SHIFT, LOOK_SHIFT) * height
    width *= math.exp(rng.uniform(-math.log(LOOK_SCALE), math.log(LOOK_SCALE)))
    height *= math.exp(rng.uniform(-math.log(LOOK_SCALE), math.log(LOOK_SCALE)))
    return cut_look(image, truth, Box(cx - width / 2, cy - height / 2, width, height, 1.0), crop, factor, side)


def decoy_window(rng, image, truth, crop, factor, side):
    """One training window cut as the second look cuts one around a box that need
    not hold a number: a random box (`kerasvhn.data.located_crops.decoy_size`)
    anywhere in the photo, as a first look's false box might lie. The window's targets are the
    numbers it shows, often none, so the second look learns not to make a number of
    what surrounds a false box. Returns what `training_window` returns."""
    from kerasvhn.locator import Box

    width, height = decoy_size(rng, image.size[0])
    left = rng.uniform(0, max(0.0, image.size[0] - width))
    top = rng.uniform(0, max(0.0, image.size[1] - height))
    return cut_look(image, truth, Box(left, top, width, height, 1.0), crop, factor, side)


def cut_look(image, truth, first, crop, factor, side):
    """The window the second look cuts around the box `first` (`factor` times its
    longer side read at `side` pixels), read at crop x crop: (pixels, kept, ignored)
    as `training_window` returns them."""
    from kerasvhn.second_look import window_around, window_pixels

    window = window_around(first, factor * crop / side, image.size)
    pixels, scale = window_pixels(image, window, crop)
    left, top, length = window
    boxes = [((b[0] - left) * scale, (b[1] - top) * scale, (b[2] - left) * scale, (b[3] - top) * scale)
             for b in truth]
    # Beyond the photo the window repeats its edge: the boxes are clipped to the photo's part.
    inside = (max(0.0, -left * scale), max(0.0, -top * scale),
              min(float(crop), (image.size[0] - left) * scale), min(float(crop), (image.size[1] - top) * scale))
    kept, ignored = visible_boxes(boxes, inside[2], inside[3], inside[0], inside[1])
    return pixels, kept, ignored


def lookable(truth):
    """The boxes a look window can be cut around: at least a pixel wide and high (the
    camera's turn can leave a number at the photo's edge a sliver).

    >>> lookable([(0, 0, 10, 5), (3, 0, 9, 0.5)])
    [(0, 0, 10, 5)]
    """
    return [box for box in truth if box[2] - box[0] >= 1 and box[3] - box[1] >= 1]


def visible_boxes(boxes, right, bottom, left=0.0, top=0.0):
    """Boxes (x0, y0, x1, y1) in a window's pixels clipped to its visible part (left,
    top, right, bottom): (kept, ignored), those KEEP_VISIBLE or more inside kept,
    the rest that show at all ignored.

    >>> visible_boxes([(10, 10, 20, 20), (-5, 0, 5, 10), (50, 50, 60, 60)], 40, 40)
    ([(10, 10, 20, 20)], [(0.0, 0, 5, 10)])
    """
    kept, ignored = [], []
    for x0, y0, x1, y1 in boxes:
        cx0, cy0 = max(x0, left), max(y0, top)
        cx1, cy1 = min(x1, right), min(y1, bottom)
        if cx1 <= cx0 or cy1 <= cy0:
            continue
        visible = (cx1 - cx0) * (cy1 - cy0) / max((x1 - x0) * (y1 - y0), 1e-9)
        (kept if visible >= KEEP_VISIBLE else ignored).append((cx0, cy0, cx1, cy1))
    return kept, ignored


# ----------------------------------------------------------------------------- training


def train_locator(count=40_000, epochs=12, seed=0, *, validation_count=1_000, preset="locator_small",
                  batch_size=16, learning_rate=2e-3, crop=CROP, initial_model=None, workers=2, photos=None,
                  stop_after=None, more=(), iou_weight=0.0, look_share=0.0, decoy_share=0.0, verbose="auto",
                  callbacks=(), log=print):
    """Trains a NumberLocator on freshly rendered synthetic photos.

    Args:
        count, seed: training photos (purpose "train", split "train").
        epochs: passes over them (a new scale and window for each photo each time);
            the learning rate's schedule spans them.
        validation_count: validation photos (purpose "validation"), read whole.
        preset: the architecture (ignored with initial_model).
        batch_size, learning_rate: Adam's batch and peak learning rate.
        crop: the side of the training windows.
        initial_model: a NumberLocator to continue training.
        workers: processes rendering the photos.
        photos: already rendered (train, validation) lists (`render_encoded`), to
            train several models on the same photos.
        stop_after: stop after this many of the epochs (None: all of them),
            the schedule unchanged: the first part of a longer run.
        more: further training photos, (seed, count) pairs: the first `count`
            photos of purpose "train" drawn with that seed, after `count` of `seed`
            (more photos for a locator that already saw the first ones). With
            `photos` given, its training list holds them last.
        iou_weight: the weight of the box loss's GIoU term (`locator_loss`; 0: L1
            alone, as the shipped locator's first five runs).
        look_share: the share of training windows (of photos with numbers) cut as
            the locator's second look cuts them (`look_window`; 0: none). A
            locator without a second look takes 0 only.
        decoy_share: the share of all training windows cut as the second look
            cuts them around a random box, as a first look's false box might lie
            (`decoy_window`; 0: none); also 0 only without a second look.
        verbose, callbacks: as for `fit`; log: where the report lines go.

    Returns (locator, history dict). The locator's `training_streams` record the
    photos drawn.

    >>> locator, history = train_locator(8, 1, validation_count=2, preset="locator_tiny", batch_size=4, crop=128,
    ...                                  workers=1, verbose=0, log=lambda *a: None)
    >>> sorted(history), [s["purpose"] for s in locator.training_streams]
    (['loss', 'val_loss'], ['train', 'validation'])
    """
    check_int("count", count, 1)
    check_int("epochs", epochs, 1)
    check_int("seed", seed, 0)
    check_int("validation_count", validation_count, 1)
    if stop_after is not None and not 1 <= check_int("stop_after", stop_after, 1) <= epochs:
        raise ValueError(f"stop_after must be at most epochs ({epochs}), got {stop_after}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate!r}")
    if not 0.0 <= look_share <= 1.0:
        raise ValueError(f"look_share must be between 0 and 1, got {look_share!r}")
    if not 0.0 <= decoy_share <= 1.0:
        raise ValueError(f"decoy_share must be between 0 and 1, got {decoy_share!r}")
    if verbose == "auto":
        import sys

        verbose = 1 if sys.stdout.isatty() else 2
    from kerasvhn.seeding import set_random_seed
    from kerasvhn.train import cosine_schedule

    more = [(check_int("more seed", s, 0), check_int("more count", c, 1)) for s, c in more]
    set_random_seed(seed)
    locator = initial_model if initial_model is not None else NumberLocator(preset)
    if (look_share or decoy_share) and not locator.second_look:
        raise ValueError(f"look windows (look_share {look_share}) and decoy windows (decoy_share {decoy_share}) "
                         f"need a locator with a second look; this one has none "
                         f"(preset {locator.preset!r})")
    if photos is None:
        train_photos = [photo for s, c in [(seed, count), *more]
                        for photo in render_encoded(c, s, "train", workers=workers, progress=verbose == 1, log=log)]
        photos = (train_photos, render_encoded(validation_count, seed, "validation", workers=workers, log=log))
    train_photos, validation_photos = photos
    first = len(train_photos) - sum(c for _, c in more)
    if first < 1:
        raise ValueError(f"{len(train_photos)} training photos given, fewer than the {sum(c for _, c in more)} of more")
    generator = f"photo_scenes-{photo_scenes.VERSION}"
    streams = [stream("train", s, count=c, generator=generator) for s, c in [(seed, first), *more]]
    streams.append(stream("validation", seed, count=len(validation_photos), generator=generator))
    locator.training_streams = [*(locator.training_streams or []), *streams]
    batches = LocatorBatches(train_photos, locator.input_size, batch_size, training=True, crop=crop, seed=seed,
                             look=locator.second_look if look_share or decoy_share else (), look_share=look_share,
                             decoy_share=decoy_share)
    validation = LocatorBatches(validation_photos, locator.input_size, batch_size, training=False)
    locator.compile(optimizer=keras.optimizers.Adam(
        learning_rate=cosine_schedule(learning_rate, len(batches), epochs), clipnorm=5.0), iou_weight=iou_weight)
    log(f"training NumberLocator ({locator.count_params():,} parameters) on the {keras.backend.backend()} backend: "
        f"{len(batches)} batches of {batch_size} windows of {crop}x{crop} x {epochs} epochs"
        + (f", {look_share:.0%} of them cut as the second look cuts its windows" if look_share else "")
        + (f", {decoy_share:.0%} cut so around random boxes" if decoy_share else "")
        + ("" if stop_after is None else f" (stopping after {stop_after})"))
    history = locator.fit(batches, epochs=epochs if stop_after is None else stop_after, validation_data=validation, callbacks=list(callbacks),
                          verbose=verbose)
    return locator, {key: [float(v) for v in values] for key, values in history.history.items()}


def epoch_path(path, epoch):
    """Where `SaveEachEpoch` saves epoch `epoch` (counted from 1) of a model bound for `path`.

    >>> epoch_path("runs/locator.weights.h5", 3), epoch_path("locator.keras", 1)
    ('runs/locator.epoch3.weights.h5', 'locator.epoch1.keras')
    """
    path = str(path)
    suffix = WEIGHTS_SUFFIX if path.endswith(WEIGHTS_SUFFIX) else ".keras"
    if not path.endswith(suffix):
        raise ValueError(f"expected a .keras or {WEIGHTS_SUFFIX} name, got {path!r}")
    return f"{path[: -len(suffix)]}.epoch{int(epoch)}{suffix}"


class SaveEachEpoch(keras.callbacks.Callback):
    """Saves the model after each epoch (`kerasvhn.saving.save_model`, at
    `epoch_path(path, epoch)`): a long run's epochs to choose from, and what a run
    stopped early leaves behind."""

    def __init__(self, path):
        super().__init__()
        self.path = str(path)
        epoch_path(self.path, 1)  # the name is checked before training starts

    def on_epoch_end(self, epoch, logs=None):
        save_model(self.model, epoch_path(self.path, epoch + 1))


# ----------------------------------------------------------------------------- scores


def match(found, truth, threshold=0.5):
    """Greedy matching, best score first: for each located box (x0, y0, x1, y1,
    score), the index of the true box it claims (IoU >= threshold), or None.

    >>> match([(0, 0, 10, 10, 0.9), (0, 0, 10, 9, 0.8)], [(0, 0, 10, 10)])
    [0, None]
    """
    claimed, answer = set(), []
    for box in found:
        best, best_iou = None, threshold
        for k, true in enumerate(truth):
            overlap = iou(box, true)
            if k not in claimed and overlap >= best_iou:
                best, best_iou = k, overlap
        if best is not None:
            claimed.add(best)
        answer.append(best)
    return answer


def score_boxes(found, truth, widths, min_score, threshold=0.5):
    """Precision and recall at IoU `threshold` of located boxes (per photo: lists of
    (x0, y0, x1, y1, score), best first) against true boxes (per photo: (x0, y0, x1,
    y1)), counting boxes scoring at least min_score; recall by size (SIZE_BUCKETS of
    the true box's width over the photo's width, `widths`: each photo's width).
    Returns a dict: precision, recall, f1, true_positives, located, numbers,
    photos_without_numbers_with_a_box, recall_by_width {"lo-hi": (found, count)}."""
    tp = located = numbers = false_alarm_photos = 0
    by_size = {bucket: [0, 0] for bucket in SIZE_BUCKETS}
    for boxes, true, width in zip(found, truth, widths):
        boxes = [b for b in boxes if b[4] >= min_score]
        matched = match(boxes, true, threshold)
        hits = {k for k in matched if k is not None}
        tp += len(hits)
        located += len(boxes)
        numbers += len(true)
        if not true and boxes:
            false_alarm_photos += 1
        for k, box in enumerate(true):
            share = (box[2] - box[0]) / width
            for bucket in SIZE_BUCKETS:
                if bucket[0] <= share < bucket[1]:
                    by_size[bucket][0] += k in hits
                    by_size[bucket][1] += 1
    precision = tp / located if located else 1.0
    recall = tp / numbers if numbers else 1.0
    return {"min_score": min_score, "precision": precision, "recall": recall,
            "f1": 2 * precision * recall / max(precision + recall, 1e-9), "true_positives": tp, "located": located,
            "numbers": numbers, "photos_without_numbers_with_a_box": false_alarm_photos,
            "recall_by_width": {f"{lo:.2f}-{min(hi, 1):.2f}": tuple(v) for (lo, hi), v in by_size.items()}}


def locate_photos(locator, images, min_score=0.05, max_boxes=10, batch_size=8):
    """Located boxes (x0, y0, x1, y1, score) of RGB PIL images, in their pixels."""
    found = []
    for boxes in locator.locate(images, min_score=min_score, max_boxes=max_boxes, batch_size=batch_size):
        found.append([(b.left, b.top, b.left + b.width, b.top + b.height, b.score) for b in boxes])
    return found


def evaluate_locator(locator, count=1_000, seed=0, split="held_out", purpose="test", min_score=None, workers=2,
                     photos=None, log=lambda *a: None):
    """A locator's scores (`score_boxes`) on `count` synthetic photos of a stream
    (default: purpose "test", held-out fonts and backgrounds), or on `photos` already
    rendered (`render_encoded`). min_score: the least score of a box counted (default:
    the locator's own). The dict adds "photos", "photos_without_numbers" and "what"."""
    if photos is None:
        photos = render_encoded(count, seed, purpose, split=split, workers=workers, log=log)
    found, widths = [], []
    for begin in range(0, len(photos), 32):
        images = [decode_photo(data) for data, *_ in photos[begin : begin + 32]]
        found += locate_photos(locator, images, min_score=0.01)
        widths += [image.size[0] for image in images]
    truth = [list(boxes) for _, boxes, *_ in photos]
    threshold = locator.min_score if min_score is None else min_score
    scores = score_boxes(found, truth, widths, threshold)
    scores.update(photos=len(photos), photos_without_numbers=sum(not boxes for boxes in truth),
                  what=f"purpose {purpose}, seed {seed}, {split} split" if count else "given photos",
                  found=found, truth=truth, widths=widths)
    return scores
