"""The reader's training images as the two stages frame them: numbers cut out of
synthetic whole photos (`photo_scenes`) by a box placed as a locator places one.

In `kerasvhn predict`'s second stage the reader reads each located box widened by
the paper's 30% and resized to 64x64 (`kerasvhn.predict.box_frame`): a number a few
pixels high in a door photo comes out as a blurred upscale, unlike the framed
numbers `synth.render_numbers` draws at the reader's size. `located_crops` cuts
those frames from the photos the locator trains on: for each number, its true box
moved by up to BOX_SHIFT of its size and scaled by BOX_SCALE in each direction (a
locator's box is seldom exact), then framed exactly as `box_frame` frames a box;
and, with `decoy_share`, a frame around a random box that touches no number (a
locator's false box: a sign, a window, a letter), labelled "" (no number).
NumPy and Pillow only, as every data module.

>>> images, numbers = located_crops(2, seed=0, purpose="test", long_side=320, decoy_share=1.0)
>>> images.shape[1:], images.dtype, len(numbers) == len(images)
((64, 64, 3), dtype('uint8'), True)
>>> "" in numbers
True
"""

import math

import numpy as np
from PIL import Image

from kerasvhn.checks import check_int
from kerasvhn.data import photo_scenes, synth
from kerasvhn.data.parallel import parallel_map
from kerasvhn.framing import SIZE, crop_box, frame_pixels

#: How far a located box's centre lies from the number's, in shares of its size
#: (uniform in +-BOX_SHIFT, x and y apart).
BOX_SHIFT = 0.10
#: How much wider or narrower, taller or shorter the box is (log-uniform in
#: [1 / BOX_SCALE[0] ... BOX_SCALE[1]], width and height apart): a little looser more
#: often than tighter, as the locator's boxes of small numbers come out.
BOX_SCALE = (1.1, 1.3)
#: Numbers less high than this in the photo (pixels) give no crop: a blur the reader
#: cannot read and should not learn to guess at.
MIN_HEIGHT = 8.0
#: A decoy box's width (shares of the photo's width) and height / width: where a first
#: look's false box lies (also the locator's decoy windows, `locator_training.decoy_window`).
DECOY_WIDTH, DECOY_ASPECT = (0.02, 0.4), (0.25, 1.5)
_STREAM = 11  # the crops' own random streams: (purpose, seed, index, split, _STREAM)


def jittered_box(rng, box):
    """A box (left, top, width, height) moved and scaled as a locator might place it.

    >>> left, top, width, height = jittered_box(np.random.default_rng(0), (10.0, 20.0, 40.0, 20.0))
    >>> abs(left + width / 2 - 30) <= 4, 40 / 1.1 <= width <= 40 * 1.3
    (True, True)
    """
    left, top, width, height = (float(v) for v in box)
    cx = left + width / 2 + rng.uniform(-BOX_SHIFT, BOX_SHIFT) * width
    cy = top + height / 2 + rng.uniform(-BOX_SHIFT, BOX_SHIFT) * height
    low, high = -math.log(BOX_SCALE[0]), math.log(BOX_SCALE[1])
    width *= math.exp(rng.uniform(low, high))
    height *= math.exp(rng.uniform(low, high))
    return cx - width / 2, cy - height / 2, width, height


def decoy_size(rng, photo_width):
    """A decoy box's (width, height) in pixels: log-uniform in DECOY_WIDTH of the
    photo's width, and in DECOY_ASPECT of that width high."""
    width = photo_width * math.exp(rng.uniform(math.log(DECOY_WIDTH[0]), math.log(DECOY_WIDTH[1])))
    return width, width * math.exp(rng.uniform(math.log(DECOY_ASPECT[0]), math.log(DECOY_ASPECT[1])))


def decoy_box(rng, boxes, width, height, tries=20):
    """A random box in a width x height photo whose framed crop (30% wider) touches
    none of `boxes` (left, top, width, height), or None when `tries` draws all did."""
    for _ in range(tries):
        w, h = decoy_size(rng, width)
        if w > width or h > height:
            continue
        left, top = rng.uniform(0, width - w), rng.uniform(0, height - h)
        frame = (left - 0.15 * w, top - 0.15 * h, left + 1.15 * w, top + 1.15 * h)
        if not any(_touches(frame, b) for b in boxes):
            return left, top, w, h
    return None


def _touches(frame, box):
    x0, y0, x1, y1 = frame
    return box[0] < x1 and x0 < box[0] + box[2] and box[1] < y1 and y0 < box[1] + box[3]


def box_crop(image, box, size=SIZE):
    """The 64x64 frame of box (left, top, width, height) in a PIL image, as
    `kerasvhn.predict.box_frame` frames it before its centred 54x54: uint8, or None
    when the box lies outside the photo."""
    left, top, width, height = box
    crop = crop_box({"left": [left], "top": [top], "width": [width], "height": [height]}, *image.size)
    return None if crop is None else frame_pixels(image, crop, size)


def photo_crops(photo, rng, per_number=2, decoy_share=0.0):
    """One photo's frames: `per_number` jittered crops of each number (numbers under
    MIN_HEIGHT px high or 2 px wide are skipped) and, with
    probability decoy_share, one decoy. Returns (list of uint8 (64, 64, 3), numbers)."""
    image = Image.fromarray(photo.image)
    images, numbers = [], []
    for number, box in zip(photo.numbers, photo.boxes):
        if box[2] < 2 or box[3] < MIN_HEIGHT:
            continue
        for _ in range(per_number):
            pixels = box_crop(image, jittered_box(rng, box))
            if pixels is not None:
                images.append(pixels)
                numbers.append(number)
    if decoy_share and rng.random() < decoy_share:
        box = decoy_box(rng, photo.boxes, *image.size)
        if box is not None:
            images.append(box_crop(image, box))
            numbers.append("")
    return images, numbers


def _crops_task(task):
    index, purpose, seed, split, long_side, per_number, decoy_share = task
    photo = photo_scenes.render_photo(index, seed, split, purpose=purpose, long_side=long_side)
    rng = np.random.default_rng([synth.PURPOSES[purpose], seed, index, synth._SPLIT_CODE[split], _STREAM])
    return photo_crops(photo, rng, per_number, decoy_share)


def located_crops(count, seed=0, split="train", workers=1, progress=False, *, purpose,
                  long_side=photo_scenes.LONG_SIDE, per_number=2, decoy_share=0.0, start=0):
    """Frames cut from photos start .. start + count - 1 of a `photo_scenes` stream.

    Args:
        count, seed, split, purpose, long_side, start: the photos (`render_photo`).
        workers, progress: processes rendering them; a progress bar.
        per_number: jittered crops of each number.
        decoy_share: the share of photos that also give a decoy (labelled "").

    Returns (uint8 (N, 64, 64, 3), list of N number strings), photo by photo.
    """
    check_int("count", count, 0)
    check_int("per_number", per_number, 0)
    start = check_int("start", start, 0)
    if not 0.0 <= decoy_share <= 1.0:
        raise ValueError(f"decoy_share must be between 0 and 1, got {decoy_share!r}")
    tasks = [(start + i, purpose, seed, split, long_side, per_number, decoy_share) for i in range(count)]
    images, numbers = [], []
    for pixels, labels in parallel_map(_crops_task, tasks, workers, progress, "photos", serial_below=64):
        images.extend(pixels)
        numbers.extend(labels)
    stacked = np.stack(images) if images else np.zeros((0, SIZE, SIZE, 3), np.uint8)
    return stacked, numbers
