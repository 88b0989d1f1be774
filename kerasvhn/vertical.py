"""Vertical house numbers: digits stacked top to bottom, read top first.

The reader reads digits left to right, and a stack squeezed into its 54x54 window
keeps few pixels per digit. So a tall frame (a number's box, or a whole photo, at
least TALL times as high as it is wide) is also read *unstacked*: its box cut into k
equal rows (ROWS: 2 to 4), each row cropped with the reader's 30% margin, the rows
laid side by side, left to right in their top-to-bottom order, and read as one
frame. The unstacked reading replaces the plain one when it has exactly k digits and
is more probable than the plain reading by at least MARGIN. A single tall digit
stays itself: cut in two it reads as no two-digit number as surely as whole.
"""

import numpy as np
from PIL import Image

from kerasvhn.framing import EXPAND, frame

#: A frame this many times taller than wide (or more) is also read unstacked.
TALL = 1.5
#: The numbers of rows a tall box is cut into.
ROWS = (2, 3, 4)
#: How much more probable an unstacked reading must be to replace the plain one.
MARGIN = 0.2


def is_tall(width, height, tall=TALL):
    """Whether a box of width x height may hold a vertical number.

    >>> is_tall(20, 60), is_tall(60, 20)
    (True, False)
    """
    return height >= tall * width


def inner_box(image):
    """The number's box in a photo framed around it (as the reader's frames are: the
    box with EXPAND of margin): (left, top, width, height)."""
    width, height = image.size
    inner_w, inner_h = width / (1 + EXPAND), height / (1 + EXPAND)
    return ((width - inner_w) / 2, (height - inner_h) / 2, inner_w, inner_h)


def unstacked_frame(image, box, rows):
    """The reader's frame of a vertical number unstacked: `box` (left, top, width,
    height; None: the whole photo as a frame) cut into `rows` equal rows, each cropped
    with EXPAND of margin (clipped to the photo) and resized to a common height, laid
    side by side, framed as a whole photo is (`kerasvhn.framing.frame`: 64x64, its
    centred 54x54, float32 in [0, 1]). Each row's margin is `framing.crop_box`'s,
    computed on the row's own height (crop_box would recompute it from the row's
    edges, which moves a pixel where a row ends on a whole pixel).

    >>> from PIL import Image
    >>> unstacked_frame(Image.new("RGB", (30, 90)), None, 3).shape
    (54, 54, 3)
    """
    left, top, width, height = inner_box(image) if box is None else box[:4]
    row = height / rows
    strips = []
    for k in range(rows):
        x0, y0 = left - width * EXPAND / 2, top + k * row - row * EXPAND / 2
        x1, y1 = left + width * (1 + EXPAND / 2), top + (k + 1) * row + row * EXPAND / 2
        crop = (int(np.floor(max(x0, 0))), int(np.floor(max(y0, 0))),
                int(np.ceil(min(x1, image.size[0]))), int(np.ceil(min(y1, image.size[1]))))
        if crop[2] - crop[0] < 1 or crop[3] - crop[1] < 1:
            crop = (0, 0, image.size[0], image.size[1])
        strips.append(image.crop(crop))
    side = max(1, max(strip.size[1] for strip in strips))
    strips = [strip.resize((max(1, round(strip.size[0] * side / strip.size[1])), side), Image.BILINEAR)
              for strip in strips]
    canvas = Image.new("RGB", (sum(strip.size[0] for strip in strips), side))
    x = 0
    for strip in strips:
        canvas.paste(strip, (x, 0))
        x += strip.size[0]
    return frame(canvas)


def prefer_unstacked(model, images, boxes, readings, batch_size=256, min_confidence=None, rows=ROWS, tall=TALL,
                     margin=MARGIN):
    """`readings` (one per image, of its `boxes`: (left, top, width, height) or None
    for the whole photo), each tall one replaced by its unstacked reading where that
    has k digits for k rows and is at least `margin` more probable."""
    from kerasvhn.predict import MIN_CONFIDENCE, read_frames

    min_confidence = MIN_CONFIDENCE if min_confidence is None else min_confidence
    candidates, owners = [], []
    for index, (image, box) in enumerate(zip(images, boxes)):
        width, height = image.size if box is None else box[2:4]
        if not is_tall(width, height, tall):
            continue
        for k in rows:
            candidates.append(unstacked_frame(image, box, k))
            owners.append((index, k))
    if not candidates:
        return list(readings)
    answers = list(readings)
    for (index, k), reading in zip(owners, read_frames(model, np.stack(candidates), batch_size, min_confidence)):
        original, best = readings[index], answers[index]
        plain = original.confidence if original.number else 0.0
        if len(reading.number) == k and reading.confidence >= plain + margin and (
                best is original or reading.confidence > best.confidence):
            answers[index] = reading._replace(box=original.box, box_score=original.box_score)
    return answers
