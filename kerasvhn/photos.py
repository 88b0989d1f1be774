"""Scoring a model on a folder of labelled photos (`kerasvhn evaluate --photos`).

The folder holds the photos and a `labels.csv` with at least the columns `file`
(a path relative to the folder) and `number` (its digits); `framing` ("tight": the
number fills much of the photo, "loose": it is a small part of a scene) is
optional and "tight" when missing; other columns are ignored. Each photo is read
exactly as `kerasvhn.read_numbers` reads it: in two stages when a number locator is
given (`predict.read_photos_located`: locate, crop each box with the paper's margin,
read), then also whole, as one frame, for comparison (`"one_stage"`); otherwise whole
only (`framing.frame(load_image(path))`, then `predict.read_frames`). Readings are
scored on the whole number, overall, by framing and by number length. A photo that
cannot be read is a miss.

Two test-time options, both off by default:

- test-time augmentation (`tta_views`, `read_with_tta`): the model reads six views
  of each photo and its per-head probabilities are averaged before one decode;
- AdaBN (`adapt_batchnorm`, Li et al. 2016): a copy of the model whose batch
  normalisation statistics are recomputed on unlabelled photos.

>>> import os, tempfile, numpy as np, kerasvhn
>>> from PIL import Image
>>> folder = tempfile.mkdtemp()
>>> Image.fromarray(np.full((40, 90, 3), 200, np.uint8)).save(os.path.join(folder, "wall.png"))
>>> _ = open(os.path.join(folder, "labels.csv"), "w").write("file,number\\nwall.png,12\\n")
>>> result = evaluate_photos(kerasvhn.MultiDigitNet.from_preset("small_synthetic"), folder)
>>> result["count"], result["right"], result["by_framing"]["tight"]["count"]
(1, 0, 1)
"""

import csv
import os
from typing import NamedTuple

import numpy as np

from kerasvhn.framing import CROP, frame, frame_pixels
from kerasvhn.predict import (MIN_CONFIDENCE, ImageError, load_image, model_outputs, read_frames, read_photos_located,
                              readings_of)
from kerasvhn.vertical import prefer_unstacked

LABELS = "labels.csv"
FRAMINGS = ("tight", "loose")
#: Image files `folder_images` reads (an AdaBN folder has no labels.csv to list them).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
#: Test-time views: 54x54 windows of the photo's 64x64 frame at these (top, left)
#: offsets. Training reads windows at offsets drawn uniformly from 0..10, so the centre
#: and the four extreme corners are views the model was trained on; the centre is
#: read_numbers' view. A sixth view, the whole photo resized to 54x54, keeps the
#: borders the windows cut off (the number 16% smaller, within training's framings).
TTA_OFFSETS = ((5, 5), (0, 0), (0, 10), (10, 0), (10, 10))
TTA_VIEWS = len(TTA_OFFSETS) + 1


class Photo(NamedTuple):
    """One row of labels.csv: the file (relative to the folder), its number, its framing."""

    file: str
    number: str
    framing: str


class LabelsError(ValueError):
    """A labels.csv that cannot be used (the message names the file and line)."""


def read_labels(folder):
    """The photos listed in `folder`/labels.csv, in its order.

    Raises LabelsError for a missing file or column, an empty or duplicate file
    name, a number that is not digits, or a framing other than tight or loose.

    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> _ = open(os.path.join(folder, "labels.csv"), "w").write("file,number,framing\\na.jpg,12,loose\\nb.png,7,\\n")
    >>> read_labels(folder)
    [Photo(file='a.jpg', number='12', framing='loose'), Photo(file='b.png', number='7', framing='tight')]
    """
    path = os.path.join(os.fspath(folder), LABELS)
    if not os.path.isfile(path):
        raise LabelsError(f"{path}: no such file (a photo folder needs a labels.csv with columns file,number)")
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = csv.DictReader(handle)
        columns = [name.strip() for name in rows.fieldnames or []]
        for needed in ("file", "number"):
            if needed not in columns:
                raise LabelsError(f"{path}: no {needed!r} column (its columns: {', '.join(columns) or 'none'})")
        rows.fieldnames = columns
        photos = [_photo(path, line, row) for line, row in enumerate(rows, start=2)]
    files = [photo.file for photo in photos]
    duplicates = sorted({name for name in files if files.count(name) > 1})
    if duplicates:
        raise LabelsError(f"{path}: files listed more than once: {', '.join(duplicates)}")
    if not photos:
        raise LabelsError(f"{path}: lists no photo")
    return photos


def _photo(path, line, row):
    file, number = (row.get("file") or "").strip(), (row.get("number") or "").strip()
    framing = (row.get("framing") or "").strip() or "tight"
    if not file:
        raise LabelsError(f"{path} line {line}: empty file name")
    if not (number.isascii() and number.isdigit()):
        raise LabelsError(f"{path} line {line}: number {number!r} of {file} is not digits 0-9")
    if framing not in FRAMINGS:
        raise LabelsError(f"{path} line {line}: framing {framing!r} of {file} is not one of {', '.join(FRAMINGS)}")
    return Photo(file, number, framing)


def load_photos(folder, photos):
    """Each photo as an RGB PIL image (None when it cannot be read) and its error
    message (None when it could)."""
    images, errors = [], []
    for photo in photos:
        try:
            images.append(load_image(os.path.join(os.fspath(folder), photo.file)))
            errors.append(None)
        except ImageError as error:
            images.append(None)
            errors.append(str(error))
    return images, errors


def folder_images(folder):
    """Every readable image in `folder` (by suffix, sorted by name), as RGB PIL images."""
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{folder}: no such folder")
    images = []
    for name in sorted(os.listdir(folder)):
        if name.lower().endswith(IMAGE_SUFFIXES):
            try:
                images.append(load_image(os.path.join(folder, name)))
            except ImageError:
                continue
    if not images:
        raise ValueError(f"{folder}: no readable image")
    return images


def tta_views(image):
    """The test-time views of one RGB PIL image: float32 (TTA_VIEWS, 54, 54, 3) in
    [0, 1], the first being `framing.frame(image)` (read_numbers' view).

    >>> from PIL import Image
    >>> tta_views(Image.new("RGB", (120, 80), (200, 180, 160))).shape
    (6, 54, 54, 3)
    """
    pixels = frame_pixels(image)
    views = [pixels[top : top + CROP, left : left + CROP] for top, left in TTA_OFFSETS]
    views.append(frame_pixels(image, size=CROP))
    return np.stack(views).astype(np.float32) / np.float32(255)


def read_with_tta(model, views, batch_size=256, min_confidence=MIN_CONFIDENCE):
    """Readings of images given as views (N, V, 54, 54, 3): each head's probabilities
    averaged over an image's V views, then decoded once as `read_frames` decodes."""
    views = np.asarray(views, np.float32)
    count, per_image = views.shape[:2]
    if count == 0:
        return []
    outputs = model_outputs(model, views.reshape(count * per_image, *views.shape[2:]), batch_size)
    averaged = {key: _log_mean_probability(value.reshape(count, per_image, *value.shape[1:]))
                for key, value in outputs.items()}
    return readings_of(averaged, min_confidence)


def _log_mean_probability(logits):
    """log of the mean over axis 1 of softmax(logits) over the last axis, computed in
    log space (finite where a probability underflows to 0)."""
    logits = np.asarray(logits, np.float64)
    log_p = logits - _log_sum_exp(logits, axis=-1)
    return (_log_sum_exp(log_p, axis=1) - np.log(logits.shape[1])).squeeze(1)


def _log_sum_exp(values, axis):
    top = values.max(axis=axis, keepdims=True)
    return top + np.log(np.exp(values - top).sum(axis=axis, keepdims=True))


def adapt_batchnorm(model, frames, batch_size=64):
    """A copy of `model` whose ConvBNReLU moving mean and variance are the statistics
    of their convolution outputs over `frames` (AdaBN); `model` is left untouched.

    Layer by layer, in order: each layer's inputs are computed by the copy in
    inference mode (dropout off) with the statistics already adapted below it, and
    its mean and (biased) variance are taken over every frame and position, as one
    batch of all the frames would give in training mode.

    frames: float images (N, 54, 54, 3) in [0, 1], e.g. `framing.frame` of photos.
    """
    import keras

    from kerasvhn.layers import ConvBNReLU

    frames = np.asarray(frames, np.float32)
    if len(frames) == 0:
        raise ValueError("AdaBN needs at least one image")
    adapted = _copy_model(model)
    for layer in [layer for layer in adapted.layers if isinstance(layer, ConvBNReLU)]:
        inputs = keras.Model(adapted.input, layer.input)
        total = total_squares = 0.0
        positions = 0
        for begin in range(0, len(frames), batch_size):
            x = inputs(frames[begin : begin + batch_size], training=False)
            y = keras.ops.conv(x, layer.kernel, strides=layer.strides, padding=layer.padding)
            y = keras.ops.convert_to_numpy(y).astype(np.float64).reshape(-1, layer.filters)
            total, total_squares, positions = total + y.sum(0), total_squares + (y * y).sum(0), positions + len(y)
        mean = total / positions
        layer.moving_mean.assign(mean.astype(np.float32))
        layer.moving_variance.assign(np.maximum(total_squares / positions - mean * mean, 0.0).astype(np.float32))
    return adapted


def _copy_model(model):
    """A new model of the same config holding copies of `model`'s weights."""
    copy = type(model).from_config(model.get_config())
    copy.set_weights(model.get_weights())
    return copy


def read_photos(model, images, tta=False, batch_size=256, min_confidence=MIN_CONFIDENCE):
    """Readings of RGB PIL images read whole: read_numbers' reading (tall photos
    also unstacked, `kerasvhn.vertical`), or with tta the average over `tta_views`."""
    if tta:
        return read_with_tta(model, [tta_views(image) for image in images], batch_size, min_confidence)
    readings = read_frames(model, _frames(images), batch_size, min_confidence)
    return prefer_unstacked(model, images, [None] * len(images), readings, batch_size, min_confidence)


def _frames(images):
    """read_numbers' frames of RGB PIL images: (N, 54, 54, 3)."""
    return np.stack([frame(image) for image in images]) if images else np.zeros((0, CROP, CROP, 3), np.float32)


def evaluate_photos(model, folder, tta=False, adapt_bn=False, batch_size=256, min_confidence=MIN_CONFIDENCE,
                    locator=None, min_score=None):
    """Reads every photo of a labelled folder and scores the whole numbers.

    Args:
        model: a MultiDigitNet (or anything with predict_on_batch, when adapt_bn
            is off).
        folder: a folder holding labels.csv and the photos it lists.
        tta: average over `tta_views` (six views per photo) instead of one frame
            (whole photos only: no locator then).
        adapt_bn: False; True to read with a copy of the model adapted (AdaBN) to
            this folder's photos (their labels unused); or a folder of other
            photos to adapt it to.
        batch_size, min_confidence: as for `kerasvhn.read_numbers`.
        locator: a NumberLocator (or anything with its `locate`): read in two
            stages, and whole as well for comparison; None: whole only.
        min_score: the least score of a located box (default: the locator's).

    Returns a dict: "folder", "count", "right", "accuracy", "unreadable",
    "by_framing" and "by_length" ({key: {"count", "right", "accuracy"}}),
    "tta_views" (0 when off), "adapted_on" (images, 0 when off), "located"
    (whether in two stages), "one_stage" (with a locator: the same scores of the
    whole-photo readings, else None) and "photos": one row per photo {"file",
    "truth", "framing", "number", "confidence", "rejected", "rejected_confidence",
    "box", "right", "error"} (with a locator also "one_stage_number" and
    "one_stage_right").
    """
    photos = read_labels(folder)
    images, errors = load_photos(folder, photos)
    readable = [image for image in images if image is not None]
    adapted_on = 0
    if adapt_bn is not False and adapt_bn is not None:
        targets = readable if adapt_bn is True else folder_images(adapt_bn)
        model = adapt_batchnorm(model, _frames(targets))
        adapted_on = len(targets)
    located = locator is not None and not tta
    whole = read_photos(model, readable, tta, batch_size, min_confidence)
    if located:
        answers = iter([found[0] for found in read_photos_located(model, locator, readable, batch_size,
                                                                    min_confidence, min_score, every=False)])
    else:
        answers = iter(whole)
    whole_answers = iter(whole)
    rows = []
    for photo, image, error in zip(photos, images, errors):
        row = _row(photo, None if image is None else next(answers), error)
        if located:
            one = None if image is None else next(whole_answers)
            row.update(one_stage_number=None if one is None else one.number,
                       one_stage_right=one is not None and one.number == photo.number)
        rows.append(row)
    one_stage = score([{**row, "right": row["one_stage_right"]} for row in rows]) if located else None
    return {"folder": os.fspath(folder), **score(rows), "unreadable": sum(error is not None for error in errors),
            "tta_views": TTA_VIEWS if tta else 0, "adapted_on": adapted_on, "located": located,
            "one_stage": one_stage, "photos": rows}


def _row(photo, reading, error):
    row = {"file": photo.file, "truth": photo.number, "framing": photo.framing, "number": None,
           "confidence": None, "rejected": None, "rejected_confidence": None, "box": None, "right": False,
           "error": error}
    if reading is not None:
        row.update(number=reading.number, confidence=reading.confidence, rejected=reading.rejected,
                   rejected_confidence=reading.rejected_confidence, right=reading.number == photo.number,
                   box=None if reading.box is None else [round(v, 1) for v in reading.box])
    return row


def score(rows):
    """Whole-number accuracy of rows ({"truth", "framing", "right"}): overall, by
    framing and by the truth's length.

    >>> rows = [{"truth": "12", "framing": "tight", "right": True}, {"truth": "7", "framing": "loose", "right": False}]
    >>> s = score(rows)
    >>> s["right"], s["by_framing"]["loose"], s["by_length"][2]["accuracy"]
    (1, {'count': 1, 'right': 0, 'accuracy': 0.0}, 1.0)
    """
    framings = [framing for framing in FRAMINGS if any(row["framing"] == framing for row in rows)]
    lengths = sorted({len(row["truth"]) for row in rows})
    return {**_tally(rows),
            "by_framing": {f: _tally([row for row in rows if row["framing"] == f]) for f in framings},
            "by_length": {n: _tally([row for row in rows if len(row["truth"]) == n]) for n in lengths}}


def _tally(rows):
    right = sum(bool(row["right"]) for row in rows)
    return {"count": len(rows), "right": right, "accuracy": right / len(rows) if rows else 0.0}


def misses(result):
    """The rows of evaluate_photos' result read wrong or not read at all."""
    return [row for row in result["photos"] if not row["right"]]


def reading_text(row):
    """How a row of evaluate_photos' result was read, in words.

    >>> reading_text({"error": None, "number": "", "confidence": 0.9, "rejected": "17", "rejected_confidence": 0.21})
    'none (rejected 17 at 0.21)'
    """
    if row["error"] is not None:
        return "unreadable"
    if row["rejected"] is not None:
        return f"none (rejected {row['rejected']} at {row['rejected_confidence']:.2f})"
    return f"{row['number'] or 'none'} ({row['confidence']:.2f})"


def write_report(result, out):
    """Writes evaluate_photos' result to the folder `out` (created): readings.json
    (every reading) and misses.png (a contact sheet of the misses, each photo with
    its truth and reading; not written when nothing was missed). Returns the two
    paths, None for a sheet not written."""
    import json

    from kerasvhn.plots import captioned_photos

    os.makedirs(out, exist_ok=True)
    readings = os.path.join(out, "readings.json")
    with open(readings, "w") as handle:
        json.dump(result, handle, indent=1)
    missed = misses(result)
    if not missed:
        return None, readings
    sheet = os.path.join(out, "misses.png")
    images = [_thumbnail(os.path.join(result["folder"], row["file"])) for row in missed]
    captions = [f"{_short(row['file'])}\ntrue: {row['truth']}\nread: {reading_text(row)}" for row in missed]
    captioned_photos(images, captions, sheet,
                     f"{len(missed)} misses of {result['count']} photos in {result['folder']}: truth and reading")
    return sheet, readings


def _thumbnail(path, size=240):
    try:
        image = load_image(path)
    except ImageError:
        return None
    image.thumbnail((size, size))
    return image


def _short(name, width=30):
    return name if len(name) <= width else "…" + name[-(width - 1) :]
